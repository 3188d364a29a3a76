/*
 * The inside of fetching one account, shared by fetch.c (the pipelined
 * loop), fetch-list.c (what the server holds, and what to do with it),
 * fetch-batch.c (staged deliveries, journal, UID records) and
 * fetch-deliver.c (handing a message to its destinations).
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
#include "strtab.h"
#include "uidstore.h"

/* Pipelining window: commands in flight, and bytes of RETR replies. */
#define WINDOW_COMMANDS		256
#define WINDOW_BYTES		(8 * 1024 * 1024)
/* The pipelining window of a session. */
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

	struct pop3		*p;
	struct uidstore		*store;
	struct listing		 list;
	struct plan		 plan;
	struct window		 win;

	struct msg		 m;
	struct batch		 batch;

	/* Sessions: one, and more after a failure (MAX_RECONNECTS). */
	struct carry		 carry;
	bool			 broken;	/* the connection failed */
	bool			 draining;	/* fetch no more; delete, QUIT */
	bool			 quit_ok;	/* the last QUIT got +OK */
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

/* fetch-list.c */
/* STAT, UIDL and LIST: fills f->list, sorted by number. */
int fetch_list_messages(struct fetch *f, struct err *e);

/* fetch-batch.c */
/* After QUIT: forget UIDs no longer on the server. */
int fetch_compact_store(struct fetch *f, bool quit_ok, struct err *e);

/* fetch-deliver.c */
/* Deliver the message in f->m where v says. -1: a destination is
 * unusable and the run must stop (e set). */
int fetch_deliver(struct fetch *f, size_t idx, const struct verdict *v,
    struct mf_message *pm, struct err *e);
void fetch_describe_dests(const struct verdict *v, char *buf, size_t size);
void refusals_free(struct refusals *rs);

#endif
