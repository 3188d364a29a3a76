#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "dotstuff.h"
#include "greeting.h"
#include "log.h"
#include "pop3.h"
#include "xmalloc.h"

static const char *const cmd_names[] = {
	[POP3_GREETING] = "greeting",
	[POP3_CAPA] = "CAPA",
	[POP3_STLS] = "STLS",
	[POP3_USER] = "USER",
	[POP3_PASS] = "PASS",
	[POP3_APOP] = "APOP",
	[POP3_AUTH] = "AUTH",
	[POP3_UTF8] = "UTF8",
	[POP3_STAT] = "STAT",
	[POP3_LIST] = "LIST",
	[POP3_UIDL] = "UIDL",
	[POP3_RETR] = "RETR",
	[POP3_TOP] = "TOP",
	[POP3_DELE] = "DELE",
	[POP3_QUIT] = "QUIT",
};

const char *
pop3_cmd_name(enum pop3_cmd cmd)
{
	return cmd_names[cmd];
}

struct pop3 *
pop3_new(struct conn *c)
{
	struct pop3 *p = xcalloc(1, sizeof *p);

	p->conn = c;
	return p;
}

void
pop3_free(struct pop3 *p)
{
	if (p == NULL)
		return;
	free(p->sasl);
	free(p->apop_stamp);
	free(p->implementation);
	free(p->queue);
	free(p);
}

static void
queue_push(struct pop3 *p, enum pop3_cmd cmd, unsigned num)
{
	p->queue = array_ring_grow(p->queue, &p->qhead, p->qlen, &p->qcap,
	    sizeof *p->queue);
	p->queue[(p->qhead + p->qlen) % p->qcap] =
	    (struct pop3_pending){ cmd, num };
	p->qlen++;
}

void
pop3_send(struct pop3 *p, enum pop3_cmd cmd, unsigned num, const char *line,
    size_t secret_from)
{
	pop3_send_continuation(p, line, secret_from);
	queue_push(p, cmd, num);
}

void
pop3_send_continuation(struct pop3 *p, const char *line, size_t secret_from)
{
	conn_send_line(p->conn, line, secret_from);
}

/* Split "+OK [CODE] text" / "-ERR [CODE] text" into r. */
static int
parse_status(struct pop3 *p, char *line, size_t len, struct pop3_reply *r,
    struct err *e)
{
	char shown[200];
	const char *rest;

	r->ok = r->more = false;
	r->code[0] = r->text[0] = '\0';
	if (len >= 3 && strncmp(line, "+OK", 3) == 0 &&
	    (len == 3 || line[3] == ' '))
		r->ok = true, rest = line + 3;
	else if (len >= 4 && strncmp(line, "-ERR", 4) == 0 &&
	    (len == 4 || line[4] == ' '))
		rest = line + 4;
	else if (r->cmd == POP3_AUTH && len >= 1 && line[0] == '+' &&
	    (len == 1 || line[1] == ' ')) {
		r->more = true;
		snprintf(r->text, sizeof r->text, "%s", len > 1 ? line + 2 : "");
		return 0;
	} else {
		log_escape(shown, sizeof shown, line, len);
		return err_set(e, ERR_TEMP, "%s: unexpected reply to %s: \"%s\"",
		    p->conn->label, pop3_cmd_name(r->cmd), shown);
	}
	while (*rest == ' ')
		rest++;
	if (*rest == '[') {
		const char *close = strchr(rest, ']');

		if (close != NULL && (size_t)(close - rest - 1) <
		    sizeof r->code) {
			memcpy(r->code, rest + 1, (size_t)(close - rest - 1));
			r->code[close - rest - 1] = '\0';
			rest = close + 1;
			while (*rest == ' ')
				rest++;
		}
	}
	snprintf(r->text, sizeof r->text, "%s", rest);
	return 0;
}

int
pop3_reply(struct pop3 *p, struct pop3_reply *r, struct err *e)
{
	char *line;
	size_t len;

	if (p->conn->wlen > 0 && conn_flush(p->conn, e) == -1)
		return -1;
	if (p->qlen == 0)
		return err_set(e, ERR_INTERNAL, "POP3: no command in flight");
	r->cmd = p->queue[p->qhead].cmd;
	r->num = p->queue[p->qhead].num;
	conn_begin_reply(p->conn);
	if (conn_read_line(p->conn, POP3_LINE_MAX, &line, &len, e) == -1)
		return -1;
	if (log_tracing())
		log_trace("%s < %.*s", p->conn->label, (int)len, line);
	if (parse_status(p, line, len, r, e) == -1)
		return -1;
	p->listing_cmd = r->cmd;
	p->listing_lines = 0;
	p->listing_bytes = 0;
	if (!r->more) {
		p->qhead = (p->qhead + 1) % p->qcap;
		p->qlen--;
	}
	return 0;
}

