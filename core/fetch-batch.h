/*
 * The batch: messages delivered (or skipped) since the last commit, and
 * the names batching destinations (Maildir) staged them under. A commit
 * syncs the staged files, journals their names in the UID store ("P"
 * records), makes them visible, records the UIDs, and only then queues
 * the deletions from the server; a rollback undoes every staged file.
 * After a crash, the journal says which staged messages made it.
 */
#ifndef MF_FETCH_BATCH_H
#define MF_FETCH_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "err.h"
#include "plugin.h"

/*
 * A batch is committed once it holds its count bound of messages or
 * BATCH_BYTES, or once its first message has waited BATCH_WAIT_MS: the
 * bytes bound what a commit has to write back, the wait bounds how long
 * deletions and an mbox's lock wait for a slow server or a slow disk.
 * The count bound adapts, since a commit costs mostly the same whatever
 * its size (one syncfs, one journal sync, one directory sync): it starts
 * at BATCH_MESSAGES_MIN, doubles up to BATCH_MESSAGES_MAX after a batch
 * filled by count was committed within BATCH_CHEAP_MS, and halves after
 * a commit that took longer than BATCH_SLOW_MS (the disk is behind: keep
 * each stall short).
 */
#define BATCH_MESSAGES_MIN	64
#define BATCH_MESSAGES_MAX	1024
#define BATCH_BYTES		(16 * 1024 * 1024)
#define BATCH_WAIT_MS		2000
#define BATCH_CHEAP_MS		100
#define BATCH_SLOW_MS		1000

/* A message in the batch, and where its staged names are. */
struct staged_msg {
	size_t		 idx;		/* into the listing */
	size_t		 first_name, nnames;
	bool		 delete_after;	/* delete once committed */
	bool		 counted_delivered;
	bool		 skipped;	/* recorded as skipped, not delivered */
	/* A destination failed on it: only the destinations it was staged
	 * at before are kept, in "D" records; no "+". */
	bool		 partial;
	struct plugin_note *notes;	/* for the plugins, once delivered */
	size_t		 nnotes;
};

struct staged_name {
	struct destination *dest;
	char		   *name;
};

struct batch {
	struct staged_msg *v;
	size_t		 n, cap;
	struct staged_name *names;
	size_t		 nnames, capnames;
	off_t		 bytes;		/* of the messages delivered */
	int64_t		 since;		/* clock_ms() when the first joined */
	size_t		 limit;		/* the count bound; 0: the least */
	/* A commit failed after its journal was written: the next run
	 * settles it, so the store is not compacted now. */
	bool		 journal_unresolved;
};

struct fetch;

/* Listed message idx joins the batch (not delivered yet). */
struct staged_msg *batch_add(struct batch *b, size_t idx);
void batch_add_name(struct batch *b, struct staged_msg *sm,
    struct destination *d, const char *name);
/* sm was delivered, m_size bytes: counted, its plugin notes taken from
 * pm, deleted from the server after the commit when delete_after. */
void batch_delivered(struct batch *b, struct staged_msg *sm, off_t m_size,
    bool delete_after, struct mf_message *pm);
/* Time to commit, at monotonic time now (clock_ms()): false when
 * empty. */
bool batch_due(const struct batch *b, int64_t now);
/* The count bound now. */
size_t batch_limit(const struct batch *b);
/* A commit ended well after took milliseconds; by_count: the batch was
 * committed because it held its count bound. Adapts the bound. */
void batch_adapt(struct batch *b, bool by_count, int64_t took);

/* Make the staged messages durable, visible and recorded; then queue
 * their deletion. -1 (e set) when that failed and they were undone. */
int batch_commit(struct fetch *f, struct err *e);
void batch_rollback(struct fetch *f);
/* A batching destination failed on sm, the batch's last message (rc:
 * its DELIVER_ code): commit the messages before it, and of sm what it
 * reached; or roll everything back when the failure spoiled the batch. */
void batch_keep(struct fetch *f, struct staged_msg *sm, int rc);
void batch_free(struct batch *b);
/* Settle deliveries a crash interrupted, from the journal. */
int batch_recover_journal(struct fetch *f, struct err *e);

#endif
