/*
 * When a batch is due for its commit (count, bytes, time) and how its
 * count bound follows what commits cost; the bookkeeping of staged
 * messages and names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fetch-batch.h"

static void
fill(struct batch *b, size_t n, off_t each)
{
	struct mf_message pm = { 0 };

	for (size_t i = 0; i < n; i++)
		batch_delivered(b, batch_add(b, b->n), each, true, &pm);
}

static void
test_empty_never_due(void **state)
{
	struct batch b = { 0 };

	(void)state;
	assert_false(batch_due(&b, INT64_MAX));
	assert_int_equal(batch_limit(&b), BATCH_MESSAGES_MIN);
}

static void
test_due_by_count(void **state)
{
	struct batch b = { 0 };

	(void)state;
	fill(&b, BATCH_MESSAGES_MIN - 1, 100);
	assert_false(batch_due(&b, b.since));
	fill(&b, 1, 100);
	assert_true(batch_due(&b, b.since));
	batch_free(&b);
}

static void
test_due_by_bytes(void **state)
{
	struct batch b = { 0 };

	(void)state;
	fill(&b, 1, BATCH_BYTES - 1);
	assert_false(batch_due(&b, b.since));
	fill(&b, 1, 1);
	assert_int_equal(b.n, 2);
	assert_true(batch_due(&b, b.since));
	batch_free(&b);
}

/* The wait counts from the first message, not the latest. */
static void
test_due_by_time_since_first(void **state)
{
	struct batch b = { 0 };
	int64_t first;

	(void)state;
	fill(&b, 1, 10);
	first = b.since;
	fill(&b, 1, 10);
	assert_int_equal(b.since, first);
	assert_false(batch_due(&b, first + BATCH_WAIT_MS - 1));
	assert_true(batch_due(&b, first + BATCH_WAIT_MS));
	batch_free(&b);
}

/* A skipped message (staged, never delivered) starts the clock too. */
static void
test_skipped_starts_clock(void **state)
{
	struct batch b = { 0 };

	(void)state;
	batch_add(&b, 7)->skipped = true;
	assert_int_equal(b.bytes, 0);
	assert_false(batch_due(&b, b.since));
	assert_true(batch_due(&b, b.since + BATCH_WAIT_MS));
	batch_free(&b);
}

static void
test_cheap_commits_grow_to_max(void **state)
{
	struct batch b = { 0 };
	size_t expect = BATCH_MESSAGES_MIN;

	(void)state;
	while (expect < BATCH_MESSAGES_MAX) {
		batch_adapt(&b, true, BATCH_CHEAP_MS);
		expect *= 2;
		assert_int_equal(batch_limit(&b), expect);
	}
	batch_adapt(&b, true, 0);
	assert_int_equal(batch_limit(&b), BATCH_MESSAGES_MAX);
}

/* Only a batch that reached its count bound says a bigger one would
 * have been worth it; a commit just over cheap changes nothing. */
static void
test_grows_only_by_count_and_cheap(void **state)
{
	struct batch b = { 0 };

	(void)state;
	batch_adapt(&b, false, 0);
	assert_int_equal(batch_limit(&b), BATCH_MESSAGES_MIN);
	batch_adapt(&b, true, BATCH_CHEAP_MS + 1);
	assert_int_equal(batch_limit(&b), BATCH_MESSAGES_MIN);
	batch_adapt(&b, true, BATCH_SLOW_MS);
	assert_int_equal(batch_limit(&b), BATCH_MESSAGES_MIN);
}

static void
test_slow_commits_shrink_to_min(void **state)
{
	struct batch b = { .limit = BATCH_MESSAGES_MAX };

	(void)state;
	batch_adapt(&b, true, BATCH_SLOW_MS + 1);
	assert_int_equal(batch_limit(&b), BATCH_MESSAGES_MAX / 2);
	batch_adapt(&b, false, BATCH_SLOW_MS + 1);
	assert_int_equal(batch_limit(&b), BATCH_MESSAGES_MAX / 4);
	for (int i = 0; i < 10; i++)
		batch_adapt(&b, true, 60000);
	assert_int_equal(batch_limit(&b), BATCH_MESSAGES_MIN);
}

/* A grown bound is what the next batch is held to. */
static void
test_grown_bound_used(void **state)
{
	struct batch b = { 0 };

	(void)state;
	batch_adapt(&b, true, 1);
	fill(&b, BATCH_MESSAGES_MIN, 10);
	assert_false(batch_due(&b, b.since));
	fill(&b, BATCH_MESSAGES_MIN, 10);
	assert_true(batch_due(&b, b.since));
	batch_free(&b);
}

static void
test_names_and_notes_kept(void **state)
{
	struct batch b = { 0 };
	struct destination d = { 0 };
	struct staged_msg *sm;

	(void)state;
	batch_add(&b, 0)->skipped = true;
	sm = batch_add(&b, 3);
	batch_add_name(&b, sm, &d, "one");
	batch_add_name(&b, sm, &d, "two");
	assert_int_equal(sm->first_name, 0);
	assert_int_equal(sm->nnames, 2);
	assert_string_equal(b.names[1].name, "two");
	assert_ptr_equal(b.names[0].dest, &d);
	sm = batch_add(&b, 4);
	batch_add_name(&b, sm, &d, "three");
	assert_int_equal(sm->first_name, 2);
	assert_int_equal(b.v[1].idx, 3);
	batch_free(&b);
	assert_int_equal(b.n, 0);
	assert_int_equal(b.nnames, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_never_due),
		cmocka_unit_test(test_due_by_count),
		cmocka_unit_test(test_due_by_bytes),
		cmocka_unit_test(test_due_by_time_since_first),
		cmocka_unit_test(test_skipped_starts_clock),
		cmocka_unit_test(test_cheap_commits_grow_to_max),
		cmocka_unit_test(test_grows_only_by_count_and_cheap),
		cmocka_unit_test(test_slow_commits_shrink_to_min),
		cmocka_unit_test(test_grown_bound_used),
		cmocka_unit_test(test_names_and_notes_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
