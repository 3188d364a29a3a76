#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "deliver.h"
#include "envelope.h"
#include "fetch.h"
#include "lock.h"
#include "log.h"
#include "msg.h"
#include "plugin.h"
#include "progress.h"
#include "rules.h"
#include "session.h"
#include "uidstore.h"
#include "xmalloc.h"

/* Pipelining window: commands in flight, and bytes of RETR replies. */
#define WINDOW_COMMANDS		64
#define WINDOW_BYTES		(8 * 1024 * 1024)
/* Batch commit: at most this many messages or bytes staged. */
#define BATCH_MESSAGES		64
#define BATCH_BYTES		(16 * 1024 * 1024)
/* A bound on what a server may list. */
#define MAX_MESSAGES		1000000

enum plan {
	PLAN_NONE,		/* known, nothing to do */
	PLAN_FETCH,		/* new: fetch it */
	PLAN_DELETE,		/* known: delete (keep = false, keep_days) */
	PLAN_TOO_BIG,		/* new but over max_size: leave it */
	PLAN_NO_UID,		/* untrackable and keep = true: leave it */
};

struct server_msg {
	unsigned	 num;
	off_t		 size;
	char		*uid;		/* NULL: none usable */
	enum plan	 plan;
	bool		 deleted;	/* DELE answered +OK */
	/* Decided on its header (TOP) to be delivered: where, and why. */
	bool		 predecided;
	struct destination **dests;
	size_t		 ndests;
	const struct rule *rule;
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
	unsigned	 removed, too_big, no_uid;
	uint64_t	 bytes;
};

struct fetch {
	struct config		*cfg;
	struct account		*a;
	const struct run_options *opt;
	time_t			 now;

	struct pop3		*p;
	struct uidstore		*store;
	struct server_msg	*msgs;
	size_t			 nmsgs;
	bool			 listed;	/* the listing is complete */

	size_t			*fetch_list;	/* to RETR */
	size_t			 nfetch, next_fetch;
	size_t			*top_list;	/* to look at with TOP first */
	size_t			 ntop, next_top;
	bool			 prefilter;	/* rules decide on headers */
	size_t			*delete_queue;
	size_t			 ndelete, next_delete;
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

	struct stats		 st;
	enum err_class		 worst;
};

static void
note_failure(struct fetch *f, enum err_class cls)
{
	if (err_exitcode(cls) > err_exitcode(f->worst))
		f->worst = cls;
}

static const char *
uid_shown(const struct server_msg *sm)
{
	return sm->uid != NULL ? sm->uid : "(none)";
}

/* ---- listing ---------------------------------------------------------- */

static int
parse_unsigned(const char *s, char **end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*end = (char *)s;
	*out = v;
	return 0;
}

