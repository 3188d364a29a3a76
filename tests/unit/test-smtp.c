/*
 * Replies of SMTP and LMTP servers, read over a socket pair standing in
 * for the server: single and multi-line replies, enhanced status codes,
 * EHLO keywords, and replies that are garbled, inconsistent or endless.
 * Then whole client sessions against a scripted server on a unix
 * socket: what the client sends for each thing the server says.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "msg.h"
#include "smtp.h"
#include "smtp-reply.h"
#include "unit.h"
#include "xmalloc.h"

/* A connection from which the server's bytes `wire` can be read, then
 * end of stream. */
static struct conn *
server_says(const char *wire, size_t len)
{
	struct conn *c = xcalloc(1, sizeof *c);
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	/* Small enough for the socket buffer: the write cannot block. */
	assert_true(len < 100000);
	assert_int_equal(write(sv[1], wire, len), (ssize_t)len);
	close(sv[1]);
	c->fd = sv[0];
	c->label = xstrdup("mx.test:25");
	c->timeout_ms = 5000;
	c->rbuf = xmalloc(CONN_READ_BUFFER + 1);
	return c;
}

/* Read one reply from `wire`; returns smtp_read_reply's result. */
static int
reply_n(const char *wire, size_t len, struct smtp_reply *r,
    struct smtp_ext *ext, struct err *e)
{
	struct conn *c = server_says(wire, len);
	int rc;

	err_clear(e);
	rc = smtp_read_reply(c, "SMTP", r, ext, e);
	conn_close(c);
	return rc;
}

static int
reply(const char *wire, struct smtp_reply *r, struct smtp_ext *ext,
    struct err *e)
{
	return reply_n(wire, strlen(wire), r, ext, e);
}

static void
ok(const char *wire, int code, const char *text)
{
	struct smtp_reply r;
	struct err e;

	assert_int_equal(reply(wire, &r, NULL, &e), 0);
	assert_int_equal(r.code, code);
	assert_string_equal(r.text, text);
}

