/*
 * What happened in an account's run, for its summary line, and the
 * worst failure, for its exit status. Every counter of the fetch loop
 * changes through these functions, so the summary can be trusted: a
 * message counted new ends up counted once as delivered, deleted by a
 * rule, skipped, failed or set aside, or is left for the next run
 * (fetch_limit held it back, or the run stopped before it).
 */
#ifndef MF_FETCH_STATS_H
#define MF_FETCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum stat_counter {
	STAT_NEW,		/* planned to be fetched in this run */
	STAT_DELIVERED,		/* durably delivered (a dry run: would be) */
	STAT_DELETED_BY_RULES,
	STAT_SKIPPED,		/* a rule said: leave it, and record it */
	STAT_FAILED,		/* left on the server for the next run */
	STAT_REMOVED,		/* the server confirmed its deletion */
	STAT_MOVED,		/* ... or its move to move_to */
	STAT_TOO_BIG,		/* announced over max_size: not fetched */
	STAT_NO_UID,		/* no usable UID, keep = true: not fetched */
	STAT_SET_ASIDE,		/* set aside: not fetched */
	STAT_LISTED,		/* messages on the server, every mailbox */
	STAT_HELD_BACK,		/* new, held back by fetch_limit */
	STAT_COUNT
};

struct stats {
	unsigned	 n[STAT_COUNT];
	uint64_t	 bytes;		/* message data received */
	enum err_class	 worst;		/* ERR_NONE: nothing failed */
	unsigned	 set_aside_late;	/* counted new, set aside while
						 * it came */
	bool		 stopped;	/* a signal ended the run early */
	/* The progress line of the current session. */
	size_t		 shown_done;
	uint64_t	 shown_bytes;
};

static inline unsigned
stats_get(const struct stats *st, enum stat_counter s)
{
	return st->n[s];
}

void stats_count(struct stats *st, enum stat_counter s);
void stats_add(struct stats *st, enum stat_counter s, unsigned n);
/* fetch_limit took back n messages counted new: held back. */
void stats_uncount_new(struct stats *st, unsigned n);
/* A message counted new was set aside while it came. */
void stats_set_aside_late(struct stats *st);
/* A failure of the run: the exit status is that of the worst. */
void stats_failure(struct stats *st, enum err_class cls);
/* A message failed (counted) because of a failure of class cls. */
void stats_message_failed(struct stats *st, enum err_class cls);
/* A delivery counted was undone (its batch rolled back): failed. */
void stats_delivery_undone(struct stats *st);
/* Messages this run is done with, for fetch_limit. */
unsigned stats_decided(const struct stats *st);
/* New messages this run did not get to: held back by fetch_limit, or not
 * reached before the run stopped (a signal, a destination out of use, a
 * session that broke for good). They wait on the server for the next
 * run. */
unsigned stats_left(const struct stats *st);
void stats_received(struct stats *st, uint64_t bytes);

/* The progress line: one more message of `size` bytes done; and a new
 * session's count starting from zero. */
void stats_progress(struct stats *st, uint64_t size);
void stats_progress_reset(struct stats *st);

/* The summary line, without the account name: "3 new, 3 delivered, ...".
 * Returns buf. */
char *stats_summary(const struct stats *st, bool dry_run, double seconds,
    char *buf, size_t size);

#endif
