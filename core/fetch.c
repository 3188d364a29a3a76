/*
 * Fetching one account: lock, settle what a crash interrupted (the
 * journal), prepare the destinations, then sessions with the account's
 * source (source.h). A session walks the mailboxes, each the unit of
 * work: select, list (fetch-list.c), plan (fetch-plan.c), the pipelined
 * loop (fetch-window.c), and the mailbox's deletions made to happen;
 * then the session is closed. At the end the UID store forgets what
 * left the server, and the summary line is printed.
 *
 * One message never holds back the others. A message that breaks the
 * session (the connection lost in the middle of it, or more data than
 * max_size) is set aside for this run, and the account reconnects, up to
 * MAX_RECONNECTS times, to delete what was delivered and to go on with
 * the rest (fetch-carry.c). When a destination fails instead, the
 * session is still good: the replies due are read and dropped, the
 * deletions sent, and the session closed so that they happen.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "deliver.h"
#include "fetch-internal.h"
#include "lock.h"
#include "log.h"
#include "progress.h"
#include "report.h"
#include "rules.h"
#include "source.h"
#include "uidstore.h"

/* ---- destinations ------------------------------------------------------ */

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

/* ---- a mailbox --------------------------------------------------------- */

/* Each mailbox has its own progress line: its total is known only once
 * it is listed. The line names the folder when there are several. */
static void
start_progress(struct fetch *f)
{
	uint64_t bytes = 0;
	char label[160];

	for (size_t i = 0; i < f->plan.fetch.n; i++)
		bytes += (uint64_t)f->list.msgs[f->plan.fetch.v[i]].size;
	for (size_t i = 0; i < f->plan.header.n; i++)
		bytes += (uint64_t)f->list.msgs[f->plan.header.v[i]].size;
	if (f->mailbox_name != NULL && f->backend->mailboxes(f->a) > 1)
		snprintf(label, sizeof label, "%s \"%s\"", f->a->name,
		    f->mailbox_name);
	else
		snprintf(label, sizeof label, "%s", f->a->name);
	progress_start(label, f->plan.fetch.n + f->plan.header.n, bytes);
}

/* The server removed what it accepted to delete: count it, and have the
 * UID store forget it at the next compaction. */
static void
settle_deletions(struct fetch *f)
{
	for (size_t i = 0; i < f->list.n; i++) {
		const struct server_msg *sm = &f->list.msgs[i];

		if (!sm->deleted)
			continue;
		if (plan_removal(f, i) == SOURCE_MOVE)
			stats_count(&f->st, STAT_MOVED);
		else if (sm->plan == PLAN_DELETE || !f->a->keep)
			stats_count(&f->st, STAT_REMOVED);
		if (sm->uid != STRTAB_NONE)
			uidstore_forget(f->store, fetch_uid(f, sm));
	}
}

/* Make the mailbox's deletions happen, where the source does that per
 * mailbox rather than at close. */
static int
expunge(struct fetch *f, struct err *e)
{
	enum source_expunged res;
	bool any = false;

	if (f->ss->caps.deletes_at_close)
		return 0;
	for (size_t i = 0; i < f->list.n && !any; i++)
		any = f->list.msgs[i].deleted;
	if (!any)
		return 0;
	if (f->ss->backend->expunge(f->ss, &f->list, &res, e) == -1) {
		f->broken = true;
		return -1;
	}
	if (res == SOURCE_EXPUNGED)
		settle_deletions(f);
	return 0;
}

/*
 * A mailbox whose UIDVALIDITY changed (recreated, or rebuilt by the
 * server): its old UIDs mean nothing now. Said once per run; the old
 * records are not recalled, so the compaction forgets them.
 */
static void
report_new_validity(struct fetch *f, const struct source_mailbox *mb,
    const char *prefix)
{
	const char *colon = strchr(prefix, ':'), *old;
	char name[UID_MAX_LEN + 2];

	if (mb->key == NULL || colon == NULL || f->mailbox < f->carry.counted)
		return;
	snprintf(name, sizeof name, "%.*s", (int)(colon - prefix + 1), prefix);
	if ((old = uidstore_find_prefix(f->store, name, prefix)) == NULL)
		return;
	log_warn("%s: folder \"%s\": UIDVALIDITY changed from %.*s to %" PRIu32
	    " (the folder was recreated or rebuilt): its messages are all "
	    "new again", f->a->name, mb->name,
	    (int)strcspn(old + strlen(name), ":"), old + strlen(name),
	    mb->validity);
}

