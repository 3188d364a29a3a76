/*
 * What a server or a message says is shown escaped: C0 and C1 controls
 * (raw or UTF-8 encoded), DEL and bytes that are not UTF-8 become \xNN;
 * valid UTF-8 text stays as it is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static void
check(const char *in, size_t len, const char *expect)
{
	char out[256];

	log_escape(out, sizeof out, in, len);
	assert_string_equal(out, expect);
}

#define CHECK(in, expect)	check(in, sizeof(in) - 1, expect)

static void
test_ascii_and_c0(void **state)
{
	(void)state;
	CHECK("plain text", "plain text");
	CHECK("\x1b]0;owned\x07\x1b[2J", "\\x1b]0;owned\\x07\\x1b[2J");
	CHECK("a\0b\x7f", "a\\x00b\\x7f");
	CHECK("line\r\nnext", "line\\x0d\\x0anext");
}

static void
test_c1_raw_and_utf8(void **state)
{
	(void)state;
	/* CSI (0x9b) and OSC (0x9d), raw and as UTF-8. */
	CHECK("\x9b" "31m", "\\x9b31m");
	CHECK("\x9d" "0;x\x9c", "\\x9d0;x\\x9c");
	CHECK("\xc2\x9b" "2J", "\\xc2\\x9b2J");
	CHECK("\xc2\x80\xc2\x9f", "\\xc2\\x80\\xc2\\x9f");
	/* U+00A0 is the first character after the C1 range. */
	CHECK("\xc2\xa0", "\xc2\xa0");
}

static void
test_utf8_text_stays(void **state)
{
	(void)state;
	CHECK("Gr\xc3\xbc\xc3\x9f" "e", "Gr\xc3\xbc\xc3\x9f" "e");
	/* The euro sign holds 0x82, a C1 value, as a continuation byte. */
	CHECK("\xe2\x82\xac 5", "\xe2\x82\xac 5");
	CHECK("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
}

static void
test_not_utf8_is_escaped(void **state)
{
	(void)state;
	CHECK("caf\xe9", "caf\\xe9");
	/* Overlong forms of CSI and of "/", a surrogate, past U+10FFFF, a
	 * cut sequence, a lone continuation byte. */
	CHECK("\xc1\x9b", "\\xc1\\x9b");
	CHECK("\xe0\x80\xaf", "\\xe0\\x80\\xaf");
	CHECK("\xed\xa0\x80", "\\xed\\xa0\\x80");
	CHECK("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	CHECK("\xe2\x82", "\\xe2\\x82");
	CHECK("\xbf", "\\xbf");
}

/* A small buffer: cut before a character or an escape that would not
 * fit whole, never inside one. */
static void
test_truncation(void **state)
{
	char out[8];

	(void)state;
	log_escape(out, 5, "ab\xe2\x82\xac", 5);
	assert_string_equal(out, "ab");
	log_escape(out, 6, "ab\xe2\x82\xac", 5);
	assert_string_equal(out, "ab\xe2\x82\xac");
	log_escape(out, 5, "a\x1b", 2);
	assert_string_equal(out, "a");
	log_escape(out, 1, "abc", 3);
	assert_string_equal(out, "");
}

/* A logged line reaches stderr escaped, as one line. */
static void
test_log_line_is_escaped(void **state)
{
	int fds[2], saved;
	char buf[256];
	ssize_t n;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	log_setup(LOG_NORMAL, false);
	log_error("server says: %s", "\x9b" "2J\xc2\x9b" "1m\nforged line");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	n = read(fds[0], buf, sizeof buf - 1);
	close(fds[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "mailferry: server says: \\x9b2J\\xc2\\x9b1m"
	    "\\x0aforged line\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_and_c0),
		cmocka_unit_test(test_c1_raw_and_utf8),
		cmocka_unit_test(test_utf8_text_stays),
		cmocka_unit_test(test_not_utf8_is_escaped),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_log_line_is_escaped),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