static void
bad(const char *wire, const char *message)
{
	struct smtp_reply r;
	struct err e;

	assert_int_equal(reply(wire, &r, NULL, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_string_equal(e.msg, message);
}

static void
test_single_line(void **state)
{
	(void)state;
	ok("250 OK\r\n", 250, "250 OK");
	ok("354 Start mail input; end with <CRLF>.<CRLF>\r\n", 354,
	    "354 Start mail input; end with <CRLF>.<CRLF>");
	/* Just the code, or the code and a space. */
	ok("221\r\n", 221, "221");
	ok("250 \r\n", 250, "250 ");
	ok("599 x\r\n", 599, "599 x");
}

static void
test_multi_line(void **state)
{
	(void)state;
	/* The first line is what messages show. */
	ok("250-first\r\n250-second\r\n250 last\r\n", 250, "250-first");
	ok("421-\r\n421-\r\n421\r\n", 421, "421-");
	ok("220-mx.example.org ESMTP\r\n220-No UCE\r\n220 ready\r\n", 220,
	    "220-mx.example.org ESMTP");
}

static void
test_enhanced_status_codes(void **state)
{
	(void)state;
	/* RFC 3463 codes are part of the text; the reply code decides. */
	ok("550 5.7.1 Relaying denied\r\n", 550, "550 5.7.1 Relaying denied");
	ok("452-4.2.2 Mailbox full\r\n452 4.2.2 Try again later\r\n", 452,
	    "452-4.2.2 Mailbox full");
	ok("250 2.0.0 Ok: queued as 4ABC123\r\n", 250,
	    "250 2.0.0 Ok: queued as 4ABC123");
}

static void
test_replies_in_sequence(void **state)
{
	static const char wire[] = "250 2.1.0 sender ok\r\n"
	    "250-2.1.5 first\r\n250 2.1.5 recipient ok\r\n"
	    "550 5.1.1 no such user\r\n354 go ahead\r\n";
	struct conn *c = server_says(wire, sizeof wire - 1);
	static const int codes[] = { 250, 250, 550, 354 };
	struct smtp_reply r;
	struct err e;

	(void)state;
	/* Pipelined replies arrive together and are read one by one. */
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(smtp_read_reply(c, "SMTP", &r, NULL, &e), 0);
		assert_int_equal(r.code, codes[i]);
	}
	assert_int_equal(smtp_read_reply(c, "SMTP", &r, NULL, &e), -1);
	assert_string_equal(e.msg, "mx.test:25: connection closed by the "
	    "server");
	conn_close(c);
}

static void
test_ehlo_keywords(void **state)
{
	struct smtp_ext ext = { 0 };
	struct smtp_reply r;
	struct err e;

	(void)state;
	assert_int_equal(reply("250-mx.example.org Hello [127.0.0.1]\r\n"
	    "250-PIPELINING\r\n250-SIZE 35882577\r\n250-8bitmime\r\n"
	    "250-STARTTLS\r\n250-AUTH PLAIN login  XOAUTH2\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-X-UNKNOWN yes\r\n250 CHUNKING\r\n",
	    &r, &ext, &e), 0);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text, "250-mx.example.org Hello [127.0.0.1]");
	assert_int_equal(ext.flags, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE |
	    SMTP_EXT_8BITMIME | SMTP_EXT_STARTTLS | SMTP_EXT_AUTH);
	assert_int_equal(ext.max_size, 35882577);
	assert_true(smtp_ext_offers(&ext, "PLAIN"));
	assert_true(smtp_ext_offers(&ext, "plain"));
	assert_true(smtp_ext_offers(&ext, "LOGIN"));
	assert_true(smtp_ext_offers(&ext, "XOAUTH2"));
	assert_false(smtp_ext_offers(&ext, "PLAI"));
	assert_false(smtp_ext_offers(&ext, "XOAUTH"));
	assert_false(smtp_ext_offers(&ext, "CRAM-MD5"));
	smtp_ext_clear(&ext);
	assert_null(ext.auth);
	assert_int_equal(ext.flags, 0);
	assert_false(smtp_ext_offers(&ext, "PLAIN"));
}

static void
test_ehlo_odd_keywords(void **state)
{
	static const char nul_wire[] = "250-x\r\n250-\r\n"
	    "250-AU\0TH PLAIN\r\n250 ok\r\n";
	struct smtp_ext ext = { 0 };
	struct smtp_reply r;
	struct err e;

	(void)state;
	/* The first line is the greeting, never a keyword. */
	assert_int_equal(reply("250 PIPELINING\r\n", &r, &ext, &e), 0);
	assert_int_equal(ext.flags, 0);
	/* SIZE without a limit, or with garbage: no limit known. */
	assert_int_equal(reply("250-x\r\n250 SIZE\r\n", &r, &ext, &e), 0);
	assert_int_equal(ext.flags, SMTP_EXT_SIZE);
	assert_int_equal(ext.max_size, 0);
	assert_int_equal(reply("250-x\r\n250 SIZE lots\r\n", &r, &ext, &e), 0);
	assert_int_equal(ext.max_size, 0);
	/* Keywords must match whole: these are other keywords. */
	assert_int_equal(reply("250-x\r\n250-PIPELININGX\r\n250-SIZE=5\r\n"
	    "250-AUTH=PLAIN\r\n250-STARTTLSX\r\n250 8BITMIMES\r\n", &r, &ext,
	    &e), 0);
	assert_int_equal(ext.flags, 0);
	assert_false(smtp_ext_offers(&ext, "PLAIN"));
	/* "250-" alone, or a keyword with NUL inside, is harmless. */
	assert_int_equal(reply_n(nul_wire, sizeof nul_wire - 1, &r, &ext, &e),
	    0);
	assert_int_equal(ext.flags, 0);
	/* AUTH twice: the last one counts. */
	assert_int_equal(reply("250-x\r\n250-AUTH LOGIN\r\n250 AUTH PLAIN\r\n",
	    &r, &ext, &e), 0);
	assert_true(smtp_ext_offers(&ext, "PLAIN"));
	assert_false(smtp_ext_offers(&ext, "LOGIN"));
	smtp_ext_clear(&ext);
}

