/* The header index: fields, folding, and headers that are not clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "header.h"

/* Index text (its strlen) into idx. */
static void
parse(struct header_index *idx, const char *text)
{
	header_index_parse(idx, text, strlen(text));
}

static void
assert_field(const struct header_field *f, const char *name,
    const char *value)
{
	assert_non_null(f);
	assert_int_equal(f->name_len, strlen(name));
	assert_memory_equal(f->name, name, f->name_len);
	assert_int_equal(f->value_len, strlen(value));
	assert_memory_equal(f->value, value, f->value_len);
	assert_null(f->decoded);
}

/* The unfolded value of idx->fields[i], as a string to compare. */
static char *
unfolded(const struct header_index *idx, size_t i)
{
	const struct header_field *f = &idx->fields[i];
	char *dst = malloc(f->value_len + 1);
	size_t n = header_unfold(f->value, f->value_len, dst);

	assert_int_equal(n, strlen(dst));
	return dst;
}

static void
test_fields_point_into_block(void **state)
{
	struct header_index idx = { 0 };
	const char *block = "From: a@example.org\nTo: b@example.org\n"
	    "Subject: hello\n\nbody: not a field\n";

	(void)state;
	parse(&idx, block);
	assert_int_equal(idx.n, 3);
	assert_field(&idx.fields[0], "From", " a@example.org");
	assert_field(&idx.fields[1], "To", " b@example.org");
	assert_field(&idx.fields[2], "Subject", " hello");
	/* No copy: the index points into the caller's block. */
	assert_ptr_equal(idx.fields[0].name, block);
	header_index_free(&idx);
	assert_null(idx.fields);
	assert_int_equal(idx.n, 0);
}

static void
test_folding(void **state)
{
	struct header_index idx = { 0 };
	char *v;

	(void)state;
	parse(&idx, "Subject: one\n two\n\tthree\nX: y\n");
	assert_int_equal(idx.n, 2);
	assert_field(&idx.fields[0], "Subject", " one\n two\n\tthree");
	v = unfolded(&idx, 0);
	assert_string_equal(v, "one two\tthree");
	free(v);
	assert_field(&idx.fields[1], "X", " y");
	header_index_free(&idx);
}

static void
test_crlf(void **state)
{
	struct header_index idx = { 0 };
	char *v;

	(void)state;
	/* CRLF line ends, and CRLF CRLF as the end of the header. */
	parse(&idx, "A: 1\r\nB: 2\r\n  more\r\n\r\nC: body\r\n");
	assert_int_equal(idx.n, 2);
	assert_field(&idx.fields[0], "A", " 1\r");
	v = unfolded(&idx, 0);
	assert_string_equal(v, "1");
	free(v);
	v = unfolded(&idx, 1);
	assert_string_equal(v, "2  more");
	free(v);
	header_index_free(&idx);
}

static void
test_bare_cr_is_content(void **state)
{
	struct header_index idx = { 0 };
	char *v;

	(void)state;
	/* A CR not before LF neither ends a line nor the header. */
	parse(&idx, "A: x\ry\n\rB: z\nC: w\n");
	assert_int_equal(idx.n, 2);
	v = unfolded(&idx, 0);
	assert_string_equal(v, "x\ry");
	free(v);
	/* "\rB: z" is no field name; the next line is. */
	assert_field(&idx.fields[1], "C", " w");
	header_index_free(&idx);
}

static void
test_not_fields_skipped(void **state)
{
	struct header_index idx = { 0 };

	(void)state;
	parse(&idx, " orphan continuation\n"
	    "From sender@example.org Mon Jan  1 00:00:00 2024\n"
	    "garbage without colon\n"
	    ": no name\n"
	    "  continuation of garbage\n"
	    "Name : spaced\n"
	    "Good:no space\n"
	    "Empty:\n"
	    "X-Weird!#$%&'*+-.^_`|~: v\n");
	assert_int_equal(idx.n, 4);
	/* "Name :" is tolerated, as many readers do. */
	assert_field(&idx.fields[0], "Name", " spaced");
	assert_field(&idx.fields[1], "Good", "no space");
	assert_field(&idx.fields[2], "Empty", "");
	assert_field(&idx.fields[3], "X-Weird!#$%&'*+-.^_`|~", " v");
	header_index_free(&idx);
}