/* Select mailbox i, key its UIDs, list and plan it. */
static int
list_mailbox(struct fetch *f, size_t i, struct err *e)
{
	struct source_session *ss = f->ss;
	struct source_mailbox mb;
	char prefix[UID_MAX_LEN + 1];
	int rc;

	if (i > 0) {
		carry_save(&f->carry, &f->list, f->store);
		listing_clear(&f->list);
		plan_free(&f->plan);
	}
	f->mailbox = i;
	if ((rc = ss->backend->select(ss, i, &mb, e)) != 0)
		return rc;
	f->mailbox_name = mb.name;
	/* Keys that cannot be made would be bare UIDs, shared with other
	 * mailboxes: such a mailbox is left alone, as one not there. */
	if (listing_prefix(mb.key, mb.validity, prefix, sizeof prefix) == -1) {
		err_set(e, ERR_CONFIG, "folder \"%.60s...\": its name is too "
		    "long for the UID store's keys (%d bytes at most, "
		    "escaped)", mb.name, UID_MAX_LEN - 22);
		return SOURCE_NO_MAILBOX;
	}
	report_new_validity(f, &mb, prefix);
	listing_set_prefix(&f->list, prefix);
	if (ss->backend->list(ss, &f->list, f->store, e) == -1)
		return -1;
	f->mailboxes_listed++;
	if (f->carry.sessions <= 1)
		stats_add(&f->st, STAT_LISTED, (unsigned)f->list.n);
	/* Rules that decide on headers alone, and can spare a download:
	 * look at each header first. */
	f->plan.prefilter = source_can(ss, SOURCE_FETCH_HEADER) &&
	    rules_can_drop(f->a) && !rules_need_body(f->a);
	fetch_plan(f);
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: %zu messages on the server, %zu new%s",
		    f->a->name, f->list.n, f->plan.fetch.n + f->plan.header.n,
		    f->plan.prefilter ?
		    " (rules decide on headers: headers first)" : "");
	return 0;
}

/* One mailbox: list and plan it, fetch what is new, delete what is to
 * go (-c: list and plan only). -1 (e set) when the connection failed
 * (f->broken) or a destination did. */
static int
run_mailbox(struct fetch *f, size_t i, struct err *e)
{
	int rc;

	if ((rc = list_mailbox(f, i, e)) != 0)
		return rc;
	if (f->opt->check)
		return 0;
	start_progress(f);
	window_start(f);
	if (window_run(f, e) == -1)
		return -1;
	return expunge(f, e);
}

/* ---- a session --------------------------------------------------------- */

/* Close the session; where deletions happen at close, they did. */
static int
close_session(struct fetch *f, struct err *e)
{
	bool at_close = f->ss->caps.deletes_at_close;
	int rc = f->ss->backend->close(f->ss, e);

	f->ss = NULL;
	if (rc == -1) {
		f->broken = true;
		return -1;
	}
	if (at_close)
		settle_deletions(f);
	return 0;
}

/*
 * A destination failed, the connection did not: read and drop the
 * replies still due, send the deletions of what was recorded, make them
 * happen and close. The original failure stays in e.
 */
static void
salvage(struct fetch *f)
{
	struct err se;

	f->carry.dest_failed = true;
	f->draining = true;
	err_clear(&se);
	if (window_run(f, &se) == -1 || expunge(f, &se) == -1 ||
	    close_session(f, &se) == -1) {
		f->broken = true;
		log_error("%s: %s", f->a->name, se.msg);
	}
}

/* The session failed: keep what was completely received, and leave
 * without closing politely unless the connection is still good. */
