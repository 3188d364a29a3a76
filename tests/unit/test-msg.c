/* A message in flight: the header block found however the message is
 * cut into chunks, header edits, and reading it back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "msg.h"
#include "unit.h"

static char *dir;

static int
setup(void **state)
{
	(void)state;
	dir = unit_tmpdir();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unit_rmtree(dir);
	dir = NULL;
	return 0;
}

/* Feed data in chunks of `step`, every other one written in place
 * (msg_reserve, msg_commit) as the POP3 decoder does, the others copied
 * (msg_append): both must see the same message. */
static void
feed(struct msg *m, const char *data, size_t len, size_t step)
{
	struct err e;
	size_t k = 0;

	for (size_t i = 0; i < len; k++) {
		size_t n = len - i < step ? len - i : step, room;
		char *out;

		if (k % 2 == 0) {
			assert_int_equal(msg_append(m, data + i, n, &e), 0);
			i += n;
			continue;
		}
		out = msg_reserve(m, n + 1, &room, &e);
		assert_non_null(out);
		if (n > room)
			n = room;
		memcpy(out, data + i, n);
		msg_commit(m, n);
		i += n;
	}
	msg_finish(m);
}

struct sink {
	char	*buf;
	size_t	 len;
};

static int
sink_write(void *arg, const char *data, size_t len, struct err *e)
{
	struct sink *s = arg;

	(void)e;
	s->buf = realloc(s->buf, s->len + len + 1);
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return 0;
}

/* The message as msg_write gives it, checked against msg_read (in
 * reads of several sizes) and msg_size. */
static char *
output(struct msg *m, size_t *lenp)
{
	static const size_t steps[] = { 1, 2, 3, 7, 4096, 100003 };
	static char buf[100003];
	struct sink k = { 0 };
	struct err e;

	assert_int_equal(msg_write(m, sink_write, &k, &e), 0);
	if (k.buf == NULL)
		k.buf = calloc(1, 1);
	assert_int_equal(msg_size(m), (off_t)k.len);
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		off_t off = 0;
		ssize_t n;

		/* Byte by byte only where that is quick. */
		if (steps[i] < 16 && k.len > 65536)
			continue;
		while ((n = msg_read(m, buf, steps[i], off)) > 0) {
			assert_true((size_t)n <= steps[i]);
			assert_memory_equal(buf, k.buf + off, (size_t)n);
			off += n;
		}
		assert_int_equal(n, 0);
		assert_int_equal(off, (off_t)k.len);
	}
	if (lenp != NULL)
		*lenp = k.len;
	return k.buf;
}

/* Feed text in every chunk size; the header block and body offset must
 * come out the same each time. */
static void
check_header_block(const char *text, const char *expect_hdr,
    size_t expect_body_off)
{
	size_t len = strlen(text);

	for (size_t step = 1; step <= len + 1; step++) {
		struct msg m;
		char *out;

		msg_init(&m, dir);
		feed(&m, text, len, step);
		assert_true(m.hdr_done);
		assert_int_equal(m.hdrlen, strlen(expect_hdr));
		assert_memory_equal(m.hdr != NULL ? m.hdr : "", expect_hdr,
		    m.hdrlen);
		assert_int_equal(m.body_off, (off_t)expect_body_off);
		out = output(&m, NULL);
		assert_string_equal(out, text);
		free(out);
		msg_free(&m);
	}
}

static void
test_header_block(void **state)
{
	(void)state;
	check_header_block("A: 1\nB: 2\n\nbody\n\nmore\n", "A: 1\nB: 2\n\n", 11);
	check_header_block("\nbody only\n", "\n", 1);
	check_header_block("A: 1\n", "A: 1\n", 5);
	check_header_block("A: 1", "A: 1", 4);
	check_header_block("", "", 0);
	check_header_block("A: 1\n \n\nb", "A: 1\n \n\n", 8);
}

static void
test_header_block_crlf(void **state)
{
	(void)state;
	/* Messages from files and plugins may keep CRLF line ends: an
	 * empty CRLF line ends the header as an empty LF line does. */
	check_header_block("A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n\r\n",
	    14);
	check_header_block("\r\nbody\r\n", "\r\n", 2);
	/* A CR that is not part of CRLF is content. */
	check_header_block("A: 1\n\r\r\nB: 2\n\nb", "A: 1\n\r\r\nB: 2\n\n", 14);
	check_header_block("A: 1\n\rx\n\nb", "A: 1\n\rx\n\n", 9);
}