static void
test_ehlo_replaces_what_was_known(void **state)
{
	struct smtp_ext ext = { 0 };
	struct smtp_reply r;
	struct err e;

	(void)state;
	assert_int_equal(reply("250-x\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n",
	    &r, &ext, &e), 0);
	assert_true(smtp_ext_offers(&ext, "PLAIN"));
	/* After STARTTLS the new list is the whole truth. */
	assert_int_equal(reply("250-x\r\n250 PIPELINING\r\n", &r, &ext, &e), 0);
	assert_int_equal(ext.flags, SMTP_EXT_PIPELINING);
	assert_false(smtp_ext_offers(&ext, "PLAIN"));
	/* A refused EHLO lists nothing, whatever its lines say. */
	assert_int_equal(reply("550-no\r\n550-AUTH PLAIN\r\n550 SIZE 10\r\n",
	    &r, &ext, &e), 0);
	assert_int_equal(r.code, 550);
	assert_int_equal(ext.flags, 0);
	assert_null(ext.auth);
	smtp_ext_clear(&ext);
}

static void
test_garbled(void **state)
{
	(void)state;
	bad("hello\r\n", "mx.test:25: garbled SMTP reply \"hello\"");
	bad("\r\n", "mx.test:25: garbled SMTP reply \"\"");
	bad("25\r\n", "mx.test:25: garbled SMTP reply \"25\"");
	bad("2500 x\r\n", "mx.test:25: garbled SMTP reply \"2500 x\"");
	bad("250x\r\n", "mx.test:25: garbled SMTP reply \"250x\"");
	bad("199 x\r\n", "mx.test:25: garbled SMTP reply \"199 x\"");
	bad("600 x\r\n", "mx.test:25: garbled SMTP reply \"600 x\"");
	bad("2a0 x\r\n", "mx.test:25: garbled SMTP reply \"2a0 x\"");
	bad(" 250 x\r\n", "mx.test:25: garbled SMTP reply \" 250 x\"");
	/* A reply line must end with CRLF (RFC 5321 section 2.3.8). */
	{
		struct smtp_reply r;
		struct err e;

		assert_int_equal(reply("220 mx ESMTP\n", &r, NULL, &e), -1);
	}
	/* Control bytes from the server are shown escaped. */
	bad("25\x1b[2J\r\n", "mx.test:25: garbled SMTP reply \"25\\x1b[2J\"");
	/* A garbled line after good ones spoils the reply. */
	bad("250-ok\r\nnot a reply\r\n",
	    "mx.test:25: garbled SMTP reply \"not a reply\"");
}

static void
test_inconsistent(void **state)
{
	(void)state;
	bad("250-a\r\n251 b\r\n", "mx.test:25: inconsistent SMTP reply");
	bad("250-a\r\n550 b\r\n", "mx.test:25: inconsistent SMTP reply");
}

static void
test_nul_in_first_line(void **state)
{
	static const char wire[] = "550 a\0b\r\n";
	struct conn *c = server_says(wire, sizeof wire - 1);
	struct smtp_reply r;
	struct err e;

	(void)state;
	assert_int_equal(smtp_read_reply(c, "SMTP", &r, NULL, &e), 0);
	assert_string_equal(r.text, "550 a\\x00b");
	conn_close(c);
}

/* n continuation lines, then a last one. */
static char *
many_lines(size_t n)
{
	char *wire = malloc(n * 10 + 16), *p = wire;

	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "250-%04zu\r\n", i % 10000);
	strcpy(p, "250 end\r\n");
	return wire;
}

static void
test_lines_bounded(void **state)
{
	struct smtp_reply r;
	struct err e;
	char *wire;

	(void)state;
	wire = many_lines(SMTP_LINES_MAX - 1);
	assert_int_equal(reply(wire, &r, NULL, &e), 0);
	free(wire);
	wire = many_lines(SMTP_LINES_MAX);
	assert_int_equal(reply(wire, &r, NULL, &e), -1);
	assert_string_equal(e.msg, "mx.test:25: endless SMTP reply");
	free(wire);
}

