/*
 * The pipelined loop over one mailbox: keep a window of requests in
 * flight (deletions, moves and marking read first, then whole messages
 * within a byte budget, then headers), read the replies, and hand what
 * arrived to fetch-message.c. Committed batches queue their deletions,
 * so the loop ends only when nothing is in flight, queued or staged; a
 * batch due by time is committed between replies, or while a slow reply
 * is awaited.
 *
 * When a destination failed, the loop is run again "draining": what is
 * in flight is read and dropped, and the deletions of what was recorded
 * still go out. A stop (SIGINT, SIGTERM) only ends the sending of
 * fetches: what was requested is still read, delivered and recorded
 * (its bytes come anyway), then the deletions go.
 */
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "fetch-internal.h"
#include "log.h"
#include "source.h"

/* What a whole-message fetch counts for in the byte window: its
 * announced size, which a lying server may make anything, so bounded. */
static off_t
window_cost(const struct server_msg *sm)
{
	return sm->size < WINDOW_BYTES ? sm->size : WINDOW_BYTES;
}

static void
send_request(struct fetch *f, enum source_req req, size_t idx)
{
	f->ss->backend->request(f->ss, req, idx, &f->m, f->a->max_size);
	if (req == SOURCE_FETCH) {
		f->win.fetches++;
		f->win.bytes += window_cost(&f->list.msgs[idx]);
	}
}

/* The next request to send, if any may go now. */
static bool
next_request(struct fetch *f, enum source_req *req, size_t *idx)
{
	struct plan *pl = &f->plan;

	if (queue_waiting(&pl->remove)) {
		*idx = queue_pop(&pl->remove);
		*req = plan_removal(f, *idx);
		return true;
	}
	if (queue_waiting(&pl->seen)) {
		*req = SOURCE_MARK_SEEN;
		*idx = queue_pop(&pl->seen);
		return true;
	}
	if (fetch_stopping(f) || f->draining)
		return false;
	if (queue_waiting(&pl->fetch) && (f->win.fetches == 0 ||
	    f->win.bytes < WINDOW_BYTES)) {
		*req = SOURCE_FETCH;
		*idx = queue_pop(&pl->fetch);
		return true;
	}
	if (queue_waiting(&pl->header)) {
		*req = SOURCE_FETCH_HEADER;
		*idx = queue_pop(&pl->header);
		return true;
	}
	return false;
}

/*
 * Send requests while the window has room. A pipelined window is
 * refilled once half of it has drained, so requests leave in bursts
 * rather than one packet per reply.
 */
static void
fill_window(struct fetch *f)
{
	size_t depth = f->win.depth;
	enum source_req req;
	size_t idx;

	if (depth > 1 && f->ss->backend->in_flight(f->ss) > depth / 2)
		return;
	while (f->ss->backend->in_flight(f->ss) < depth &&
	    next_request(f, &req, &idx))
		send_request(f, req, idx);
}

/*
 * Without pipelining, a reply has just ended: send the next request
 * now, so the server works on it while this message is filtered and
 * delivered. (One short line to a server that has read everything sent
 * so far cannot block; a failure to send shows at the next reply.)
 */
static void
keep_link_busy(struct fetch *f)
{
	if (f->win.depth != 1)
		return;
	fill_window(f);
	f->ss->backend->push(f->ss);
}

static void
delete_answered(struct fetch *f, const struct source_reply *r)
{
	struct server_msg *sm = &f->list.msgs[r->idx];

	if (r->ok) {
		/* Removed only once the source says so; counted then. */
		sm->deleted = true;
		return;
	}
	log_error("%s: %s (UID %s) refused, the message stays on the server: "
	    "%s", f->a->name, r->what, fetch_uid_shown(f, sm), r->text);
	stats_failure(&f->st, ERR_TEMP);
}

/* Marking read is a courtesy: a refusal is said, and fails nothing. */
static void
seen_answered(struct fetch *f, const struct source_reply *r)
{
	if (!r->ok)
		log_warn("%s: %s (UID %s) refused: %s", f->a->name, r->what,
		    fetch_uid_shown(f, &f->list.msgs[r->idx]), r->text);
}

/* A header: the rules decide on it, or, refused, the message is fetched
 * whole. */
static int
header_answered(struct fetch *f, const struct source_reply *r,
    struct err *e)
{
	struct server_msg *sm = &f->list.msgs[r->idx];

