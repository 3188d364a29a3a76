/*
 * The counters of a run: what the summary line says, the worst failure
 * class kept for the exit status, undone deliveries, what fetch_limit
 * counts as done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fetch-stats.h"

static void
test_summary_plain(void **state)
{
	struct stats st = { 0 };
	char buf[512];

	(void)state;
	for (int i = 0; i < 3; i++)
		stats_count(&st, STAT_NEW);
	stats_count(&st, STAT_DELIVERED);
	stats_count(&st, STAT_DELIVERED);
	stats_count(&st, STAT_DELETED_BY_RULES);
	stats_received(&st, 2048);
	assert_string_equal(stats_summary(&st, false, 1.25, buf, sizeof buf),
	    "3 new, 2 delivered, 1 deleted by rules, 0 failed, 2.0 KB in "
	    "1.2 s");
}

static void
test_summary_extras_in_order(void **state)
{
	struct stats st = { 0 };
	char buf[512];

	(void)state;
	stats_count(&st, STAT_SKIPPED);
	stats_count(&st, STAT_REMOVED);
	stats_count(&st, STAT_REMOVED);
	stats_count(&st, STAT_MOVED);
	stats_count(&st, STAT_TOO_BIG);
	stats_count(&st, STAT_NO_UID);
	stats_count(&st, STAT_SET_ASIDE);
	assert_string_equal(stats_summary(&st, true, 0, buf, sizeof buf),
	    "0 new, 0 delivered, 0 deleted by rules, 0 failed, 0.0 KB in "
	    "0.0 s, 1 skipped, 2 would be removed from the server, 1 would "
	    "be moved to the move_to folder, 1 over max_size "
	    "left on the server, 1 without UID left on the server, 1 set "
	    "aside (dry run: nothing delivered, deleted or recorded)");
}

static void
test_summary_cut_safely(void **state)
{
	struct stats st = { 0 };
	char buf[16];

	(void)state;
	stats_summary(&st, false, 0, buf, sizeof buf);
	assert_int_equal(strlen(buf), sizeof buf - 1);
}

/* The exit status is the highest of the classes seen (as err_exitcode
 * orders them), whatever the order they came in. */
static void
test_worst_failure_kept(void **state)
{
	struct stats st = { 0 };

	(void)state;
	assert_int_equal(st.worst, ERR_NONE);
	stats_failure(&st, ERR_UNAVAIL);
	assert_int_equal(st.worst, ERR_UNAVAIL);
	stats_failure(&st, ERR_TEMP);
	assert_int_equal(st.worst, ERR_TEMP);
	stats_failure(&st, ERR_AUTH);
	assert_int_equal(st.worst, ERR_AUTH);
	stats_failure(&st, ERR_TEMP);
	stats_failure(&st, ERR_NONE);
	assert_int_equal(st.worst, ERR_AUTH);
	assert_int_equal(stats_get(&st, STAT_FAILED), 0);
}

static void
test_message_failed_counts_and_classes(void **state)
{
	struct stats st = { 0 };

	(void)state;
	stats_message_failed(&st, ERR_TEMP);
	stats_message_failed(&st, ERR_TEMP);
	assert_int_equal(stats_get(&st, STAT_FAILED), 2);
	assert_int_equal(st.worst, ERR_TEMP);
}

/* A rolled-back batch: its deliveries become failures. */
static void
test_delivery_undone(void **state)
{
	struct stats st = { 0 };

	(void)state;
	stats_count(&st, STAT_DELIVERED);
	stats_count(&st, STAT_DELIVERED);
	stats_delivery_undone(&st);
	assert_int_equal(stats_get(&st, STAT_DELIVERED), 1);
	assert_int_equal(stats_get(&st, STAT_FAILED), 1);
	assert_int_equal(stats_decided(&st), 2);
}

static void
test_decided_and_limit(void **state)
{
	struct stats st = { 0 };

	(void)state;
	for (int i = 0; i < 10; i++)
		stats_count(&st, STAT_NEW);
	stats_count(&st, STAT_DELIVERED);
	stats_count(&st, STAT_DELETED_BY_RULES);
	stats_count(&st, STAT_SKIPPED);
	stats_message_failed(&st, ERR_TEMP);
	stats_count(&st, STAT_TOO_BIG);
	stats_count(&st, STAT_REMOVED);
	assert_int_equal(stats_decided(&st), 4);
	stats_uncount_new(&st, 6);
	assert_int_equal(stats_get(&st, STAT_NEW), 4);
	stats_uncount_new(&st, 100);
	assert_int_equal(stats_get(&st, STAT_NEW), 0);
}

/* Left for the next run: what fetch_limit held back, and what was
 * counted new and neither decided nor set aside while it came. */
static void
test_left(void **state)
{
	struct stats st = { 0 };
	char buf[512];

	(void)state;
	for (int i = 0; i < 10; i++)
		stats_count(&st, STAT_NEW);
	stats_uncount_new(&st, 3);
	assert_int_equal(stats_left(&st), 3 + 7);
	stats_count(&st, STAT_DELIVERED);
	stats_message_failed(&st, ERR_TEMP);
	stats_set_aside_late(&st);
	assert_int_equal(stats_get(&st, STAT_SET_ASIDE), 1);
	assert_int_equal(stats_left(&st), 3 + 4);
	st.stopped = true;
	assert_string_equal(stats_summary(&st, false, 0, buf, sizeof buf),
	    "7 new, 1 delivered, 0 deleted by rules, 1 failed, 0.0 KB in "
	    "0.0 s, 7 left for the next run, 1 set aside (stopped by a "
	    "signal)");
	/* Never below zero, whatever the order of the counts. */
	for (int i = 0; i < 10; i++)
		stats_count(&st, STAT_DELIVERED);
	assert_int_equal(stats_left(&st), 3);
}

static void
test_progress_per_session(void **state)
{
	struct stats st = { 0 };

	(void)state;
	stats_progress(&st, 100);
	stats_progress(&st, 50);
	assert_int_equal(st.shown_done, 2);
	assert_int_equal(st.shown_bytes, 150);
	stats_progress_reset(&st);
	assert_int_equal(st.shown_done, 0);
	assert_int_equal(st.shown_bytes, 0);
	assert_int_equal(st.bytes, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_plain),
		cmocka_unit_test(test_summary_extras_in_order),
		cmocka_unit_test(test_summary_cut_safely),
		cmocka_unit_test(test_worst_failure_kept),
		cmocka_unit_test(test_message_failed_counts_and_classes),
		cmocka_unit_test(test_delivery_undone),
		cmocka_unit_test(test_decided_and_limit),
		cmocka_unit_test(test_left),
		cmocka_unit_test(test_progress_per_session),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
