/*
 * The plan of a mailbox without a server: a listing made by hand, a UID
 * store in a temporary directory, and what fetch_plan() decides for each
 * message (fetch, header first, delete, leave it and why), the order of
 * its queues, fetch_limit, what a reconnect carries over, and the
 * listing itself (keys, sorting, repeated UIDs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "unit.h"

#include "fetch-internal.h"

#define NOW	((time_t)1700000000)
#define DAY	86400

struct fixture {
	char			*dir;
	struct config		 cfg;
	struct account		 a;
	struct run_options	 opt;
	struct fetch		 f;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);

	fx->dir = unit_tmpdir();
	fx->cfg.state_dir = fx->dir;
	fx->a.name = "work";
	fx->a.keep = true;
	fx->a.max_size = MAX_SIZE_DEFAULT;
	fx->f = (struct fetch){ .cfg = &fx->cfg, .a = &fx->a, .opt = &fx->opt,
	    .now = NOW };
	fx->f.carry.sessions = 1;
	listing_init(&fx->f.list, fx->a.name);
	fx->f.list.complete = true;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	uidstore_close(fx->f.store);
	listing_clear(&fx->f.list);
	plan_free(&fx->f.plan);
	carry_free(&fx->f.carry);
	unit_rmtree(fx->dir);
	free(fx);
	return 0;
}

/* The store, from the lines of its file (after the first). */
static void
store(struct fixture *fx, const char *records)
{
	char *text;
	struct err e;

	assert_true(asprintf(&text, "mailferry-uids 1\n%s", records) > 0);
	free(unit_write(fx->dir, "work.uids", text));
	free(text);
	err_clear(&e);
	fx->f.store = uidstore_open(fx->dir, "work", false, &e);
	if (fx->f.store == NULL)
		fail_msg("%s", e.msg);
}

static struct server_msg *
add(struct fixture *fx, unsigned num, const char *uid, off_t size)
{
	struct err e;
	struct server_msg *sm = listing_add(&fx->f.list, num, "server", &e);

	assert_non_null(sm);
	sm->size = size;
	if (uid != NULL)
		assert_true(listing_set_uid(&fx->f.list, sm, uid,
		    strlen(uid)));
	return sm;
}

static void
plan(struct fixture *fx)
{
	plan_free(&fx->f.plan);
	fetch_plan(&fx->f);
}

/* The UIDs of a queue, in order, joined by spaces. */
static const char *
queued(struct fixture *fx, const struct queue *q)
{
	static char buf[256];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < q->n; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s",
		    i ? " " : "", fetch_uid_shown(&fx->f,
		    &fx->f.list.msgs[q->v[i]]));
	return buf;
}

static unsigned
count(struct fixture *fx, enum stat_counter s)
{
	return stats_get(&fx->f.st, s);
}

static void
test_new_known_and_skipped(void **state)
{
	struct fixture *fx = *state;

	store(fx, "+ known 1699990000\nS skipped 1699990000\n");
	add(fx, 1, "known", 100);
	add(fx, 2, "skipped", 100);
	add(fx, 3, "new", 100);
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_NONE);
	assert_int_equal(fx->f.list.msgs[1].plan, PLAN_NONE);
	assert_int_equal(fx->f.list.msgs[2].plan, PLAN_FETCH);
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "new");
	assert_string_equal(queued(fx, &fx->f.plan.header), "");
	assert_string_equal(queued(fx, &fx->f.plan.remove), "");
	assert_int_equal(count(fx, STAT_NEW), 1);
}

/* keep = false deletes what is recorded as delivered, never what a rule
 * skipped; the queue has room for every new message's deletion too. */