static struct server_msg *
find_msg(struct fetch *f, unsigned num)
{
	size_t lo = 0, hi = f->nmsgs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (f->msgs[mid].num == num)
			return &f->msgs[mid];
		if (f->msgs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int
compare_num(const void *a, const void *b)
{
	const struct server_msg *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

static int
read_list(struct fetch *f, struct err *e)
{
	struct pop3_reply r;
	size_t cap = 0;
	bool end, sorted = true;

	if (pop3_reply(f->p, &r, e) == -1)
		return -1;
	if (!r.ok)
		return pop3_fail(f->p, &r, "LIST failed", ERR_TEMP, e);
	for (;;) {
		char *line, *q;
		size_t len;
		uint64_t num, size;

		if (pop3_listing_line(f->p, &line, &len, &end, e) == -1)
			return -1;
		if (end)
			break;
		conn_extend_deadline(f->p->conn, len);
		if (parse_unsigned(line, &q, UINT32_MAX, &num) == -1 ||
		    num == 0 || *q != ' ' ||
		    parse_unsigned(q + 1, &q, INT64_MAX, &size) == -1) {
			char shown[120];

			log_escape(shown, sizeof shown, line, len);
			return err_set(e, ERR_TEMP, "%s: garbled LIST line "
			    "\"%s\"", f->p->conn->label, shown);
		}
		if (f->nmsgs == MAX_MESSAGES)
			return err_set(e, ERR_TEMP, "%s: the server lists more "
			    "than %d messages", f->p->conn->label,
			    MAX_MESSAGES);
		if (f->nmsgs == cap) {
			cap = cap ? cap * 2 : 256;
			f->msgs = xreallocarray(f->msgs, cap, sizeof *f->msgs);
		}
		if (f->nmsgs > 0 && f->msgs[f->nmsgs - 1].num >= num)
			sorted = false;
		f->msgs[f->nmsgs++] = (struct server_msg){ .num = (unsigned)num,
		    .size = (off_t)size };
	}
	if (!sorted) {
		size_t o = 0;

		qsort(f->msgs, f->nmsgs, sizeof *f->msgs, compare_num);
		for (size_t i = 0; i < f->nmsgs; i++)
			if (o == 0 || f->msgs[o - 1].num != f->msgs[i].num)
				f->msgs[o++] = f->msgs[i];
		if (o != f->nmsgs)
			log_warn("%s: the server listed some messages twice",
			    f->a->name);
		f->nmsgs = o;
	}
	return 0;
}

static int
compare_uid_ptr(const void *a, const void *b)
{
	const struct server_msg *const *x = a, *const *y = b;

	return strcmp((*x)->uid, (*y)->uid);
}

/* A UID carried by several messages identifies none of them. */
static void
drop_repeated_uids(struct fetch *f)
{
	struct server_msg **v = xcalloc(f->nmsgs, sizeof *v);
	size_t n = 0;

	for (size_t i = 0; i < f->nmsgs; i++)
		if (f->msgs[i].uid != NULL)
			v[n++] = &f->msgs[i];
	qsort(v, n, sizeof *v, compare_uid_ptr);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && strcmp(v[i]->uid, v[j]->uid) == 0)
			j++;
		if (j - i > 1) {
			log_warn("%s: %zu messages share the UID \"%s\"; they "
			    "are treated as having none", f->a->name, j - i,
			    v[i]->uid);
			for (size_t k = i; k < j; k++) {
				free(v[k]->uid);
				v[k]->uid = NULL;
			}
		}
		i = j;
	}
	free(v);
}

static int
read_uidl(struct fetch *f, struct err *e)
{
	struct pop3_reply r;
	bool end;
	unsigned bad = 0;

	if (pop3_reply(f->p, &r, e) == -1)
		return -1;
	if (!r.ok) {
		log_warn("%s: the server does not support UIDL; messages "
		    "cannot be tracked%s", f->a->name, f->a->keep ?
		    " and stay on the server" : "");
		return 0;
	}
	for (;;) {
		char *line, *q, *uid;
		size_t len;
		uint64_t num;
		struct server_msg *sm;

		if (pop3_listing_line(f->p, &line, &len, &end, e) == -1)
			return -1;
		if (end)
			break;
		conn_extend_deadline(f->p->conn, len);
		if (parse_unsigned(line, &q, UINT32_MAX, &num) == -1 ||
		    *q != ' ') {
			bad++;
			continue;
		}
		uid = q + 1;
		sm = find_msg(f, (unsigned)num);
		if (sm == NULL || sm->uid != NULL) {
			bad++;
			continue;
		}
		if (!uid_valid(uid, strlen(uid))) {
			bad++;
			continue;
		}
		sm->uid = xstrdup(uid);
	}
	if (bad > 0)
		log_warn("%s: %u UIDL lines were unusable (odd UIDs or "
		    "numbers); those messages are treated as having no UID",
		    f->a->name, bad);
	drop_repeated_uids(f);
	return 0;
}

static int
list_messages(struct fetch *f, struct err *e)
{
	bool pipelining = f->p->caps & POP3_CAP_PIPELINING;

	pop3_send(f->p, POP3_LIST, 0, "LIST", SIZE_MAX);
	if (pipelining)
		pop3_send(f->p, POP3_UIDL, 0, "UIDL", SIZE_MAX);
	if (read_list(f, e) == -1)
		return -1;
	if (!pipelining)
		pop3_send(f->p, POP3_UIDL, 0, "UIDL", SIZE_MAX);
	if (read_uidl(f, e) == -1)
		return -1;
	f->listed = true;
	return 0;
}

/* Decide, for every listed message, what this run does with it. */
static void
plan_messages(struct fetch *f)
{
	struct account *a = f->a;

	uidstore_unkeep_all(f->store);
	f->fetch_list = xcalloc(f->nmsgs, sizeof *f->fetch_list);
	f->top_list = xcalloc(f->nmsgs, sizeof *f->top_list);
	f->delete_queue = xcalloc(f->nmsgs, sizeof *f->delete_queue);
	for (size_t i = 0; i < f->nmsgs; i++) {
		struct server_msg *sm = &f->msgs[i];
		struct uid_entry *known = sm->uid != NULL ?
		    uidstore_find(f->store, sm->uid) : NULL;

		if (sm->uid != NULL)
			uidstore_keep_partials(f->store, sm->uid);
		if (known != NULL) {
			known->keep = true;
			if (known->skipped)
				sm->plan = PLAN_NONE;
			else if (!a->keep || (a->keep_days > 0 && f->now -
			    known->fetched >= (time_t)a->keep_days * 86400))
				sm->plan = PLAN_DELETE;
			else
				sm->plan = PLAN_NONE;
		} else if (sm->uid == NULL && a->keep)
			sm->plan = PLAN_NO_UID;
		else if (a->max_size > 0 && sm->size > a->max_size)
			sm->plan = PLAN_TOO_BIG;
		else
			sm->plan = PLAN_FETCH;

		switch (sm->plan) {
		case PLAN_FETCH:
			if (f->prefilter)
				f->top_list[f->ntop++] = i;
			else
				f->fetch_list[f->nfetch++] = i;
			f->st.new++;
			break;
		case PLAN_DELETE:
			if (!f->opt->dry_run)
				f->delete_queue[f->ndelete++] = i;
			break;
		case PLAN_TOO_BIG:
			f->st.too_big++;
			if (log_verbosity() >= LOG_VERBOSE)
				log_verbose("%s: message %u (UID %s, %jd bytes) "
				    "is over max_size; left on the server",
				    a->name, sm->num, uid_shown(sm),
				    (intmax_t)sm->size);
			break;
		case PLAN_NO_UID:
			f->st.no_uid++;
			break;
		case PLAN_NONE:
			break;
		}
	}
	if (f->st.no_uid > 0)
		log_warn("%s: %u messages without a usable UID left on the "
		    "server (with keep = true they cannot be tracked)",
		    a->name, f->st.no_uid);
}

/* ---- delivery and the batch ------------------------------------------- */

static void
queue_delete(struct fetch *f, size_t idx)
{
	f->delete_queue[f->ndelete++] = idx;
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
static void
rollback_batch(struct fetch *f)
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
static int
commit_batch(struct fetch *f, struct err *e)
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
		const char *uid = f->msgs[sm->idx].uid;

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

		if (msg->uid != NULL)
			uidstore_add(f->store, msg->uid, f->now, sm->skipped);
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
			queue_delete(f, f->batch[i].idx);
	goto clear;
rollback:
	rollback_batch(f);
	return -1;
clear:
	clear_batch(f);
	return e->cls == ERR_NONE ? 0 : -1;
}

static struct staged_msg *
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

static void
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

static void
describe_dests(const struct verdict *v, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < v->ndests && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
		    v->dests[i]->name);
}

