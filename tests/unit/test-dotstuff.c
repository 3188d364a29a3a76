/* The POP3 multi-line decoder, fed whole and in every possible split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dotstuff.h"

/* Decode `wire` in chunks of `step` bytes; return the output, its
 * length and how many input bytes were consumed. */
static char *
decode(const char *wire, size_t len, size_t step, size_t *outlen,
    size_t *consumed, bool *done)
{
	struct dotdec d = DOTDEC_INIT;
	char *out = malloc(len + 2), *chunk = malloc(len + 2);
	size_t o = 0, i = 0;

	while (i < len && d.state != DOTDEC_DONE) {
		size_t n = len - i < step ? len - i : step, got;
		size_t used = dotdec_run(&d, wire + i, n, chunk, &got);

		memcpy(out + o, chunk, got);
		o += got;
		i += used;
	}
	free(chunk);
	*outlen = o;
	*consumed = i;
	*done = d.state == DOTDEC_DONE;
	return out;
}

static void
check_all_splits(const char *wire, const char *expect, size_t expect_consumed)
{
	size_t len = strlen(wire);

	for (size_t step = 1; step <= len; step++) {
		size_t outlen, consumed;
		bool done;
		char *out = decode(wire, len, step, &outlen, &consumed, &done);

		assert_true(done);
		assert_int_equal(consumed, expect_consumed);
		assert_int_equal(outlen, strlen(expect));
		assert_memory_equal(out, expect, outlen);
		free(out);
	}
}

static void
test_plain(void **state)
{
	(void)state;
	check_all_splits("a\r\nb\r\n.\r\n", "a\nb\n", 9);
}

static void
test_unstuffing(void **state)
{
	(void)state;
	/* ".." becomes ".", ".x" loses its dot, a lone "." line ends. */
	check_all_splits("..\r\n...x\r\n.x\r\nFrom me\r\n.\r\n",
	    ".\n..x\nx\nFrom me\n", 26);
}

static void
test_terminator_leaves_rest(void **state)
{
	(void)state;
	check_all_splits("a\r\n.\r\n+OK next\r\n", "a\n", 6);
}

static void
test_empty_message(void **state)
{
	(void)state;
	check_all_splits(".\r\n", "", 3);
}

static void
test_bare_lf_and_cr(void **state)
{
	(void)state;
	/* Bare LF lines and a lone CR are kept as they are; a bare-LF
	 * terminator is accepted from sloppy servers. */
	check_all_splits("a\nb\rc\r\r\n.\n", "a\nb\rc\r\n", 10);
}

static void
test_dot_cr_not_terminator(void **state)
{
	(void)state;
	check_all_splits(".\rx\r\n.\r\n", "\rx\n", 8);
}

/* A message cut off mid-stream: all of it consumed, not done, and the
 * final CR held back until we know what follows it. */
static void
test_unterminated(void **state)
{
	struct dotdec d = DOTDEC_INIT;
	char out[16];
	size_t got, used;

	(void)state;
	used = dotdec_run(&d, "abc\r", 4, out, &got);
	assert_int_equal(used, 4);
	assert_int_equal(got, 3);
	assert_int_equal(d.state, DOTDEC_CR);
	used = dotdec_run(&d, "\n", 1, out, &got);
	assert_int_equal(got, 1);
	assert_int_equal(out[0], '\n');
	assert_int_equal(d.state, DOTDEC_LINE_START);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_unstuffing),
		cmocka_unit_test(test_terminator_leaves_rest),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_bare_lf_and_cr),
		cmocka_unit_test(test_dot_cr_not_terminator),
		cmocka_unit_test(test_unterminated),
	};

	return cmocka_run_group_tests_name("dotstuff", tests, NULL, NULL);
}
