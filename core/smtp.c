#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "command.h"
#include "conn.h"
#include "dotstuff.h"
#include "log.h"
#include "sasl.h"
#include "smtp.h"
#include "smtp-reply.h"
#include "xmalloc.h"

#define DATA_CHUNK	(64 * 1024)
#define FLUSH_AT	(256 * 1024)

/* Where the session stands; each change is traced at -vv. */
enum smtp_state {
	SMTP_CONNECT,		/* connecting, then waiting for the greeting */
	SMTP_HELO,		/* EHLO, LHLO or HELO sent */
	SMTP_STARTTLS,		/* STARTTLS sent, then the TLS handshake */
	SMTP_AUTH,		/* logging in */
	SMTP_READY,		/* between transactions */
	SMTP_MAIL,		/* MAIL FROM and RCPT TO sent */
	SMTP_DATA,		/* DATA sent, waiting for 354 */
	SMTP_BODY,		/* the data sent, waiting for its reply */
	SMTP_RSET,		/* transaction abandoned, RSET sent */
	SMTP_QUIT,		/* QUIT sent */
	SMTP_LOST,		/* unusable: broken, or the server said 421 */
};

static const char *const smtp_state_names[] = {
	[SMTP_CONNECT] = "CONNECT",
	[SMTP_HELO] = "HELO",
	[SMTP_STARTTLS] = "STARTTLS",
	[SMTP_AUTH] = "AUTH",
	[SMTP_READY] = "READY",
	[SMTP_MAIL] = "MAIL",
	[SMTP_DATA] = "DATA",
	[SMTP_BODY] = "BODY",
	[SMTP_RSET] = "RSET",
	[SMTP_QUIT] = "QUIT",
	[SMTP_LOST] = "LOST",
};

struct smtp {
	const struct destination *d;
	struct conn	*c;
	bool		 lmtp;
	enum smtp_state	 state;
	struct smtp_ext	 ext;
	char		*encoded;	/* DATA encoding buffer */
};

static const char *
proto(const struct smtp *s)
{
	return s->lmtp ? "LMTP" : "SMTP";
}

static void
enter(struct smtp *s, enum smtp_state next)
{
	if (log_tracing() && next != s->state)
		log_trace("%s: %s state %s -> %s", s->c != NULL ? s->c->label :
		    s->d->name, proto(s), smtp_state_names[s->state],
		    smtp_state_names[next]);
	s->state = next;
}

static void
send_line(struct smtp *s, const char *line, size_t secret_from)
{
	conn_send_line(s->c, line, secret_from);
}

/* Read one reply; with `ehlo`, learn the extensions from it. */
static int
read_reply(struct smtp *s, struct smtp_reply *r, bool ehlo, struct err *e)
{
	return smtp_read_reply(s->c, proto(s), r, ehlo ? &s->ext : NULL, e);
}

/* An error for an unexpected reply: 4xx temporary, 5xx permanent. */
static int
reply_error(struct smtp *s, const struct smtp_reply *r, const char *what,
    struct err *e)
{
	return err_set(e, r->code >= 500 ? ERR_UNAVAIL : ERR_TEMP,
	    "%s: %s: %s", s->c->label, what, r->text);
}

static int
command(struct smtp *s, const char *line, int expect, const char *what,
    struct err *e)
{
	struct smtp_reply r;

	send_line(s, line, SIZE_MAX);
	if (read_reply(s, &r, false, e) == -1)
		return -1;
	if (r.code / 100 != expect / 100)
		return reply_error(s, &r, what, e);
	return 0;
}

/* The name we greet with: our host name if it is qualified, else the
 * address literal of our end of the connection (RFC 5321 4.1.3). */
static void
greeting_name(struct smtp *s, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[INET6_ADDRSTRLEN];

	if (gethostname(buf, size - 1) == 0 && strchr(buf, '.') != NULL)
		return;
	if (getsockname(s->c->fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET && inet_ntop(AF_INET,
		    &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr)) {
			snprintf(buf, size, "[%s]", addr);
			return;
		}
		if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
		    sizeof addr)) {
			snprintf(buf, size, "[IPv6:%s]", addr);
			return;
		}
	}
	snprintf(buf, size, "localhost");
}