/*
 * Deliver the message in f->m. Immediate destinations go first, so a
 * failure there leaves nothing staged to undo; a staging failure is a
 * broken local destination and ends the run (returns -1).
 */
/* Did an earlier run, in which another destination failed, already
 * deliver this message to d? */
static bool
already_there(struct fetch *f, const struct server_msg *sm,
    const struct destination *d)
{
	if (sm->uid == NULL || !uidstore_delivered_to(f->store, sm->uid,
	    d->name))
		return false;
	if (log_verbosity() >= LOG_VERBOSE)
		log_verbose("%s: message %u (UID %s) already reached \"%s\" in "
		    "an earlier run", f->a->name, sm->num, sm->uid, d->name);
	return true;
}

/*
 * Immediate destinations: 0 delivered to all, 1 this message failed
 * (reported; go on), -1 a destination is down (e set; stop). Those that
 * took it are added to done[].
 */
static int
deliver_immediate(struct fetch *f, struct server_msg *sm,
    const struct verdict *v, const struct envelope *env,
    struct destination **done, size_t *ndone, struct err *e)
{
	struct err de;

	for (size_t i = 0; i < v->ndests; i++) {
		struct destination *d = v->dests[i];
		int rc;

		if (d->backend->batching || already_there(f, sm, d))
			continue;
		err_clear(&de);
		rc = d->backend->prepare(d, &de) == -1 ? DELIVER_DOWN :
		    d->backend->deliver(d, &f->m, env, NULL, &de);
		if (rc == DELIVER_DOWN) {
			/* Every other message would fail the same way. */
			*e = de;
			err_prefix(e, "message %u (UID %s), left on the server",
			    sm->num, uid_shown(sm));
			return -1;
		}
		if (rc != 0) {
			log_error("%s: message %u (UID %s): delivery to \"%s\" "
			    "failed, left on the server: %s", f->a->name,
			    sm->num, uid_shown(sm), d->name, de.msg);
			note_failure(f, de.cls);
			return 1;
		}
		done[(*ndone)++] = d;
	}
	return 0;
}