static void
end_failed_session(struct fetch *f)
{
	if (f->batch.n > 0 && !f->opt->dry_run) {
		struct err ce;

		err_clear(&ce);
		if (batch_commit(f, &ce) == -1) {
			log_error("%s: %s", f->a->name, ce.msg);
			f->carry.dest_failed = true;
		}
	}
	if (!f->broken && f->ss != NULL && f->list.complete)
		salvage(f);
	if (f->ss != NULL)
		f->ss->backend->abort(f->ss);
	f->ss = NULL;
}

/* One session: log in, every mailbox, close. */
static int
run_session(struct fetch *f, struct err *e)
{
	size_t n;

	f->carry.sessions++;
	f->broken = f->draining = false;
	f->mailboxes_listed = 0;
	f->ss = source_open(f->backend, f->cfg, f->a, f->opt->login_delay, e);
	if (f->ss == NULL)
		return -1;
	f->ss->read_only = f->opt->dry_run || f->opt->check;
	/* Every mailbox listed in this session keeps its UIDs again. */
	uidstore_unkeep_all(f->store);
	n = f->backend->mailboxes(f->a);
	for (size_t i = 0; i < n; i++) {
		int rc = run_mailbox(f, i, e);

		/* A mailbox the server refuses: the others all the same,
		 * and what is recorded of it stays (it is not listed). */
		if (rc == SOURCE_NO_MAILBOX && i >= f->carry.counted) {
			log_error("%s: %s", f->a->name, e->msg);
			stats_failure(&f->st, e->cls);
			f->carry.counted = i + 1;
			err_clear(e);
			continue;
		}
		if (rc == SOURCE_NO_MAILBOX) {
			err_clear(e);
			continue;
		}
		if (rc == -1) {
			end_failed_session(f);
			return -1;
		}
	}
	return close_session(f, e);
}

/* Is a session that broke worth another? Only after a listing, with
 * something left to delete or to fetch, and a bounded number of times. */
static bool
worth_reconnecting(struct fetch *f)
{
	if (!f->broken || !f->list.complete ||
	    f->carry.sessions > MAX_RECONNECTS || fetch_stopping(f))
		return false;
	if (f->plan.remove.n > 0)
		return true;
	for (size_t i = 0; i < f->list.n && !f->carry.dest_failed; i++)
		if (f->list.msgs[i].plan == PLAN_FETCH &&
		    !f->list.msgs[i].handled)
			return true;
	return false;
}

/* Forget the session's listing and queues, keeping what it was done
 * with (carry_save) for the next one. */
static void
next_session(struct fetch *f)
{
	carry_save(&f->carry, &f->list, f->store);
	listing_clear(&f->list);
	plan_free(&f->plan);
	f->win = (struct window){ 0 };
	stats_progress_reset(&f->st);
}

/*
 * Sessions until one completes, or one fails with no reason to go on. A
 * failure the next session makes good (a lost QUIT, say) is only a
 * warning; one that leaves a message behind was noted as a failure of
 * the run when the message was set aside, and is shown as an error.
 */
static void
run_sessions(struct fetch *f, struct err *e)
{
	while (run_session(f, e) == -1 && worth_reconnecting(f)) {
		if (f->st.worst != ERR_NONE)
			log_error("%s: %s", f->a->name, e->msg);
		else
			log_warn("%s: %s", f->a->name, e->msg);
		err_clear(e);
		log_warn("%s: reconnecting to go on (%u of at most %d "
		    "reconnects)", f->a->name, f->carry.sessions,
		    MAX_RECONNECTS);
		next_session(f);
	}
}

/* ---- the account ------------------------------------------------------- */

/*
 * The UID store after the last session: forget the UIDs of messages no
 * longer on the server, unless some mailbox went unlisted (its UIDs
 * would all be forgotten) or a journal is left for the next run.
 */
static int
finish_store(struct fetch *f, struct err *e)
{
	if (f->mailboxes_listed < f->backend->mailboxes(f->a) ||
	    f->batch.journal_unresolved)
		return uidstore_sync(f->store, e);
	return uidstore_compact(f->store, e);
}

