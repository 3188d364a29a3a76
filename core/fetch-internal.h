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
/* A bound on what a server may list. */
#define MAX_MESSAGES		1000000
/* Sessions opened again in one run after one broke. */
#define MAX_RECONNECTS		3

enum plan {
	PLAN_NONE,		/* known, nothing to do */
	PLAN_FETCH,		/* new: fetch it */
	PLAN_DELETE,		/* known: delete (keep = false, keep_days) */
	PLAN_TOO_BIG,		/* new but over max_size: leave it */
	PLAN_NO_UID,		/* untrackable and keep = true: leave it */
	PLAN_SET_ASIDE,		/* set aside by an earlier run: leave it */
	PLAN_RULE_DELETE,	/* a rule deleted it in an earlier session of
				   this run: delete it */
};

/* What the server holds: one of these per message, kept small (24
 * bytes) since a mailbox may have a million. */
struct server_msg {
	off_t		 size;		/* as LIST announced it */
	unsigned	 num;
	uint32_t	 uid;		/* in f->uids; STRTAB_NONE: none usable */
	uint16_t	 rule;		/* predecided: 1 + the rule's index */
	uint8_t		 plan;		/* enum plan */
	bool		 deleted : 1;	/* DELE answered +OK */
	bool		 listed : 1;	/* named by LIST */
	/* Decided on its header (TOP) to be delivered: to the rule's
	 * destinations, or the account's. */
	bool		 predecided : 1;
	bool		 to_account : 1;
	/* Done with in this run (decided, failed or set aside): not
	 * fetched again after a reconnect. */
	bool		 handled : 1;
	bool		 rule_delete : 1;	/* a rule said delete */
};

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

struct stats {
	unsigned	 new, delivered, deleted_by_rules, skipped, failed;
	unsigned	 removed, too_big, no_uid, set_aside;
	uint64_t	 bytes;
};

/* A message an earlier session of this run was done with, by UID. */
struct carried {
	uint32_t	 uid;		/* in fetch.carried_uids */
	bool		 rule_delete;
};

struct fetch {
	struct config		*cfg;
	struct account		*a;
	const struct run_options *opt;
	time_t			 now;

	struct pop3		*p;
	struct uidstore		*store;
	struct server_msg	*msgs;
	size_t			 nmsgs, capmsgs;
	struct strtab		 uids;		/* the messages' UIDs */
	bool			 listed;	/* the listing is complete */
	bool			 no_uidl;	/* the server has no UIDL */

	/* Queues of indexes in msgs, sized by fetch_plan(). */
	uint32_t		*fetch_list;	/* to RETR */
	size_t			 nfetch, next_fetch, cap_fetch;
	uint32_t		*top_list;	/* to look at with TOP first */
	size_t			 ntop, next_top, cap_top;
	bool			 prefilter;	/* rules decide on headers */
	uint32_t		*delete_queue;
	size_t			 ndelete, next_delete, cap_delete;
	size_t			 window;	/* commands in flight at most */
	size_t			 retr_in_flight;
	off_t			 bytes_in_flight;
	size_t			 nprocessed;	/* for the progress line */
	uint64_t		 bytes_received;

	struct msg		 m;
	struct staged_msg	*batch;
	size_t			 nbatch, capbatch;
	struct staged_name	*names;
	size_t			 nnames, capnames;
	off_t			 batch_bytes;
	bool			 journal_unresolved;

	/* Sessions: one, and more after a failure (MAX_RECONNECTS). */
	unsigned		 sessions;
	bool			 broken;	/* the connection failed */
	bool			 draining;	/* fetch no more; delete, QUIT */
	bool			 dest_failed;	/* fetch no more in this run */
	bool			 quit_ok;	/* the last QUIT got +OK */
	struct carried		*carried;	/* sorted by UID */
	size_t			 ncarried;
	struct strtab		 carried_uids;
	/* Destinations whose last delivery met a DELIVER_REFUSED, and how
	 * many messages in a row did. */
	struct refusal {
		struct destination *dest;
		unsigned	 in_a_row;
	}			*refused;
	size_t			 nrefused;

	struct stats		 st;
	enum err_class		 worst;
};


static inline void
fetch_note_failure(struct fetch *f, enum err_class cls)
{
	if (err_exitcode(cls) > err_exitcode(f->worst))
		f->worst = cls;
}

/* A message's UID, or NULL when it has none usable. */
static inline const char *
fetch_uid(const struct fetch *f, const struct server_msg *sm)
{
	return strtab_get(&f->uids, sm->uid);
}

static inline const char *
fetch_uid_shown(const struct fetch *f, const struct server_msg *sm)
{
	return sm->uid != STRTAB_NONE ? fetch_uid(f, sm) : "(none)";
}

/* fetch-list.c */
/* LIST and UIDL: fills f->msgs, sorted by number. */
int fetch_list_messages(struct fetch *f, struct err *e);
/* What this session does with each listed message (fills the queues).
 * After a reconnect, what earlier sessions were done with is not
 * fetched again, and counted once. */
void fetch_plan(struct fetch *f);
/* Before a reconnect: remember, by UID, the messages this session was
 * done with but did not record. */
void fetch_carry_over(struct fetch *f);
struct server_msg *fetch_find_msg(struct fetch *f, unsigned num);

/* fetch-batch.c */
/* Append message IDX to a queue; fetch_plan() sized each for the most
 * it can hold, so overrunning one is a bug, stopped here. */
void fetch_queue_push(uint32_t *queue, size_t *n, size_t cap, size_t idx);
struct staged_msg *batch_add(struct fetch *f, size_t idx);
void batch_add_name(struct fetch *f, struct staged_msg *sm,
    struct destination *d, const char *name);
/* Make the staged messages durable, visible and recorded; then queue
 * their deletion. -1 (e set) when that failed and they were undone. */
int batch_commit(struct fetch *f, struct err *e);
void batch_rollback(struct fetch *f);
/* Settle deliveries a crash interrupted, from the journal. */
int batch_recover_journal(struct fetch *f, struct err *e);
void fetch_queue_delete(struct fetch *f, size_t idx);
/* After QUIT: forget UIDs no longer on the server. */
int fetch_compact_store(struct fetch *f, bool quit_ok, struct err *e);

/* fetch-deliver.c */
/* Deliver the message in f->m where v says. -1: a destination is
 * unusable and the run must stop (e set). */
int fetch_deliver(struct fetch *f, size_t idx, const struct verdict *v,
    struct mf_message *pm, struct err *e);
void fetch_describe_dests(const struct verdict *v, char *buf, size_t size);

#endif
