/* What a session does with each listed message: see fetch-plan.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch-internal.h"
#include "log.h"
#include "setaside.h"
#include "xmalloc.h"

void
queue_push(struct queue *q, size_t idx)
{
	if (q->n >= q->cap || idx >= UINT32_MAX) {
		fprintf(stderr, "mailferry: internal error: a message queue "
		    "overflowed\n");
		abort();
	}
	q->v[q->n++] = (uint32_t)idx;
}

static void
queue_alloc(struct queue *q, size_t cap)
{
	free(q->v);
	*q = (struct queue){ .cap = cap, .v = xcalloc(cap + 1, sizeof *q->v) };
}

static void
queue_free(struct queue *q)
{
	free(q->v);
	*q = (struct queue){ 0 };
}

void
plan_free(struct plan *p)
{
	queue_free(&p->fetch);
	queue_free(&p->header);
	queue_free(&p->remove);
	queue_free(&p->seen);
}

/*
 * Messages whose fetch broke an earlier session (a connection lost in
 * the middle of one, say) go to the end of the line: they are still
 * tried, but no longer hold back everything after them.
 */
static void
last_the_troublesome(struct fetch *f, struct queue *q)
{
	uint32_t *later = xcalloc(q->n + 1, sizeof *later);
	size_t o = 0, nlater = 0;

	for (size_t i = 0; i < q->n; i++) {
		const char *uid = fetch_uid(f, &f->list.msgs[q->v[i]]);

		if (uid != NULL && uidstore_is_troublesome(f->store, uid))
			later[nlater++] = q->v[i];
		else
			q->v[o++] = q->v[i];
	}
	memcpy(q->v + o, later, nlater * sizeof *later);
	free(later);
}

static enum plan_kind
plan_known(struct fetch *f, time_t fetched, bool skipped)
{
	const struct account *a = f->a;

	/* Delivered by mailferry, so it is removed as the account says
	 * even when flagged deleted: by another client too, or by mailferry
	 * itself when a crash or a server without UIDPLUS left it so. */
	if (skipped)
		return PLAN_NONE;
	if (!a->keep || a->move_to != NULL || (a->keep_days > 0 &&
	    f->now - fetched >= (time_t)a->keep_days * 86400))
		return PLAN_DELETE;
	return PLAN_NONE;
}

/* What this session does with one listed message. */
static enum plan_kind
decide(struct fetch *f, struct server_msg *sm, char *why, size_t whylen)
{
	const struct account *a = f->a;
	const char *uid = fetch_uid(f, sm);
	const struct carried *c;
	time_t fetched;
	bool skipped, known;

	/* (Recalled even under --all: the store keeps it.) */
	known = uid != NULL && uidstore_recall(f->store, uid, &fetched,
	    &skipped);
	if (known && !f->opt->all)
		return plan_known(f, fetched, skipped);
	if (uid != NULL && (c = carry_find(&f->carry, uid)) != NULL) {
		sm->handled = true;
		sm->rule_delete = c->rule_delete;
		return c->rule_delete ? PLAN_RULE_DELETE : PLAN_NONE;
	}
	/* Another client deleted it (IMAP \Deleted): not ours to fetch. */
	if (sm->others_deleted)
		return PLAN_NONE;
	/* After a reconnect, a message without a UID cannot be told from
	 * one an earlier session delivered. */
	if (uid == NULL && (a->keep || f->carry.sessions > 1))
		return PLAN_NO_UID;
	if (a->max_size > 0 && sm->size > a->max_size)
		return PLAN_TOO_BIG;
	if (uid != NULL && setaside_check(f->store, a, uid, why, whylen))
		return PLAN_SET_ASIDE;
	return f->carry.dest_failed ? PLAN_NONE : PLAN_FETCH;
}

/* -n: the deletion (or move) a run would make of a known message, shown
 * and counted. */
static void
would_delete(struct fetch *f, const struct server_msg *sm)
{
	time_t fetched = f->now;
	bool skipped;
	char why[96];
	size_t idx = (size_t)(sm - f->list.msgs);

	plan_count_removal(f, idx);
	if (plan_removal(f, idx) == SOURCE_MOVE) {
		log_info("%s: message %u (UID %s, %jd bytes) would be moved to "
		    "\"%s\"", f->a->name, sm->num, fetch_uid_shown(f, sm),
		    (intmax_t)sm->size, f->a->move_to);
		return;
	}
	if (!f->a->keep)
		snprintf(why, sizeof why, "keep = false");
	else {
		(void)uidstore_recall(f->store, fetch_uid(f, sm), &fetched,
		    &skipped);
		snprintf(why, sizeof why, "keep_days = %d, fetched %jd days "
		    "ago", f->a->keep_days, (intmax_t)((f->now - fetched) /
		    86400));
	}
	log_info("%s: message %u (UID %s, %jd bytes) would be deleted from "
	    "the server (%s)", f->a->name, sm->num, fetch_uid_shown(f, sm),
	    (intmax_t)sm->size, why);
}