int
pop3_listing_line(struct pop3 *p, char **line, size_t *len, bool *end,
    struct err *e)
{
	if (conn_read_line(p->conn, POP3_LINE_MAX, line, len, e) == -1)
		return -1;
	if (log_tracing())
		log_trace("%s < %.*s", p->conn->label, (int)*len, *line);
	*end = *len == 1 && (*line)[0] == '.';
	if (*end)
		return 0;
	/* Bad lines count too: an endless reply of garbage is endless. */
	p->listing_bytes += *len + 2;
	if (++p->listing_lines > POP3_LISTING_MAX_LINES)
		return err_set(e, ERR_TEMP, "%s: endless %s listing: more "
		    "than %d lines (mailferry takes at most %d messages)",
		    p->conn->label, pop3_cmd_name(p->listing_cmd),
		    POP3_LISTING_MAX_LINES, POP3_LISTING_MAX_LINES);
	if (p->listing_bytes > POP3_LISTING_MAX_BYTES)
		return err_set(e, ERR_TEMP, "%s: endless %s listing: more "
		    "than %d MB", p->conn->label,
		    pop3_cmd_name(p->listing_cmd),
		    POP3_LISTING_MAX_BYTES / (1024 * 1024));
	if ((*line)[0] == '.') {
		(*line)++;
		(*len)--;
	}
	return 0;
}

/* A reply that never ended after what a bare-LF server sends as its
 * end: say so, or the user sees only a timeout. */
static int
explain_sloppy_end(const struct dotdec *d, struct err *e)
{
	size_t len = strlen(e->msg);

	if (d->sloppy_end)
		snprintf(e->msg + len, sizeof e->msg - len, " (the data held "
		    "a \".\" line after a bare LF, which is what a server "
		    "that does not end lines with CRLF sends as its end: its "
		    "replies never end)");
	return -1;
}

int
pop3_read_message(struct pop3 *p, struct msg *m, off_t limit, struct err *e)
{
	struct conn *c = p->conn;
	struct dotdec d = DOTDEC_INIT;
	off_t total = 0;

	while (d.state != DOTDEC_DONE) {
		size_t in, room, used, outlen;
		char *out;

		if (conn_buffered(c) == 0 && conn_fill(c, e) == -1)
			return explain_sloppy_end(&d, e);
		/* Decoded from the read buffer straight into the spool, which
		 * needs room for one byte more (a CR held back). */
		out = msg_reserve(m, conn_buffered(c) + 1, &room, e);
		if (out == NULL)
			return -1;
		in = conn_buffered(c) < room ? conn_buffered(c) : room - 1;
		used = dotdec_run(&d, c->rbuf + c->rpos, in, out, &outlen);
		c->rpos += used;
		total += (off_t)outlen;
		if (total > limit) {
			err_set(e, ERR_TEMP, "%s: the message is larger than "
			    "%jd bytes", c->label, (intmax_t)limit);
			return POP3_TOO_LARGE;
		}
		msg_commit(m, outlen);
		if (d.state == DOTDEC_BARE_LF_END)
			return err_set(e, ERR_TEMP, "%s: the server ended a "
			    "\".\" line with a bare LF, not CRLF; its replies "
			    "cannot be read safely", c->label);
	}
	msg_finish(m);
	if (log_tracing())
		log_trace("%s < (%jd bytes of message data)", c->label,
		    (intmax_t)total);
	return 0;
}

int
pop3_greeting(struct pop3 *p, struct err *e)
{
	struct pop3_reply r;
	const char *lt, *gt;

	/* A port that speaks TLS at once sends nothing: say so early. */
	if (greeting_wait(p->conn, 110, e) == -1)
		return -1;
	queue_push(p, POP3_GREETING, 0);
	if (pop3_reply(p, &r, e) == -1)
		return -1;
	if (!r.ok)
		return pop3_fail(p, &r, "the server refused the connection",
		    ERR_TEMP, e);
	/* An APOP timestamp is "<...>" holding printable ASCII only. */
	lt = strchr(r.text, '<');
	gt = lt != NULL ? strchr(lt, '>') : NULL;
	if (gt != NULL) {
		bool valid = true;

		for (const char *q = lt + 1; q < gt; q++)
			if (*q <= ' ' || *q > '~' || *q == '<')
				valid = false;
		if (valid)
			p->apop_stamp = xstrndup(lt, (size_t)(gt - lt + 1));
	}
	return 0;
}