/* Batching destinations: stage the message; -1 when one fails, which is
 * about the destination rather than the message, so the run stops. */
static int
stage_batching(struct fetch *f, struct staged_msg *staged,
    struct server_msg *sm, const struct verdict *v,
    const struct envelope *env, struct err *e)
{
	for (size_t i = 0; i < v->ndests; i++) {
		struct destination *d = v->dests[i];
		const char *name;

		if (!d->backend->batching || already_there(f, sm, d))
			continue;
		if (d->backend->prepare(d, e) == -1 ||
		    d->backend->deliver(d, &f->m, env, &name, e) != 0) {
			err_prefix(e, "message %u (UID %s): delivery to \"%s\" "
			    "failed, left on the server", sm->num,
			    uid_shown(sm), d->name);
			return -1;
		}
		batch_add_name(f, staged, d, name);
	}
	return 0;
}

/*
 * A message reached some destinations and not others: remember those
 * it reached, so the next run delivers it to the others only. (A crash
 * before this record costs a duplicate, as any crash may.)
 */
static void
record_partial(struct fetch *f, const struct server_msg *sm,
    struct destination *const *done, size_t ndone)
{
	struct err e;

	if (sm->uid == NULL || ndone == 0)
		return;
	for (size_t i = 0; i < ndone; i++)
		uidstore_partial(f->store, sm->uid, f->now, done[i]->name);
	err_clear(&e);
	if (uidstore_sync(f->store, &e) == -1)
		log_error("%s: %s", f->a->name, e.msg);
}

/*
 * Deliver the message in f->m. Immediate destinations go first, so a
 * failure there leaves nothing staged to undo; a failed destination that
 * would fail every message ends the run (returns -1).
 */
static int
deliver_message(struct fetch *f, size_t idx, const struct verdict *v,
    struct mf_message *pm, struct err *e)
{
	struct server_msg *sm = &f->msgs[idx];
	char *sender = envelope_sender(&f->m);
	struct envelope env = { .sender = sender, .received = f->now,
	    .account = f->a->name };
	struct destination **done = xcalloc(v->ndests + 1, sizeof *done);
	struct staged_msg *staged = NULL;
	size_t ndone = 0;
	int rc;

	rc = deliver_immediate(f, sm, v, &env, done, &ndone, e);
	if (rc == 0) {
		staged = batch_add(f, idx);
		rc = stage_batching(f, staged, sm, v, &env, e);
		/* Staged files of this batch may sit on the failed disk. */
		if (rc == -1)
			rollback_batch(f);
	}
	free(sender);
	if (rc != 0) {
		record_partial(f, sm, done, ndone);
		free(done);
		f->st.failed++;
		return rc == -1 ? -1 : 0;
	}
	free(done);
	staged->delete_after = !f->a->keep;
	staged->counted_delivered = true;
	staged->notes = pm->notes;
	staged->nnotes = pm->nnotes;
	pm->notes = NULL;
	pm->nnotes = 0;
	f->st.delivered++;
	f->batch_bytes += msg_size(&f->m);
	/* Immediate deliveries are durable now: record them now too, so a
	 * crash cannot turn them into duplicates. */
	if (ndone > 0 || f->nbatch >= BATCH_MESSAGES ||
	    f->batch_bytes >= BATCH_BYTES)
		return commit_batch(f, e);
	return 0;
}

