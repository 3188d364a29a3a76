#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "greeting.h"
#include "imap-internal.h"
#include "imap-utf7.h"
#include "log.h"
#include "xmalloc.h"

static const char *const cmd_names[] = {
	[IMAP_CMD_CAPABILITY] = "CAPABILITY",
	[IMAP_CMD_STARTTLS] = "STARTTLS",
	[IMAP_CMD_LOGIN] = "LOGIN",
	[IMAP_CMD_AUTHENTICATE] = "AUTHENTICATE",
	[IMAP_CMD_ENABLE] = "ENABLE",
	[IMAP_CMD_SELECT] = "SELECT",
	[IMAP_CMD_EXAMINE] = "EXAMINE",
	[IMAP_CMD_LIST] = "UID FETCH (listing)",
	[IMAP_CMD_FETCH] = "UID FETCH",
	[IMAP_CMD_STORE] = "UID STORE",
	[IMAP_CMD_COPY] = "UID COPY",
	[IMAP_CMD_MOVE] = "UID MOVE",
	[IMAP_CMD_SEARCH] = "UID SEARCH",
	[IMAP_CMD_UID_EXPUNGE] = "UID EXPUNGE",
	[IMAP_CMD_EXPUNGE] = "EXPUNGE",
	[IMAP_CMD_IDLE] = "IDLE",
	[IMAP_CMD_NOOP] = "NOOP",
	[IMAP_CMD_LOGOUT] = "LOGOUT",
};

const char *
imap_cmd_name(enum imap_cmd cmd)
{
	return cmd_names[cmd];
}

struct imap *
imap_new(struct conn *c)
{
	struct imap *im = xcalloc(1, sizeof *im);

	im->conn = c;
	imap_parser_init(&im->ps, c);
	imap_sink_setup(im, &im->sink);
	im->ps.sink = &im->sink;
	im->decoded = xmalloc(CONN_READ_BUFFER + 2);
	im->next_tag = 1;
	im->new_deadline = true;
	im->idle_renew_ms = (int64_t)IMAP_IDLE_RENEW * 1000;
	return im;
}

void
imap_free(struct imap *im)
{
	if (im == NULL)
		return;
	imap_parser_free(&im->ps);
	free(im->queue);
	/* The outbox and trace may hold a password. */
	if (im->out != NULL)
		explicit_bzero(im->out, im->outcap);
	if (im->trace != NULL)
		explicit_bzero(im->trace, im->tracecap);
	free(im->out);
	free(im->trace);
	free(im->holds);
	free(im->decoded);
	free(im);
}

/* ---- commands in flight ------------------------------------------------ */

static struct imap_pending *
queue_at(const struct imap *im, size_t i)
{
	return &im->queue[(im->qhead + i) % im->qcap];
}

static struct imap_pending *
queue_push(struct imap *im)
{
	struct imap_pending *p;

	im->queue = array_ring_grow(im->queue, &im->qhead, im->qlen,
	    &im->qcap, sizeof *im->queue);
	p = &im->queue[(im->qhead + im->qlen++) % im->qcap];
	memset(p, 0, sizeof *p);
	return p;
}

/* The unanswered command with this tag. Tags are consecutive, so its
 * place in the ring follows from the oldest one's. */
static struct imap_pending *
find_tag(const struct imap *im, const char *tag)
{
	struct imap_pending *p;
	unsigned long n;
	char *end;

	if (im->qlen == 0 || tag[0] != 'A' || !isdigit((unsigned char)tag[1]))
		return NULL;
	n = strtoul(tag + 1, &end, 10);
	if (*end != '\0' || n < queue_at(im, 0)->tag ||
	    n - queue_at(im, 0)->tag >= im->qlen)
		return NULL;
	p = queue_at(im, n - queue_at(im, 0)->tag);
	return p->answered ? NULL : p;
}

bool
imap_cmd_pending(const struct imap *im, enum imap_cmd cmd)
{
	for (size_t i = 0; i < im->qlen; i++)
		if (!queue_at(im, i)->answered && queue_at(im, i)->cmd == cmd)
			return true;
	return false;
}

struct imap_pending *
imap_find_fetch(struct imap *im, uint32_t uid, enum imap_section section)
{
	for (size_t i = 0; i < im->qlen; i++) {
		struct imap_pending *p = queue_at(im, i);

		if (!p->answered && p->cmd == IMAP_CMD_FETCH && !p->got_body &&
		    p->section == section && (uid == 0 || p->uid == uid))
			return p;
	}
	return NULL;
}

