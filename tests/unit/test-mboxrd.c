/* mboxrd quoting of "From " lines, streamed in chunks split anywhere,
 * undone by a reader, and the From_ separator line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "mboxrd.h"

/* Quote in, fed in chunks of `step` bytes, then finish; returns the
 * output (NUL-terminated) and checks the documented output bound. */
static char *
quote(const char *in, size_t len, size_t step, size_t *outlen)
{
	struct mboxrd q = MBOXRD_INIT;
	char *out = malloc(2 * len + 16);
	size_t o = 0;

	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step, got;

		got = mboxrd_run(&q, in + i, n, out + o);
		assert_true(got <= n + n / 5 + 5);
		o += got;
	}
	o += mboxrd_finish(&q, out + o);
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* What an mboxrd reader does: one ">" off every line matching
 * ^>+From . */
static char *
unquote(const char *in, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - in) + 1 : len, k = i;

		while (k < end && in[k] == '>')
			k++;
		if (k > i && end - k >= 5 && memcmp(in + k, "From ", 5) == 0)
			i++;
		memcpy(out + o, in + i, end - i);
		o += end - i;
		i = end;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static void
check_all_splits(const char *in, const char *expect)
{
	size_t len = strlen(in);

	for (size_t step = 1; step <= len + 1; step++) {
		size_t outlen;
		char *out = quote(in, len, step, &outlen);

		assert_string_equal(out, expect);
		free(out);
	}
}

static void
test_quoting(void **state)
{
	(void)state;
	check_all_splits("From me\n", ">From me\n\n");
	check_all_splits("a\nFrom x\n>From y\n>>From z\n",
	    "a\n>From x\n>>From y\n>>>From z\n\n");
	/* Not a From_ line: no space, mid-line, other case, short. */
	check_all_splits("Fromage\n From x\nfrom x\nFro\nFrom\n",
	    "Fromage\n From x\nfrom x\nFro\nFrom\n\n");
	check_all_splits(">\n>>\n>Fro\n", ">\n>>\n>Fro\n\n");
	check_all_splits("x>From y\n", "x>From y\n\n");
}

static void
test_held_back_at_end(void **state)
{
	(void)state;
	/* A message ending inside "From" releases it at the end. */
	check_all_splits("a\nFrom", "a\nFrom\n\n");
	check_all_splits("Fr", "Fr\n\n");
	check_all_splits("a\n>>Fro", "a\n>>Fro\n\n");
	check_all_splits("From ", ">From \n\n");
}

static void
test_message_end(void **state)
{
	(void)state;
	/* An empty line after every message; a final newline added. */
	check_all_splits("", "\n");
	check_all_splits("a", "a\n\n");
	check_all_splits("a\n", "a\n\n");
	check_all_splits("a\n\n", "a\n\n\n");
	check_all_splits("\n", "\n\n");
}

/* Bytes held back across calls count toward the next call's output. */
static void
test_held_across_calls(void **state)
{
	struct mboxrd q = MBOXRD_INIT;
	char out[64];
	size_t n;

	(void)state;
	assert_int_equal(mboxrd_run(&q, "x\nFrom", 6, out), 2);
	n = mboxrd_run(&q, " y\n", 3, out);
	assert_int_equal(n, 8);
	assert_memory_equal(out, ">From y\n", 8);
	assert_int_equal(mboxrd_run(&q, "Fro", 3, out), 0);
	n = mboxrd_run(&q, "g", 1, out);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "Frog", 4);
	n = mboxrd_finish(&q, out);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\n\n", 2);
}

/* Random messages over an alphabet that makes From_ lines likely:
 * quoting then unquoting gives the message back, and no line of the
 * quoted text starts a new message. */
static void
test_round_trip(void **state)
{
	static const char alphabet[] = "From >\nx";
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		size_t len = (size_t)(rand_r(&seed) % 60), outlen, backlen;
		size_t step = 1 + (size_t)(rand_r(&seed) % 7);
		char in[64], expect[72], *out, *back;
		size_t e;

		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
		in[len] = '\0';
		out = quote(in, len, step, &outlen);
		assert_false(strncmp(out, "From ", 5) == 0);
		assert_null(strstr(out, "\nFrom "));
		back = unquote(out, outlen, &backlen);
		memcpy(expect, in, len);
		e = len;
		if (len > 0 && in[len - 1] != '\n')
			expect[e++] = '\n';
		expect[e++] = '\n';
		assert_int_equal(backlen, e);
		assert_memory_equal(back, expect, e);
		free(out);
		free(back);
	}
}

static void
test_from_line(void **state)
{
	char line[128];
	size_t n;

	(void)state;
	setenv("TZ", "UTC0", 1);
	tzset();
	n = mboxrd_from_line("alice@example.org", 0, line, sizeof line);
	assert_string_equal(line,
	    "From alice@example.org Thu Jan  1 00:00:00 1970\n");
	assert_int_equal(n, strlen(line));
	n = mboxrd_from_line("MAILER-DAEMON", 1700000000, line, sizeof line);
	assert_string_equal(line,
	    "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n");
	/* Cut to the buffer, NUL-terminated, the length what fits. */
	n = mboxrd_from_line("alice@example.org", 0, line, 10);
	assert_int_equal(n, 9);
	assert_string_equal(line, "From alic");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_held_back_at_end),
		cmocka_unit_test(test_message_end),
		cmocka_unit_test(test_held_across_calls),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_from_line),
	};

	return cmocka_run_group_tests_name("mboxrd", tests, NULL, NULL);
}