/* Read the message (or, after TOP, its header) answering the reply just
 * read into f->m. */
static int
read_message(struct fetch *f, struct server_msg *sm, struct err *e)
{
	off_t limit;

	msg_reset(&f->m);
	/* A server may be a little off in its LIST sizes; a lot is a lie
	 * that must not fill the disk. */
	limit = sm->size < INT64_MAX / 4 ? sm->size * 2 + 1024 * 1024 :
	    INT64_MAX;
	if (pop3_read_message(f->p, &f->m, limit, e) == -1) {
		err_prefix(e, "message %u (UID %s)", sm->num, uid_shown(sm));
		f->st.failed++;
		return -1;
	}
	f->st.bytes += (uint64_t)msg_size(&f->m);
	return 0;
}

static void
report_decision(struct fetch *f, const struct server_msg *sm,
    const struct verdict *v, bool on_header)
{
	char where[256];

	if (v->why[0] != '\0' && v->kind != VERDICT_DEFER)
		log_warn("%s: message %u (UID %s): %s", f->a->name, sm->num,
		    uid_shown(sm), v->why);
	/* A dry run is for seeing what would happen: always say it. */
	if (!f->opt->dry_run && log_verbosity() < LOG_VERBOSE)
		return;
	describe_dests(v, where, sizeof where);
	(f->opt->dry_run ? log_info : log_verbose)(
	    "%s: message %u (UID %s, %jd bytes)%s%s%s%s: %s%s%s",
	    f->a->name, sm->num, uid_shown(sm), (intmax_t)sm->size,
	    v->rule ? ", rule \"" : "", v->rule ? v->rule->name : "",
	    v->rule ? "\"" : "", on_header ? " (on its header)" : "",
	    f->opt->dry_run ? "would " : "",
	    v->kind == VERDICT_DELIVER ? (f->opt->dry_run ? "deliver to " :
	    "delivering to ") : v->kind == VERDICT_DELETE ?
	    "delete from the server" : v->kind == VERDICT_SKIP ?
	    "skip (left on the server)" : "defer",
	    v->kind == VERDICT_DELIVER ? where : "");
}

/* Do what the verdict says with the message in f->m. */
static int
act(struct fetch *f, size_t idx, const struct verdict *v,
    struct mf_message *pm, struct err *e)
{
	struct server_msg *sm = &f->msgs[idx];

	switch (v->kind) {
	case VERDICT_DELIVER:
		if (!f->opt->dry_run)
			return deliver_message(f, idx, v, pm, e);
		f->st.delivered++;
		break;
	case VERDICT_DELETE:
		f->st.deleted_by_rules++;
		if (!f->opt->dry_run)
			queue_delete(f, idx);
		break;
	case VERDICT_SKIP:
		f->st.skipped++;
		if (!f->opt->dry_run)
			batch_add(f, idx)->skipped = true;
		break;
	case VERDICT_DEFER:
		log_warn("%s: message %u (UID %s) left on the server for the "
		    "next run: %s", f->a->name, sm->num, uid_shown(sm), v->why);
		f->st.failed++;
		note_failure(f, ERR_TEMP);
		break;
	}
	return 0;
}

/* A whole message arrived (RETR): decide, unless its header already did,
 * and act. */
static int
process_message(struct fetch *f, size_t idx, struct err *e)
{
	struct server_msg *sm = &f->msgs[idx];
	struct mf_message pm;
	struct verdict v;
	int rc;

	if (read_message(f, sm, e) == -1)
		return -1;
	mf_message_init(&pm, &f->m, f->cfg, f->a, sm->uid, sm->size);
	if (sm->predecided) {
		v = (struct verdict){ .kind = VERDICT_DELIVER, .dests = sm->dests,
		    .ndests = sm->ndests, .rule = sm->rule };
	} else {
		rules_run(f->a, &pm, &v, NULL);
		report_decision(f, sm, &v, false);
	}
	rc = act(f, idx, &v, &pm, e);
	mf_message_clear(&pm);
	return rc;
}

