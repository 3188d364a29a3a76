/*
 * The POP3 source (source.h): a session from session.c, the maildrop as
 * the one mailbox, STAT, UIDL and LIST into the listing, RETR, TOP n 0
 * and DELE pipelined when the server offers PIPELINING, and QUIT, which
 * is when the deletions happen (RFC 1939).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pop3-listing.h"
#include "pop3.h"
#include "session.h"
#include "source.h"
#include "xmalloc.h"

/* A request in flight: what the loop asked, and where data goes. */
struct pop3_request {
	enum source_req	 req;
	size_t		 idx;
	struct msg	*m;
	off_t		 limit;
};

struct pop3_source {
	struct source_session base;	/* first: the loop's view */
	struct pop3	*p;
	const struct account *a;
	const struct listing *l;	/* the last list()ed */
	struct pop3_request *q;		/* a ring, oldest at qhead */
	size_t		 qhead, qlen, qcap;
};

static struct pop3_source *
pop3_source(struct source_session *ss)
{
	return (struct pop3_source *)ss;
}

static struct source_session *
pop3_open(const struct config *cfg, const struct account *a,
    const char *secret, int *login_delay, struct err *e)
{
	struct pop3_source *ps;
	struct pop3 *p;

	p = session_open(cfg, a, secret, login_delay, e);
	if (p == NULL)
		return NULL;
	ps = xcalloc(1, sizeof *ps);
	ps->p = p;
	ps->a = a;
	ps->base.backend = &source_pop3;
	ps->base.label = p->conn->label;
	ps->base.caps.depth = (p->caps & POP3_CAP_PIPELINING) ? SIZE_MAX : 1;
	ps->base.caps.reqs = SOURCE_REQ_BIT(SOURCE_FETCH) |
	    SOURCE_REQ_BIT(SOURCE_DELETE);
	if (p->caps & POP3_CAP_TOP)
		ps->base.caps.reqs |= SOURCE_REQ_BIT(SOURCE_FETCH_HEADER);
	ps->base.caps.deletes_at_close = true;
	return &ps->base;
}

static void
pop3_free_source(struct pop3_source *ps)
{
	free(ps->q);
	free(ps);
}

static int
pop3_close(struct source_session *ss, struct err *e)
{
	struct pop3_source *ps = pop3_source(ss);
	int rc = session_quit(ps->p, e);

	pop3_free_source(ps);
	return rc;
}

static void
pop3_abort(struct source_session *ss)
{
	struct pop3_source *ps = pop3_source(ss);

	session_abort(ps->p);
	pop3_free_source(ps);
}

static size_t
pop3_mailboxes(const struct account *a)
{
	(void)a;
	return 1;
}

static int
pop3_select(struct source_session *ss, size_t i, struct source_mailbox *mb,
    struct err *e)
{
	(void)ss;
	(void)i;
	(void)e;
	*mb = (struct source_mailbox){ .name = NULL, .key = NULL,
	    .validity = 0 };
	return 0;
}

/* ---- the listing ------------------------------------------------------- */

/* LIST: the size of every message (adding any UIDL did not name). */
static int
read_list(struct pop3_source *ps, struct listing *l, struct err *e)
{
	size_t from_uidl = l->n;
	struct pop3_reply r;
	bool end;

	if (pop3_reply(ps->p, &r, e) == -1)
		return -1;
	if (!r.ok)
		return pop3_fail(ps->p, &r, "LIST failed", ERR_TEMP, e);
	for (;;) {
		struct server_msg *sm;
		char *line;
		size_t len;
		unsigned num;
		uint64_t size;

		if (pop3_listing_line(ps->p, &line, &len, &end, e) == -1)
			return -1;
		if (end)
			break;
		if (pop3_parse_list_line(line, len, &num, &size) == -1) {
			char shown[120];

			log_escape(shown, sizeof shown, line, len);
			return err_set(e, ERR_TEMP, "%s: garbled LIST line "
			    "\"%s\"", ps->base.label, shown);
		}
		/* UIDL's messages are sorted: look them up; others are
		 * new to us and added at the end. */
		sm = listing_find_in(l, from_uidl, num);
		if (sm == NULL && (sm = listing_add(l, num, ps->base.label,
		    e)) == NULL)
			return -1;
		sm->size = (off_t)size;
		sm->listed = true;
	}
	listing_sort(l);
	return 0;
}

/* A server without UIDL: with keep = false its messages are fetched and
 * deleted untracked; with keep = true the plan says what this means. */
static void
no_uidl(struct pop3_source *ps, struct listing *l)
{
	l->no_uids = true;
	if (!ps->a->keep)
		log_warn("%s: the server does not support UIDL; messages are "
		    "fetched and deleted without being tracked", ps->a->name);
}

