/*
 * The growable-array idiom: appending keeps what was there, capacity
 * doubles, reserving makes room for a block, the wiped variant copies
 * by hand, text stays NUL-terminated, a ring grows with its elements
 * back in order, and a size that would overflow ends the program.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "array.h"
#include "unit.h"

static void
test_add_keeps_and_doubles(void **state)
{
	int *v = NULL;
	size_t n = 0, cap = 0, caps = 0, last = 0;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		*ARRAY_ADD(v, n, cap) = i;
		if (cap != last) {
			/* Each growth at least doubles. */
			assert_true(last == 0 || cap >= 2 * last);
			last = cap;
			caps++;
		}
	}
	assert_int_equal(n, 1000);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(v[i], i);
	assert_true(caps <= 8);
	free(v);
}

static void
test_reserve_block(void **state)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	(void)state;
	ARRAY_RESERVE(buf, len, cap, 10000);
	assert_true(cap >= 10000);
	memset(buf, 'x', 10000);
	len = 10000;
	/* Enough room already: the same buffer. */
	{
		char *before = buf;
		size_t old = cap;

		ARRAY_RESERVE(buf, len, cap, cap - len);
		assert_ptr_equal(buf, before);
		assert_int_equal(cap, old);
	}
	ARRAY_RESERVE(buf, len, cap, cap);
	assert_true(cap >= 2 * len);
	assert_int_equal(buf[9999], 'x');
	free(buf);
}

static void
test_wiped_copy(void **state)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	(void)state;
	ARRAY_RESERVE_WIPED(buf, len, cap, 4);
	memcpy(buf, "pass", 4);
	len = 4;
	ARRAY_RESERVE_WIPED(buf, len, cap, cap * 4);
	assert_memory_equal(buf, "pass", 4);
	free(buf);
}

static void
test_append_text(void **state)
{
	char *t = NULL;
	size_t len = 0, cap = 0;

	(void)state;
	array_append_text(&t, &len, &cap, "", 0, false);
	assert_string_equal(t, "");
	array_append_text(&t, &len, &cap, "abc", 3, false);
	array_append_text(&t, &len, &cap, "defgh", 2, true);
	assert_int_equal(len, 5);
	assert_string_equal(t, "abcde");
	for (int i = 0; i < 300; i++)
		array_append_text(&t, &len, &cap, "xyz", 3, i % 2);
	assert_int_equal(len, 905);
	assert_int_equal(strlen(t), 905);
	free(t);
}

static void
test_ring_in_order(void **state)
{
	int *q = NULL;
	size_t head = 0, len = 0, cap = 0;

	(void)state;
	/* Fill, take some from the front, wrap around, then grow. */
	for (int i = 0; i < 8; i++) {
		q = array_ring_grow(q, &head, len, &cap, sizeof *q);
		q[(head + len++) % cap] = i;
	}
	head = (head + 5) % cap;
	len -= 5;
	for (int i = 8; len < cap; i++)
		q[(head + len++) % cap] = i;
	q = array_ring_grow(q, &head, len, &cap, sizeof *q);
	assert_int_equal(head, 0);
	assert_true(cap > len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(q[i], (int)i + 5);
	free(q);
}

static void
overflow(void *arg)
{
	char *p = NULL;
	size_t n = SIZE_MAX - 2, cap = 0;

	(void)arg;
	ARRAY_RESERVE(p, n, cap, 8);
}

static void
huge(void *arg)
{
	uint64_t *p = NULL;
	size_t n = 0, cap = 0;

	(void)arg;
	ARRAY_RESERVE(p, n, cap, SIZE_MAX / 4);
}

static void
test_overflow_aborts(void **state)
{
	(void)state;
	assert_true(unit_aborts(overflow, NULL));
	assert_true(unit_aborts(huge, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_keeps_and_doubles),
		cmocka_unit_test(test_reserve_block),
		cmocka_unit_test(test_wiped_copy),
		cmocka_unit_test(test_append_text),
		cmocka_unit_test(test_ring_in_order),
		cmocka_unit_test(test_overflow_aborts),
	};

	return cmocka_run_group_tests_name("array", tests, NULL, NULL);
}