/*
 * A header arrived (TOP n 0): the rules decide on it alone. What they
 * delete or skip is never downloaded; what they deliver is fetched whole
 * next, to the destinations decided now.
 */
static int
process_header(struct fetch *f, size_t idx, struct err *e)
{
	struct server_msg *sm = &f->msgs[idx];
	struct mf_message pm;
	struct verdict v;
	int rc = 0;

	if (read_message(f, sm, e) == -1)
		return -1;
	mf_message_init(&pm, &f->m, f->cfg, f->a, sm->uid, sm->size);
	rules_run(f->a, &pm, &v, NULL);
	report_decision(f, sm, &v, true);
	if (v.kind == VERDICT_DELIVER) {
		sm->predecided = true;
		sm->dests = v.dests;
		sm->ndests = v.ndests;
		sm->rule = v.rule;
		f->fetch_list[f->nfetch++] = idx;
	} else
		rc = act(f, idx, &v, &pm, e);
	mf_message_clear(&pm);
	return rc;
}

/* ---- the pipelined loop ----------------------------------------------- */

static bool
stop_requested(struct fetch *f)
{
	return f->opt->stop != NULL && *f->opt->stop;
}

/*
 * Send DELEs and RETRs while the window has room. A pipelined window is
 * refilled once half of it has drained, so commands leave in bursts
 * rather than one packet per reply.
 */
static void
fill_window(struct fetch *f, size_t window)
{
	if (window > 1 && pop3_in_flight(f->p) > window / 2)
		return;
	while (pop3_in_flight(f->p) < window) {
		char cmd[32];

		if (f->next_delete < f->ndelete) {
			struct server_msg *sm =
			    &f->msgs[f->delete_queue[f->next_delete++]];

			snprintf(cmd, sizeof cmd, "DELE %u", sm->num);
			pop3_send(f->p, POP3_DELE, sm->num, cmd, SIZE_MAX);
			continue;
		}
		if (stop_requested(f))
			break;
		if (f->next_fetch < f->nfetch && (f->retr_in_flight == 0 ||
		    f->bytes_in_flight < WINDOW_BYTES)) {
			struct server_msg *sm =
			    &f->msgs[f->fetch_list[f->next_fetch++]];

			snprintf(cmd, sizeof cmd, "RETR %u", sm->num);
			pop3_send(f->p, POP3_RETR, sm->num, cmd, SIZE_MAX);
			f->retr_in_flight++;
			f->bytes_in_flight += sm->size;
			continue;
		}
		if (f->next_top < f->ntop) {
			struct server_msg *sm =
			    &f->msgs[f->top_list[f->next_top++]];

			snprintf(cmd, sizeof cmd, "TOP %u 0", sm->num);
			pop3_send(f->p, POP3_TOP, sm->num, cmd, SIZE_MAX);
			continue;
		}
		break;
	}
}

static void
dele_answered(struct fetch *f, const struct pop3_reply *r)
{
	struct server_msg *sm = find_msg(f, r->num);

	if (sm == NULL)
		return;
	if (r->ok) {
		sm->deleted = true;
		if (sm->plan == PLAN_DELETE || !f->a->keep)
			f->st.removed++;
		return;
	}
	log_error("%s: DELE %u (UID %s) refused, the message stays on the "
	    "server: -ERR %s", f->a->name, r->num, uid_shown(sm), r->text);
	note_failure(f, ERR_TEMP);
}

