/*
 * Staged deliveries and their records. Batching destinations (Maildir,
 * mbox) stage messages; a commit syncs them, journals their names in the
 * UID store, makes them visible, records their UIDs and only then queues
 * their deletion from the server. After a crash, the journal says which
 * staged messages made it. When to commit (batch_due) and how the count
 * bound adapts to what commits cost (batch_adapt): fetch-batch.h.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "deliver.h"
#include "fetch-batch.h"
#include "fetch-internal.h"
#include "log.h"
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

/* The batching destinations in use, each taking `step` (sync or commit);
 * -1 at the first that fails. */
static int
each_batching(struct fetch *f, int (*step)(struct destination *,
    struct err *), struct err *e)
{
	for (size_t i = 0; i < f->cfg->ndests; i++) {
		struct destination *d = &f->cfg->dests[i];

		if (d->state != NULL && d->backend->batching &&
		    step(d, e) == -1)
			return -1;
	}
	return 0;
}

static int
backend_sync(struct destination *d, struct err *e)
{
	return d->backend->sync(d, e);
}

static int
backend_commit(struct destination *d, struct err *e)
{
	return d->backend->commit(d, e);
}

/* "P" records: the names the staged messages will have once visible. */
static int
journal_staged(struct fetch *f, struct err *e)
{
	bool journal = false;

	for (size_t i = 0; i < f->batch.n; i++) {
		const struct staged_msg *sm = &f->batch.v[i];
		const char *uid = fetch_uid(f, &f->list.msgs[sm->idx]);

		/* Not journalled: recovery would take it for delivered
		 * everywhere. */
		if (sm->partial)
			continue;
		for (size_t j = 0; j < sm->nnames && uid != NULL; j++) {
			const struct staged_name *sn =
			    &f->batch.names[sm->first_name + j];

			uidstore_journal(f->store, uid, f->now, sn->dest->name,
			    sn->name);
			journal = true;
		}
	}
	return journal ? uidstore_sync(f->store, e) : 0;
}

/* "+" (or "S") records: the batch's messages are done with. */
static int
record_batch(struct fetch *f, struct err *e)
{
	for (size_t i = 0; i < f->batch.n; i++) {
		const struct staged_msg *sm = &f->batch.v[i];
		const struct server_msg *msg = &f->list.msgs[sm->idx];

		if (msg->uid == STRTAB_NONE)
			continue;
		if (!sm->partial) {
			uidstore_add(f->store, fetch_uid(f, msg), f->now,
			    sm->skipped);
			continue;
		}
		for (size_t j = 0; j < sm->nnames; j++)
			uidstore_partial(f->store, fetch_uid(f, msg), f->now,
			    f->batch.names[sm->first_name + j].dest->name);
	}
	return uidstore_sync(f->store, e);
}

/*
 * Make the staged messages delivered and recorded, in this order: sync
 * their files, journal their names, make them visible, record their
 * UIDs; and only then tell the plugins and queue their deletion (or
 * move, or marking them read).
 */
int
batch_commit(struct fetch *f, struct err *e)
{
	int64_t start = clock_ms();
	bool by_count = f->batch.n >= batch_limit(&f->batch);

	if (f->batch.n == 0)
		return 0;
	if (each_batching(f, backend_sync, e) == -1 ||
	    journal_staged(f, e) == -1) {
		batch_rollback(f);
		return -1;
	}
	if (each_batching(f, backend_commit, e) == -1) {
		/* Some may be visible already: the journal decides at the
		 * next run, so keep it. */
		f->batch.journal_unresolved = true;
		batch_rollback(f);
		return -1;
	}
	if (record_batch(f, e) == -1) {
		/* Visible but not recorded: the journal settles it. */
		f->batch.journal_unresolved = true;
		clear_batch(&f->batch);
		return -1;
	}
	for (size_t i = 0; i < f->batch.n; i++)
		plugin_notes_delivered(f->batch.v[i].notes,
		    f->batch.v[i].nnotes, f->a->name);
	for (size_t i = 0; i < f->batch.n; i++) {
		const struct staged_msg *sm = &f->batch.v[i];

		if (sm->delete_after)
			plan_delete(f, sm->idx);
		else if (f->a->mark_seen && sm->counted_delivered)
			plan_seen(f, sm->idx);
	}
	clear_batch(&f->batch);
	batch_adapt(&f->batch, by_count, clock_ms() - start);
	return 0;
}

void
batch_keep(struct fetch *f, struct staged_msg *sm, int rc)
{
	struct err e;

	if (rc == DELIVER_SPOILED) {
		batch_rollback(f);
		return;
	}
	sm->partial = true;
	err_clear(&e);
	if (batch_commit(f, &e) == -1)
		log_error("%s: %s", f->a->name, e.msg);
}

struct staged_msg *
batch_add(struct batch *b, size_t idx)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : BATCH_MESSAGES_MIN;
		b->v = xreallocarray(b->v, b->cap, sizeof *b->v);
	}
	if (b->n == 0)
		b->since = clock_ms();
	b->v[b->n] = (struct staged_msg){ .idx = idx,
	    .first_name = b->nnames };
	return &b->v[b->n++];
}

void
batch_add_name(struct batch *b, struct staged_msg *sm, struct destination *d,
    const char *name)
{
	if (b->nnames == b->capnames) {
		b->capnames = b->capnames ? b->capnames * 2 :
		    BATCH_MESSAGES_MIN;
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

size_t
batch_limit(const struct batch *b)
{
	return b->limit != 0 ? b->limit : BATCH_MESSAGES_MIN;
}

bool
batch_due(const struct batch *b, int64_t now)
{
	if (b->n == 0)
		return false;
	return b->n >= batch_limit(b) || b->bytes >= BATCH_BYTES ||
	    now - b->since >= BATCH_WAIT_MS;
}

void
batch_adapt(struct batch *b, bool by_count, int64_t took)
{
	size_t limit = batch_limit(b);

	if (took > BATCH_SLOW_MS && limit > BATCH_MESSAGES_MIN)
		limit /= 2;
	else if (by_count && took <= BATCH_CHEAP_MS &&
	    limit < BATCH_MESSAGES_MAX)
		limit *= 2;
	b->limit = limit;
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
