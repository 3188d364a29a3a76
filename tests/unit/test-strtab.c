/* The string table: offsets that survive growth, and its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strtab.h"
#include "unit.h"

static void
test_add_get(void **state)
{
	struct strtab t = { 0 };
	uint32_t a, b, c;

	(void)state;
	a = strtab_add(&t, "first", 5);
	b = strtab_add(&t, "", 0);
	c = strtab_add(&t, "third-and-more", 5);
	assert_int_equal(a, 0);
	assert_int_equal(b, 6);
	assert_int_equal(c, 7);
	assert_string_equal(strtab_get(&t, a), "first");
	assert_string_equal(strtab_get(&t, b), "");
	/* Only len bytes are taken, NUL-terminated. */
	assert_string_equal(strtab_get(&t, c), "third");
	assert_null(strtab_get(&t, STRTAB_NONE));
	strtab_free(&t);
	assert_null(t.buf);
	assert_int_equal(t.len, 0);
	strtab_free(&t);
}

static void
test_offsets_survive_growth(void **state)
{
	struct strtab t = { 0 };
	uint32_t off[20000];
	char s[32];

	(void)state;
	for (unsigned i = 0; i < 20000; i++) {
		int n = snprintf(s, sizeof s, "uid-%u", i * 7919);

		off[i] = strtab_add(&t, s, (size_t)n);
	}
	assert_true(t.cap >= t.len);
	for (unsigned i = 0; i < 20000; i++) {
		snprintf(s, sizeof s, "uid-%u", i * 7919);
		assert_string_equal(strtab_get(&t, off[i]), s);
	}
	strtab_free(&t);
}

static void
test_long_string(void **state)
{
	struct strtab t = { 0 };
	size_t len = 100000;
	char *big = malloc(len);
	uint32_t off;

	(void)state;
	memset(big, 'u', len);
	strtab_add(&t, "x", 1);
	off = strtab_add(&t, big, len);
	assert_int_equal(strlen(strtab_get(&t, off)), len);
	assert_string_equal(strtab_get(&t, 0), "x");
	free(big);
	strtab_free(&t);
}

static void
add_too_much(void *arg)
{
	struct strtab t = { 0 };

	/* Never read: the size is refused first. */
	strtab_add(&t, "x", *(size_t *)arg);
}

static void
test_offsets_bounded(void **state)
{
	size_t sizes[] = { UINT32_MAX, (size_t)UINT32_MAX + 1, SIZE_MAX / 2 + 1,
	    SIZE_MAX - 1, SIZE_MAX };

	(void)state;
	/* More than 32-bit offsets can name ends the program, whatever
	 * the size (none wraps around to a small one). */
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		assert_true(unit_aborts(add_too_much, &sizes[i]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_get),
		cmocka_unit_test(test_offsets_survive_growth),
		cmocka_unit_test(test_long_string),
		cmocka_unit_test(test_offsets_bounded),
	};

	return cmocka_run_group_tests_name("strtab", tests, NULL, NULL);
}