static int
hello(struct smtp *s, struct err *e)
{
	char name[256], line[300];
	struct smtp_reply r;

	enter(s, SMTP_HELO);
	greeting_name(s, name, sizeof name);
	snprintf(line, sizeof line, "%s %s", s->lmtp ? "LHLO" : "EHLO", name);
	send_line(s, line, SIZE_MAX);
	if (read_reply(s, &r, true, e) == -1)
		return -1;
	if (r.code == 250)
		return 0;
	if (s->lmtp || r.code < 500)
		return reply_error(s, &r, s->lmtp ? "LHLO refused" :
		    "EHLO refused", e);
	/* An old server: HELO, and no extensions. */
	snprintf(line, sizeof line, "HELO %s", name);
	return command(s, line, 250, "HELO refused", e);
}

static int
starttls(struct smtp *s, struct err *e)
{
	const struct destination *d = s->d;
	struct tls_options opt = { .host = d->host != NULL ? d->host :
	    "localhost", .ca_file = d->tls_ca_file,
	    .fingerprint = d->tls_fingerprint, .implicit_port = -1 };

	if (!(s->ext.flags & SMTP_EXT_STARTTLS))
		return err_set(e, ERR_UNAVAIL, "%s: the server does not offer "
		    "STARTTLS, and tls = \"starttls\" forbids going on without "
		    "it", s->c->label);
	enter(s, SMTP_STARTTLS);
	if (command(s, "STARTTLS", 220, "STARTTLS refused", e) == -1)
		return -1;
	if (conn_buffered(s->c) > 0)
		return err_set(e, ERR_UNAVAIL, "%s: the server sent data after "
		    "its STARTTLS reply (possible injection attack)",
		    s->c->label);
	if (conn_start_tls(s->c, &opt, e) == -1)
		return -1;
	return hello(s, e);
}

static int
auth_reply(struct smtp *s, struct err *e)
{
	struct smtp_reply r;

	if (read_reply(s, &r, false, e) == -1)
		return -1;
	if (r.code == 235)
		return 0;
	if (r.code == 334)
		return 1;
	if (r.code >= 500)
		return err_set(e, ERR_AUTH, "%s: login as %s refused: %s",
		    s->c->label, s->d->user, r.text);
	return reply_error(s, &r, "AUTH", e);
}

static int
authenticate(struct smtp *s, struct err *e)
{
	const struct destination *d = s->d;
	char *secret, *b64, *raw;
	size_t ul, sl;
	int rc;

	if (sasl_may_send(s->c->label, s->c->tls != NULL,
	    d->allow_plaintext_auth, e) == -1)
		return -1;
	enter(s, SMTP_AUTH);
	if (d->password != NULL)
		secret = xstrdup(d->password);
	else {
		char what[300];

		snprintf(what, sizeof what, "destination \"%s\": "
		    "password_command", d->name);
		secret = command_first_line(d->password_command, d->timeout,
		    what, e);
		if (secret == NULL)
			return -1;
	}
	ul = strlen(d->user);
	sl = strlen(secret);
	if (smtp_ext_offers(&s->ext, "PLAIN")) {
		b64 = sasl_plain(d->user, secret);
		raw = xasprintf("AUTH PLAIN %s", b64);
		send_line(s, raw, 11);
		freezero_str(raw);
		freezero_str(b64);
		rc = auth_reply(s, e);
	} else if (smtp_ext_offers(&s->ext, "LOGIN")) {
		send_line(s, "AUTH LOGIN", SIZE_MAX);
		rc = auth_reply(s, e);
		if (rc == 1) {
			b64 = sasl_base64(d->user, ul);
			send_line(s, b64, 0);
			free(b64);
			rc = auth_reply(s, e);
		}
		if (rc == 1) {
			b64 = sasl_base64(secret, sl);
			send_line(s, b64, 0);
			freezero_str(b64);
			rc = auth_reply(s, e);
		}
	} else
		rc = err_set(e, ERR_UNAVAIL, "%s: the server offers neither "
		    "AUTH PLAIN nor AUTH LOGIN", s->c->label);
	freezero_str(secret);
	if (rc == 1)
		rc = err_set(e, ERR_AUTH, "%s: AUTH: the server keeps asking",
		    s->c->label);
	return rc;
}