static int
fetch_loop(struct fetch *f, struct err *e)
{
	size_t window = (f->p->caps & POP3_CAP_PIPELINING) ?
	    WINDOW_COMMANDS : 1;
	struct pop3_reply r;

	for (;;) {
		fill_window(f, window);
		if (pop3_in_flight(f->p) == 0) {
			/* Deletions queue up at commits: one more round. */
			if (f->nbatch > 0) {
				if (commit_batch(f, e) == -1)
					return -1;
				continue;
			}
			break;
		}
		if (pop3_reply(f->p, &r, e) == -1)
			return -1;
		if (r.cmd == POP3_DELE) {
			dele_answered(f, &r);
			continue;
		}
		struct server_msg *sm = find_msg(f, r.num);

		if (r.cmd == POP3_TOP) {
			if (!r.ok)	/* TOP after all not: fetch it whole */
				f->fetch_list[f->nfetch++] =
				    (size_t)(sm - f->msgs);
			else if (process_header(f, (size_t)(sm - f->msgs),
			    e) == -1)
				return -1;
			if (!sm->predecided && r.ok)
				progress_update(++f->nprocessed,
				    f->bytes_received += (uint64_t)sm->size);
			continue;
		}
		/* A RETR reply. */
		f->retr_in_flight--;
		f->bytes_in_flight -= sm->size;
		if (!r.ok) {
			log_error("%s: message %u (UID %s) could not be "
			    "fetched: -ERR %s", f->a->name, r.num,
			    uid_shown(sm), r.text);
			f->st.failed++;
			note_failure(f, ERR_TEMP);
			continue;
		}
		if (process_message(f, (size_t)(sm - f->msgs), e) == -1)
			return -1;
		progress_update(++f->nprocessed, f->bytes_received +=
		    (uint64_t)sm->size);
	}
	return 0;
}

/* ---- the account ------------------------------------------------------ */

static void
start_progress(struct fetch *f)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < f->nfetch; i++)
		bytes += (uint64_t)f->msgs[f->fetch_list[i]].size;
	for (size_t i = 0; i < f->ntop; i++)
		bytes += (uint64_t)f->msgs[f->top_list[i]].size;
	progress_start(f->a->name, f->nfetch + f->ntop, bytes);
}

/* Destinations of the account, prepared before anything connects. */
/* Get a destination ready; a dry run only checks it, creating nothing. */
static int
prepare_one(struct fetch *f, struct destination *d, struct err *e)
{
	if ((f->opt->dry_run ? d->backend->check(d, e) :
	    d->backend->prepare(d, e)) == -1) {
		err_prefix(e, "destination \"%s\"", d->name);
		return -1;
	}
	return 0;
}

/* Every destination the account's messages may go to, before anything
 * connects. */
static int
prepare_destinations(struct fetch *f, struct err *e)
{
	const struct account *a = f->a;

	for (size_t i = 0; i < a->ndeliver; i++)
		if (prepare_one(f, a->deliver[i], e) == -1)
			return -1;
	for (size_t i = 0; i < a->nrules; i++)
		for (size_t j = 0; j < a->rules[i].ndeliver; j++)
			if (prepare_one(f, a->rules[i].deliver[j], e) == -1)
				return -1;
	return 0;
}

static void
finish_destinations(struct fetch *f)
{
	for (size_t i = 0; i < f->cfg->ndests; i++) {
		struct destination *d = &f->cfg->dests[i];

		if (d->state != NULL)
			d->backend->finish(d);
	}
}

/*
 * Settle deliveries a crash interrupted, using the journal: a UID counts
 * as delivered when every destination it was journalled for has it.
 */
static int
recover_journal(struct fetch *f, struct err *e)
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
		if (all && uidstore_find(f->store, p->uid) == NULL)
			uidstore_add(f->store, p->uid, p->when, false);
	}
	rc = uidstore_sync(f->store, e);
done:
	free(delivered);
	return rc;
}

static void
format_bytes(uint64_t n, char *buf, size_t size)
{
	if (n < 1000 * 1000)
		snprintf(buf, size, "%.1f KB", (double)n / 1000);
	else if (n < 1000ULL * 1000 * 1000)
		snprintf(buf, size, "%.1f MB", (double)n / 1e6);
	else
		snprintf(buf, size, "%.2f GB", (double)n / 1e9);
}

static void
print_summary(struct fetch *f, int64_t started)
{
	char bytes[32], extra[256] = "";
	size_t o = 0;

#define EXTRA(cond, ...) do {						\
	if ((cond) && o < sizeof extra)					\
		o += (size_t)snprintf(extra + o, sizeof extra - o,	\
		    __VA_ARGS__);					\
} while (0)
	EXTRA(f->st.skipped, ", %u skipped", f->st.skipped);
	EXTRA(f->st.removed, ", %u removed from the server", f->st.removed);
	EXTRA(f->st.too_big, ", %u over max_size left on the server",
	    f->st.too_big);
	EXTRA(f->st.no_uid, ", %u without UID left on the server",
	    f->st.no_uid);
	EXTRA(f->opt->dry_run, " (dry run: nothing delivered, deleted or "
	    "recorded)");
