/*
 * Dot-stuffing both ways: the POP3 multi-line decoder and the SMTP DATA
 * encoder, fed whole and in every possible split. Only CRLF "." CRLF may
 * end a reply, and nothing a message holds may end our DATA early.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dotstuff.h"

struct decoded {
	char	*out;
	size_t	 len, consumed;
	bool	 done, sloppy;
};

/* Decode `wire` in chunks of `step` bytes. */
static struct decoded
decode(const char *wire, size_t len, size_t step)
{
	struct dotdec d = DOTDEC_INIT;
	struct decoded r = { .out = malloc(len + 2) };
	char *chunk = malloc(len + 2);

	while (r.consumed < len && d.state != DOTDEC_DONE &&
	    d.state != DOTDEC_BARE_LF_END) {
		size_t n = len - r.consumed < step ? len - r.consumed : step;
		size_t got, used = dotdec_run(&d, wire + r.consumed, n, chunk,
		    &got);

		memcpy(r.out + r.len, chunk, got);
		r.len += got;
		r.consumed += used;
	}
	free(chunk);
	r.done = d.state == DOTDEC_DONE;
	r.sloppy = d.sloppy_end;
	return r;
}

/* Every split of wire decodes to expect; done says whether a terminator
 * was found, after expect_consumed bytes. A held CR is not output until
 * what follows it is known, so an unfinished decode is compared on its
 * output only. */
static void
check_decode(const char *wire, const char *expect, size_t expect_consumed,
    bool done, bool sloppy)
{
	size_t len = strlen(wire);

	for (size_t step = 1; step <= len; step++) {
		struct decoded r = decode(wire, len, step);

		assert_int_equal(r.done, done);
		assert_int_equal(r.sloppy, sloppy);
		assert_int_equal(r.consumed, expect_consumed);
		assert_int_equal(r.len, strlen(expect));
		assert_memory_equal(r.out, expect, r.len);
		free(r.out);
	}
}

static void
test_plain(void **state)
{
	(void)state;
	check_decode("a\r\nb\r\n.\r\n", "a\nb\n", 9, true, false);
}

static void
test_unstuffing(void **state)
{
	(void)state;
	/* ".." becomes ".", ".x" loses its dot, a lone "." line ends. */
	check_decode("..\r\n...x\r\n.x\r\nFrom me\r\n.\r\n",
	    ".\n..x\nx\nFrom me\n", 26, true, false);
}

static void
test_terminator_leaves_rest(void **state)
{
	(void)state;
	check_decode("a\r\n.\r\n+OK next\r\n", "a\n", 6, true, false);
}

static void
test_empty_message(void **state)
{
	(void)state;
	check_decode(".\r\n", "", 3, true, false);
}

static void
test_bare_lf_and_cr_are_content(void **state)
{
	(void)state;
	/* Bare LF and lone CR are kept as they are. */
	check_decode("a\nb\rc\r\r\n.\r\n", "a\nb\rc\r\n", 11, true, false);
}

/* The smuggling attempt: a sender's message holding LF "." LF and a
 * forged reply, passed through by a server that keeps bare LFs. All of
 * it is the one message. */
static void
test_bare_lf_dot_lf_is_content(void **state)
{
	const char *wire = "Subject: real\r\n\r\nhi\n.\n+OK\r\n"
	    "Subject: forged\r\n\r\nevil\r\n.\r\n";

	(void)state;
	check_decode(wire, "Subject: real\n\nhi\n.\n+OK\n"
	    "Subject: forged\n\nevil\n", strlen(wire), true, true);
}

static void
test_other_lenient_ends_are_content(void **state)
{
	(void)state;
	/* LF "." CRLF (the 2023 SMTP smuggling sequence). */
	check_decode("a\n.\r\nb\r\n.\r\n", "a\n.\nb\n", 11, true, true);
	/* CR "." CRLF. */
	check_decode("a\r.\r\nb\r\n.\r\n", "a\r.\nb\n", 11, true, false);
	/* A dot after a bare LF is not stuffing either. */
	check_decode("a\n..\r\n.\r\n", "a\n..\n", 9, true, false);
}

/* A server that ends every line with a bare LF never ends a reply; the
 * decoder says why that is likely. */
static void
test_bare_lf_server_never_ends(void **state)
{
	(void)state;
	check_decode("a\nb\n.\n", "a\nb\n.\n", 6, false, true);
	check_decode("a\nb\n", "a\nb\n", 4, false, false);
}

/* CRLF "." LF: no server that stuffs its lines sends it; one that ends
 * lines with a bare LF does. Decoding stops there, before the next
 * reply, whatever follows. */
static void
test_crlf_dot_lf_stops(void **state)
{
	const char *wire = "a\r\n.\n+OK\r\nnext\r\n.\r\n";

	(void)state;
	for (size_t step = 1; step <= strlen(wire); step++) {
		struct dotdec d = DOTDEC_INIT;
		char out[64];
		size_t i = 0, o = 0, got;

		while (i < strlen(wire) && d.state != DOTDEC_DONE &&
		    d.state != DOTDEC_BARE_LF_END) {
			size_t n = strlen(wire) - i < step ?
			    strlen(wire) - i : step;

			i += dotdec_run(&d, wire + i, n, out + o, &got);
			o += got;
		}
		assert_int_equal(d.state, DOTDEC_BARE_LF_END);
		assert_int_equal(i, 5);
		assert_int_equal(o, 2);
		assert_memory_equal(out, "a\n", 2);
	}
}