struct smtp *
smtp_open(const struct destination *d, bool lmtp, struct err *e)
{
	struct smtp *s = xcalloc(1, sizeof *s);
	struct smtp_reply r;

	s->d = d;
	s->lmtp = lmtp;
	s->state = SMTP_CONNECT;
	s->c = d->socket != NULL ? conn_connect_unix(d->socket, d->timeout, e) :
	    conn_connect(d->host, d->port, d->timeout, e);
	if (s->c == NULL) {
		/* For a destination, down is "temporarily failing": the
		 * messages wait on the POP3 server for the next run. */
		e->cls = ERR_TEMP;
		goto fail;
	}
	if (d->tls == TLS_MODE_IMPLICIT) {
		struct tls_options opt = { .host = d->host,
		    .ca_file = d->tls_ca_file,
		    .fingerprint = d->tls_fingerprint, .implicit_port = 465 };

		if (conn_start_tls(s->c, &opt, e) == -1)
			goto fail;
	}
	if (read_reply(s, &r, false, e) == -1)
		goto fail;
	if (r.code != 220) {
		reply_error(s, &r, "the server refused the connection", e);
		goto fail;
	}
	if (hello(s, e) == -1)
		goto fail;
	if (d->tls == TLS_MODE_STARTTLS && starttls(s, e) == -1)
		goto fail;
	if (d->user != NULL && authenticate(s, e) == -1)
		goto fail;
	s->encoded = xmalloc(3 * DATA_CHUNK + 8);
	enter(s, SMTP_READY);
	return s;
fail:
	err_prefix(e, "destination \"%s\"", d->name);
	if (s->c != NULL)
		enter(s, SMTP_LOST);
	smtp_close(s);
	return NULL;
}

struct data_writer {
	struct smtp	*s;
	struct dotenc	 enc;
};

static int
write_data(void *arg, const char *data, size_t len, struct err *e)
{
	struct data_writer *w = arg;
	struct smtp *s = w->s;

	while (len > 0) {
		size_t take = len < DATA_CHUNK ? len : DATA_CHUNK;
		size_t n = dotenc_run(&w->enc, data, take, s->encoded);

		conn_write(s->c, s->encoded, n);
		if (s->c->wlen >= FLUSH_AT && conn_flush(s->c, e) == -1)
			return -1;
		data += take;
		len -= take;
	}
	return 0;
}

struct size_counter {
	struct dotenc	enc;
	int64_t		growth;
};

static int
count_growth(void *arg, const char *data, size_t len, struct err *e)
{
	struct size_counter *sc = arg;

	(void)e;
	sc->growth += (int64_t)dotenc_line_end_growth(&sc->enc, data, len);
	return 0;
}

/* The size on the wire, every line end a CRLF, for SIZE=. */
static int64_t
wire_size(const char *trace, size_t trace_len, struct msg *m)
{
	struct size_counter sc = { .enc = DOTENC_INIT };
	struct err e;

	if (trace_len > 0)
		(void)count_growth(&sc, trace, trace_len, &e);
	if (msg_write(m, count_growth, &sc, &e) == -1)
		return (msg_size(m) + (int64_t)trace_len) * 2;
	return msg_size(m) + (int64_t)trace_len + sc.growth;
}

/* Abandon the transaction: back to READY, or LOST if RSET fails. */
static void
reset(struct smtp *s)
{
	struct err ignored;
	struct smtp_reply r;

	enter(s, SMTP_RSET);
	send_line(s, "RSET", SIZE_MAX);
	if (read_reply(s, &r, false, &ignored) == -1 || r.code != 250)
		enter(s, SMTP_LOST);
	else
		enter(s, SMTP_READY);
}

/* The transaction failed on this reply: 421 means the server is
 * closing the session. */
static int
refused(struct smtp *s, const struct smtp_reply *r, const char *what,
    struct err *e)
{
	if (r->code == 421)
		enter(s, SMTP_LOST);
	else if (s->state != SMTP_BODY)
		reset(s);
	else
		enter(s, SMTP_READY);
	return reply_error(s, r, what, e);
}