#undef EXTRA
	format_bytes(f->st.bytes, bytes, sizeof bytes);
	log_summary("%s: %u new, %u delivered, %u deleted by rules, %u "
	    "failed, %s in %.1f s%s", f->a->name, f->st.new, f->st.delivered,
	    f->st.deleted_by_rules, f->st.failed, bytes,
	    (double)(clock_ms() - started) / 1000, extra);
}

/* After QUIT: forget the UIDs of messages no longer on the server. */
static int
compact_store(struct fetch *f, bool quit_ok, struct err *e)
{
	if (!f->listed || f->journal_unresolved)
		return uidstore_sync(f->store, e);
	if (quit_ok)
		for (size_t i = 0; i < f->nmsgs; i++) {
			struct server_msg *sm = &f->msgs[i];
			struct uid_entry *ue;

			if (sm->deleted && sm->uid != NULL &&
			    (ue = uidstore_find(f->store, sm->uid)) != NULL)
				ue->keep = false;
		}
	return uidstore_compact(f->store, e);
}

enum err_class
fetch_account(struct config *cfg, struct account *a,
    const struct run_options *opt)
{
	struct fetch f = { .cfg = cfg, .a = a, .opt = opt, .now = time(NULL) };
	int64_t started = clock_ms();
	struct err e;
	int lock_fd;
	bool quit_ok = false;

	err_clear(&e);
	msg_init(&f.m, cfg->state_dir);
	lock_fd = lock_account(cfg->state_dir, a->name, cfg->timeout, &e);
	if (lock_fd == -1)
		goto done;
	if (prepare_destinations(&f, &e) == -1)
		goto done;
	f.store = uidstore_open(cfg->state_dir, a->name, opt->dry_run, &e);
	if (f.store == NULL)
		goto done;
	if (!opt->dry_run && recover_journal(&f, &e) == -1)
		goto done;
	f.p = session_open(cfg, a, &e);
	if (f.p == NULL)
		goto done;
	if (list_messages(&f, &e) == -1)
		goto close;
	/* Rules that decide on headers alone, and can spare a download:
	 * look at each header first. */
	f.prefilter = (f.p->caps & POP3_CAP_TOP) && rules_can_drop(a) &&
	    !rules_need_body(a);
	plan_messages(&f);
	if (log_verbosity() >= LOG_VERBOSE)
		log_verbose("%s: %zu messages on the server, %zu new%s",
		    a->name, f.nmsgs, f.nfetch + f.ntop, f.prefilter ?
		    " (rules decide on headers: TOP first)" : "");
	start_progress(&f);
	if (fetch_loop(&f, &e) == -1)
		goto close;
	quit_ok = session_quit(f.p, &e) == 0;
	f.p = NULL;
	goto store;
close:
	/* The connection or a destination failed: keep what was completely
	 * received, and leave without QUIT so no deletion takes effect. */
	if (f.nbatch > 0 && !opt->dry_run) {
		struct err ce;

		err_clear(&ce);
		if (commit_batch(&f, &ce) == -1)
			log_error("%s", ce.msg);
	}
	session_abort(f.p);
	f.p = NULL;
store:
	if (!opt->dry_run && f.store != NULL) {
		struct err se;

		err_clear(&se);
		if (compact_store(&f, quit_ok, &se) == -1) {
			log_error("%s: %s", a->name, se.msg);
			note_failure(&f, se.cls);
		}
	}
done:
	progress_end();
	if (e.cls != ERR_NONE) {
		log_error("%s: %s", a->name, e.msg);
		note_failure(&f, e.cls);
	}
	finish_destinations(&f);
	print_summary(&f, started);
	uidstore_close(f.store);
	unlock_account(lock_fd);
	msg_free(&f.m);
	for (size_t i = 0; i < f.nmsgs; i++)
		free(f.msgs[i].uid);
	free(f.msgs);
	free(f.fetch_list);
	free(f.top_list);
	free(f.delete_queue);
	free(f.batch);
	free(f.names);
	return f.worst;
}