static void
test_line_length_bounded(void **state)
{
	size_t n = SMTP_LINE_MAX + 100;
	char *wire = malloc(n + 8);
	struct smtp_reply r;
	struct err e;

	(void)state;
	/* The longest line taken, and one byte more. */
	memcpy(wire, "250 ", 4);
	memset(wire + 4, 'x', SMTP_LINE_MAX - 4);
	strcpy(wire + SMTP_LINE_MAX, "\r\n");
	assert_int_equal(reply(wire, &r, NULL, &e), 0);
	assert_int_equal(strlen(r.text), sizeof r.text - 1);
	memset(wire + 4, 'x', n - 4);
	strcpy(wire + n, "\r\n");
	assert_int_equal(reply(wire, &r, NULL, &e), -1);
	assert_string_equal(e.msg, "mx.test:25: the server sent a line longer "
	    "than 4096 bytes");
	free(wire);
}

static void
test_cut_short(void **state)
{
	(void)state;
	bad("", "mx.test:25: connection closed by the server");
	bad("250-more to come\r\n", "mx.test:25: connection closed by the "
	    "server");
	bad("250 no line end", "mx.test:25: connection closed by the server");
}

static void
test_lmtp_named(void **state)
{
	struct conn *c = server_says("xyz\r\n", 5);
	struct smtp_reply r;
	struct err e;

	(void)state;
	assert_int_equal(smtp_read_reply(c, "LMTP", &r, NULL, &e), -1);
	assert_string_equal(e.msg, "mx.test:25: garbled LMTP reply \"xyz\"");
	conn_close(c);
}

/* ---- sessions ------------------------------------------------------ */

/* A server that says `script` to the first client, then records all it
 * hears until the client hangs up. */
struct server {
	char		*dir;
	char		 path[128];
	int		 listener;
	const char	*script;
	char		 heard[16384];
	pthread_t	 thread;
};

static void *
serve(void *arg)
{
	struct server *sv = arg;
	size_t len = 0;
	ssize_t n;
	int fd = accept(sv->listener, NULL, NULL);

	if (fd == -1)
		return NULL;
	if (write(fd, sv->script, strlen(sv->script)) !=
	    (ssize_t)strlen(sv->script))
		abort();
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, sv->heard + len, sizeof sv->heard - 1 - len)) > 0)
		len += (size_t)n;
	sv->heard[len] = '\0';
	close(fd);
	return NULL;
}

static void
server_start(struct server *sv, const char *script)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	sv->dir = unit_tmpdir();
	snprintf(sv->path, sizeof sv->path, "%s/lmtp", sv->dir);
	strcpy(sun.sun_path, sv->path);
	sv->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_not_equal(sv->listener, -1);
	assert_int_equal(bind(sv->listener, (struct sockaddr *)&sun,
	    sizeof sun), 0);
	assert_int_equal(listen(sv->listener, 1), 0);
	sv->script = script;
	assert_int_equal(pthread_create(&sv->thread, NULL, serve, sv), 0);
}

/*
 * The client greets with its host name when that is qualified, else
 * with "localhost" here (a unix socket has no address literal): make
 * the transcript read "localhost" on any machine.
 */
static void
normalize_greeting(char *heard, size_t size)
{
	char host[256] = "", from[300], *p;
	size_t len;

	if (gethostname(host, sizeof host - 1) != 0 ||
	    strchr(host, '.') == NULL)
		return;
	snprintf(from, sizeof from, "LO %s\r\n", host);
	len = strlen(from);
	for (p = heard; (p = strstr(p, from)) != NULL; p += 14) {
		assert_true(strlen(heard) + 14 < size);
		memmove(p + 14, p + len, strlen(p + len) + 1);
		memcpy(p, "LO localhost\r\n", 14);
	}
}