static void
test_no_separator_and_no_final_newline(void **state)
{
	struct header_index idx = { 0 };

	(void)state;
	parse(&idx, "A: 1\nB: 2");
	assert_int_equal(idx.n, 2);
	assert_field(&idx.fields[1], "B", " 2");
	parse(&idx, "");
	assert_int_equal(idx.n, 0);
	parse(&idx, "\nA: body\n");
	assert_int_equal(idx.n, 0);
	parse(&idx, "\r\nA: body\n");
	assert_int_equal(idx.n, 0);
	header_index_free(&idx);
}

static void
test_nul_bytes(void **state)
{
	static const char block[] = "A\0B: 1\nC: x\0y\nD: 2\n";
	struct header_index idx = { 0 };

	(void)state;
	header_index_parse(&idx, block, sizeof block - 1);
	/* A NUL ends a field name (not a field); in a value it is data. */
	assert_int_equal(idx.n, 2);
	assert_int_equal(idx.fields[0].value_len, 4);
	assert_memory_equal(idx.fields[0].value, " x\0y", 4);
	assert_field(&idx.fields[1], "D", " 2");
	header_index_free(&idx);
}

static void
test_find(void **state)
{
	struct header_index idx = { 0 };
	struct header_field *f;
	size_t pos = 0;

	(void)state;
	parse(&idx, "Received: 1\nTo: x\nRECEIVED: 2\nreceived: 3\n");
	f = header_find(&idx, "received", &pos);
	assert_field(f, "Received", " 1");
	assert_int_equal(pos, 1);
	f = header_find(&idx, "received", &pos);
	assert_field(f, "RECEIVED", " 2");
	f = header_find(&idx, "Received", &pos);
	assert_field(f, "received", " 3");
	assert_null(header_find(&idx, "received", &pos));
	assert_null(header_find(&idx, "received", &pos));
	pos = 0;
	/* A prefix of a name is not the name. */
	assert_null(header_find(&idx, "Receive", &pos));
	pos = 0;
	assert_null(header_find(&idx, "Received-SPF", &pos));
	header_index_free(&idx);
}

static void
test_many_fields_and_huge_value(void **state)
{
	struct header_index idx = { 0 };
	size_t n = 5000, huge = 1 << 20, len = 0;
	char *block = malloc(n * 16 + huge + 64), *v;

	(void)state;
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(block + len, "X-%zu: %zu\n", i, i);
	memcpy(block + len, "Big: ", 5);
	len += 5;
	/* One value of a megabyte, folded every 70 bytes. */
	for (size_t i = 0; i < huge; i++)
		block[len++] = i % 70 == 69 ? '\n' : i % 70 == 0 ? ' ' : 'v';
	block[len++] = '\n';
	header_index_parse(&idx, block, len);
	assert_int_equal(idx.n, n + 1);
	assert_field(&idx.fields[4321], "X-4321", " 4321");
	v = unfolded(&idx, n);
	assert_int_equal(strlen(v), huge - huge / 70 - 1);
	assert_null(strchr(v, '\n'));
	free(v);
	free(block);
	header_index_free(&idx);
}

static void
test_reparse_reuses(void **state)
{
	struct header_index idx = { 0 };

	(void)state;
	parse(&idx, "A: 1\nB: 2\nC: 3\n");
	idx.fields[1].decoded = strdup("freed by clear");
	parse(&idx, "D: 4\n");
	assert_int_equal(idx.n, 1);
	assert_field(&idx.fields[0], "D", " 4");
	header_index_clear(&idx);
	assert_int_equal(idx.n, 0);
	header_index_free(&idx);
	/* Freeing twice is harmless. */
	header_index_free(&idx);
}

static void
test_unfold_edges(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(header_unfold("", 0, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(header_unfold(" \t \r\n \t", 7, out), 0);
	assert_string_equal(out, "");
	/* Only line breaks go; the whitespace that follows them stays. */
	assert_int_equal(header_unfold(" a\r\n\r\n b ", 9, out), 3);
	assert_string_equal(out, "a b");
	assert_int_equal(header_unfold("a\n", 2, out), 1);
	assert_string_equal(out, "a");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_point_into_block),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_bare_cr_is_content),
		cmocka_unit_test(test_not_fields_skipped),
		cmocka_unit_test(test_no_separator_and_no_final_newline),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_many_fields_and_huge_value),
		cmocka_unit_test(test_reparse_reuses),
		cmocka_unit_test(test_unfold_edges),
	};

	return cmocka_run_group_tests_name("header", tests, NULL, NULL);
}