	if (!r->ok) {
		queue_push(&f->plan.fetch, r->idx);
		return 0;
	}
	stats_received(&f->st, (uint64_t)msg_size(&f->m));
	keep_link_busy(f);
	if (header_arrived(f, r->idx, e) == -1)
		return -1;
	if (!sm->predecided)
		stats_progress(&f->st, (uint64_t)sm->size);
	return 0;
}

static int
fetch_answered(struct fetch *f, const struct source_reply *r,
    struct err *e)
{
	struct server_msg *sm = &f->list.msgs[r->idx];

	if (!r->ok) {
		log_error("%s: message %u (UID %s) could not be fetched: %s",
		    f->a->name, sm->num, fetch_uid_shown(f, sm), r->text);
		sm->handled = true;
		stats_message_failed(&f->st, ERR_TEMP);
		return 0;
	}
	stats_received(&f->st, (uint64_t)msg_size(&f->m));
	keep_link_busy(f);
	if (message_arrived(f, r->idx, e) == -1)
		return -1;
	stats_progress(&f->st, (uint64_t)sm->size);
	return 0;
}

/*
 * The connection failed (or a message went over max_size) while reading
 * the reply to r: say which message was coming, and set it aside for
 * the run. While draining, the message was not wanted any more.
 */
static int
reply_failed(struct fetch *f, const struct source_reply *r, int rc,
    struct err *e)
{
	struct server_msg *sm = &f->list.msgs[r->idx];

	f->broken = true;
	if (f->draining || (r->req != SOURCE_FETCH &&
	    r->req != SOURCE_FETCH_HEADER))
		return -1;
	if (rc == SOURCE_TOO_LARGE) {
		message_too_large(f, sm, e);
		return -1;
	}
	err_prefix(e, "message %u (UID %s)", sm->num, fetch_uid_shown(f, sm));
	message_broke_session(f, sm);
	return -1;
}

static int
answered(struct fetch *f, const struct source_reply *r, struct err *e)
{
	if (r->req == SOURCE_FETCH) {
		f->win.fetches--;
		f->win.bytes -= window_cost(&f->list.msgs[r->idx]);
	}
	if (r->req == SOURCE_DELETE || r->req == SOURCE_MOVE) {
		delete_answered(f, r);
		return 0;
	}
	if (r->req == SOURCE_MARK_SEEN) {
		seen_answered(f, r);
		return 0;
	}
	if (f->draining)
		return 0;
	if (r->req == SOURCE_FETCH_HEADER)
		return header_answered(f, r, e);
	return fetch_answered(f, r, e);
}

/*
 * Before waiting for a reply: when the server is slow to send it, a
 * staged batch is committed at its time bound rather than when the
 * reply comes, so a stalled server holds neither deletions nor an mbox
 * lock. 1: committed (its deletions are queued), 0: the reply is coming
 * or nothing waits, -1: the commit failed (e set).
 */
static int
commit_if_stalled(struct fetch *f, struct err *e)
{
	const struct source_backend *b = f->ss->backend;
	int64_t left;

	if (f->batch.n == 0 || b->ready == NULL)
		return 0;
	left = f->batch.since + BATCH_WAIT_MS - clock_ms();
	if (left > 0 && b->ready(f->ss, left > INT32_MAX ? INT32_MAX :
	    (int)left))
		return 0;
	return batch_commit(f, e) == -1 ? -1 : 1;
}

int
window_run(struct fetch *f, struct err *e)
{
	struct source_reply r;
	int rc;

	for (;;) {
		/* A batch whose time ran out while replies kept coming. */
		if (batch_due(&f->batch, clock_ms()) &&
		    batch_commit(f, e) == -1)
			return -1;
		fill_window(f);
		if (f->ss->backend->in_flight(f->ss) == 0) {
			/* Deletions queue up at commits: one more round. */
			if (f->batch.n > 0) {
				if (batch_commit(f, e) == -1)
					return -1;
				continue;
			}
			return 0;
		}
		if ((rc = commit_if_stalled(f, e)) != 0) {
			if (rc == -1)
				return -1;
			continue;
		}
		rc = f->ss->backend->reply(f->ss, &r, e);
		if (rc != 0)
			return reply_failed(f, &r, rc, e);
		if (answered(f, &r, e) == -1)
			return -1;
	}
}

void
window_start(struct fetch *f)
{
	const struct source_caps *caps = &f->ss->caps;

	f->win = (struct window){ .depth = caps->depth < WINDOW_COMMANDS ?
	    caps->depth : WINDOW_COMMANDS };
}