static void
test_keep_false_deletes_the_known(void **state)
{
	struct fixture *fx = *state;

	fx->a.keep = false;
	store(fx, "+ known 1699990000\nS skipped 1699990000\n");
	add(fx, 1, "known", 100);
	add(fx, 2, "skipped", 100);
	add(fx, 3, "new", 100);
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_DELETE);
	assert_int_equal(fx->f.list.msgs[1].plan, PLAN_NONE);
	assert_string_equal(queued(fx, &fx->f.plan.remove), "known");
	assert_int_equal(fx->f.plan.remove.cap, 2);
	plan_delete(&fx->f, 2);
	assert_string_equal(queued(fx, &fx->f.plan.remove), "known new");
}

static void
test_keep_days(void **state)
{
	struct fixture *fx = *state;

	fx->a.keep_days = 2;
	store(fx, "+ old 1699820000\n+ young 1699900000\n");
	add(fx, 1, "old", 100);		/* fetched 2 days and 2 hours ago */
	add(fx, 2, "young", 100);	/* 1 day and 4 hours ago */
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_DELETE);
	assert_int_equal(fx->f.list.msgs[1].plan, PLAN_NONE);
	assert_string_equal(queued(fx, &fx->f.plan.remove), "old");
}

static void
test_dry_run_queues_no_deletion(void **state)
{
	struct fixture *fx = *state;

	fx->a.keep = false;
	fx->opt.dry_run = true;
	store(fx, "+ known 1699990000\n");
	add(fx, 1, "known", 100);
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_DELETE);
	assert_string_equal(queued(fx, &fx->f.plan.remove), "");
}

/* -n counts the deletions keep would make, as removed. */
static void
test_dry_run_counts_the_deletions(void **state)
{
	struct fixture *fx = *state;

	fx->a.keep_days = 2;
	fx->opt.dry_run = true;
	store(fx, "+ old 1699820000\n+ young 1699900000\nS gone 1699000000\n");
	add(fx, 1, "old", 100);
	add(fx, 2, "young", 100);
	add(fx, 3, "gone", 100);
	plan(fx);
	assert_int_equal(count(fx, STAT_REMOVED), 1);
	assert_string_equal(queued(fx, &fx->f.plan.remove), "");
}

/* --all: known and skipped messages are fetched as new; what is set
 * aside or too large is still left. */
static void
test_all_fetches_the_known(void **state)
{
	struct fixture *fx = *state;

	fx->a.keep = false;
	fx->a.max_size = 1000;
	fx->opt.all = true;
	store(fx, "+ known 1699990000\nS skipped 1699990000\n"
	    "+ big 1699990000\n");
	add(fx, 1, "known", 100);
	add(fx, 2, "skipped", 100);
	add(fx, 3, "new", 100);
	add(fx, 4, "big", 2000);
	plan(fx);
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "known skipped new");
	assert_string_equal(queued(fx, &fx->f.plan.remove), "");
	assert_int_equal(count(fx, STAT_NEW), 3);
	assert_int_equal(count(fx, STAT_TOO_BIG), 1);
	assert_true(uidstore_known(fx->f.store, "known"));
}

/* -c counts every new message: fetch_limit does not apply. */
static void
test_check_ignores_fetch_limit(void **state)
{
	struct fixture *fx = *state;

	fx->a.fetch_limit = 1;
	fx->opt.check = true;
	store(fx, "");
	add(fx, 1, "a", 100);
	add(fx, 2, "b", 100);
	plan(fx);
	assert_int_equal(count(fx, STAT_NEW), 2);
	assert_int_equal(count(fx, STAT_HELD_BACK), 0);
}

/* The announced size decides; max_size itself is still fetched. */
static void
test_over_max_size(void **state)
{
	struct fixture *fx = *state;

	fx->a.max_size = 1000;
	store(fx, "");
	add(fx, 1, "at", 1000);
	add(fx, 2, "over", 1001);
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_FETCH);
	assert_int_equal(fx->f.list.msgs[1].plan, PLAN_TOO_BIG);
	assert_int_equal(count(fx, STAT_TOO_BIG), 1);
	assert_int_equal(count(fx, STAT_NEW), 1);
}