static void
test_index(void **state)
{
	static const char text[] = "Subject: =?UTF-8?Q?caf=C3=A9?=\n"
	    " au lait\nTo: x\n\nSubject: in the body\n";
	struct header_index *idx;
	struct header_field *f;
	struct msg m;
	size_t pos = 0;

	(void)state;
	msg_init(&m, dir);
	feed(&m, text, sizeof text - 1, 5);
	idx = msg_headers(&m);
	assert_int_equal(idx->n, 2);
	f = header_find(idx, "subject", &pos);
	assert_non_null(f);
	assert_string_equal(msg_field_decoded(f), "caf\xc3\xa9 au lait");
	/* Computed once. */
	assert_ptr_equal(msg_field_decoded(f), f->decoded);
	assert_null(header_find(idx, "subject", &pos));
	msg_free(&m);
}

static void
test_huge_header_truncated(void **state)
{
	size_t n = MSG_HEADER_MAX / 10 + 100, len = 0;
	char *text = malloc(n * 10 + 64), *out;
	struct msg m;
	size_t outlen;

	(void)state;
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "X: %06zu\n", i);
	len += (size_t)sprintf(text + len, "\nbody\n");
	msg_init(&m, dir);
	feed(&m, text, len, 4096);
	/* The copy is bounded; the message is whole. */
	assert_true(m.hdr_truncated);
	assert_int_equal(m.hdrlen, MSG_HEADER_MAX);
	assert_int_equal(m.body_off, (off_t)(len - 5));
	out = output(&m, &outlen);
	assert_int_equal(outlen, len);
	assert_memory_equal(out, text, len);
	free(out);
	/* An edit reads the whole block back, and keeps the body. */
	assert_int_equal(msg_header_add(&m, "X-Added", "yes"), 0);
	out = output(&m, &outlen);
	assert_int_equal(outlen, len + 13);
	assert_memory_equal(out + len - 6, "X-Added: yes\n\nbody\n", 19);
	free(out);
	msg_free(&m);
	free(text);
}

static void
test_header_add(void **state)
{
	struct msg m;
	char *out;

	(void)state;
	msg_init(&m, dir);
	feed(&m, "A: 1\n\nbody\n", 11, 3);
	assert_int_equal(msg_header_add(&m, "X-Spam", "yes"), 0);
	assert_int_equal(msg_header_add(&m, "X-Folded", "a\n\tb"), 0);
	out = output(&m, NULL);
	assert_string_equal(out, "A: 1\nX-Spam: yes\nX-Folded: a\n\tb\n\nbody\n");
	free(out);
	/* The index follows the edit. */
	assert_int_equal(msg_headers(&m)->n, 3);
	msg_free(&m);
}

static void
test_header_add_crlf(void **state)
{
	struct msg m;
	char *out;

	(void)state;
	msg_init(&m, dir);
	feed(&m, "A: 1\r\n\r\nbody\r\n", 14, 14);
	assert_int_equal(msg_header_add(&m, "X", "y"), 0);
	out = output(&m, NULL);
	/* In the header, before the empty line, never in the body. */
	assert_string_equal(out, "A: 1\r\nX: y\n\r\nbody\r\n");
	free(out);
	msg_free(&m);
}

static void
test_header_add_no_body(void **state)
{
	struct msg m;
	char *out;

	(void)state;
	/* Header only, without a final newline: the line is ended. */
	msg_init(&m, dir);
	feed(&m, "A: 1", 4, 4);
	assert_int_equal(msg_header_add(&m, "B", "2"), 0);
	out = output(&m, NULL);
	assert_string_equal(out, "A: 1\nB: 2\n");
	free(out);
	msg_free(&m);
	/* An empty message gets a header of one field. */
	msg_init(&m, dir);
	msg_finish(&m);
	assert_int_equal(msg_header_add(&m, "B", "2"), 0);
	out = output(&m, NULL);
	assert_string_equal(out, "B: 2\n");
	free(out);
	msg_free(&m);
	/* An empty header block: the field goes before the empty line. */
	msg_init(&m, dir);
	feed(&m, "\nbody\n", 6, 1);
	assert_int_equal(msg_header_add(&m, "B", "2"), 0);
	out = output(&m, NULL);
	assert_string_equal(out, "B: 2\n\nbody\n");
	free(out);
	msg_free(&m);
}

static void
test_header_add_refuses_bad_fields(void **state)
{
	static const char *const names[] = { "", "A B", "A:B", "\x7f", "é" };
	static const char *const values[] = { "a\r\nb", "a\nb", "a\n", "a\rb" };
	struct msg m;
	char *out;

	(void)state;
	msg_init(&m, dir);
	feed(&m, "A: 1\n\nbody\n", 11, 11);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_int_equal(msg_header_add(&m, names[i], "v"), -1);
	/* A value may not start a new field or end the header. */
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		assert_int_equal(msg_header_add(&m, "X", values[i]), -1);
	assert_false(m.hdr_modified);
	out = output(&m, NULL);
	assert_string_equal(out, "A: 1\n\nbody\n");
	free(out);
	msg_free(&m);
}

