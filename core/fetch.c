/*
 * Fetching one account: lock, recover the journal, log in, list, plan,
 * then a loop keeping a window of pipelined RETR/TOP/DELE in flight:
 * each message is read in one pass into a spool, the rules decide, the
 * destinations take it (fetch-deliver.c), batches are committed and
 * recorded (fetch-batch.c), and deletions follow only what is recorded.
 *
 * One message never holds back the others. A message that breaks the
 * session (the connection lost in the middle of it, or more data than
 * max_size) is set aside for this run, and the account reconnects, up to
 * MAX_RECONNECTS times, to delete what was delivered and to go on with
 * the rest. When a destination fails instead, the session is still
 * good: the replies due are read and dropped, the deletions sent, and
 * QUIT makes them happen.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "deliver.h"
#include "fetch-internal.h"
#include "lock.h"
#include "log.h"
#include "msg.h"
#include "plugin.h"
#include "progress.h"
#include "rules.h"
#include "session.h"
#include "uidstore.h"
#include "xmalloc.h"

static void fill_window(struct fetch *, size_t);

/* This message broke the session: fetch it last from now on, and not
 * again in this run. */
static void
mark_troublesome(struct fetch *f, struct server_msg *sm)
{
	struct err e;

	f->broken = true;
	sm->handled = true;
	f->st.failed++;
	fetch_note_failure(f, ERR_TEMP);
	if (sm->uid == STRTAB_NONE || f->opt->dry_run)
		return;
	uidstore_troublesome(f->store, fetch_uid(f, sm), f->now);
	err_clear(&e);
	(void)uidstore_sync(f->store, &e);
}

/* More data than max_size, although announced smaller: leave it on the
 * server, and have later runs leave it too. */
static void
set_aside_too_large(struct fetch *f, struct server_msg *sm, struct err *e)
{
	char limit[32];
	struct err se;

	f->broken = true;
	sm->handled = true;
	f->st.set_aside++;
	fetch_note_failure(f, ERR_TEMP);
	err_set(e, ERR_TEMP, "message %u (UID %s) is larger than max_size "
	    "(%jd bytes) although the server announced %jd bytes: left on "
	    "the server%s", sm->num, fetch_uid_shown(f, sm),
	    (intmax_t)f->a->max_size, (intmax_t)sm->size,
	    sm->uid != STRTAB_NONE ? " and set aside" : "");
	if (sm->uid == STRTAB_NONE || f->opt->dry_run)
		return;
	snprintf(limit, sizeof limit, "%jd", (intmax_t)f->a->max_size);
	uidstore_set_aside(f->store, 'L', fetch_uid(f, sm), f->now, limit);
	err_clear(&se);
	if (uidstore_sync(f->store, &se) == -1)
		log_error("%s: %s", f->a->name, se.msg);
}

/*
 * Without PIPELINING, a reply has just ended: send the next command now,
 * so the server works on it while this message is filtered and
 * delivered. (One short line to a server that has read everything sent
 * so far cannot block; a failure to send shows at the next reply.)
 */
static void
keep_link_busy(struct fetch *f)
{
	struct err ignored;

	if (f->window != 1)
		return;
	fill_window(f, f->window);
	if (f->p->conn->wlen > 0)
		(void)conn_flush(f->p->conn, &ignored);
}

/* Read the message (or, after TOP, its header) answering the reply just
 * read into f->m. The limit is max_size whatever the server announced:
 * a message larger than announced is fine, one that would fill the disk
 * is not. */
static int
read_message(struct fetch *f, struct server_msg *sm, struct err *e)
{
	int rc;

	msg_reset(&f->m);
	rc = pop3_read_message(f->p, &f->m, f->a->max_size, e);
	if (rc == POP3_TOO_LARGE) {
		set_aside_too_large(f, sm, e);
		return -1;
	}
	if (rc == -1) {
		err_prefix(e, "message %u (UID %s)", sm->num,
		    fetch_uid_shown(f, sm));
		mark_troublesome(f, sm);
		return -1;
	}
	f->st.bytes += (uint64_t)msg_size(&f->m);
	keep_link_busy(f);
	return 0;
}

