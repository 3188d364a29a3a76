/*
 * Staged deliveries and their records. Batching destinations (Maildir,
 * mbox) stage messages; a commit syncs them, journals their names in the
 * UID store, makes them visible, records their UIDs and only then queues
 * their deletion from the server. After a crash, the journal says which
 * staged messages made it.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "fetch-internal.h"
#include "xmalloc.h"

void
fetch_queue_push(uint32_t *queue, size_t *n, size_t cap, size_t idx)
{
	if (*n >= cap || idx >= UINT32_MAX) {
		fprintf(stderr, "mailferry: internal error: a message queue "
		    "overflowed\n");
		abort();
	}
	queue[(*n)++] = (uint32_t)idx;
}

void
fetch_queue_delete(struct fetch *f, size_t idx)
{
	fetch_queue_push(f->delete_queue, &f->ndelete, f->cap_delete, idx);
}

static void
clear_batch(struct fetch *f)
{
	for (size_t i = 0; i < f->nbatch; i++)
		plugin_notes_free(f->batch[i].notes, f->batch[i].nnotes);
	for (size_t i = 0; i < f->nnames; i++)
		free(f->names[i].name);
	f->nnames = 0;
	f->nbatch = 0;
	f->batch_bytes = 0;
}

/* Undo every staged delivery: those messages stay on the server,
 * unrecorded, and are fetched again next time. */
void
batch_rollback(struct fetch *f)
{
	for (size_t i = 0; i < f->cfg->ndests; i++) {
		struct destination *d = &f->cfg->dests[i];

		if (d->state != NULL && d->backend->batching)
			d->backend->rollback(d);
	}
	for (size_t i = 0; i < f->nbatch; i++) {
		if (f->batch[i].counted_delivered) {
			f->st.delivered--;
			f->st.failed++;
		}
	}
	clear_batch(f);
}

/*
 * Make the staged messages delivered and recorded: sync their files,
 * journal their names, make them visible, record their UIDs, and only
 * then queue their deletion.
 */
int
batch_commit(struct fetch *f, struct err *e)
{
	struct config *cfg = f->cfg;
	bool journal = false;

	if (f->nbatch == 0)
		return 0;
	for (size_t i = 0; i < cfg->ndests; i++) {
		struct destination *d = &cfg->dests[i];

		if (d->state != NULL && d->backend->batching &&
		    d->backend->sync(d, e) == -1)
			goto rollback;
	}
	for (size_t i = 0; i < f->nbatch; i++) {
		struct staged_msg *sm = &f->batch[i];
		const char *uid = fetch_uid(f, &f->msgs[sm->idx]);

		for (size_t j = 0; j < sm->nnames && uid != NULL; j++) {
			struct staged_name *sn = &f->names[sm->first_name + j];

			uidstore_journal(f->store, uid, f->now, sn->dest->name,
			    sn->name);
			journal = true;
		}
	}
	if (journal && uidstore_sync(f->store, e) == -1)
		goto rollback;
	for (size_t i = 0; i < cfg->ndests; i++) {
		struct destination *d = &cfg->dests[i];

		if (d->state != NULL && d->backend->batching &&
		    d->backend->commit(d, e) == -1) {
			/* Some may be visible already: the journal decides
			 * at the next run, so keep it. */
			f->journal_unresolved = true;
			goto rollback;
		}
	}
	for (size_t i = 0; i < f->nbatch; i++) {
		struct staged_msg *sm = &f->batch[i];
		struct server_msg *msg = &f->msgs[sm->idx];

		if (msg->uid != STRTAB_NONE)
			uidstore_add(f->store, fetch_uid(f, msg), f->now,
			    sm->skipped);
	}
	if (uidstore_sync(f->store, e) == -1) {
		f->journal_unresolved = true;
		goto clear;
	}
	for (size_t i = 0; i < f->nbatch; i++)
		plugin_notes_delivered(f->batch[i].notes, f->batch[i].nnotes,
		    f->a->name);
	for (size_t i = 0; i < f->nbatch; i++)
		if (f->batch[i].delete_after)
			fetch_queue_delete(f, f->batch[i].idx);
	goto clear;
rollback:
	batch_rollback(f);
	return -1;
clear:
	clear_batch(f);
	return e->cls == ERR_NONE ? 0 : -1;
}

struct staged_msg *
batch_add(struct fetch *f, size_t idx)
{
	struct staged_msg *sm;

	if (f->nbatch == f->capbatch) {
		f->capbatch = f->capbatch ? f->capbatch * 2 : BATCH_MESSAGES;
		f->batch = xreallocarray(f->batch, f->capbatch,
		    sizeof *f->batch);
	}
	sm = &f->batch[f->nbatch++];
	sm->idx = idx;
	sm->first_name = f->nnames;
	sm->nnames = 0;
	sm->delete_after = false;
	sm->counted_delivered = false;
	sm->skipped = false;
	sm->notes = NULL;
	sm->nnotes = 0;
	return sm;
}

void
batch_add_name(struct fetch *f, struct staged_msg *sm, struct destination *d,
    const char *name)
{
	if (f->nnames == f->capnames) {
		f->capnames = f->capnames ? f->capnames * 2 : BATCH_MESSAGES;
		f->names = xreallocarray(f->names, f->capnames,
		    sizeof *f->names);
	}
	f->names[f->nnames].dest = d;
	f->names[f->nnames].name = xstrdup(name);
	f->nnames++;
	sm->nnames++;
}

/*
 * Settle deliveries a crash interrupted, using the journal: a UID counts
 * as delivered when every destination it was journalled for has it.
 */
int
batch_recover_journal(struct fetch *f, struct err *e)
{
	size_t n = uidstore_npending(f->store);
	bool *delivered = xcalloc(n ? n : 1, sizeof *delivered);
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		const struct uid_pending *p = uidstore_pending(f->store, i);
		struct destination *d = config_destination(f->cfg, p->dest);

		/* A destination since removed from the configuration cannot
		 * be asked: fetch again (a duplicate at worst). */
		if (d == NULL || d->backend->recover == NULL)
			continue;
		if (d->backend->prepare(d, e) == -1 ||
		    d->backend->recover(d, p->name, &delivered[i], e) == -1)
			goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct uid_pending *p = uidstore_pending(f->store, i);
		bool all = delivered[i];

		for (size_t j = 0; j < n && all; j++)
			if (strcmp(uidstore_pending(f->store, j)->uid,
			    p->uid) == 0)
				all = delivered[j];
		if (all && !uidstore_known(f->store, p->uid))
			uidstore_add(f->store, p->uid, p->when, false);
	}
	rc = uidstore_sync(f->store, e);
done:
	free(delivered);
	return rc;
}

/* After QUIT: forget the UIDs of messages no longer on the server. */
int
fetch_compact_store(struct fetch *f, bool quit_ok, struct err *e)
{
	if (!f->listed || f->journal_unresolved)
		return uidstore_sync(f->store, e);
	if (quit_ok)
		for (size_t i = 0; i < f->nmsgs; i++)
			if (f->msgs[i].deleted && f->msgs[i].uid != STRTAB_NONE)
				uidstore_forget(f->store,
				    fetch_uid(f, &f->msgs[i]));
	return uidstore_compact(f->store, e);
}
