/*
 * The IMAP source (source.h): a session from imap-session.c, the
 * account's folders as its mailboxes, each known by its name and
 * UIDVALIDITY; the listing by UID FETCH (UID RFC822.SIZE FLAGS), whole
 * messages and headers by UID FETCH BODY.PEEK (nothing marked read),
 * deletions by UID STORE \Deleted made to happen per folder by UID
 * EXPUNGE of exactly those UIDs (imap_expunge), moves by UID MOVE or,
 * without it, UID COPY and then \Deleted once the copy is confirmed.
 *
 * Every request is one command. A move without MOVE is two: the STORE
 * goes out only when the COPY succeeded (never pipelined behind it, or a
 * failed copy would still delete), and its reply is given once the
 * STORE is done. Such moves go one at a time, the next COPY held back
 * until the last STORE is answered: a session that breaks between a
 * COPY and its STORE leaves one message copied and not yet deleted
 * (copied again by the next session), never a whole window of them.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap-account.h"
#include "imap-internal.h"
#include "imap-session.h"
#include "imap-utf7.h"
#include "log.h"
#include "rules.h"
#include "source.h"
#include "xmalloc.h"

/* A request in flight: what the loop asked and the command that
 * answers it. */
struct imap_request {
	enum source_req	 req;
	size_t		 idx;
	uint32_t	 uid;
	uint64_t	 cookie;	/* of its command now in flight */
	enum imap_cmd	 cmd;
	bool		 held;		/* a COPY waiting for the one before */
};

struct imap_source {
	struct source_session base;	/* first: the loop's view */
	struct imap	*im;
	const struct account *a;
	struct listing	*l;		/* the last list()ed */
	const char	*folder;	/* the selected one */
	char		*key;		/* its name in modified UTF-7 */
	bool		*moved;		/* per listed message: gone by MOVE */
	struct imap_request *q;		/* a ring, oldest at qhead */
	size_t		 qhead, qlen, qcap;
	uint64_t	 cookies;
	bool		 copying;	/* a move by COPY is in flight */
};

static int drain(struct imap_source *, struct err *);

static struct imap_source *
imap_source(struct source_session *ss)
{
	return (struct imap_source *)ss;
}

/* Will anything in the folders be changed? If not, they are opened
 * read-only (EXAMINE). A plugin may say delete. */
static bool
changes_folders(const struct account *a)
{
	if (!a->keep || a->keep_days > 0 || a->mark_seen || a->move_to != NULL)
		return true;
	for (size_t i = 0; i < a->nrules; i++)
		if (a->rules[i].action == ACTION_DELETE ||
		    a->rules[i].plugin != NULL)
			return true;
	return false;
}

static struct source_session *
imap_src_open(const struct config *cfg, const struct account *a,
    const char *secret, int *login_delay, struct err *e)
{
	struct imap_open_opts o = {
		.host = a->server,
		.port = a->port,
		.tls = a->tls,
		.tls_ca_file = a->tls_ca_file,
		.tls_fingerprint = a->tls_fingerprint,
		.timeout = cfg->timeout,
		.user = a->user,
		.secret = secret,
		.auth = imap_account_auth(a->auth),
		.allow_plaintext_auth = a->allow_plaintext_auth,
	};
	struct imap_source *is;
	struct imap *im;

	if (login_delay != NULL)
		*login_delay = 0;
	if ((im = imap_open(&o, e)) == NULL)
		return NULL;
	is = xcalloc(1, sizeof *is);
	is->im = im;
	is->a = a;
	is->base.backend = &source_imap;
	is->base.label = im->conn->label;
	/* Every IMAP server takes pipelined commands (RFC 3501 5.5). */
	is->base.caps.depth = SIZE_MAX;
	is->base.caps.reqs = SOURCE_REQ_BIT(SOURCE_FETCH) |
	    SOURCE_REQ_BIT(SOURCE_FETCH_HEADER) |
	    SOURCE_REQ_BIT(SOURCE_DELETE) | SOURCE_REQ_BIT(SOURCE_MARK_SEEN) |
	    SOURCE_REQ_BIT(SOURCE_MOVE);
	is->base.caps.deletes_at_close = false;
	is->base.caps.idle = imap_has(im, IMAP_CAP_IDLE);
	return &is->base;
}