/* Wait for the client to be done; returns what the server heard. */
static const char *
server_heard(struct server *sv)
{
	pthread_join(sv->thread, NULL);
	close(sv->listener);
	unit_rmtree(sv->dir);
	normalize_greeting(sv->heard, sizeof sv->heard);
	return sv->heard;
}

static char *to_one[] = { "a@example.org" };
static char *to_two[] = { "a@example.org", "b@example.org" };

static struct destination
destination(struct server *sv, char **to, size_t nto)
{
	return (struct destination){ .name = "out", .socket = sv->path,
	    .tls = TLS_MODE_NONE, .to = to, .nto = nto, .timeout = 5 };
}

/* The message every session sends: its dot line is stuffed, its LF line
 * ends become CRLF. */
static const char text[] = "Subject: t\n\n.dot\nbody\n";
static const char wire[] = "Subject: t\r\n\r\n..dot\r\nbody\r\n.\r\n";

/* Open, send the message once, close; returns smtp_send's result (or
 * -2 when smtp_open failed). */
static int
session(struct server *sv, const struct destination *d, bool lmtp,
    bool *lost, struct err *e)
{
	enum smtp_failure how = SMTP_FAIL_MESSAGE;
	struct smtp *s;
	struct msg m;
	int rc = -2;

	msg_init(&m, "/tmp");
	assert_int_equal(msg_append(&m, text, sizeof text - 1, e), 0);
	msg_finish(&m);
	err_clear(e);
	*lost = false;
	s = smtp_open(d, lmtp, e);
	if (s != NULL)
		rc = smtp_send(s, "sender@example.org", d->to, d->nto, NULL, 0,
		    &m, &how, e);
	*lost = rc == -1 && how == SMTP_FAIL_LOST;
	smtp_close(s);
	msg_free(&m);
	(void)sv;
	return rc;
}

static void
test_session_pipelining(void **state)
{
	struct server sv;
	struct destination d;
	char expect[1024];
	struct err e;
	bool lost;

	(void)state;
	server_start(&sv, "220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n"
	    "250-SIZE 1000\r\n250 8BITMIME\r\n250 2.1.0 ok\r\n"
	    "250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n250 2.0.0 queued\r\n"
	    "221 bye\r\n");
	d = destination(&sv, to_two, 2);
	assert_int_equal(session(&sv, &d, false, &lost, &e), 0);
	/* MAIL and both RCPTs in one go; SIZE counts CRLF line ends. */
	snprintf(expect, sizeof expect, "EHLO localhost\r\n"
	    "MAIL FROM:<sender@example.org> SIZE=%zu BODY=8BITMIME\r\n"
	    "RCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
	    "DATA\r\n%sQUIT\r\n", sizeof text - 1 + 4, wire);
	assert_string_equal(server_heard(&sv), expect);
}

static void
test_session_refused_recipient(void **state)
{
	struct server sv;
	struct destination d;
	struct err e;
	bool lost;

	(void)state;
	/* No PIPELINING: one command at a time, and no DATA after a
	 * refused recipient. */
	server_start(&sv, "220 mx\r\n250 mx\r\n250 ok\r\n"
	    "550 5.1.1 no such user\r\n250 reset\r\n221 bye\r\n");
	d = destination(&sv, to_two, 2);
	assert_int_equal(session(&sv, &d, false, &lost, &e), -1);
	assert_false(lost);
	assert_int_equal(e.cls, ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "the message was refused: 550 5.1.1 no "
	    "such user"));
	assert_string_equal(server_heard(&sv), "EHLO localhost\r\n"
	    "MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.org>\r\n"
	    "RSET\r\nQUIT\r\n");
}

