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
/* Batch commit: at most this many messages or bytes staged. */
#define BATCH_MESSAGES		64
#define BATCH_BYTES		(16 * 1024 * 1024)
/* A message staged in the current batch, and where. */
struct staged_msg {
	size_t		 idx;		/* into msgs */
	size_t		 first_name, nnames;
	bool		 delete_after;	/* DELE once committed */
	bool		 counted_delivered;
	bool		 skipped;	/* recorded as skipped, not delivered */
	struct plugin_note *notes;	/* for the plugins, once delivered */
	size_t		 nnotes;
};

struct staged_name {
	struct destination *dest;
	char		   *name;
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
	size_t			 window;	/* commands in flight at most */
	size_t			 retr_in_flight;
	off_t			 bytes_in_flight;

	struct msg		 m;
	struct staged_msg	*batch;
	size_t			 nbatch, capbatch;
	struct staged_name	*names;
	size_t			 nnames, capnames;
	off_t			 batch_bytes;
	bool			 journal_unresolved;

	/* Sessions: one, and more after a failure (MAX_RECONNECTS). */
	struct carry		 carry;
	bool			 broken;	/* the connection failed */
	bool			 draining;	/* fetch no more; delete, QUIT */
	bool			 quit_ok;	/* the last QUIT got +OK */
	/* Destinations whose last delivery met a DELIVER_REFUSED, and how
	 * many messages in a row did. */
	struct refusal {
		struct destination *dest;
		unsigned	 in_a_row;
	}			*refused;
	size_t			 nrefused;

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
struct staged_msg *batch_add(struct fetch *f, size_t idx);
void batch_add_name(struct fetch *f, struct staged_msg *sm,
    struct destination *d, const char *name);
/* Make the staged messages durable, visible and recorded; then queue
 * their deletion. -1 (e set) when that failed and they were undone. */
int batch_commit(struct fetch *f, struct err *e);
void batch_rollback(struct fetch *f);
/* Settle deliveries a crash interrupted, from the journal. */
int batch_recover_journal(struct fetch *f, struct err *e);
/* After QUIT: forget UIDs no longer on the server. */
int fetch_compact_store(struct fetch *f, bool quit_ok, struct err *e);

/* fetch-deliver.c */
/* Deliver the message in f->m where v says. -1: a destination is
 * unusable and the run must stop (e set). */
int fetch_deliver(struct fetch *f, size_t idx, const struct verdict *v,
    struct mf_message *pm, struct err *e);
void fetch_describe_dests(const struct verdict *v, char *buf, size_t size);

#endif