static void
free_source(struct imap_source *is)
{
	free(is->moved);
	free(is->key);
	free(is->q);
	free(is);
}

static int
imap_src_close(struct source_session *ss, struct err *e)
{
	struct imap_source *is = imap_source(ss);
	int rc;

	if (drain(is, e) == -1) {
		imap_abort(is->im);
		free_source(is);
		return -1;
	}
	rc = imap_logout(is->im, e);
	free_source(is);
	return rc;
}

static void
imap_src_abort(struct source_session *ss)
{
	struct imap_source *is = imap_source(ss);

	imap_abort(is->im);
	free_source(is);
}

static size_t
imap_src_mailboxes(const struct account *a)
{
	return a->nfolders;
}

/*
 * SELECT (or EXAMINE) folder i. A folder the server refuses (one that
 * does not exist, say) leaves the session usable: the command was
 * answered and nothing else is in flight.
 */
static int
imap_src_select(struct source_session *ss, size_t i,
    struct source_mailbox *mb, struct err *e)
{
	struct imap_source *is = imap_source(ss);
	const char *folder = is->a->folders[i];
	struct imap_folder f;

	is->folder = folder;
	if (drain(is, e) == -1)
		return -1;
	if (imap_select(is->im, folder,
	    ss->read_only || !changes_folders(is->a), &f, e) == -1)
		return imap_in_flight(is->im) == 0 && !is->im->bye ?
		    SOURCE_NO_MAILBOX : -1;
	/* "Entwürfe" and "Entw&APw-rfe" are one folder, with one key. */
	free(is->key);
	is->key = imap_mailbox_wire(folder, false);
	mb->name = folder;
	mb->key = is->key;
	mb->validity = f.uidvalidity;
	return 0;
}

/* ---- the listing ------------------------------------------------------- */

static int
listed(void *arg, uint32_t uid, uint64_t size, unsigned flags,
    struct err *e)
{
	struct imap_source *is = arg;
	struct listing *l = is->l;
	struct server_msg *sm;
	char num[16];
	int len;

	if ((sm = listing_add(l, uid, is->base.label, e)) == NULL)
		return -1;
	sm->size = size > INT64_MAX ? INT64_MAX : (off_t)size;
	sm->others_deleted = (flags & IMAP_FLAG_DELETED) != 0;
	len = snprintf(num, sizeof num, "%" PRIu32, uid);
	(void)listing_set_uid(l, sm, num, (size_t)len);
	return 0;
}

static int
imap_src_list(struct source_session *ss, struct listing *l,
    const struct uidstore *store, struct err *e)
{
	struct imap_source *is = imap_source(ss);

	(void)store;
	is->l = l;
	if (imap_list(is->im, listed, is, e) == -1)
		return -1;
	/* By UID: the order requests go in, and a repeated UID (a hostile
	 * server) dropped with a warning. */
	listing_sort(l);
	free(is->moved);
	is->moved = xcalloc(l->n + 1, sizeof *is->moved);
	l->complete = true;
	return 0;
}

/* ---- requests and replies ---------------------------------------------- */

static struct imap_request *
ring_at(struct imap_source *is, size_t i)
{
	return &is->q[(is->qhead + i) % is->qcap];
}

static struct imap_request *
ring_push(struct imap_source *is)
{
	struct imap_request *r;

	if (is->qlen == is->qcap) {
		size_t cap = is->qcap ? is->qcap * 2 : 64;
		struct imap_request *q = xreallocarray(NULL, cap, sizeof *q);

		for (size_t i = 0; i < is->qlen; i++)
			q[i] = *ring_at(is, i);
		free(is->q);
		is->q = q;
		is->qcap = cap;
		is->qhead = 0;
	}
	r = ring_at(is, is->qlen++);
	memset(r, 0, sizeof *r);
	return r;
}