static void
test_dot_cr_not_terminator(void **state)
{
	(void)state;
	check_decode(".\rx\r\n.\r\n", "\rx\n", 8, true, false);
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

/* ---- the encoder ---------------------------------------------------- */

static char *
encode(const char *in, size_t len, size_t step, size_t *outlen)
{
	struct dotenc d = DOTENC_INIT;
	char *out = malloc(3 * len + 8);
	size_t o = 0;

	for (size_t i = 0; i < len; i += step)
		o += dotenc_run(&d, in + i, len - i < step ? len - i : step,
		    out + o);
	o += dotenc_finish(&d, out + o);
	*outlen = o;
	return out;
}

static void
check_encode(const char *in, const char *expect)
{
	size_t len = strlen(in);

	for (size_t step = 1; step <= (len > 0 ? len : 1); step++) {
		size_t outlen;
		char *out = encode(in, len, step, &outlen);

		assert_int_equal(outlen, strlen(expect));
		assert_memory_equal(out, expect, outlen);
		free(out);
	}
}

static void
test_encode_plain(void **state)
{
	(void)state;
	check_encode("", ".\r\n");
	check_encode("a\nb\n", "a\r\nb\r\n.\r\n");
	check_encode("a\r\nb", "a\r\nb\r\n.\r\n");
	check_encode(".x\n..\n.", "..x\r\n...\r\n..\r\n.\r\n");
}

/* Every lenient end-of-data sequence a receiver might accept becomes a
 * stuffed line between CRLFs. */
static void
test_encode_lenient_ends(void **state)
{
	(void)state;
	check_encode("a\n.\nb\n", "a\r\n..\r\nb\r\n.\r\n");
	check_encode("a\n.\r\nb\n", "a\r\n..\r\nb\r\n.\r\n");
	check_encode("a\r.\r\nb\n", "a\r\n..\r\nb\r\n.\r\n");
	check_encode("a\r\n.\nb\n", "a\r\n..\r\nb\r\n.\r\n");
	check_encode("a\r.\rb", "a\r\n..\r\nb\r\n.\r\n");
}

static void
test_encode_bare_cr(void **state)
{
	(void)state;
	check_encode("a\rb", "a\r\nb\r\n.\r\n");
	check_encode("a\r", "a\r\n.\r\n");
	check_encode("\r\r\n", "\r\n\r\n.\r\n");
	check_encode("\n\r", "\r\n\r\n.\r\n");
}

/* Whatever goes in: no bare CR or LF comes out, and the first CRLF "."
 * CRLF is the terminator at the very end. */
static void
test_encode_never_ends_early(void **state)
{
	static const char alphabet[] = { '\r', '\n', '.', 'x' };
	uint32_t seed = 12345;
	char in[24];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(round % (int)sizeof in), outlen;
		char *out;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			in[i] = alphabet[(seed >> 16) % 4];
		}
		out = encode(in, len, 1 + (size_t)round % 5, &outlen);
		for (size_t i = 0; i < outlen; i++) {
			if (out[i] == '\r')
				assert_true(i + 1 < outlen && out[i + 1] == '\n');
			if (out[i] == '\n')
				assert_true(i > 0 && out[i - 1] == '\r');
		}
		for (size_t i = 0; i + 3 <= outlen; i++)
			if ((i == 0 || out[i - 1] == '\n') &&
			    memcmp(out + i, ".\r\n", 3) == 0)
				assert_int_equal(i + 3, outlen);
		free(out);
	}
}

static void
test_line_end_growth(void **state)
{
	struct dotenc d = DOTENC_INIT;

	(void)state;
	/* One bare LF, one CRLF, one bare CR (its LF decided by the next
	 * chunk). */
	assert_int_equal(dotenc_line_end_growth(&d, "a\nb\r\nc\r", 7), 1);
	assert_int_equal(dotenc_line_end_growth(&d, "d", 1), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_unstuffing),
		cmocka_unit_test(test_terminator_leaves_rest),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_bare_lf_and_cr_are_content),
		cmocka_unit_test(test_bare_lf_dot_lf_is_content),
		cmocka_unit_test(test_other_lenient_ends_are_content),
		cmocka_unit_test(test_bare_lf_server_never_ends),
		cmocka_unit_test(test_crlf_dot_lf_stops),
		cmocka_unit_test(test_dot_cr_not_terminator),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_encode_plain),
		cmocka_unit_test(test_encode_lenient_ends),
		cmocka_unit_test(test_encode_bare_cr),
		cmocka_unit_test(test_encode_never_ends_early),
		cmocka_unit_test(test_line_end_growth),
	};

	return cmocka_run_group_tests_name("dotstuff", tests, NULL, NULL);
}