/* Lock, destinations, the store and its journal; then the sessions. */
static void
run_account(struct fetch *f, int *lock_fd, struct err *e)
{
	const struct config *cfg = f->cfg;
	bool readonly = f->opt->dry_run || f->opt->check;
	struct err se;

	if (f->backend == NULL) {
		err_set(e, ERR_CONFIG, "this build cannot fetch with protocol "
		    "\"%s\"", protocol_name(f->a->protocol));
		return;
	}
	*lock_fd = lock_account(cfg->state_dir, f->a->name, cfg->timeout, e);
	if (*lock_fd == -1 ||
	    (!f->opt->check && prepare_destinations(f, e) == -1))
		return;
	f->store = uidstore_open(cfg->state_dir, f->a->name, readonly, e);
	if (f->store == NULL)
		return;
	if (!readonly && batch_recover_journal(f, e) == -1)
		return;
	run_sessions(f, e);
	if (readonly)
		return;
	err_clear(&se);
	if (finish_store(f, &se) == -1) {
		log_error("%s: %s", f->a->name, se.msg);
		stats_failure(&f->st, se.cls);
	}
}

/* The account's summary line, or its JSON object. */
static void
report(struct fetch *f, const struct err *e, const char *first_error,
    int64_t started)
{
	struct report r = { .account = f->a->name,
	    .protocol = protocol_name(f->a->protocol), .server = f->a->server,
	    .st = &f->st, .dry_run = f->opt->dry_run, .check = f->opt->check,
	    .seconds = (double)(clock_ms() - started) / 1000,
	    .status = err_exitcode(f->st.worst) };

	size_t len = strlen(f->a->name);

	/* The error that ended the run, else the first one shown, without
	 * the account's name in front. */
	if (e->cls != ERR_NONE)
		r.error = e->msg;
	else if (f->st.worst != ERR_NONE && first_error[0] != '\0') {
		r.error = first_error;
		if (strncmp(first_error, f->a->name, len) == 0 &&
		    strncmp(first_error + len, ": ", 2) == 0)
			r.error += len + 2;
	}
	if (f->opt->json)
		report_json(&r);
	else
		report_text(&r);
}

/* A failure ended the run: say it, and how much it left for the next. */
static void
note_failure(struct fetch *f, const struct err *e)
{
	unsigned remain = stats_get(&f->st, STAT_FAILED) + stats_left(&f->st);

	log_error("%s: %s", f->a->name, e->msg);
	stats_failure(&f->st, e->cls);
	if (remain > 0 && !f->opt->check)
		log_info("%s: %u new message%s wait%s on the server for the "
		    "next run", f->a->name, remain, remain == 1 ? "" : "s",
		    remain == 1 ? "s" : "");
}

/* A signal stopped the run: what is left waits for the next one, which
 * is a transient failure unless the caller (the daemon) says not. */
static void
note_stop(struct fetch *f)
{
	if (!fetch_stopping(f))
		return;
	f->st.stopped = true;
	if (f->opt->stop_fails)
		stats_failure(&f->st, ERR_TEMP);
}

enum err_class
fetch_account(struct config *cfg, struct account *a,
    const struct run_options *opt)
{
	struct fetch f = { .cfg = cfg, .a = a, .opt = opt, .now = time(NULL),
	    .backend = source_for(a) };
	int64_t started = clock_ms();
	char first_error[1024];
	struct err e;
	int lock_fd = -1;

	err_clear(&e);
	log_keep_first_error(first_error, sizeof first_error);
	listing_init(&f.list, a->name);
	msg_init(&f.m, cfg->state_dir);
	run_account(&f, &lock_fd, &e);
	progress_end();
	if (e.cls != ERR_NONE)
		note_failure(&f, &e);
	note_stop(&f);
	finish_destinations(&f);
	log_keep_first_error(NULL, 0);
	report(&f, &e, first_error, started);
	if (opt->new_found != NULL)
		*opt->new_found += stats_get(&f.st, STAT_NEW);
	uidstore_close(f.store);
	unlock_account(lock_fd);
	msg_free(&f.m);
	listing_clear(&f.list);
	carry_free(&f.carry);
	plan_free(&f.plan);
	batch_free(&f.batch);
	refusals_free(&f.refusals);
	return f.st.worst;
}