/* One line of UIDL; *bad counts the unusable ones, the first kept. */
static int
uidl_line(struct pop3_source *ps, struct listing *l, const char *line,
    size_t len, unsigned *bad, char *first_bad, size_t first_bad_size,
    struct err *e)
{
	struct server_msg *sm;
	const char *uid;
	size_t uidlen;
	unsigned num;
	enum uidl_line kind;

	kind = pop3_parse_uidl_line(line, len, &num, &uid, &uidlen);
	if (kind != UIDL_LINE_OK && (*bad)++ == 0)
		log_escape(first_bad, first_bad_size, line, len);
	if (kind == UIDL_LINE_BAD_NUMBER)
		return 0;
	if ((sm = listing_add(l, num, ps->base.label, e)) == NULL)
		return -1;
	/* Odd UIDs make only their message untrackable. */
	if (kind == UIDL_LINE_OK)
		(void)listing_set_uid(l, sm, uid, uidlen);
	return 0;
}

/* UIDL: every message and its UID. Returns 0 with *have_uidl false when
 * the server does not do UIDL. */
static int
read_uidl(struct pop3_source *ps, struct listing *l, bool *have_uidl,
    struct err *e)
{
	struct pop3_reply r;
	unsigned bad = 0;
	char first_bad[80];
	bool end;

	*have_uidl = false;
	if (pop3_reply(ps->p, &r, e) == -1)
		return -1;
	if (!r.ok) {
		/* A server that has UIDL (it says so, or gives a reason
		 * such as [SYS/TEMP]) failed to answer: try again later,
		 * never fall back to fetching without UIDs. */
		if ((ps->p->caps & POP3_CAP_UIDL) || r.code[0] != '\0')
			return pop3_fail(ps->p, &r, "UIDL failed", ERR_TEMP, e);
		no_uidl(ps, l);
		return 0;
	}
	for (;;) {
		char *line;
		size_t len;

		if (pop3_listing_line(ps->p, &line, &len, &end, e) == -1)
			return -1;
		if (end)
			break;
		if (uidl_line(ps, l, line, len, &bad, first_bad,
		    sizeof first_bad, e) == -1)
			return -1;
	}
	if (bad > 0)
		log_warn("%s: %u UIDL lines were unusable (odd UIDs or "
		    "numbers, such as \"%s\"); those messages are treated as "
		    "having no UID", ps->a->name, bad, first_bad);
	listing_sort(l);
	*have_uidl = true;
	return 0;
}

/*
 * Sizes are needed only for new messages (max_size, size_over, and
 * bounding what a server may send), and to see every message when UIDL
 * did not name them all: a run with nothing new does without LIST.
 */
static bool
need_list(const struct listing *l, const struct uidstore *store,
    bool have_uidl, uint64_t count)
{
	if (!have_uidl || l->n != count)
		return true;
	for (size_t i = 0; i < l->n; i++) {
		const struct server_msg *sm = &l->msgs[i];

		/* Numbers run 1..n (RFC 1939): a gap is a message UIDL did
		 * not name. */
		if (sm->num != i + 1 || sm->uid == STRTAB_NONE ||
		    !uidstore_known(store, listing_uid(l, sm)))
			return true;
	}
	return false;
}

/* STAT: how many messages there are, to know whether UIDL named them
 * all. */
static int
read_stat(struct pop3_source *ps, uint64_t *count, struct err *e)
{
	struct pop3_reply r;

	if (pop3_reply(ps->p, &r, e) == -1)
		return -1;
	if (!r.ok)
		return pop3_fail(ps->p, &r, "STAT failed", ERR_TEMP, e);
	if (pop3_parse_stat(r.text, MAX_MESSAGES, count) == -1)
		return err_set(e, ERR_TEMP, "%s: garbled STAT reply \"%.60s\" "
		    "(or more than %d messages)", ps->base.label, r.text,
		    MAX_MESSAGES);
	return 0;
}

static int
pop3_list(struct source_session *ss, struct listing *l,
    const struct uidstore *store, struct err *e)
{
	struct pop3_source *ps = pop3_source(ss);
	bool pipelining = ps->p->caps & POP3_CAP_PIPELINING;
	uint64_t count;
	bool have_uidl;

	ps->l = l;
	pop3_send(ps->p, POP3_STAT, 0, "STAT", SIZE_MAX);
	if (pipelining)
		pop3_send(ps->p, POP3_UIDL, 0, "UIDL", SIZE_MAX);
	if (read_stat(ps, &count, e) == -1)
		return -1;
	if (!pipelining)
		pop3_send(ps->p, POP3_UIDL, 0, "UIDL", SIZE_MAX);
	if (read_uidl(ps, l, &have_uidl, e) == -1)
		return -1;
	if (need_list(l, store, have_uidl, count)) {
		pop3_send(ps->p, POP3_LIST, 0, "LIST", SIZE_MAX);
		if (read_list(ps, l, e) == -1)
			return -1;
		/* Named by UIDL but not by LIST: not a message. */
		listing_keep_listed(l);
	}
	listing_drop_repeated_uids(l);
	l->complete = true;
	return 0;
}