/* The RFC 3463 enhanced status code a reply's text starts with ("550
 * 5.1.1 ..."): its subject and detail; false without one. */
static bool
enhanced_code(const struct smtp_reply *r, int *subject, int *detail)
{
	const char *t = r->text;
	int v[2] = { 0, 0 };

	if (strlen(t) < 9 || t[4] != '0' + r->code / 100 || t[5] != '.')
		return false;
	t += 6;
	for (int i = 0; i < 2; i++) {
		const char *start = t;

		while (*t >= '0' && *t <= '9' && t - start < 3)
			v[i] = v[i] * 10 + (*t++ - '0');
		if (t == start || *t != (i == 0 ? '.' : ' '))
			return false;
		t++;
	}
	*subject = v[0];
	*detail = v[1];
	return true;
}

/* Are the recipients the configuration's own, the same for every
 * message (no "%..." placeholder filled from the message)? */
static bool
recipients_fixed(const struct destination *d)
{
	for (size_t i = 0; i < d->nto; i++)
		if (d->to[i][0] == '%')
			return false;
	return true;
}

/*
 * Would every message meet this permanent refusal of MAIL or RCPT? Yes
 * when it names what they all share: a recipient's address or mailbox
 * (enhanced X.1.x but the sender's X.1.7 and X.1.8, X.2.1 disabled, X.2.2
 * full; without an enhanced code, 550, 551 or 553 to RCPT) when the
 * recipients are fixed, the sender when `from` fixes it, or a login the
 * server requires (530). Refusals of the message's own sender or
 * recipients, of its size, or after its data, are about that message.
 */
static bool
blames_destination(const struct smtp *s, const struct smtp_reply *r,
    bool to_mail)
{
	int subject = 0, detail = 0;
	bool enhanced = enhanced_code(r, &subject, &detail);

	if (r->code < 500)
		return false;
	if (r->code == 530)
		return true;
	if (to_mail)
		return s->d->from != NULL && (enhanced ? subject == 1 :
		    r->code == 550 || r->code == 553);
	if (!recipients_fixed(s->d))
		return false;
	if (!enhanced)
		return r->code == 550 || r->code == 551 || r->code == 553;
	return (subject == 1 && detail != 0 && detail != 7 && detail != 8) ||
	    (subject == 2 && (detail == 1 || detail == 2));
}

/* Read n replies; *worst is the highest refusal among them (code 0:
 * none). */
static int
read_replies(struct smtp *s, size_t n, struct smtp_reply *worst,
    struct err *e)
{
	struct smtp_reply r;

	for (size_t i = 0; i < n; i++) {
		if (read_reply(s, &r, false, e) == -1)
			return -1;
		if (r.code / 100 != 2 && r.code > worst->code)
			*worst = r;
	}
	return 0;
}

static void
send_mail_from(struct smtp *s, const char *sender, int64_t size)
{
	char line[600];

	snprintf(line, sizeof line, "MAIL FROM:<%s>", sender);
	if (size > 0)
		snprintf(line + strlen(line), sizeof line - strlen(line),
		    " SIZE=%jd", (intmax_t)size);
	if (s->ext.flags & SMTP_EXT_8BITMIME)
		strcat(line, " BODY=8BITMIME");
	send_line(s, line, SIZE_MAX);
}

static void
send_rcpt_to(struct smtp *s, const char *to)
{
	char line[600];

	snprintf(line, sizeof line, "RCPT TO:<%s>", to);
	send_line(s, line, SIZE_MAX);
}

/*
 * MAIL FROM and RCPT TO. With PIPELINING they go in one packet and
 * their replies are read together; DATA waits for all of them, so a
 * refused recipient never gets a copy. Without it, one at a time,
 * stopping at the first refusal. *to_mail: the worst refusal answered
 * MAIL.
 */