/* The first session counts and reports; later ones see the same. */
static void
count_plan(struct fetch *f, const struct server_msg *sm, const char *why)
{
	switch (sm->plan) {
	case PLAN_FETCH:
		stats_count(&f->st, STAT_NEW);
		break;
	case PLAN_DELETE:
		if (f->opt->dry_run)
			would_delete(f, sm);
		break;
	case PLAN_TOO_BIG:
		stats_count(&f->st, STAT_TOO_BIG);
		if (log_enabled(LOG_VERBOSE))
			log_verbose("%s: message %u (UID %s, %jd bytes) is over "
			    "max_size; left on the server", f->a->name, sm->num,
			    fetch_uid_shown(f, sm), (intmax_t)sm->size);
		break;
	case PLAN_NO_UID:
		stats_count(&f->st, STAT_NO_UID);
		break;
	case PLAN_SET_ASIDE:
		stats_count(&f->st, STAT_SET_ASIDE);
		log_warn("%s: message %u (UID %s) is set aside and left on the "
		    "server: %s", f->a->name, sm->num, fetch_uid(f, sm), why);
		break;
	default:
		break;
	}
}

static void
fill_queues(struct fetch *f)
{
	for (size_t i = 0; i < f->list.n; i++) {
		switch (f->list.msgs[i].plan) {
		case PLAN_FETCH:
			queue_push(f->plan.prefilter ? &f->plan.header :
			    &f->plan.fetch, i);
			break;
		case PLAN_DELETE:
		case PLAN_RULE_DELETE:
			if (!f->opt->dry_run)
				plan_delete(f, i);
			break;
		default:
			break;
		}
	}
}

/*
 * fetch_limit: the first new messages in fetching order are fetched, the
 * others are left alone (unrecorded) and wait for the next run. After a
 * reconnect, what the earlier sessions of the run took counts too.
 */
static void
apply_fetch_limit(struct fetch *f, struct queue *q)
{
	size_t limit = (size_t)f->a->fetch_limit, done;

	/* -c counts every new message. */
	if (limit == 0 || f->opt->check)
		return;
	done = stats_decided(&f->st);
	limit = done < limit ? limit - done : 0;
	if (q->n <= limit)
		return;
	for (size_t i = limit; i < q->n; i++)
		f->list.msgs[q->v[i]].plan = PLAN_NONE;
	if (f->plan.first) {
		log_info("%s: fetch_limit %d: %zu more new messages wait for "
		    "the next run", f->a->name, f->a->fetch_limit, q->n - limit);
		stats_uncount_new(&f->st, (unsigned)(q->n - limit));
	}
	q->n = limit;
}

/*
 * Messages left on the server for want of a UID. A server without UIDL
 * at all, with keep = true, means nothing is ever fetched: said even
 * under -q, since that is how cron runs it.
 */
static void
warn_no_uid(struct fetch *f)
{
	if (f->list.no_uids)
		log_warn_always("%s: the server does not support UIDL, so with "
		    "keep = true its %u messages cannot be tracked and none "
		    "is fetched; set keep = false to fetch them and delete "
		    "them from the server", f->a->name,
		    stats_get(&f->st, STAT_NO_UID));
	else
		log_warn("%s: %u messages without a usable UID left on the "
		    "server (with keep = true they cannot be tracked)",
		    f->a->name, stats_get(&f->st, STAT_NO_UID));
}

void
plan_delete(struct fetch *f, size_t idx)
{
	queue_push(&f->plan.remove, idx);
}

void
plan_seen(struct fetch *f, size_t idx)
{
	queue_push(&f->plan.seen, idx);
}

enum source_req
plan_removal(const struct fetch *f, size_t idx)
{
	if (f->a->move_to != NULL && !f->list.msgs[idx].rule_delete)
		return SOURCE_MOVE;
	return SOURCE_DELETE;
}

void
plan_count_removal(struct fetch *f, size_t idx)
{
	stats_count(&f->st, plan_removal(f, idx) == SOURCE_MOVE ? STAT_MOVED :
	    STAT_REMOVED);
}

void
fetch_plan(struct fetch *f)
{
	bool first = f->mailbox >= f->carry.counted;
	size_t nnew = 0, ndel = 0;
	char why[512];

	for (size_t i = 0; i < f->list.n; i++) {
		struct server_msg *sm = &f->list.msgs[i];

		if (sm->uid != STRTAB_NONE)
			uidstore_keep_partials(f->store, fetch_uid(f, sm));
		sm->plan = decide(f, sm, why, sizeof why);
		if (first)
			count_plan(f, sm, why);
		nnew += sm->plan == PLAN_FETCH;
		ndel += sm->plan == PLAN_DELETE || sm->plan == PLAN_RULE_DELETE;
	}
	/* Queues as long as they can get: a new message may be fetched
	 * (once whole, maybe after its header) and deleted; a known one
	 * deleted. */
	queue_alloc(&f->plan.fetch, nnew);
	queue_alloc(&f->plan.header, f->plan.prefilter ? nnew : 0);
	queue_alloc(&f->plan.remove, nnew + ndel);
	queue_alloc(&f->plan.seen, f->a->mark_seen ? nnew : 0);
	fill_queues(f);
	f->plan.first = first;
	if (first)
		f->carry.counted = f->mailbox + 1;
	if (first && stats_get(&f->st, STAT_NO_UID) > 0)
		warn_no_uid(f);
	last_the_troublesome(f, &f->plan.fetch);
	last_the_troublesome(f, &f->plan.header);
	/* Only one of the two holds new messages at this point. */
	apply_fetch_limit(f, &f->plan.fetch);
	apply_fetch_limit(f, &f->plan.header);
}