/* ---- requests and replies ---------------------------------------------- */

static const struct {
	enum pop3_cmd	 cmd;
	const char	*fmt;
} commands[] = {
	[SOURCE_FETCH] = { POP3_RETR, "RETR %u" },
	[SOURCE_FETCH_HEADER] = { POP3_TOP, "TOP %u 0" },
	[SOURCE_DELETE] = { POP3_DELE, "DELE %u" },
};

static void
ring_push(struct pop3_source *ps, const struct pop3_request *r)
{
	if (ps->qlen == ps->qcap) {
		size_t cap = ps->qcap ? ps->qcap * 2 : 64;
		struct pop3_request *q = xreallocarray(NULL, cap, sizeof *q);

		for (size_t i = 0; i < ps->qlen; i++)
			q[i] = ps->q[(ps->qhead + i) % ps->qcap];
		free(ps->q);
		ps->q = q;
		ps->qcap = cap;
		ps->qhead = 0;
	}
	ps->q[(ps->qhead + ps->qlen) % ps->qcap] = *r;
	ps->qlen++;
}

static void
pop3_request(struct source_session *ss, enum source_req req, size_t idx,
    struct msg *m, off_t limit)
{
	struct pop3_source *ps = pop3_source(ss);
	unsigned num = ps->l->msgs[idx].num;
	char line[32];

	if (!source_can(ss, req)) {
		fprintf(stderr, "mailferry: internal error: POP3 cannot take "
		    "request %d\n", (int)req);
		abort();
	}
	snprintf(line, sizeof line, commands[req].fmt, num);
	pop3_send(ps->p, commands[req].cmd, num, line, SIZE_MAX);
	ring_push(ps, &(struct pop3_request){ .req = req, .idx = idx,
	    .m = m, .limit = limit });
	if (req == SOURCE_FETCH)
		conn_owe(ps->p->conn, ps->l->msgs[idx].size);
}

static size_t
pop3_in_flight_reqs(const struct source_session *ss)
{
	return ((const struct pop3_source *)ss)->qlen;
}

static void
pop3_push(struct source_session *ss)
{
	struct pop3_source *ps = pop3_source(ss);
	struct err ignored;

	if (ps->p->conn->wlen > 0)
		(void)conn_flush(ps->p->conn, &ignored);
}

static bool
pop3_ready(struct source_session *ss, int wait_ms)
{
	struct pop3_source *ps = pop3_source(ss);

	pop3_push(ss);
	return conn_readable(ps->p->conn, wait_ms);
}

static int
pop3_reply_to(struct source_session *ss, struct source_reply *r,
    struct err *e)
{
	struct pop3_source *ps = pop3_source(ss);
	struct pop3_request q = ps->q[ps->qhead];
	struct pop3_reply pr;
	int rc;

	ps->qhead = (ps->qhead + 1) % ps->qcap;
	ps->qlen--;
	*r = (struct source_reply){ .req = q.req, .idx = q.idx };
	snprintf(r->what, sizeof r->what, commands[q.req].fmt,
	    ps->l->msgs[q.idx].num);
	if (pop3_reply(ps->p, &pr, e) == -1)
		return -1;
	r->ok = pr.ok;
	if (!pr.ok) {
		snprintf(r->text, sizeof r->text, "-ERR %s", pr.text);
		if (q.req == SOURCE_FETCH)
			conn_owe_less(ps->p->conn, ps->l->msgs[q.idx].size);
	}
	if (!pr.ok || q.req == SOURCE_DELETE)
		return 0;
	msg_reset(q.m);
	rc = pop3_read_message(ps->p, q.m, q.limit, e);
	return rc == POP3_TOO_LARGE ? SOURCE_TOO_LARGE : rc;
}

const struct source_backend source_pop3 = {
	.protocol = "pop3",
	.name = "POP3",
	.open = pop3_open,
	.close = pop3_close,
	.abort = pop3_abort,
	.mailboxes = pop3_mailboxes,
	.select = pop3_select,
	.list = pop3_list,
	.request = pop3_request,
	.in_flight = pop3_in_flight_reqs,
	.push = pop3_push,
	.reply = pop3_reply_to,
	.ready = pop3_ready,
	.expunge = NULL,
	.idle = NULL,
};