/* ---- building commands -------------------------------------------------- */

static void
grow_put(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
	/* Wipe as we go: a command may carry a password. */
	ARRAY_RESERVE_WIPED(*buf, *len, *cap, n);
	memcpy(*buf + *len, data, n);
	*len += n;
}

static void
out_put(struct imap *im, const char *s, size_t n)
{
	grow_put(&im->out, &im->outlen, &im->outcap, s, n);
}

static void
trace_put(struct imap *im, const char *s, bool secret)
{
	if (secret)
		s = "***";
	grow_put(&im->trace, &im->tracelen, &im->tracecap, s, strlen(s));
}

void
imap_cmd_begin(struct imap *im, enum imap_cmd cmd, const char *name)
{
	struct imap_pending *p = queue_push(im);
	char tag[16];

	p->tag = im->next_tag++;
	p->cmd = cmd;
	if (im->unanswered++ == 0)
		im->new_deadline = true;
	if (cmd == IMAP_CMD_LIST)
		im->listing++;
	snprintf(tag, sizeof tag, "A%u ", p->tag);
	im->tracelen = 0;
	imap_cmd_raw(im, tag, false);
	imap_cmd_raw(im, name, false);
}

void
imap_cmd_raw(struct imap *im, const char *s, bool secret)
{
	out_put(im, s, strlen(s));
	trace_put(im, s, secret);
}

/* A quoted string holds 7-bit text without CR or LF (RFC 3501 section
 * 4.3); keep it short too, as some servers limit quoted strings. */