static void
ring_pop(struct imap_source *is)
{
	is->qhead = (is->qhead + 1) % is->qcap;
	is->qlen--;
}

/* Send the command that answers request r (its first, for a move by
 * COPY). */
static void
send_command(struct imap_source *is, struct imap_request *r, struct msg *m,
    off_t limit)
{
	struct imap *im = is->im;

	r->cookie = ++is->cookies;
	switch (r->req) {
	case SOURCE_FETCH:
	case SOURCE_FETCH_HEADER:
		r->cmd = IMAP_CMD_FETCH;
		imap_fetch(im, r->uid, r->req == SOURCE_FETCH ?
		    IMAP_SECTION_WHOLE : IMAP_SECTION_HEADER, limit > 0 ?
		    limit : (off_t)INT64_MAX, m, r->cookie);
		if (r->req == SOURCE_FETCH)
			conn_owe(im->conn, is->l->msgs[r->idx].size);
		break;
	case SOURCE_DELETE:
	case SOURCE_MARK_SEEN:
		r->cmd = IMAP_CMD_STORE;
		(void)imap_store(im, &r->uid, 1, r->req == SOURCE_DELETE ?
		    IMAP_FLAG_DELETED : IMAP_FLAG_SEEN, r->cookie);
		break;
	case SOURCE_MOVE:
		if (imap_has(im, IMAP_CAP_MOVE)) {
			r->cmd = IMAP_CMD_MOVE;
			(void)imap_move(im, &r->uid, 1, is->a->move_to,
			    r->cookie);
		} else if (is->copying) {
			r->cmd = IMAP_CMD_COPY;
			r->held = true;
			r->cookie = 0;
		} else {
			r->cmd = IMAP_CMD_COPY;
			is->copying = true;
			(void)imap_copy(im, &r->uid, 1, is->a->move_to,
			    r->cookie);
		}
		break;
	}
}

static void
imap_src_request(struct source_session *ss, enum source_req req, size_t idx,
    struct msg *m, off_t limit)
{
	struct imap_source *is = imap_source(ss);
	struct imap_request *r;

	if (!source_can(ss, req) || (req == SOURCE_MOVE &&
	    is->a->move_to == NULL)) {
		fprintf(stderr, "mailferry: internal error: IMAP cannot take "
		    "request %d\n", (int)req);
		abort();
	}
	r = ring_push(is);
	r->req = req;
	r->idx = idx;
	r->uid = is->l->msgs[idx].num;
	send_command(is, r, m, limit);
}

static size_t
imap_src_in_flight(const struct source_session *ss)
{
	return ((const struct imap_source *)ss)->qlen;
}

static void
imap_src_push(struct source_session *ss)
{
	struct err ignored;

	(void)imap_flush(imap_source(ss)->im, &ignored);
}

static bool
imap_src_ready(struct source_session *ss, int wait_ms)
{
	struct imap_source *is = imap_source(ss);

	imap_src_push(ss);
	return conn_readable(is->im->conn, wait_ms);
}

/* The request in flight whose command carries this cookie. */
static struct imap_request *
by_cookie(struct imap_source *is, uint64_t cookie)
{
	for (size_t i = 0; i < is->qlen; i++)
		if (ring_at(is, i)->cookie == cookie && !ring_at(is, i)->held)
			return ring_at(is, i);
	return NULL;
}

/* Answered: out of the ring, which keeps its order. */
static void
ring_remove(struct imap_source *is, struct imap_request *q)
{
	size_t i = (size_t)(q - is->q + (ptrdiff_t)is->qcap - (ptrdiff_t)
	    is->qhead) % is->qcap;

	for (; i > 0; i--)
		*ring_at(is, i) = *ring_at(is, i - 1);
	ring_pop(is);
}

