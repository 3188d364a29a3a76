/*
 * Staged deliveries and their records. Batching destinations (Maildir)
 * stage messages invisibly; a commit syncs them, journals their names in
 * the UID store, makes them visible, records their UIDs and only then
 * queues their deletion from the server. After a crash, the journal says
 * which staged messages made it.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "fetch-batch.h"
#include "fetch-internal.h"
#include "xmalloc.h"

static void
clear_batch(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		plugin_notes_free(b->v[i].notes, b->v[i].nnotes);
	for (size_t i = 0; i < b->nnames; i++)
		free(b->names[i].name);
	b->nnames = 0;
	b->n = 0;
	b->bytes = 0;
}

void
batch_free(struct batch *b)
{
	clear_batch(b);
	free(b->v);
	free(b->names);
	b->v = NULL;
	b->names = NULL;
	b->cap = b->capnames = 0;
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
	for (size_t i = 0; i < f->batch.n; i++) {
		if (f->batch.v[i].counted_delivered)
			stats_delivery_undone(&f->st);
	}
	clear_batch(&f->batch);
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

	if (f->batch.n == 0)
		return 0;
	for (size_t i = 0; i < cfg->ndests; i++) {
		struct destination *d = &cfg->dests[i];

		if (d->state != NULL && d->backend->batching &&
		    d->backend->sync(d, e) == -1)
			goto rollback;
	}
	for (size_t i = 0; i < f->batch.n; i++) {
		struct staged_msg *sm = &f->batch.v[i];
		const char *uid = fetch_uid(f, &f->list.msgs[sm->idx]);

		for (size_t j = 0; j < sm->nnames && uid != NULL; j++) {
			struct staged_name *sn =
			    &f->batch.names[sm->first_name + j];

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
			f->batch.journal_unresolved = true;
			goto rollback;
		}
	}
	for (size_t i = 0; i < f->batch.n; i++) {
		struct staged_msg *sm = &f->batch.v[i];
		struct server_msg *msg = &f->list.msgs[sm->idx];

		if (msg->uid != STRTAB_NONE)
			uidstore_add(f->store, fetch_uid(f, msg), f->now,
			    sm->skipped);
	}
	if (uidstore_sync(f->store, e) == -1) {
		f->batch.journal_unresolved = true;
		goto clear;
	}
	for (size_t i = 0; i < f->batch.n; i++)
		plugin_notes_delivered(f->batch.v[i].notes,
		    f->batch.v[i].nnotes, f->a->name);
	for (size_t i = 0; i < f->batch.n; i++)
		if (f->batch.v[i].delete_after)
			plan_delete(f, f->batch.v[i].idx);
	goto clear;
rollback:
	batch_rollback(f);
	return -1;
clear:
	clear_batch(&f->batch);
	return e->cls == ERR_NONE ? 0 : -1;
}

struct staged_msg *
batch_add(struct batch *b, size_t idx)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : BATCH_MESSAGES;
		b->v = xreallocarray(b->v, b->cap, sizeof *b->v);
	}
	b->v[b->n] = (struct staged_msg){ .idx = idx,
	    .first_name = b->nnames };
	return &b->v[b->n++];
}

void
batch_add_name(struct batch *b, struct staged_msg *sm, struct destination *d,
    const char *name)
{
	if (b->nnames == b->capnames) {
		b->capnames = b->capnames ? b->capnames * 2 : BATCH_MESSAGES;
		b->names = xreallocarray(b->names, b->capnames,
		    sizeof *b->names);
	}
	b->names[b->nnames].dest = d;
	b->names[b->nnames].name = xstrdup(name);
	b->nnames++;
	sm->nnames++;
}

void
batch_delivered(struct batch *b, struct staged_msg *sm, off_t m_size,
    bool delete_after, struct mf_message *pm)
{
	sm->delete_after = delete_after;
	sm->counted_delivered = true;
	sm->notes = pm->notes;
	sm->nnotes = pm->nnotes;
	pm->notes = NULL;
	pm->nnotes = 0;
	b->bytes += m_size;
}

bool
batch_full(const struct batch *b)
{
	return b->n >= BATCH_MESSAGES || b->bytes >= BATCH_BYTES;
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
	if (!f->list.complete || f->batch.journal_unresolved)
		return uidstore_sync(f->store, e);
	if (quit_ok)
		for (size_t i = 0; i < f->list.n; i++)
			if (f->list.msgs[i].deleted &&
			    f->list.msgs[i].uid != STRTAB_NONE)
				uidstore_forget(f->store,
				    fetch_uid(f, &f->list.msgs[i]));
	return uidstore_compact(f->store, e);
}