static bool
quotable(const char *s, size_t len)
{
	if (len > 1000)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || (unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

static void
literal(struct imap *im, const char *s, size_t len, bool secret)
{
	/* LITERAL+ (any size) or LITERAL- (up to 4096 bytes): no need to
	 * wait for the server's "+" before the data (RFC 7888). */
	bool nonsync = imap_has(im, IMAP_CAP_LITERALPLUS) ||
	    (imap_has(im, IMAP_CAP_LITERALMINUS) && len <= 4096);
	char head[40];

	snprintf(head, sizeof head, "{%zu%s}", len, nonsync ? "+" : "");
	out_put(im, head, strlen(head));
	out_put(im, "\r\n", 2);
	trace_put(im, head, false);
	trace_put(im, " ", false);
	if (!nonsync) {
		*ARRAY_ADD(im->holds, im->nholds, im->capholds) =
		    im->out_base + im->outlen;
	}
	out_put(im, s, len);
	trace_put(im, s, secret);
}

void
imap_cmd_string(struct imap *im, const char *s, bool secret)
{
	size_t len = strlen(s);

	if (!quotable(s, len)) {
		literal(im, s, len, secret);
		return;
	}
	out_put(im, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			out_put(im, "\\", 1);
		out_put(im, s + i, 1);
	}
	out_put(im, "\"", 1);
	if (secret)
		trace_put(im, "***", false);
	else {
		trace_put(im, "\"", false);
		grow_put(&im->trace, &im->tracelen, &im->tracecap, s, len);
		trace_put(im, "\"", false);
	}
}

void
imap_cmd_mailbox(struct imap *im, const char *name)
{
	char *wire = imap_mailbox_wire(name, im->utf8);

	imap_cmd_string(im, wire, false);
	free(wire);
}

struct imap_pending *
imap_cmd_end(struct imap *im, uint64_t cookie)
{
	struct imap_pending *p = queue_at(im, im->qlen - 1);

	out_put(im, "\r\n", 2);
	p->out_end = im->out_base + im->outlen;
	p->cookie = cookie;
	if (log_tracing())
		log_trace("%s > %.*s", im->conn->label, (int)im->tracelen,
		    im->trace);
	explicit_bzero(im->trace, im->tracelen);
	return p;
}

void
imap_send_line(struct imap *im, const char *line, bool secret)
{
	out_put(im, line, strlen(line));
	out_put(im, "\r\n", 2);
	conn_trace_sent(im->conn, line, secret ? 0 : SIZE_MAX);
}

/* ---- the outbox --------------------------------------------------------- */

int
imap_flush(struct imap *im, struct err *e)
{
	uint64_t limit = im->nholds > 0 ? im->holds[0] :
	    im->out_base + im->outlen;
	size_t upto = (size_t)(limit - im->out_base);

	if (upto > im->outsent) {
		conn_write(im->conn, im->out + im->outsent, upto - im->outsent);
		im->outsent = upto;
	}
	if (im->outsent == im->outlen && im->nholds == 0) {
		explicit_bzero(im->out, im->outlen);
		im->out_base += im->outlen;
		im->outlen = im->outsent = 0;
	}
	return im->conn->wlen > 0 ? conn_flush(im->conn, e) : 0;
}

/* A "+" lets the literal we are holding back go. */
static bool
release_hold(struct imap *im)
{
	if (im->nholds == 0 || im->holds[0] != im->out_base + im->outsent)
		return false;
	memmove(im->holds, im->holds + 1, --im->nholds * sizeof *im->holds);
	return true;
}

/* The server refused a command before taking its literal: the rest of
 * that command is never sent. */
static void
drop_unsent(struct imap *im, const struct imap_pending *p)
{
	uint64_t sent = im->out_base + im->outsent, cut;
	size_t j = 0;

	if (p->out_end <= sent)
		return;
	cut = p->out_end - sent;
	memmove(im->out + im->outsent, im->out + im->outsent + cut,
	    im->outlen - im->outsent - (size_t)cut);
	im->outlen -= (size_t)cut;
	for (size_t i = 0; i < im->nholds; i++)
		if (im->holds[i] > p->out_end)
			im->holds[j++] = im->holds[i] - cut;
	im->nholds = j;
	for (size_t i = 0; i < im->qlen; i++)
		if (queue_at(im, i)->out_end > p->out_end)
			queue_at(im, i)->out_end -= cut;
}

/* ---- reading ------------------------------------------------------------ */

static int
tagged(struct imap *im, const struct imap_resp *r, struct imap_event *ev,
    struct err *e)
{
	struct imap_pending *p = find_tag(im, r->tag);
	char shown[80];

	if (p == NULL || r->status == IMAP_ST_PREAUTH ||
	    r->status == IMAP_ST_BYE) {
		log_escape(shown, sizeof shown, r->tag, strlen(r->tag));
		return err_set(e, ERR_TEMP, "%s: the server answered a "
		    "command that was not sent (tag \"%s\", %s)",
		    im->conn->label, shown, r->name);
	}
	if (imap_status_code(im, r, e) == -1)
		return -1;
	memset(ev, 0, sizeof *ev);
	ev->kind = IMAP_EV_DONE;
	ev->cmd = p->cmd;
	ev->cookie = p->cookie;
	ev->status = r->status;
	snprintf(ev->code, sizeof ev->code, "%s", r->code);
	snprintf(ev->text, sizeof ev->text, "%s", r->text);
	ev->uid = p->uid;
	ev->section = p->section;
	ev->fetched = p->got_body;
	drop_unsent(im, p);
	p->answered = true;
	im->unanswered--;
	if (p->cmd == IMAP_CMD_LIST)
		im->listing--;
	while (im->qlen > 0 && queue_at(im, 0)->answered) {
		im->qhead = (im->qhead + 1) % im->qcap;
		im->qlen--;
	}
	im->new_deadline = true;
	return 1;
}

int
imap_read_one(struct imap *im, struct imap_event *ev, struct err *e)
{
	struct imap_resp r;

	if (imap_flush(im, e) == -1)
		return -1;
	if (im->new_deadline) {
		conn_begin_reply(im->conn);
		im->new_deadline = false;
	}
	if (imap_parse_response(&im->ps, &r, e) == -1) {
		im->target = NULL;
		return -1;
	}
	switch (r.kind) {
	case IMAP_RESP_CONTINUE:
		if (release_hold(im))
			return 0;
		memset(ev, 0, sizeof *ev);
		ev->kind = IMAP_EV_CONTINUE;
		snprintf(ev->text, sizeof ev->text, "%s", r.text);
		return 1;
	case IMAP_RESP_TAGGED:
		return tagged(im, &r, ev, e);
	case IMAP_RESP_UNTAGGED:
		break;
	}
	return imap_untagged(im, &r, ev, e);
}

int
imap_next_event(struct imap *im, struct imap_event *ev, struct err *e)
{
	int rc;

	while ((rc = imap_read_one(im, ev, e)) == 0)
		;
	return rc == -1 ? -1 : 0;
}

int
imap_read(struct imap *im, struct imap_event *ev, struct err *e)
{
	char shown[120];
	int rc;

	for (;;) {
		if (im->unanswered == 0)
			return err_set(e, ERR_INTERNAL, "%s: IMAP: no command "
			    "in flight", im->conn->label);
		if ((rc = imap_read_one(im, ev, e)) == -1)
			return -1;
		if (rc == 0)
			continue;
		if (ev->kind != IMAP_EV_CONTINUE)
			return 0;
		log_escape(shown, sizeof shown, ev->text, strlen(ev->text));
		return err_set(e, ERR_TEMP, "%s: the server asks for more "
		    "when nothing is expected (\"+ %s\")", im->conn->label,
		    shown);
	}
}

int
imap_simple(struct imap *im, enum imap_cmd cmd, const char *line,
    const char *what, enum err_class cls, struct err *e)
{
	struct imap_event ev;

	imap_cmd_begin(im, cmd, line);
	imap_cmd_end(im, 0);
	if (imap_wait_done(im, &ev, e) == -1)
		return -1;
	if (ev.status != IMAP_ST_OK)
		return imap_fail(im, &ev, what, cls, e);
	return 0;
}

int
imap_wait_done(struct imap *im, struct imap_event *ev, struct err *e)
{
	if (imap_read(im, ev, e) == -1)
		return -1;
	if (ev->kind != IMAP_EV_DONE)
		return err_set(e, ERR_TEMP, "%s: the server sent message data "
		    "in answer to %s", im->conn->label, imap_cmd_name(ev->cmd));
	return 0;
}

int
imap_greeting(struct imap *im, struct err *e)
{
	struct imap_resp r;
	char shown[200];

	/* A port that speaks TLS at once sends nothing: say so early. */
	if (greeting_wait(im->conn, 143, e) == -1)
		return -1;
	conn_begin_reply(im->conn);
	im->new_deadline = false;
	if (imap_parse_response(&im->ps, &r, e) == -1)
		return -1;
	log_escape(shown, sizeof shown, r.text, strlen(r.text));
	if (r.kind != IMAP_RESP_UNTAGGED || (r.status != IMAP_ST_OK &&
	    r.status != IMAP_ST_PREAUTH && r.status != IMAP_ST_BYE))
		return err_set(e, ERR_TEMP, "%s: not an IMAP server: its "
		    "greeting is %s", im->conn->label, r.kind ==
		    IMAP_RESP_CONTINUE ? "a continuation request" : r.name);
	if (imap_status_code(im, &r, e) == -1)
		return -1;
	if (r.status == IMAP_ST_BYE)
		return err_set(e, ERR_TEMP, "%s: the server refused the "
		    "connection: BYE %s", im->conn->label, shown);
	im->preauth = r.status == IMAP_ST_PREAUTH;
	return 0;
}

/* ---- failures ----------------------------------------------------------- */

/* Response codes of RFC 5530 (and RFC 3501) that say what kind of
 * failure a NO is. */
static enum err_class
code_class(const char *code, enum err_class fallback)
{
	static const struct {
		const char	*code;
		enum err_class	 cls;
	} known[] = {
		{ "AUTHENTICATIONFAILED", ERR_AUTH },
		{ "AUTHORIZATIONFAILED", ERR_AUTH },
		{ "EXPIRED", ERR_AUTH },
		{ "CONTACTADMIN", ERR_AUTH },
		{ "PRIVACYREQUIRED", ERR_AUTH },
		{ "UNAVAILABLE", ERR_TEMP },
		{ "INUSE", ERR_TEMP },
		{ "SERVERBUG", ERR_TEMP },
		{ "LIMIT", ERR_TEMP },
		{ "OVERQUOTA", ERR_TEMP },
		{ "CORRUPTION", ERR_TEMP },
		{ "EXPUNGEISSUED", ERR_TEMP },
		{ "NONEXISTENT", ERR_UNAVAIL },
		{ "NOPERM", ERR_UNAVAIL },
		{ "CANNOT", ERR_UNAVAIL },
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(code, known[i].code) == 0)
			return known[i].cls;
	return fallback;
}

int
imap_fail(const struct imap *im, const struct imap_event *ev,
    const char *what, enum err_class fallback, struct err *e)
{
	char text[sizeof ev->text + 8], code[sizeof ev->code + 8];

	log_escape(text, sizeof text, ev->text, strlen(ev->text));
	log_escape(code, sizeof code, ev->code, strlen(ev->code));
	return err_set(e, code_class(ev->code, fallback), "%s: %s: %s%s%s%s "
	    "%s", im->conn->label, what, ev->status == IMAP_ST_BAD ? "BAD" :
	    "NO", code[0] ? " [" : "", code, code[0] ? "]" : "", text);
}