static void
describe(const struct imap_source *is, const struct imap_request *q,
    char *buf, size_t size)
{
	static const char *const what[] = {
		[SOURCE_FETCH] = "UID FETCH %" PRIu32 " BODY.PEEK[]",
		[SOURCE_FETCH_HEADER] = "UID FETCH %" PRIu32 " BODY.PEEK[HEADER]",
		[SOURCE_DELETE] = "UID STORE %" PRIu32 " +FLAGS (\\Deleted)",
		[SOURCE_MARK_SEEN] = "UID STORE %" PRIu32 " +FLAGS (\\Seen)",
		[SOURCE_MOVE] = ("UID MOVE %" PRIu32),
	};

	if (q->cmd == IMAP_CMD_COPY)
		snprintf(buf, size, "UID COPY %" PRIu32 " \"%.30s\"", q->uid,
		    is->a->move_to);
	else if (q->req == SOURCE_MOVE && q->cmd == IMAP_CMD_STORE)
		snprintf(buf, size, "UID STORE %" PRIu32 " +FLAGS (\\Deleted) "
		    "after its copy", q->uid);
	else
		snprintf(buf, size, what[q->req], q->uid);
}

/*
 * Reading failed: blame the fetch whose data was coming (the oldest
 * without it: servers send message data in the order asked), else the
 * oldest request.
 */
static int
read_failed(struct imap_source *is, struct source_reply *r)
{
	struct imap_request *q = ring_at(is, 0);

	for (size_t i = 0; i < is->qlen; i++)
		if (ring_at(is, i)->cmd == IMAP_CMD_FETCH) {
			q = ring_at(is, i);
			break;
		}
	*r = (struct source_reply){ .req = q->req, .idx = q->idx };
	describe(is, q, r->what, sizeof r->what);
	if (q->cmd == IMAP_CMD_FETCH && is->im->too_large == q->uid)
		return SOURCE_TOO_LARGE;
	return -1;
}

/* The COPY of a move succeeded: now flag the original \Deleted; the
 * move is answered once that is done. */
static void
move_copied(struct imap_source *is, struct imap_request *q)
{
	q->cookie = ++is->cookies;
	q->cmd = IMAP_CMD_STORE;
	(void)imap_store(is->im, &q->uid, 1, IMAP_FLAG_DELETED, q->cookie);
}

/* The last move by COPY is answered: the next one may go. */
static void
next_copy(struct imap_source *is)
{
	is->copying = false;
	for (size_t i = 0; i < is->qlen; i++) {
		struct imap_request *q = ring_at(is, i);

		if (q->held) {
			q->held = false;
			is->copying = true;
			q->cookie = ++is->cookies;
			(void)imap_copy(is->im, &q->uid, 1, is->a->move_to,
			    q->cookie);
			return;
		}
	}
}

static void
answer(struct imap_source *is, struct imap_request *q, bool ok,
    const char *text, struct source_reply *r)
{
	bool by_copy = q->req == SOURCE_MOVE && q->cmd != IMAP_CMD_MOVE;

	*r = (struct source_reply){ .req = q->req, .idx = q->idx, .ok = ok };
	describe(is, q, r->what, sizeof r->what);
	if (!ok) {
		log_escape(r->text, sizeof r->text, text, strlen(text));
		if (q->req == SOURCE_FETCH)
			conn_owe_less(is->im->conn, is->l->msgs[q->idx].size);
	}
	if (ok && q->cmd == IMAP_CMD_MOVE)
		is->moved[q->idx] = true;
	ring_remove(is, q);
	if (by_copy)
		next_copy(is);
}

/*
 * The next request answered. Servers may interleave the commands in
 * flight (Dovecot sends the next message before the last one's tagged
 * OK), so a fetch is answered as soon as its data is complete, before
 * its completion, which is then read and passed over.
 */
static int
imap_src_reply(struct source_session *ss, struct source_reply *r,
    struct err *e)
{
	struct imap_source *is = imap_source(ss);
	struct imap_request *q;
	struct imap_event ev;

