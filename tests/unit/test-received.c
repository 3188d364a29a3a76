/* The Received: field: its clauses, folding, and what it does with
 * names and UIDs that try to break out of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "received.h"

/* Every line ends in LF, none but the first starts without a space,
 * none is longer than 78 unless a single word is, and the field ends
 * with exactly one line end. */
static void
check_folding(const char *f, size_t len)
{
	const char *line = f;

	assert_int_equal(strlen(f), len);
	assert_true(len > 0 && f[len - 1] == '\n');
	assert_true(strstr(f, "\r") == NULL);
	while (*line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t n = (size_t)(nl - line);

		assert_non_null(nl);
		if (line != f)
			assert_true(line[0] == ' ');
		if (n > 78)
			assert_null(memchr(line + 1, ' ', n - 1));
		line = nl + 1;
	}
}

/* The field unfolded: line breaks removed. */
static char *
unfold(const char *f)
{
	char *out = malloc(strlen(f) + 1), *o = out;

	for (; *f != '\0'; f++)
		if (*f != '\n')
			*o++ = *f;
	*o = '\0';
	return out;
}

static void
test_clauses(void **state)
{
	struct received_info ri = { .account = "work",
	    .server = "pop.example.com", .protocol = "POP3S",
	    .uid = "6b10330200000001", .when = 86400 * 365 };
	size_t len;
	char *f = received_field(&ri, &len), *u;

	(void)state;
	check_folding(f, len);
	u = unfold(f);
	assert_true(strncmp(u, "Received: from pop.example.com (account "
	    "\"work\", UID 6b10330200000001) by ", 71) == 0);
	assert_non_null(strstr(u, " with POP3S; "));
	assert_non_null(strstr(u, "(mailferry "));
	assert_non_null(strstr(u, " 1971 "));
	free(u);
	free(f);
}

static void
test_protocol(void **state)
{
	(void)state;
	assert_string_equal(received_protocol("POP3", false), "POP3");
	assert_string_equal(received_protocol("POP3", true), "POP3S");
}

static void
test_server_forms(void **state)
{
	static const char *const cases[][2] = {
		{ "192.0.2.7", "from [192.0.2.7] " },
		{ "::1", "from [IPv6:::1] " },
		{ "Mail.Example.ORG", "from Mail.Example.ORG " },
		{ "evil\nX-Injected: yes", "from unknown " },
		{ "a b", "from unknown " },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct received_info ri = { .account = "a",
		    .server = cases[i][0], .protocol = "POP3", .when = 0 };
		size_t len;
		char *f = received_field(&ri, &len), *u = unfold(f);

		check_folding(f, len);
		assert_non_null(strstr(u, cases[i][1]));
		free(u);
		free(f);
	}
}

/* An account name and a UID full of line breaks, parentheses and
 * backslashes stay inside their comment. */
static void
test_hostile_text(void **state)
{
	struct received_info ri = { .account = "x\r\nBcc: victim@example.org\n"
	    "(y)\\", .server = "pop.example.com", .protocol = "POP3",
	    .uid = "a)b(c\\d\"e", .when = 0 };
	size_t len;
	char *f = received_field(&ri, &len), *u;

	(void)state;
	check_folding(f, len);
	u = unfold(f);
	assert_non_null(strstr(u, "(account \"x??Bcc: victim@example.org?"
	    "\\(y\\)\\\\\", UID a\\)b\\(c\\\\d\\\"e) by "));
	free(u);
	free(f);
}

/* A 255-character UID: its line is long, nothing else is, and the
 * field unfolds to what it said. */
static void
test_long_uid(void **state)
{
	char uid[256];
	struct received_info ri = { .account = "an account with spaces in "
	    "its name", .server = "pop.example.com", .protocol = "POP3S",
	    .uid = uid, .when = 0 };
	size_t len;
	char *f, *u;

	(void)state;
	memset(uid, 'u', 255);
	uid[255] = '\0';
	f = received_field(&ri, &len);
	check_folding(f, len);
	u = unfold(f);
	assert_non_null(strstr(u, uid));
	assert_non_null(strstr(u, "(account \"an account with spaces in its "
	    "name\", UID uuu"));
	free(u);
	free(f);
}

static void
test_no_uid(void **state)
{
	struct received_info ri = { .account = "a", .server = "h",
	    .protocol = "POP3", .uid = NULL, .when = 0 };
	size_t len;
	char *f = received_field(&ri, &len);

	(void)state;
	assert_non_null(strstr(f, "(account \"a\") by "));
	assert_null(strstr(f, "UID"));
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clauses),
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_server_forms),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_long_uid),
		cmocka_unit_test(test_no_uid),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