/* Without a UID: left with keep = true; fetched with keep = false, but
 * only in the first session of a run (later, it cannot be told from one
 * an earlier session delivered). */
static void
test_without_uid(void **state)
{
	struct fixture *fx = *state;

	store(fx, "");
	add(fx, 1, NULL, 100);
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_NO_UID);
	assert_int_equal(count(fx, STAT_NO_UID), 1);

	fx->a.keep = false;
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_FETCH);
	fx->f.carry.sessions = 2;
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_NO_UID);
}

static void
test_headers_first(void **state)
{
	struct fixture *fx = *state;

	store(fx, "");
	add(fx, 1, "a", 100);
	add(fx, 2, "b", 100);
	fx->f.plan.prefilter = true;
	plan(fx);
	assert_string_equal(queued(fx, &fx->f.plan.header), "a b");
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "");
	/* Each may still be fetched whole after its header. */
	assert_int_equal(fx->f.plan.fetch.cap, 2);
}

static void
test_troublesome_come_last(void **state)
{
	struct fixture *fx = *state;

	store(fx, "F t1 1699990000\nF t2 1699990000\n");
	add(fx, 1, "t1", 100);
	add(fx, 2, "a", 100);
	add(fx, 3, "t2", 100);
	add(fx, 4, "b", 100);
	plan(fx);
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "a b t1 t2");
}

static void
test_fetch_limit(void **state)
{
	struct fixture *fx = *state;
	char name[8];

	fx->a.fetch_limit = 2;
	store(fx, "F first 1699990000\n");
	add(fx, 1, "first", 100);
	for (unsigned i = 2; i <= 5; i++) {
		snprintf(name, sizeof name, "m%u", i);
		add(fx, i, name, 100);
	}
	plan(fx);
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "m2 m3");
	assert_int_equal(count(fx, STAT_NEW), 2);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_NONE);
	assert_int_equal(fx->f.list.msgs[3].plan, PLAN_NONE);

	/* A later session: what the earlier ones decided counts, and the
	 * count of new messages is not touched again. */
	fx->f.carry.sessions = 2;
	stats_count(&fx->f.st, STAT_DELIVERED);
	plan(fx);
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "m2");
	assert_int_equal(count(fx, STAT_NEW), 2);
}

static void
test_set_aside(void **state)
{
	struct fixture *fx = *state;

	fx->a.max_size = 500;
	store(fx, "L big 1699990000 500\n");
	add(fx, 1, "big", 100);
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_SET_ASIDE);
	assert_int_equal(count(fx, STAT_SET_ASIDE), 1);
	/* Raised above the limit it went over: fetched again. */
	fx->a.max_size = 501;
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_FETCH);
}

static void
test_after_a_destination_failed(void **state)
{
	struct fixture *fx = *state;

	fx->a.keep = false;
	fx->f.carry.dest_failed = true;
	store(fx, "+ known 1699990000\n");
	add(fx, 1, "known", 100);
	add(fx, 2, "new", 100);
	plan(fx);
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "");
	assert_string_equal(queued(fx, &fx->f.plan.remove), "known");
}

/* A reconnect: what the broken session was done with is neither fetched
 * nor counted again; what a rule deleted is deleted now. */