static void
test_header_remove(void **state)
{
	static const char text[] = "Received: 1\n\tfolded\nTo: x\n"
	    "received: 2\nReceived-SPF: pass\nReceived:3\n\n"
	    "Received: in the body\n";
	struct msg m;
	char *out;

	(void)state;
	msg_init(&m, dir);
	feed(&m, text, sizeof text - 1, 2);
	assert_int_equal(msg_header_remove(&m, "RECEIVED"), 0);
	out = output(&m, NULL);
	assert_string_equal(out, "To: x\nReceived-SPF: pass\n\n"
	    "Received: in the body\n");
	free(out);
	assert_int_equal(msg_headers(&m)->n, 2);
	/* Removing what is not there changes nothing. */
	assert_int_equal(msg_header_remove(&m, "Nope"), 0);
	out = output(&m, NULL);
	assert_string_equal(out, "To: x\nReceived-SPF: pass\n\n"
	    "Received: in the body\n");
	free(out);
	msg_free(&m);
}

static void
test_large_message_with_edit(void **state)
{
	size_t body = 3 * SPOOL_MEMORY_MAX, len;
	char *text = malloc(body + 64), *out;
	struct msg m;
	const char *b, *mapped;
	size_t blen, mlen;
	struct err e;

	(void)state;
	len = (size_t)sprintf(text, "Subject: big\n\n");
	for (size_t i = 0; i < body; i++)
		text[len + i] = (char)('a' + i % 23);
	len += body;
	msg_init(&m, dir);
	feed(&m, text, len, 100000);
	assert_int_not_equal(m.spool.fd, -1);
	assert_int_equal(msg_map_body(&m, &b, &blen, &mapped, &mlen, &e), 0);
	assert_int_equal(blen, body);
	assert_memory_equal(b, text + 14, 1000);
	spool_unmap(&m.spool, mapped, mlen);
	assert_int_equal(msg_header_remove(&m, "subject"), 0);
	assert_int_equal(msg_header_add(&m, "Subject", "small"), 0);
	out = output(&m, NULL);
	assert_memory_equal(out, "Subject: small\n\n", 16);
	assert_memory_equal(out + 16, text + 14, body);
	free(out);
	msg_free(&m);
	free(text);
}

static void
test_reset_and_swap(void **state)
{
	struct msg a, b;
	char *out;

	(void)state;
	msg_init(&a, dir);
	msg_init(&b, dir);
	feed(&a, "A: 1\n\nfirst\n", 12, 4);
	assert_int_equal(msg_header_add(&a, "X", "1"), 0);
	msg_reset(&a);
	assert_int_equal(msg_size(&a), 0);
	feed(&a, "B: 2\n\nsecond\n", 13, 13);
	assert_false(a.hdr_modified);
	out = output(&a, NULL);
	assert_string_equal(out, "B: 2\n\nsecond\n");
	free(out);
	feed(&b, "C: 3\n\nthird\n", 12, 1);
	assert_int_equal(msg_headers(&a)->n, 1);
	msg_swap(&a, &b);
	out = output(&a, NULL);
	assert_string_equal(out, "C: 3\n\nthird\n");
	free(out);
	/* Each index is rebuilt from its own block after the swap. */
	assert_int_equal(msg_headers(&a)->fields[0].name[0], 'C');
	assert_int_equal(msg_headers(&b)->fields[0].name[0], 'B');
	msg_free(&a);
	msg_free(&b);
}

static void
test_map_body_of_header_only(void **state)
{
	const char *b, *mapped;
	size_t blen, mlen;
	struct msg m;
	struct err e;

	(void)state;
	msg_init(&m, dir);
	feed(&m, "A: 1\n", 5, 5);
	assert_int_equal(msg_map_body(&m, &b, &blen, &mapped, &mlen, &e), 0);
	assert_int_equal(blen, 0);
	spool_unmap(&m.spool, mapped, mlen);
	msg_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_block),
		cmocka_unit_test(test_header_block_crlf),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_huge_header_truncated),
		cmocka_unit_test(test_header_add),
		cmocka_unit_test(test_header_add_crlf),
		cmocka_unit_test(test_header_add_no_body),
		cmocka_unit_test(test_header_add_refuses_bad_fields),
		cmocka_unit_test(test_header_remove),
		cmocka_unit_test(test_large_message_with_edit),
		cmocka_unit_test(test_reset_and_swap),
		cmocka_unit_test(test_map_body_of_header_only),
	};

	return cmocka_run_group_tests_name("msg", tests, setup, teardown);
}