	for (;;) {
		if (imap_read(is->im, &ev, e) == -1)
			return read_failed(is, r);
		q = by_cookie(is, ev.cookie);
		if (ev.kind == IMAP_EV_LISTED || (q == NULL &&
		    ev.kind != IMAP_EV_DONE)) {
			err_set(e, ERR_TEMP, "%s: the server sent data that "
			    "was not asked for", is->base.label);
			return read_failed(is, r);
		}
		if (q == NULL)
			continue;	/* a fetch answered already */
		if (ev.kind == IMAP_EV_MESSAGE) {
			answer(is, q, true, "", r);
			return 0;
		}
		if (q->cmd == IMAP_CMD_COPY && ev.status == IMAP_ST_OK) {
			move_copied(is, q);
			continue;
		}
		if (ev.status == IMAP_ST_OK && q->cmd == IMAP_CMD_FETCH)
			/* OK without the data: another client expunged it
			 * since the listing. */
			answer(is, q, false, "the server sent no data (the "
			    "message was removed meanwhile?)", r);
		else
			answer(is, q, ev.status == IMAP_ST_OK, ev.text, r);
		return 0;
	}
}

/* Read the completions of fetches answered already, so that nothing is
 * in flight for a command that must go alone. */
static int
drain(struct imap_source *is, struct err *e)
{
	struct imap_event ev;

	while (imap_in_flight(is->im) > 0) {
		if (imap_read(is->im, &ev, e) == -1)
			return -1;
		if (ev.kind != IMAP_EV_DONE)
			return err_set(e, ERR_TEMP, "%s: the server sent data "
			    "that was not asked for", is->base.label);
	}
	return 0;
}

/* ---- deletions, and waiting -------------------------------------------- */

static void
report_left(const struct imap_source *is, enum imap_expunged res,
    size_t n, size_t others)
{
	if (res == IMAP_LEFT_FLAGGED)
		log_warn("%s: folder \"%s\": %zu messages flagged \\Deleted by "
		    "mailferry are left there, as %zu other messages are "
		    "flagged \\Deleted too and the server cannot expunge only "
		    "ours (no UIDPLUS); they are expunged by a later run",
		    is->a->name, is->folder, n, others);
	else
		log_warn("%s: folder \"%s\": %zu messages flagged \\Deleted by "
		    "mailferry are left there: too many to check that no other "
		    "message is flagged, and the server cannot expunge only "
		    "ours (no UIDPLUS); they are expunged by a later run",
		    is->a->name, is->folder, n);
}

static int
imap_src_expunge(struct source_session *ss, const struct listing *l,
    enum source_expunged *res, struct err *e)
{
	struct imap_source *is = imap_source(ss);
	uint32_t *uids = xcalloc(l->n + 1, sizeof *uids);
	enum imap_expunged ires;
	size_t n = 0, others;
	int rc;

	if (drain(is, e) == -1) {
		free(uids);
		return -1;
	}
	/* What MOVE took is gone already. */
	for (size_t i = 0; i < l->n; i++)
		if (l->msgs[i].deleted && !is->moved[i])
			uids[n++] = l->msgs[i].num;
	rc = imap_expunge(is->im, uids, n, &ires, &others, e);
	free(uids);
	if (rc == -1)
		return -1;
	*res = ires == IMAP_EXPUNGED ? SOURCE_EXPUNGED : SOURCE_LEFT;
	if (ires != IMAP_EXPUNGED)
		report_left(is, ires, n, others);
	return 0;
}

static int
imap_src_idle(struct source_session *ss, int seconds,
    volatile sig_atomic_t *stop, struct err *e)
{
	struct imap_source *is = imap_source(ss);

	if (drain(is, e) == -1)
		return -1;
	return imap_idle(is->im, seconds, stop, e);
}

const struct source_backend source_imap = {
	.protocol = "imap",
	.name = "IMAP",
	.open = imap_src_open,
	.close = imap_src_close,
	.abort = imap_src_abort,
	.mailboxes = imap_src_mailboxes,
	.select = imap_src_select,
	.list = imap_src_list,
	.request = imap_src_request,
	.in_flight = imap_src_in_flight,
	.push = imap_src_push,
	.reply = imap_src_reply,
	.ready = imap_src_ready,
	.expunge = imap_src_expunge,
	.idle = imap_src_idle,
};