static void
test_reconnect_carries_over(void **state)
{
	struct fixture *fx = *state;
	struct server_msg *sm;

	store(fx, "+ done 1699990000\n");
	add(fx, 1, "done", 100);
	sm = add(fx, 2, "failed", 100);
	sm->handled = true;
	sm = add(fx, 3, "ruled", 100);
	sm->handled = true;
	sm->rule_delete = true;
	add(fx, 4, "untouched", 100);
	carry_save(&fx->f.carry, &fx->f.list, fx->f.store);
	assert_int_equal(fx->f.carry.n, 2);
	assert_null(carry_find(&fx->f.carry, "done"));
	assert_null(carry_find(&fx->f.carry, "untouched"));
	assert_true(carry_find(&fx->f.carry, "ruled")->rule_delete);

	listing_clear(&fx->f.list);
	fx->f.list.complete = true;
	fx->f.carry.sessions = 2;
	/* The first session planned (and counted) this mailbox. */
	fx->f.carry.counted = 1;
	add(fx, 1, "done", 100);
	add(fx, 2, "failed", 100);
	add(fx, 3, "ruled", 100);
	add(fx, 4, "untouched", 100);
	plan(fx);
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "untouched");
	assert_string_equal(queued(fx, &fx->f.plan.remove), "ruled");
	assert_int_equal(fx->f.list.msgs[2].plan, PLAN_RULE_DELETE);
	assert_true(fx->f.list.msgs[1].handled);
	assert_true(fx->f.list.msgs[2].rule_delete);
	assert_int_equal(count(fx, STAT_NEW), 0);
}

/* A mailbox a broken session never reached is counted by the session
 * that lists it first. */
static void
test_later_mailbox_counted_after_a_reconnect(void **state)
{
	struct fixture *fx = *state;

	fx->f.carry.sessions = 2;
	fx->f.carry.counted = 1;
	fx->f.mailbox = 1;
	store(fx, "");
	add(fx, 1, "a", 100);
	add(fx, 2, "b", 100);
	plan(fx);
	assert_int_equal(count(fx, STAT_NEW), 2);
	assert_int_equal(fx->f.carry.counted, 2);
	fx->f.mailbox = 0;
}

/* An incomplete listing says less than the last complete one. */
static void
test_carry_needs_a_complete_listing(void **state)
{
	struct fixture *fx = *state;

	store(fx, "");
	add(fx, 1, "a", 100)->handled = true;
	carry_save(&fx->f.carry, &fx->f.list, fx->f.store);
	listing_clear(&fx->f.list);
	add(fx, 2, "b", 100)->handled = true;
	carry_save(&fx->f.carry, &fx->f.list, fx->f.store);
	assert_non_null(carry_find(&fx->f.carry, "a"));
	assert_null(carry_find(&fx->f.carry, "b"));
}

/* Each mailbox replaces what it carried; the others' stays. */
static void
test_carry_by_mailbox(void **state)
{
	struct fixture *fx = *state;
	char prefix[64];

	store(fx, "");
	assert_int_equal(listing_prefix("INBOX", 7, prefix, sizeof prefix), 0);
	listing_set_prefix(&fx->f.list, prefix);
	add(fx, 1, "1", 100)->handled = true;
	carry_save(&fx->f.carry, &fx->f.list, fx->f.store);

	listing_clear(&fx->f.list);
	fx->f.list.complete = true;
	assert_int_equal(listing_prefix("Lists/dev", 9, prefix,
	    sizeof prefix), 0);
	listing_set_prefix(&fx->f.list, prefix);
	add(fx, 1, "1", 100)->handled = true;
	carry_save(&fx->f.carry, &fx->f.list, fx->f.store);
	assert_int_equal(fx->f.carry.n, 2);
	assert_non_null(carry_find(&fx->f.carry, "INBOX:7:1"));
	assert_non_null(carry_find(&fx->f.carry, "Lists/dev:9:1"));

	/* INBOX again, with nothing handled any more. */
	listing_clear(&fx->f.list);
	fx->f.list.complete = true;
	listing_set_prefix(&fx->f.list, "INBOX:7:");
	add(fx, 1, "1", 100);
	carry_save(&fx->f.carry, &fx->f.list, fx->f.store);
	assert_int_equal(fx->f.carry.n, 1);
	assert_non_null(carry_find(&fx->f.carry, "Lists/dev:9:1"));
}

/* A new message someone else marked deleted (IMAP \\Deleted) is theirs:
 * neither fetched nor counted. One mailferry delivered is removed as
 * the account says, flagged or not (a crash may have left our own flag
 * on it). */
