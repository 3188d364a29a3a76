/*
 * The inside of fetching one account: struct fetch, the context every
 * fetch*.c file works in, made of parts each owned by one file:
 *   fetch.c          the account, its sessions and their mailboxes
 *   fetch-window.c   the pipelined loop and its window (struct window)
 *   fetch-message.c  one message in hand: decide and act
 *   fetch-deliver.c  handing a message to its destinations (struct
 *                    refusals)
 *   fetch-list.h     what the mailbox holds (struct listing)
 *   fetch-plan.h     what to do with each message, and the queues
 *   fetch-batch.h    deliveries staged until the next commit
 *   fetch-carry.h    what a broken session hands to the next one
 *   fetch-stats.h    the counters and the worst failure
 * The server is reached only through the source interface (source.h).
 */
#ifndef MF_FETCH_INTERNAL_H
#define MF_FETCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "err.h"
#include "fetch-batch.h"
#include "fetch-carry.h"
#include "fetch-list.h"
#include "fetch-plan.h"
#include "fetch-stats.h"
#include "fetch.h"
#include "msg.h"
#include "plugin.h"
#include "rules.h"
#include "source.h"
#include "strtab.h"
#include "uidstore.h"

/* Pipelining window: requests in flight, and bytes of whole messages
 * (as announced) in flight. */
#define WINDOW_COMMANDS		256
#define WINDOW_BYTES		(8 * 1024 * 1024)

/* The pipelining window of a session (fetch-window.c). */
struct window {
	size_t		 depth;		/* requests in flight at most */
	size_t		 fetches;	/* whole messages in flight */
	off_t		 bytes;		/* and their announced sizes, bounded */
};

/* Destinations whose last delivery met a DELIVER_REFUSED, and how many
 * messages in a row did (fetch-deliver.c). */
struct refusals {
	struct refusal {
		struct destination *dest;
		unsigned	 in_a_row;
	}		*v;
	size_t		 n;
};

struct fetch {
	struct config		*cfg;
	struct account		*a;
	const struct run_options *opt;
	time_t			 now;

	const struct source_backend *backend;
	struct source_session	*ss;		/* NULL between sessions */
	struct uidstore		*store;
	struct listing		 list;
	struct plan		 plan;
	struct window		 win;

	struct msg		 m;
	struct batch		 batch;

	/* Sessions: one, and more after a failure (MAX_RECONNECTS). */
	struct carry		 carry;
	bool			 broken;	/* the connection failed */
	bool			 draining;	/* fetch no more; delete, close */
	size_t			 mailboxes_listed;	/* in this session */
	size_t			 mailbox;	/* the one selected */
	const char		*mailbox_name;	/* its name; NULL: the
						 * account's only one */
	struct refusals		 refusals;

	struct stats		 st;
};

/* A message's UID (its key in the store), or NULL when it has none
 * usable. */
static inline const char *
fetch_uid(const struct fetch *f, const struct server_msg *sm)
{
	return listing_uid(&f->list, sm);
}

static inline const char *
fetch_uid_shown(const struct fetch *f, const struct server_msg *sm)
{
	return listing_uid_shown(&f->list, sm);
}

static inline bool
fetch_stopping(const struct fetch *f)
{
	return f->opt->stop != NULL && *f->opt->stop;
}

/* fetch-window.c */
/* The window's depth for the session's source. */
void window_start(struct fetch *f);
/* Requests and replies until nothing is in flight, queued or staged.
 * -1 (e set) when the connection failed (f->broken) or a destination
 * did. */
int window_run(struct fetch *f, struct err *e);

/* fetch-message.c */
/* The message (header_arrived: its header) is in f->m: decide and act.
 * -1: a destination is unusable and the run must stop (e set). */
int message_arrived(struct fetch *f, size_t idx, struct err *e);
int header_arrived(struct fetch *f, size_t idx, struct err *e);
/* It broke the session: fetched last from now on, not again in this
 * run. */
void message_broke_session(struct fetch *f, struct server_msg *sm);
/* It went over max_size although announced smaller: set aside; e says
 * so. */
void message_too_large(struct fetch *f, struct server_msg *sm,
    struct err *e);

/* fetch-deliver.c */
/* Deliver the message in f->m where v says. -1: a destination is
 * unusable and the run must stop (e set). */
int fetch_deliver(struct fetch *f, size_t idx, const struct verdict *v,
    struct mf_message *pm, struct err *e);
void fetch_describe_dests(const struct verdict *v, char *buf, size_t size);
void refusals_free(struct refusals *rs);

#endif