/* "LOGIN-DELAY 900" or "LOGIN-DELAY 900 USER" (RFC 2449 6.5). */
static void
parse_login_delay(struct pop3 *p, const char *args)
{
	long v = 0;

	while (*args == ' ')
		args++;
	if (*args < '0' || *args > '9')
		return;
	for (; *args >= '0' && *args <= '9'; args++)
		if ((v = v * 10 + (*args - '0')) > POP3_LOGIN_DELAY_MAX)
			v = POP3_LOGIN_DELAY_MAX;
	p->login_delay = (int)v;
	while (*args == ' ')
		args++;
	p->login_delay_per_user = strncasecmp(args, "USER", 4) == 0;
}

static void
parse_capability(struct pop3 *p, const char *line)
{
	static const struct {
		const char	*name;
		unsigned	 flag;
	} known[] = {
		{ "TOP", POP3_CAP_TOP },
		{ "UIDL", POP3_CAP_UIDL },
		{ "USER", POP3_CAP_USER },
		{ "PIPELINING", POP3_CAP_PIPELINING },
		{ "STLS", POP3_CAP_STLS },
		{ "RESP-CODES", POP3_CAP_RESP_CODES },
		{ "UTF8", POP3_CAP_UTF8 },
	};
	size_t wordlen = strcspn(line, " ");

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i].name) == wordlen &&
		    strncasecmp(line, known[i].name, wordlen) == 0)
			p->caps |= known[i].flag;
	if (wordlen == 4 && strncasecmp(line, "SASL", 4) == 0) {
		p->caps |= POP3_CAP_SASL;
		free(p->sasl);
		p->sasl = xstrdup(line + wordlen);
	}
	if (wordlen == 11 && strncasecmp(line, "LOGIN-DELAY", 11) == 0)
		parse_login_delay(p, line + wordlen);
	if (wordlen == 14 && strncasecmp(line, "IMPLEMENTATION", 14) == 0 &&
	    p->implementation == NULL)
		p->implementation = xstrdup(line[wordlen] ? line + wordlen + 1 :
		    "");
}

int
pop3_capa(struct pop3 *p, struct err *e)
{
	struct pop3_reply r;
	char *line;
	size_t len;
	bool end;
	unsigned lines = 0;

	p->caps = 0;
	p->capa_answered = false;
	p->login_delay = 0;
	p->login_delay_per_user = false;
	pop3_send(p, POP3_CAPA, 0, "CAPA", SIZE_MAX);
	if (pop3_reply(p, &r, e) == -1)
		return -1;
	if (!r.ok)
		return 0;
	for (;;) {
		if (pop3_listing_line(p, &line, &len, &end, e) == -1)
			return -1;
		if (end)
			break;
		/* A sane server has a few dozen capabilities. */
		if (++lines > 1000)
			return err_set(e, ERR_TEMP, "%s: endless CAPA reply",
			    p->conn->label);
		parse_capability(p, line);
	}
	p->capa_answered = true;
	return 0;
}

int
pop3_fail(struct pop3 *p, const struct pop3_reply *r, const char *what,
    enum err_class fallback, struct err *e)
{
	enum err_class cls = fallback;
	char text[sizeof r->text + 8];

	if (strcasecmp(r->code, "AUTH") == 0)
		cls = ERR_AUTH;
	else if (strcasecmp(r->code, "SYS/TEMP") == 0 ||
	    strcasecmp(r->code, "IN-USE") == 0 ||
	    strcasecmp(r->code, "LOGIN-DELAY") == 0)
		cls = ERR_TEMP;
	else if (strcasecmp(r->code, "SYS/PERM") == 0)
		cls = ERR_UNAVAIL;
	log_escape(text, sizeof text, r->text, strlen(r->text));
	return err_set(e, cls, "%s: %s: -ERR%s%s%s %s", p->conn->label, what,
	    r->code[0] ? " [" : "", r->code, r->code[0] ? "]" : "", text);
}