static void
test_others_deleted_left_alone(void **state)
{
	struct fixture *fx = *state;

	fx->a.keep = false;
	store(fx, "+ known 1699990000\n");
	add(fx, 1, "known", 100)->others_deleted = true;
	add(fx, 2, "new", 100)->others_deleted = true;
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_DELETE);
	assert_int_equal(fx->f.list.msgs[1].plan, PLAN_NONE);
	assert_int_equal(stats_get(&fx->f.st, STAT_NEW), 0);
	assert_string_equal(queued(fx, &fx->f.plan.remove), "known");
	assert_string_equal(queued(fx, &fx->f.plan.fetch), "");
}

static void
test_others_deleted_kept_with_keep(void **state)
{
	struct fixture *fx = *state;

	store(fx, "+ known 1699990000\n");
	add(fx, 1, "known", 100)->others_deleted = true;
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_NONE);
	assert_string_equal(queued(fx, &fx->f.plan.remove), "");
}

/* With move_to, a delivered message still in the folder is moved; one a
 * rule deleted is deleted. */
static void
test_move_to_moves_what_was_delivered(void **state)
{
	struct fixture *fx = *state;
	char archive[] = "Archive";

	fx->a.move_to = archive;
	store(fx, "+ known 1699990000\nS skipped 1699990000\n");
	add(fx, 1, "known", 100);
	add(fx, 2, "skipped", 100);
	add(fx, 3, "new", 100);
	plan(fx);
	assert_int_equal(fx->f.list.msgs[0].plan, PLAN_DELETE);
	assert_int_equal(fx->f.list.msgs[1].plan, PLAN_NONE);
	assert_int_equal(plan_removal(&fx->f, 0), SOURCE_MOVE);
	fx->f.list.msgs[2].rule_delete = true;
	assert_int_equal(plan_removal(&fx->f, 2), SOURCE_DELETE);
	fx->a.move_to = NULL;
}

/* ---- the listing ------------------------------------------------------- */