static void
report_decision(struct fetch *f, const struct server_msg *sm,
    const struct verdict *v, bool on_header)
{
	char where[256];

	if (v->why[0] != '\0' && v->kind != VERDICT_DEFER)
		log_warn("%s: message %u (UID %s): %s", f->a->name, sm->num,
		    fetch_uid_shown(f, sm), v->why);
	/* A dry run is for seeing what would happen: always say it. */
	if (!f->opt->dry_run && !log_enabled(LOG_VERBOSE))
		return;
	fetch_describe_dests(v, where, sizeof where);
	(f->opt->dry_run ? log_info : log_verbose)(
	    "%s: message %u (UID %s, %jd bytes)%s%s%s%s: %s%s%s",
	    f->a->name, sm->num, fetch_uid_shown(f, sm), (intmax_t)sm->size,
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
			return fetch_deliver(f, idx, v, pm, e);
		f->st.delivered++;
		break;
	case VERDICT_DELETE:
		f->st.deleted_by_rules++;
		sm->rule_delete = true;
		if (!f->opt->dry_run)
			fetch_queue_delete(f, idx);
		break;
	case VERDICT_SKIP:
		f->st.skipped++;
		if (!f->opt->dry_run)
			batch_add(f, idx)->skipped = true;
		break;
	case VERDICT_DEFER:
		log_warn("%s: message %u (UID %s) left on the server for the "
		    "next run: %s", f->a->name, sm->num, fetch_uid_shown(f, sm), v->why);
		f->st.failed++;
		fetch_note_failure(f, ERR_TEMP);
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
	mf_message_init(&pm, &f->m, f->cfg, f->a, fetch_uid(f, sm), sm->size);
	pm.store = f->store;
	sm->handled = true;
	if (sm->predecided) {
		const struct rule *r = sm->rule > 0 ?
		    &f->a->rules[sm->rule - 1] : NULL;

		v = (struct verdict){ .kind = VERDICT_DELIVER, .rule = r };
		if (r == NULL || sm->to_account || r->ndeliver == 0) {
			v.dests = f->a->deliver;
			v.ndests = f->a->ndeliver;
		} else {
			v.dests = r->deliver;
			v.ndests = r->ndeliver;
		}
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
	mf_message_init(&pm, &f->m, f->cfg, f->a, fetch_uid(f, sm), sm->size);
	rules_run(f->a, &pm, &v, NULL);
	report_decision(f, sm, &v, true);
	sm->handled = v.kind != VERDICT_DELIVER;
	if (v.kind == VERDICT_DELIVER) {
		sm->predecided = true;
		sm->rule = v.rule != NULL ? (uint16_t)(v.rule - f->a->rules + 1) :
		    0;
		sm->to_account = v.dests == f->a->deliver;
		fetch_queue_push(f->fetch_list, &f->nfetch,
		    f->cap_fetch, idx);
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

/* What a RETR counts for in the byte window: its announced size, which
 * a lying server may make anything, so bounded. */
static off_t
window_cost(const struct server_msg *sm)
{
	return sm->size < WINDOW_BYTES ? sm->size : WINDOW_BYTES;
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
		if (stop_requested(f) || f->draining)
			break;
		if (f->next_fetch < f->nfetch && (f->retr_in_flight == 0 ||
		    f->bytes_in_flight < WINDOW_BYTES)) {
			struct server_msg *sm =
			    &f->msgs[f->fetch_list[f->next_fetch++]];

			snprintf(cmd, sizeof cmd, "RETR %u", sm->num);
			pop3_send(f->p, POP3_RETR, sm->num, cmd, SIZE_MAX);
			f->retr_in_flight++;
			f->bytes_in_flight += window_cost(sm);
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
	struct server_msg *sm = fetch_find_msg(f, r->num);

	if (sm == NULL)
		return;
	if (r->ok) {
		/* Removed only once QUIT succeeds; counted then. */
		sm->deleted = true;
		return;
	}
	log_error("%s: DELE %u (UID %s) refused, the message stays on the "
	    "server: -ERR %s", f->a->name, r->num, fetch_uid_shown(f, sm), r->text);
	fetch_note_failure(f, ERR_TEMP);
}

/* The connection failed while a message was coming: say which. */
static void
name_lost_message(struct fetch *f, struct err *e)
{
	struct server_msg *sm;
	enum pop3_cmd cmd;
	unsigned num;

	if (!pop3_oldest(f->p, &cmd, &num) ||
	    (cmd != POP3_RETR && cmd != POP3_TOP) ||
	    (sm = fetch_find_msg(f, num)) == NULL)
		return;
	err_prefix(e, "message %u (UID %s)", sm->num, fetch_uid_shown(f, sm));
	mark_troublesome(f, sm);
}

/* A RETR or TOP reply after a destination failed: read it, drop it. */
static int
drop_message(struct fetch *f, struct err *e)
{
	msg_reset(&f->m);
	if (pop3_read_message(f->p, &f->m, f->a->max_size, e) != 0) {
		f->broken = true;
		return -1;
	}
	return 0;
}

/* A TOP reply: the rules decide on the header, or, refused, the message
 * is fetched whole. */
static int
top_answered(struct fetch *f, const struct pop3_reply *r,
    struct server_msg *sm, struct err *e)
{
	size_t idx = (size_t)(sm - f->msgs);

	if (!r->ok) {
		fetch_queue_push(f->fetch_list, &f->nfetch, f->cap_fetch, idx);
		return 0;
	}
	if (process_header(f, idx, e) == -1)
		return -1;
	if (!sm->predecided)
		progress_update(++f->nprocessed,
		    f->bytes_received += (uint64_t)sm->size);
	return 0;
}

static int
retr_answered(struct fetch *f, const struct pop3_reply *r,
    struct server_msg *sm, struct err *e)
{
	f->retr_in_flight--;
	f->bytes_in_flight -= window_cost(sm);
	if (!r->ok) {
		log_error("%s: message %u (UID %s) could not be fetched: -ERR "
		    "%s", f->a->name, r->num, fetch_uid_shown(f, sm), r->text);
		sm->handled = true;
		f->st.failed++;
		fetch_note_failure(f, ERR_TEMP);
		return 0;
	}
	if (process_message(f, (size_t)(sm - f->msgs), e) == -1)
		return -1;
	progress_update(++f->nprocessed, f->bytes_received +=
	    (uint64_t)sm->size);
	return 0;
}

/* Until nothing is in flight and nothing left to send. -1 (e set) when
 * the connection failed (f->broken) or a destination did. */
static int
fetch_loop(struct fetch *f, struct err *e)
{
	struct pop3_reply r;
	struct server_msg *sm;

	f->window = (f->p->caps & POP3_CAP_PIPELINING) ? WINDOW_COMMANDS : 1;
	for (;;) {
		fill_window(f, f->window);
		if (pop3_in_flight(f->p) == 0) {
			/* Deletions queue up at commits: one more round. */
			if (f->nbatch > 0) {
				if (batch_commit(f, e) == -1)
					return -1;
				continue;
			}
			return 0;
		}
		if (pop3_reply(f->p, &r, e) == -1) {
			f->broken = true;
			name_lost_message(f, e);
			return -1;
		}
		if (r.cmd == POP3_DELE) {
			dele_answered(f, &r);
			continue;
		}
		sm = fetch_find_msg(f, r.num);
		if (r.cmd == POP3_RETR && f->draining) {
			f->retr_in_flight--;
			f->bytes_in_flight -= window_cost(sm);
		}
		if (f->draining) {
			if (r.ok && drop_message(f, e) == -1)
				return -1;
		} else if ((r.cmd == POP3_TOP ? top_answered(f, &r, sm, e) :
		    retr_answered(f, &r, sm, e)) == -1)
			return -1;
	}
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
	EXTRA(f->st.set_aside, ", %u set aside", f->st.set_aside);
	EXTRA(f->opt->dry_run, " (dry run: nothing delivered, deleted or "
	    "recorded)");
#undef EXTRA
	log_size(f->st.bytes, bytes, sizeof bytes);
	log_summary("%s: %u new, %u delivered, %u deleted by rules, %u "
	    "failed, %s in %.1f s%s", f->a->name, f->st.new, f->st.delivered,
	    f->st.deleted_by_rules, f->st.failed, bytes,
	    (double)(clock_ms() - started) / 1000, extra);
}

/* QUIT answered +OK: the deletions happened. */
static void
count_removed(struct fetch *f)
{
	for (size_t i = 0; i < f->nmsgs; i++)
		if (f->msgs[i].deleted && (f->msgs[i].plan == PLAN_DELETE ||
		    !f->a->keep))
			f->st.removed++;
}

static int
quit(struct fetch *f, struct err *e)
{
	int rc = session_quit(f->p, e);

	f->p = NULL;
	f->quit_ok = rc == 0;
	if (rc == 0)
		count_removed(f);
	else
		f->broken = true;
	return rc;
}

/*
 * A destination failed, the connection did not: read and drop the
 * replies still due, send the deletions of what was recorded, and QUIT
 * so that they happen. The original failure stays in e.
 */
static void
salvage(struct fetch *f)
{
	struct err se;

	f->dest_failed = true;
	f->draining = true;
	err_clear(&se);
	if (fetch_loop(f, &se) == -1 || quit(f, &se) == -1) {
		f->broken = true;
		log_error("%s: %s", f->a->name, se.msg);
	}
}

/* The session failed: keep what was completely received, and leave
 * without QUIT unless the connection is still good. */
static void
end_failed_session(struct fetch *f)
{
	if (f->nbatch > 0 && !f->opt->dry_run) {
		struct err ce;

		err_clear(&ce);
		if (batch_commit(f, &ce) == -1) {
			log_error("%s: %s", f->a->name, ce.msg);
			f->dest_failed = true;
		}
	}
	if (!f->broken)
		salvage(f);
	session_abort(f->p);
	f->p = NULL;
}

/* One session: log in, list, plan, fetch, delete, QUIT. */
static int
run_session(struct fetch *f, struct err *e)
{
	f->sessions++;
	f->broken = f->draining = f->quit_ok = false;
	f->p = session_open(f->cfg, f->a, f->opt->login_delay, e);
	if (f->p == NULL)
		return -1;
	if (fetch_list_messages(f, e) == -1) {
		session_abort(f->p);
		f->p = NULL;
		return -1;
	}
	/* Rules that decide on headers alone, and can spare a download:
	 * look at each header first. */
	f->prefilter = (f->p->caps & POP3_CAP_TOP) && rules_can_drop(f->a) &&
	    !rules_need_body(f->a);
	fetch_plan(f);
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: %zu messages on the server, %zu new%s",
		    f->a->name, f->nmsgs, f->nfetch + f->ntop, f->prefilter ?
		    " (rules decide on headers: TOP first)" : "");
	start_progress(f);
	if (fetch_loop(f, e) == -1) {
		end_failed_session(f);
		return -1;
	}
	return quit(f, e);
}

/* Is a session that broke worth another? Only after a listing, with
 * something left to delete or to fetch, and a bounded number of times. */
static bool
worth_reconnecting(struct fetch *f)
{
	if (!f->broken || !f->listed || f->sessions > MAX_RECONNECTS ||
	    stop_requested(f))
		return false;
	if (f->ndelete > 0)
		return true;
	for (size_t i = 0; i < f->nmsgs && !f->dest_failed; i++)
		if (f->msgs[i].plan == PLAN_FETCH && !f->msgs[i].handled)
			return true;
	return false;
}

/* Forget the session's listing and queues, keeping what it was done
 * with (fetch_carry_over) for the next one. */
static void
next_session(struct fetch *f)
{
	fetch_carry_over(f);
	strtab_free(&f->uids);
	free(f->msgs);
	free(f->fetch_list);
	free(f->top_list);
	free(f->delete_queue);
	f->msgs = NULL;
	f->fetch_list = f->top_list = f->delete_queue = NULL;
	f->nmsgs = f->capmsgs = 0;
	f->nfetch = f->next_fetch = f->cap_fetch = 0;
	f->ntop = f->next_top = f->cap_top = 0;
	f->ndelete = f->next_delete = f->cap_delete = 0;
	f->retr_in_flight = 0;
	f->bytes_in_flight = 0;
	f->nprocessed = 0;
	f->bytes_received = 0;
	f->listed = false;
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
		if (f->worst != ERR_NONE)
			log_error("%s: %s", f->a->name, e->msg);
		else
			log_warn("%s: %s", f->a->name, e->msg);
		err_clear(e);
		log_warn("%s: reconnecting to go on (%u of at most %d "
		    "reconnects)", f->a->name, f->sessions, MAX_RECONNECTS);
		next_session(f);
	}
}

enum err_class
fetch_account(struct config *cfg, struct account *a,
    const struct run_options *opt)
{
	struct fetch f = { .cfg = cfg, .a = a, .opt = opt, .now = time(NULL) };
	int64_t started = clock_ms();
	struct err e;
	int lock_fd;

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
	if (!opt->dry_run && batch_recover_journal(&f, &e) == -1)
		goto done;
	run_sessions(&f, &e);
	if (!opt->dry_run) {
		struct err se;

		err_clear(&se);
		if (fetch_compact_store(&f, f.quit_ok, &se) == -1) {
			log_error("%s: %s", a->name, se.msg);
			fetch_note_failure(&f, se.cls);
		}
	}
done:
	progress_end();
	if (e.cls != ERR_NONE) {
		log_error("%s: %s", a->name, e.msg);
		fetch_note_failure(&f, e.cls);
	}
	finish_destinations(&f);
	print_summary(&f, started);
	uidstore_close(f.store);
	unlock_account(lock_fd);
	msg_free(&f.m);
	strtab_free(&f.uids);
	strtab_free(&f.carried_uids);
	free(f.carried);
	free(f.msgs);
	free(f.fetch_list);
	free(f.top_list);
	free(f.delete_queue);
	free(f.batch);
	free(f.names);
	free(f.refused);
	return f.worst;
}