static int
envelope(struct smtp *s, const char *sender, int64_t size, char *const *to,
    size_t nto, struct smtp_reply *worst, bool *to_mail, struct err *e)
{
	bool pipelining = s->ext.flags & SMTP_EXT_PIPELINING;
	int mail_code;

	enter(s, SMTP_MAIL);
	send_mail_from(s, sender, size);
	for (size_t i = 0; pipelining && i < nto; i++)
		send_rcpt_to(s, to[i]);
	if (read_replies(s, 1, worst, e) == -1)
		return -1;
	mail_code = worst->code;
	if (pipelining) {
		if (read_replies(s, nto, worst, e) == -1)
			return -1;
	} else
		for (size_t i = 0; i < nto && worst->code == 0; i++) {
			send_rcpt_to(s, to[i]);
			if (read_replies(s, 1, worst, e) == -1)
				return -1;
		}
	/* A RCPT refusal replaces MAIL's only when worse. */
	*to_mail = mail_code != 0 && worst->code == mail_code;
	return 0;
}

/* DATA, and on 354 the message, dot-stuffed, and its end. */
static int
data(struct smtp *s, const char *trace, size_t trace_len, struct msg *m,
    struct smtp_reply *r, struct err *e)
{
	struct data_writer w = { .s = s, .enc = DOTENC_INIT };
	char end[8];

	enter(s, SMTP_DATA);
	send_line(s, "DATA", SIZE_MAX);
	if (read_reply(s, r, false, e) == -1)
		return -1;
	if (r->code != 354)
		return 0;
	enter(s, SMTP_BODY);
	if ((trace_len > 0 && write_data(&w, trace, trace_len, e) == -1) ||
	    msg_write(m, write_data, &w, e) == -1)
		return -1;
	conn_write(s->c, end, dotenc_finish(&w.enc, end));
	if (log_tracing())
		log_trace("%s > (%jd bytes of message data) .", s->c->label,
		    (intmax_t)(msg_size(m) + (off_t)trace_len));
	return 0;
}

int
smtp_send(struct smtp *s, const char *sender, char *const *to, size_t nto,
    const char *trace, size_t trace_len, struct msg *m,
    enum smtp_failure *how, struct err *e)
{
	struct smtp_reply r, worst = { 0 };
	int64_t size = (s->ext.flags & SMTP_EXT_SIZE) ?
	    wire_size(trace, trace_len, m) : 0;
	bool to_mail = false;
	int rc;

	*how = SMTP_FAIL_MESSAGE;
	if (s->state != SMTP_READY) {
		*how = SMTP_FAIL_LOST;
		return err_set(e, ERR_TEMP, "%s: the session is not usable "
		    "(%s)", s->c->label, smtp_state_names[s->state]);
	}
	if (size > 0 && s->ext.max_size > 0 && size > s->ext.max_size)
		return err_set(e, ERR_UNAVAIL, "%s: the message (%jd bytes) is "
		    "over the server's SIZE limit of %jd bytes", s->c->label,
		    (intmax_t)size, (intmax_t)s->ext.max_size);
	if (envelope(s, sender, size, to, nto, &worst, &to_mail, e) == -1 ||
	    (worst.code == 0 && data(s, trace, trace_len, m, &r, e) == -1))
		goto lost;
	if (worst.code != 0) {
		rc = refused(s, &worst, "the message was refused", e);
		if (blames_destination(s, &worst, to_mail))
			*how = SMTP_FAIL_DESTINATION;
	} else if (r.code != 354)
		rc = refused(s, &r, "DATA refused", e);
	/* LMTP answers once per recipient; SMTP once. */
	else if (read_replies(s, s->lmtp ? nto : 1, &worst, e) == -1)
		goto lost;
	else if (worst.code != 0)
		rc = refused(s, &worst, "the message was refused after its "
		    "data", e);
	else {
		enter(s, SMTP_READY);
		rc = 0;
	}
	if (s->state == SMTP_LOST && *how == SMTP_FAIL_MESSAGE)
		*how = SMTP_FAIL_LOST;
	return rc;
lost:
	enter(s, SMTP_LOST);
	*how = SMTP_FAIL_LOST;
	return -1;
}

void
smtp_close(struct smtp *s)
{
	if (s == NULL)
		return;
	if (s->state == SMTP_READY) {
		struct err ignored;
		struct smtp_reply r;

		enter(s, SMTP_QUIT);
		send_line(s, "QUIT", SIZE_MAX);
		(void)read_reply(s, &r, false, &ignored);
	}
	conn_close(s->c);
	smtp_ext_clear(&s->ext);
	free(s->encoded);
	free(s);
}