static void
test_prefix_of_a_mailbox(void **state)
{
	char buf[UID_MAX_LEN + 1], name[300];

	(void)state;
	assert_int_equal(listing_prefix(NULL, 5, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(listing_prefix("INBOX", 1234, buf, sizeof buf), 0);
	assert_string_equal(buf, "INBOX:1234:");
	assert_int_equal(listing_prefix("My Mail/50%:\x7f\xc3\xa9", 1, buf,
	    sizeof buf), 0);
	assert_string_equal(buf, "My%20Mail/50%25%3A%7F%C3%A9:1:");
	assert_true(uid_valid(buf, strlen(buf)));
	memset(name, 'x', 250);
	name[250] = '\0';
	assert_int_equal(listing_prefix(name, 4294967295u, buf, sizeof buf),
	    -1);
	assert_string_equal(buf, "");
}

static void
test_keys_with_a_prefix(void **state)
{
	struct fixture *fx = *state;
	struct server_msg *sm;
	char uid[UID_MAX_LEN + 1];

	listing_set_prefix(&fx->f.list, "INBOX:3:");
	sm = add(fx, 1, "42", 10);
	assert_string_equal(fetch_uid(&fx->f, sm), "INBOX:3:42");
	sm = add(fx, 2, NULL, 10);
	assert_false(listing_set_uid(&fx->f.list, sm, "has space", 9));
	assert_null(fetch_uid(&fx->f, sm));
	assert_string_equal(fetch_uid_shown(&fx->f, sm), "(none)");
	/* The whole key must fit in the store. */
	memset(uid, '7', sizeof uid);
	assert_false(listing_set_uid(&fx->f.list, sm, uid,
	    UID_MAX_LEN - 7));
	assert_true(listing_set_uid(&fx->f.list, sm, uid, UID_MAX_LEN - 8));
	assert_int_equal(strlen(fetch_uid(&fx->f, sm)), UID_MAX_LEN);
}

static void
test_sort_and_find(void **state)
{
	struct fixture *fx = *state;

	add(fx, 3, "c", 30);
	add(fx, 1, "a", 10);
	add(fx, 3, "c2", 31);
	add(fx, 2, "b", 20);
	listing_sort(&fx->f.list);
	assert_int_equal(fx->f.list.n, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(fx->f.list.msgs[i].num, i + 1);
	assert_int_equal(listing_find(&fx->f.list, 2)->size, 20);
	assert_null(listing_find(&fx->f.list, 4));
	assert_null(listing_find_in(&fx->f.list, 1, 2));
	assert_int_equal(listing_index(&fx->f.list,
	    listing_find(&fx->f.list, 3)), 2);
}

static void
test_keep_listed(void **state)
{
	struct fixture *fx = *state;

	add(fx, 1, "a", 10)->listed = true;
	add(fx, 2, "b", 10);
	add(fx, 3, "c", 10)->listed = true;
	listing_keep_listed(&fx->f.list);
	assert_int_equal(fx->f.list.n, 2);
	assert_string_equal(fetch_uid(&fx->f, &fx->f.list.msgs[1]), "c");
}

static void
test_repeated_uids_identify_none(void **state)
{
	struct fixture *fx = *state;

	add(fx, 1, "same", 10);
	add(fx, 2, "other", 10);
	add(fx, 3, "same", 10);
	add(fx, 4, "same", 10);
	listing_drop_repeated_uids(&fx->f.list);
	assert_null(fetch_uid(&fx->f, &fx->f.list.msgs[0]));
	assert_string_equal(fetch_uid(&fx->f, &fx->f.list.msgs[1]), "other");
	assert_null(fetch_uid(&fx->f, &fx->f.list.msgs[2]));
	assert_null(fetch_uid(&fx->f, &fx->f.list.msgs[3]));
}

static void
test_listing_is_bounded(void **state)
{
	struct fixture *fx = *state;
	struct err e;

	for (unsigned i = 0; i < MAX_MESSAGES; i++)
		assert_non_null(listing_add(&fx->f.list, i + 1, "srv", &e));
	err_clear(&e);
	assert_null(listing_add(&fx->f.list, MAX_MESSAGES + 1, "srv", &e));
	assert_int_equal(e.cls, ERR_TEMP);
	assert_string_equal(e.msg, "srv: the server lists more than 1000000 "
	    "messages");
}

static void
overflow(void *arg)
{
	struct queue *q = arg;

	queue_push(q, 0);
}

static void
test_queue_overflow_is_a_bug(void **state)
{
	uint32_t v[2];
	struct queue q = { .v = v, .cap = 1 };

	(void)state;
	queue_push(&q, 7);
	assert_true(queue_waiting(&q));
	assert_int_equal(queue_pop(&q), 7);
	assert_false(queue_waiting(&q));
	assert_true(unit_aborts(overflow, &q));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_new_known_and_skipped),
		T(test_keep_false_deletes_the_known),
		T(test_keep_days),
		T(test_dry_run_queues_no_deletion),
		T(test_dry_run_counts_the_deletions),
		T(test_all_fetches_the_known),
		T(test_check_ignores_fetch_limit),
		T(test_over_max_size),
		T(test_without_uid),
		T(test_headers_first),
		T(test_troublesome_come_last),
		T(test_fetch_limit),
		T(test_set_aside),
		T(test_after_a_destination_failed),
		T(test_reconnect_carries_over),
		T(test_later_mailbox_counted_after_a_reconnect),
		T(test_carry_needs_a_complete_listing),
		T(test_carry_by_mailbox),
		T(test_others_deleted_left_alone),
		T(test_others_deleted_kept_with_keep),
		T(test_move_to_moves_what_was_delivered),
		cmocka_unit_test(test_prefix_of_a_mailbox),
		T(test_keys_with_a_prefix),
		T(test_sort_and_find),
		T(test_keep_listed),
		T(test_repeated_uids_identify_none),
		T(test_listing_is_bounded),
		cmocka_unit_test(test_queue_overflow_is_a_bug),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