static void
test_session_lmtp_per_recipient(void **state)
{
	struct server sv;
	struct destination d;
	struct err e;
	bool lost;

	(void)state;
	/* LMTP answers the data once per recipient: one temporary
	 * failure fails the message, the session stays usable. */
	server_start(&sv, "220 lmtp\r\n250 lmtp\r\n250 ok\r\n250 ok\r\n"
	    "250 ok\r\n354 go\r\n250 2.0.0 a ok\r\n452 4.2.2 b full\r\n"
	    "221 bye\r\n");
	d = destination(&sv, to_two, 2);
	assert_int_equal(session(&sv, &d, true, &lost, &e), -1);
	assert_false(lost);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, "refused after its data: 452 4.2.2 b "
	    "full"));
	assert_non_null(strstr(server_heard(&sv), "LHLO localhost\r\n"));
}

static void
test_session_421_loses_session(void **state)
{
	struct server sv;
	struct destination d;
	struct err e;
	bool lost;

	(void)state;
	server_start(&sv, "220 mx\r\n250 mx\r\n250 ok\r\n"
	    "421 4.3.2 shutting down\r\n");
	d = destination(&sv, to_one, 1);
	assert_int_equal(session(&sv, &d, false, &lost, &e), -1);
	assert_true(lost);
	assert_int_equal(e.cls, ERR_TEMP);
	/* The server is closing: neither RSET nor QUIT. */
	assert_string_equal(server_heard(&sv), "EHLO localhost\r\n"
	    "MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.org>\r\n");
}

/* At -vv every change of the session's state is traced, by name. */
static void
test_session_states_traced(void **state)
{
	struct unit_capture cap;
	struct server sv;
	struct destination d;
	char *dir = unit_tmpdir(), *out;
	struct err e;
	bool lost;

	(void)state;
	server_start(&sv, "220 mx\r\n250 mx\r\n250 ok\r\n250 ok\r\n"
	    "354 go\r\n250 queued\r\n221 bye\r\n");
	d = destination(&sv, to_one, 1);
	log_setup(LOG_TRACE, false);
	unit_capture_start(&cap, dir);
	assert_int_equal(session(&sv, &d, false, &lost, &e), 0);
	out = unit_capture_end(&cap);
	log_setup(LOG_NORMAL, false);
	server_heard(&sv);
	assert_non_null(strstr(out, "SMTP state CONNECT -> HELO\n"));
	assert_non_null(strstr(out, "SMTP state HELO -> READY\n"));
	assert_non_null(strstr(out, "SMTP state READY -> MAIL\n"));
	assert_non_null(strstr(out, "SMTP state MAIL -> DATA\n"));
	assert_non_null(strstr(out, "SMTP state DATA -> BODY\n"));
	assert_non_null(strstr(out, "SMTP state BODY -> READY\n"));
	assert_non_null(strstr(out, "SMTP state READY -> QUIT\n"));
	free(out);
	unit_rmtree(dir);
}

static void
test_session_size_limit(void **state)
{
	struct server sv;
	struct destination d;
	struct err e;
	bool lost;

	(void)state;
	/* Over the announced SIZE: refused before MAIL, for good. */
	server_start(&sv, "220 mx\r\n250-mx\r\n250 SIZE 10\r\n221 bye\r\n");
	d = destination(&sv, to_one, 1);
	assert_int_equal(session(&sv, &d, false, &lost, &e), -1);
	assert_int_equal(e.cls, ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "over the server's SIZE limit of 10 "
	    "bytes"));
	assert_string_equal(server_heard(&sv), "EHLO localhost\r\nQUIT\r\n");
}

static void
test_session_helo_fallback(void **state)
{
	struct server sv;
	struct destination d;
	struct err e;
	bool lost;

	(void)state;
	server_start(&sv, "220 old\r\n502 what\r\n250 hi\r\n250 ok\r\n"
	    "250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n");
	d = destination(&sv, to_one, 1);
	assert_int_equal(session(&sv, &d, false, &lost, &e), 0);
	assert_memory_equal(server_heard(&sv), "EHLO localhost\r\n"
	    "HELO localhost\r\nMAIL FROM:<sender@example.org>\r\n", 63);
	/* LMTP has no HELO: a refused LHLO is the end. */
	server_start(&sv, "220 lmtp\r\n500 what\r\n");
	assert_int_equal(session(&sv, &d, true, &lost, &e), -2);
	assert_int_equal(e.cls, ERR_UNAVAIL);
	assert_string_equal(server_heard(&sv), "LHLO localhost\r\n");
}

