/*
 * The plan of a mailbox: what this session does with each listed
 * message (fetch it, look at its header first, delete it, leave it, and
 * why), and the queues the pipelined loop takes its requests from.
 * Built by fetch_plan() from the listing, the UID store, the account's
 * settings and what earlier sessions of the run carried over; counted in
 * the run's statistics by the first session only.
 */
#ifndef MF_FETCH_PLAN_H
#define MF_FETCH_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

enum plan_kind {
	PLAN_NONE,		/* known, nothing to do */
	PLAN_FETCH,		/* new: fetch it */
	PLAN_DELETE,		/* known: delete (keep = false, keep_days) */
	PLAN_TOO_BIG,		/* new but over max_size: leave it */
	PLAN_NO_UID,		/* untrackable and keep = true: leave it */
	PLAN_SET_ASIDE,		/* set aside by an earlier run: leave it */
	PLAN_RULE_DELETE,	/* a rule deleted it in an earlier session of
				   this run: delete it */
};

/* Indexes into the listing, in the order they are to be sent. Each is
 * sized once by fetch_plan() for the most it can ever hold. */
struct queue {
	uint32_t	*v;
	size_t		 n, next, cap;
};

struct plan {
	struct queue	 fetch;		/* to fetch whole */
	struct queue	 header;	/* to fetch the header of first */
	struct queue	 remove;	/* to delete from the server (or,
					 * with move_to, to move) */
	struct queue	 seen;		/* to mark read (mark_seen) */
	bool		 prefilter;	/* the rules decide on headers */
	bool		 first;		/* the run's first plan of this mailbox:
					 * counted and reported */
};

/* Append index idx; overrunning a queue is a bug, stopped here. */
void queue_push(struct queue *q, size_t idx);

static inline bool
queue_waiting(const struct queue *q)
{
	return q->next < q->n;
}

static inline size_t
queue_pop(struct queue *q)
{
	return q->v[q->next++];
}

struct fetch;

/* Decide, for every listed message, what this session does with it,
 * and fill the queues (f->plan.prefilter says whether new messages go
 * to the header queue first). */
void fetch_plan(struct fetch *f);
/* Queue the deletion of listed message idx (with move_to, its move,
 * unless a rule deleted it). */
void plan_delete(struct fetch *f, size_t idx);
/* Queue marking listed message idx read. */
void plan_seen(struct fetch *f, size_t idx);
/* The request that takes message idx off the server. */
enum source_req plan_removal(const struct fetch *f, size_t idx);
/* Count message idx as removed from the server, or as moved when that is
 * how it goes. */
void plan_count_removal(struct fetch *f, size_t idx);
void plan_free(struct plan *p);

#endif
