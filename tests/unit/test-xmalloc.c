/* Checked allocation: sizes that overflow end the program instead of
 * allocating less than asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xmalloc.h"
#include "unit.h"

/* Under AddressSanitizer, let an impossible malloc return NULL as libc
 * does, so the wrappers' own handling is what is tested. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

struct two {
	size_t	a, b;
};

static void
reallocarray_two(void *arg)
{
	struct two *t = arg;

	free(xreallocarray(NULL, t->a, t->b));
}

static void
calloc_two(void *arg)
{
	struct two *t = arg;

	free(xcalloc(t->a, t->b));
}

static void
malloc_one(void *arg)
{
	free(xmalloc(*(size_t *)arg));
}

static void
test_overflow_aborts(void **state)
{
	struct two bad[] = {
		{ SIZE_MAX, 2 }, { 2, SIZE_MAX }, { SIZE_MAX / 16 + 1, 16 },
		{ (size_t)1 << 33, (size_t)1 << 31 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(unit_aborts(reallocarray_two, &bad[i]));
		assert_true(unit_aborts(calloc_two, &bad[i]));
	}
}

static void
test_impossible_size_aborts(void **state)
{
	size_t huge = SIZE_MAX - 4096;

	(void)state;
	assert_true(unit_aborts(malloc_one, &huge));
}

static void
test_zero_sizes(void **state)
{
	char *p;

	(void)state;
	/* Zero is a valid request that gives a usable pointer, never
	 * NULL (which callers would take for failure). */
	p = xmalloc(0);
	assert_non_null(p);
	free(p);
	p = xcalloc(0, 8);
	assert_non_null(p);
	free(p);
	p = xcalloc(8, 0);
	assert_non_null(p);
	free(p);
	p = xreallocarray(NULL, 0, 8);
	assert_non_null(p);
	p = xreallocarray(p, 8, 0);
	assert_non_null(p);
	free(p);
}

static void
test_reallocarray_keeps_data(void **state)
{
	int *v = NULL;

	(void)state;
	for (int n = 1; n <= 1000; n++) {
		v = xreallocarray(v, (size_t)n, sizeof *v);
		v[n - 1] = n;
	}
	for (int n = 1; n <= 1000; n++)
		assert_int_equal(v[n - 1], n);
	free(v);
}

static void
test_calloc_zeroes(void **state)
{
	unsigned char *p = xcalloc(1000, 3);

	(void)state;
	for (size_t i = 0; i < 3000; i++)
		assert_int_equal(p[i], 0);
	free(p);
}

static void
test_strings(void **state)
{
	char *s;

	(void)state;
	s = xstrdup("");
	assert_string_equal(s, "");
	free(s);
	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	/* n past the end: only what is there. */
	s = xstrndup("ab", 100);
	assert_string_equal(s, "ab");
	free(s);
	s = xmemdup("a\0b", 3);
	assert_memory_equal(s, "a\0b", 3);
	free(s);
	s = xasprintf("%s-%d-%05.1f", "x", -3, 2.5);
	assert_string_equal(s, "x--3-002.5");
	free(s);
	s = xasprintf("%s", "");
	assert_string_equal(s, "");
	free(s);
	freezero_str(NULL);
	freezero_str(xstrdup("secret"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overflow_aborts),
		cmocka_unit_test(test_impossible_size_aborts),
		cmocka_unit_test(test_zero_sizes),
		cmocka_unit_test(test_reallocarray_keeps_data),
		cmocka_unit_test(test_calloc_zeroes),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests_name("xmalloc", tests, NULL, NULL);
}
