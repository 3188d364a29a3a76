/*
 * Regexes: three outcomes (match, no match, error), the per-match
 * limits, and the CPU budget one message's matches share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "regex.h"

static struct regex *
compile(const char *pattern)
{
	struct err e;
	struct regex *re = regex_compile(pattern, &e);

	assert_non_null(re);
	return re;
}

static void
test_compile_error(void **state)
{
	struct err e;

	(void)state;
	assert_null(regex_compile("a(b", &e));
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "regex \"a(b\" does not compile"));
}

static void
test_match_and_no_match(void **state)
{
	struct regex *re = compile("^\\[TEST\\]");
	struct err e;

	(void)state;
	assert_int_equal(regex_match(re, "[TEST] x", 8, NULL, &e), REGEX_MATCH);
	assert_int_equal(regex_match(re, "x [TEST]", 8, NULL, &e),
	    REGEX_NO_MATCH);
	/* The length counts, not a NUL. */
	assert_int_equal(regex_match(re, "[TEST]\0", 3, NULL, &e),
	    REGEX_NO_MATCH);
	regex_free(re);
}

/* Invalid UTF-8, as message bodies hold, is text that does not match,
 * never an error. */
static void
test_invalid_utf8(void **state)
{
	struct regex *re = compile("caf\xc3\xa9");
	struct err e;

	(void)state;
	assert_int_equal(regex_match(re, "caf\xe9 \xff\xfe", 6, NULL, &e),
	    REGEX_NO_MATCH);
	assert_int_equal(regex_match(re, "\xff caf\xc3\xa9", 7, NULL, &e),
	    REGEX_MATCH);
	regex_free(re);
}

/* Catastrophic backtracking is an error, not "no match". */
static void
test_match_limit_is_an_error(void **state)
{
	struct regex *re = compile("(a+)+$");
	char subject[64];
	struct err e;

	(void)state;
	memset(subject, 'a', sizeof subject - 1);
	subject[sizeof subject - 2] = 'b';
	assert_int_equal(regex_match(re, subject, sizeof subject - 1, NULL,
	    &e), REGEX_ERROR);
	assert_non_null(strstr(e.msg, "limit"));
	regex_free(re);
}

static void
test_budget_used_up_is_an_error(void **state)
{
	struct regex_budget b = REGEX_BUDGET(2);
	struct regex *re = compile("x");
	struct err e;

	(void)state;
	b.spent_ns = b.limit_ns;
	assert_int_equal(regex_match(re, "x", 1, &b, &e), REGEX_ERROR);
	assert_string_equal(e.msg, "the rules used up the 2 s of CPU time a "
	    "message may take (rules_cpu_limit)");
	regex_free(re);
}

/* Match re against subject again and again for 20 ms of monotonic
 * time; returns the nanoseconds that passed. */
static int64_t
match_for_20ms(const struct regex *re, const char *subject, size_t len,
    struct regex_budget *b)
{
	struct timespec t0, t;
	int64_t elapsed;
	struct err e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		assert_int_equal(regex_match(re, subject, len, b, &e),
		    REGEX_NO_MATCH);
		clock_gettime(CLOCK_MONOTONIC, &t);
		elapsed = (int64_t)(t.tv_sec - t0.tv_sec) * 1000000000 +
		    (t.tv_nsec - t0.tv_nsec);
	} while (elapsed < 20000000);
	return elapsed;
}

/* Matches are charged, to within a millisecond; the budget is shared by
 * whoever holds it. */
static void
test_budget_is_charged(void **state)
{
	struct regex_budget b = REGEX_BUDGET(10);
	struct regex *re = compile("\\w{1,100}\\d");
	size_t len = 256 * 1024;
	char *subject = malloc(len);
	int64_t before, elapsed;

	(void)state;
	memset(subject, 'a', len);
	/* Charged at least once a millisecond, CPU time not more than the
	 * time that passed. */
	elapsed = match_for_20ms(re, subject, len, &b);
	assert_true(b.spent_ns > 0);
	assert_true(b.spent_ns <= elapsed + 1000000);
	before = b.spent_ns;
	match_for_20ms(re, subject, len, &b);
	assert_true(b.spent_ns > before);
	free(subject);
	regex_free(re);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_error),
		cmocka_unit_test(test_match_and_no_match),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_match_limit_is_an_error),
		cmocka_unit_test(test_budget_used_up_is_an_error),
		cmocka_unit_test(test_budget_is_charged),
	};

	return cmocka_run_group_tests_name("regex", tests, NULL, NULL);
}