static void
test_session_auth(void **state)
{
	struct server sv;
	struct destination d;
	struct err e;
	bool lost;

	(void)state;
	server_start(&sv, "220 mx\r\n250-mx\r\n250 AUTH LOGIN PLAIN\r\n"
	    "235 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n");
	d = destination(&sv, to_one, 1);
	d.user = "u";
	d.password = "p";
	/* Not over a plain connection, unless allowed (and a session
	 * that failed to open is dropped without QUIT). */
	assert_int_equal(session(&sv, &d, false, &lost, &e), -2);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_string_equal(server_heard(&sv), "EHLO localhost\r\n");
	server_start(&sv, "220 mx\r\n250-mx\r\n250 AUTH LOGIN PLAIN\r\n"
	    "235 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n");
	d.allow_plaintext_auth = true;
	assert_int_equal(session(&sv, &d, false, &lost, &e), 0);
	assert_non_null(strstr(server_heard(&sv), "EHLO localhost\r\n"
	    "AUTH PLAIN AHUAcA==\r\nMAIL FROM:"));
	/* LOGIN when PLAIN is not offered; a refusal is ERR_AUTH. */
	server_start(&sv, "220 mx\r\n250-mx\r\n250 AUTH LOGIN\r\n"
	    "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 no\r\n");
	assert_int_equal(session(&sv, &d, false, &lost, &e), -2);
	assert_int_equal(e.cls, ERR_AUTH);
	assert_string_equal(server_heard(&sv), "EHLO localhost\r\n"
	    "AUTH LOGIN\r\ndQ==\r\ncA==\r\n");
}

static void
test_session_starttls(void **state)
{
	struct server sv;
	struct destination d;
	struct err e;
	bool lost;

	(void)state;
	/* Required but not offered: refused, never sent in clear. */
	server_start(&sv, "220 mx\r\n250 mx\r\n");
	d = destination(&sv, to_one, 1);
	d.tls = TLS_MODE_STARTTLS;
	assert_int_equal(session(&sv, &d, false, &lost, &e), -2);
	assert_int_equal(e.cls, ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "does not offer STARTTLS"));
	server_heard(&sv);
	/* Bytes after the 220 were sent before TLS: an injection. */
	server_start(&sv, "220 mx\r\n250-mx\r\n250 STARTTLS\r\n"
	    "220 go ahead\r\n250 injected\r\n");
	assert_int_equal(session(&sv, &d, false, &lost, &e), -2);
	assert_int_equal(e.cls, ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "possible injection attack"));
	assert_string_equal(server_heard(&sv), "EHLO localhost\r\n"
	    "STARTTLS\r\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_enhanced_status_codes),
		cmocka_unit_test(test_replies_in_sequence),
		cmocka_unit_test(test_ehlo_keywords),
		cmocka_unit_test(test_ehlo_odd_keywords),
		cmocka_unit_test(test_ehlo_replaces_what_was_known),
		cmocka_unit_test(test_garbled),
		cmocka_unit_test(test_inconsistent),
		cmocka_unit_test(test_nul_in_first_line),
		cmocka_unit_test(test_lines_bounded),
		cmocka_unit_test(test_line_length_bounded),
		cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_lmtp_named),
		cmocka_unit_test(test_session_pipelining),
		cmocka_unit_test(test_session_refused_recipient),
		cmocka_unit_test(test_session_lmtp_per_recipient),
		cmocka_unit_test(test_session_421_loses_session),
		cmocka_unit_test(test_session_size_limit),
		cmocka_unit_test(test_session_helo_fallback),
		cmocka_unit_test(test_session_auth),
		cmocka_unit_test(test_session_starttls),
		cmocka_unit_test(test_session_states_traced),
	};

	return cmocka_run_group_tests_name("smtp", tests, NULL, NULL);
}
