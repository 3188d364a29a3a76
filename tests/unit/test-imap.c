/*
 * The IMAP client against scripted servers: each test is a transcript of
 * what the server sends ("S", a line; "R", raw bytes) and exactly what
 * the client must send back ("C", a line), then "E": the client hangs up
 * without sending anything more. The server runs in a thread on a
 * loopback port, so the whole client runs as it does for real, login
 * included (over plain text, allowed in these tests).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <fcntl.h>
#include <poll.h>
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

#include "clock.h"
#include "imap-internal.h"
#include "imap-session.h"
#include "imap.h"
#include "imap-utf7.h"
#include "log.h"
#include "msg.h"
#include "sasl.h"
#include "xmalloc.h"

#define MAXSTEPS	256

static char trace_path[] = "/tmp/mf-test-imap-trace-XXXXXX";

/* ---- the scripted server ---------------------------------------------------- */

struct server {
	int		 lfd, fd, port;
	pthread_t	 thread;
	char		*steps[MAXSTEPS];
	size_t		 nsteps, done;
	char		 failure[2048];
	char		 buf[80000];
	size_t		 blen;
};

static void
add(struct server *s, const char *fmt, ...)
{
	va_list ap;

	assert_true(s->nsteps < MAXSTEPS);
	va_start(ap, fmt);
	s->steps[s->nsteps++] = xvasprintf(fmt, ap);
	va_end(ap);
}

/* One line from the client (without CRLF) into line; 0 at EOF. */
static int
read_line(struct server *s, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(s->buf, '\n', s->blen);
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - s->buf);

			snprintf(line, size, "%.*s", (int)(len > 0 &&
			    nl[-1] == '\r' ? len - 1 : len), s->buf);
			memmove(s->buf, nl + 1, s->blen - len - 1);
			s->blen -= len + 1;
			return 1;
		}
		if (s->blen == sizeof s->buf)
			return -1;
		n = read(s->fd, s->buf + s->blen, sizeof s->buf - s->blen);
		if (n <= 0)
			return s->blen > 0 ? -1 : 0;
		s->blen += (size_t)n;
	}
}

static void
send_all(struct server *s, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static bool
run_step(struct server *s, const char *step, char *line, size_t size)
{
	int rc;

	switch (step[0]) {
	case 'S':
		snprintf(line, size, "%s\r\n", step + 1);
		send_all(s, line, strlen(line));
		return true;
	case 'R':
		send_all(s, step + 1, strlen(step + 1));
		return true;
	case 'C':
		rc = read_line(s, line, size);
		if (rc == 1 && strcmp(line, step + 1) == 0)
			return true;
		snprintf(s->failure, sizeof s->failure, "step %zu: expected "
		    "\"%s\", got %s%.1000s%s", s->done, step + 1, rc == 1 ?
		    "\"" : "", rc == 1 ? line : "end of input", rc == 1 ?
		    "\"" : "");
		return false;
	default:	/* 'E' */
		shutdown(s->fd, SHUT_WR);
		rc = read_line(s, line, size);
		if (rc == 0)
			return true;
		snprintf(s->failure, sizeof s->failure, "step %zu: expected "
		    "the client to hang up, got \"%.1000s\"", s->done,
		    rc == 1 ? line : "(a partial line)");
		return false;
	}
}

static void *
serve(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
	struct timeval tv = { .tv_sec = 10 };
	static __thread char line[80000];
	int one = 1;

	if (poll(&pfd, 1, 10000) != 1) {
		snprintf(s->failure, sizeof s->failure, "no connection");
		return NULL;
	}
	s->fd = accept(s->lfd, NULL, NULL);
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	/* Lines go out as written: no waiting for delayed ACKs. */
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (; s->done < s->nsteps; s->done++)
		if (!run_step(s, s->steps[s->done], line, sizeof line))
			break;
	/* Whatever the client sends past the script is a failure too. */
	if (s->failure[0] == '\0' && s->done == s->nsteps &&
	    strcmp(s->steps[s->nsteps - 1], "E") != 0) {
		shutdown(s->fd, SHUT_WR);
		if (read_line(s, line, sizeof line) != 0)
			snprintf(s->failure, sizeof s->failure, "the client "
			    "sent more than the script: \"%.1000s\"", line);
	}
	close(s->fd);
	return NULL;
}

/* The script is read once the client connects. */
static void
server_start(struct server *s)
{
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

/* Wait for the server; true when it went through its whole script. */
static void
server_end(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
	if (s->failure[0] != '\0')
		fail_msg("%s", s->failure);
	if (s->done != s->nsteps)
		fail_msg("the script stopped at step %zu of %zu", s->done,
		    s->nsteps);
	for (size_t i = 0; i < s->nsteps; i++)
		free(s->steps[i]);
}

/* ---- sessions ---------------------------------------------------------------- */

static struct imap_open_opts
opts(const struct server *s)
{
	return (struct imap_open_opts){ .host = "127.0.0.1", .port = s->port,
	    .tls = TLS_MODE_NONE, .timeout = 5, .user = "user",
	    .secret = "secret", .allow_plaintext_auth = true };
}

/* Open a session on a server that starts with PREAUTH (no login). */
static struct imap *
preauth(struct server *s, const char *caps)
{
	struct imap_open_opts o = opts(s);
	struct err e;
	struct imap *im;

	server_start(s);
	im = imap_open(&o, &e);
	if (im == NULL)
		fail_msg("imap_open: %s", e.msg);
	assert_true(im->caps_known);
	(void)caps;
	return im;
}

/* A server listening on a loopback port, its script still empty. */
static struct server *
new_server(void)
{
	struct server *s = xcalloc(1, sizeof *s);
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(s->lfd, 1), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len),
	    0);
	s->port = ntohs(sin.sin_port);
	return s;
}

static void
done(struct server *s, struct imap *im)
{
	imap_abort(im);
	server_end(s);
	free(s);
}

/* imap_open must fail with this class and a message saying `fragment`. */
static void
open_fails(struct server *s, struct imap_open_opts *o, enum err_class cls,
    const char *fragment)
{
	struct err e;
	struct imap *im;

	server_start(s);
	err_clear(&e);
	im = imap_open(o, &e);
	assert_null(im);
	assert_int_equal(e.cls, cls);
	if (strstr(e.msg, fragment) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", e.msg, fragment);
	server_end(s);
	free(s);
}

static void
open_ok(struct server *s, struct imap_open_opts *o)
{
	struct err e;
	struct imap *im;

	server_start(s);
	im = imap_open(o, &e);
	if (im == NULL)
		fail_msg("imap_open: %s", e.msg);
	done(s, im);
}

static bool
trace_has(const char *needle)
{
	FILE *fp = fopen(trace_path, "r");
	char *text;
	long len;
	bool found;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	rewind(fp);
	text = xmalloc((size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	text[len] = '\0';
	fclose(fp);
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

/* ---- greeting ------------------------------------------------------------------ */

static void
test_greeting_refusals(void **state)
{
	struct server *s;
	struct imap_open_opts o;

	(void)state;
	s = new_server();
	add(s, "S* BYE Too many connections");
	add(s, "E");
	o = opts(s);
	open_fails(s, &o, ERR_TEMP, "BYE Too many connections");

	s = new_server();
	add(s, "S+OK POP3 server ready");
	add(s, "E");
	o = opts(s);
	open_fails(s, &o, ERR_TEMP, "not an IMAP server: its greeting is a "
	    "continuation request");

	s = new_server();
	add(s, "SHTTP/1.1 400 Bad Request");
	add(s, "E");
	o = opts(s);
	open_fails(s, &o, ERR_TEMP, "unintelligible");

	s = new_server();
	add(s, "S* 3 EXISTS");
	add(s, "E");
	o = opts(s);
	open_fails(s, &o, ERR_TEMP, "not an IMAP server: its greeting is "
	    "EXISTS");
}

static void
test_greeting_without_caps(void **state)
{
	struct server *s = new_server();
	struct imap *im;
	struct err e;
	struct imap_open_opts o;

	(void)state;
	add(s, "S* PREAUTH ready");
	add(s, "CA1 CAPABILITY");
	add(s, "S* CAPABILITY IMAP4rev1 UIDPLUS IDLE");
	add(s, "SA1 OK done");
	o = opts(s);
	server_start(s);
	im = imap_open(&o, &e);
	assert_non_null(im);
	assert_true(im->preauth);
	assert_true(imap_has(im, IMAP_CAP_UIDPLUS));
	assert_true(imap_has(im, IMAP_CAP_IDLE));
	assert_false(imap_has(im, IMAP_CAP_MOVE));
	done(s, im);
}

/* ---- logins ---------------------------------------------------------------------- */

static void
test_login_plain_ir(void **state)
{
	struct server *s = new_server();
	char *b64 = sasl_plain("user", "secret");
	struct imap *im;
	struct err e;
	struct imap_open_opts o;

	(void)state;
	add(s, "S* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi");
	add(s, "CA1 AUTHENTICATE PLAIN %s", b64);
	add(s, "SA1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] in");
	o = opts(s);
	server_start(s);
	im = imap_open(&o, &e);
	assert_non_null(im);
	/* The list after login replaces the one before. */
	assert_true(imap_has(im, IMAP_CAP_MOVE));
	assert_false(imap_has(im, IMAP_CAP_SASL_IR));
	done(s, im);
	assert_true(trace_has("> A1 AUTHENTICATE PLAIN ***"));
	assert_false(trace_has(b64));
	free(b64);
}

static void
test_login_plain_challenge(void **state)
{
	struct server *s = new_server();
	char *b64 = sasl_plain("user", "secret");
	struct imap_open_opts o;

	(void)state;
	add(s, "S* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi");
	add(s, "CA1 AUTHENTICATE PLAIN");
	add(s, "S+ ");
	add(s, "C%s", b64);
	add(s, "SA1 OK in");
	add(s, "CA2 CAPABILITY");
	add(s, "S* CAPABILITY IMAP4rev1");
	add(s, "SA2 OK");
	o = opts(s);
	open_ok(s, &o);
	free(b64);
}

static void
test_login_command(void **state)
{
	struct server *s = new_server();
	struct imap_open_opts o;

	(void)state;
	add(s, "S* OK [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 LOGIN \"us\\\\er\" \"se\\\"cret\"");
	add(s, "S* CAPABILITY IMAP4rev1 UIDPLUS");
	add(s, "SA1 OK in");
	o = opts(s);
	o.user = "us\\er";
	o.secret = "se\"cret";
	open_ok(s, &o);
	assert_true(trace_has("> A1 LOGIN \"us\\er\" ***"));
}

static void
test_login_sync_literal(void **state)
{
	struct server *s = new_server();
	struct imap_open_opts o;

	(void)state;
	add(s, "S* OK [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 LOGIN \"user\" {9}");
	add(s, "S+ go ahead");
	add(s, "Cpässwort");
	add(s, "SA1 OK [CAPABILITY IMAP4rev1] in");
	o = opts(s);
	o.secret = "pässwort";
	open_ok(s, &o);
	assert_false(trace_has("pässwort"));
}

static void
test_login_literal_plus(void **state)
{
	struct server *s = new_server();
	struct imap_open_opts o;

	(void)state;
	add(s, "S* OK [CAPABILITY IMAP4rev1 LITERAL+] hi");
	add(s, "CA1 LOGIN \"user\" {9+}");
	add(s, "Cpässwort");
	add(s, "SA1 OK [CAPABILITY IMAP4rev1] in");
	o = opts(s);
	o.secret = "pässwort";
	open_ok(s, &o);
}

/* Refused before the literal: it is never sent. */
static void
test_login_literal_refused(void **state)
{
	struct server *s = new_server();
	struct imap_open_opts o;

	(void)state;
	add(s, "S* OK [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 LOGIN \"user\" {9}");
	add(s, "SA1 NO [AUTHENTICATIONFAILED] Go away");
	add(s, "E");
	o = opts(s);
	o.secret = "pässwort";
	open_fails(s, &o, ERR_AUTH, "login as user (LOGIN) refused: NO "
	    "[AUTHENTICATIONFAILED] Go away");
}

static void
test_login_sasl_login(void **state)
{
	struct server *s = new_server();
	struct imap_open_opts o;

	(void)state;
	add(s, "S* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=LOGIN] hi");
	add(s, "CA1 AUTHENTICATE LOGIN");
	add(s, "S+ VXNlcm5hbWU6");
	add(s, "CdXNlcg==");
	add(s, "S+ UGFzc3dvcmQ6");
	add(s, "Cc2VjcmV0");
	add(s, "SA1 OK [CAPABILITY IMAP4rev1] in");
	o = opts(s);
	open_ok(s, &o);
}

static void
test_login_refusals(void **state)
{
	struct server *s;
	struct imap_open_opts o;

	(void)state;
	s = new_server();
	add(s, "S* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi");
	add(s, "E");
	o = opts(s);
	open_fails(s, &o, ERR_AUTH, "LOGINDISABLED");

	s = new_server();
	add(s, "S* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi");
	add(s, "E");
	o = opts(s);
	o.allow_plaintext_auth = false;
	open_fails(s, &o, ERR_CONFIG, "unencrypted");

	s = new_server();
	add(s, "S* OK [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 LOGIN \"user\" \"secret\"");
	add(s, "SA1 NO [UNAVAILABLE] Try later");
	add(s, "E");
	o = opts(s);
	open_fails(s, &o, ERR_TEMP, "Try later");
}

static void
test_login_xoauth2_failure(void **state)
{
	struct server *s = new_server();
	const char *raw = "user=user\001auth=Bearer secret\001\001";
	char *b64 = sasl_base64(raw, strlen(raw));
	struct imap_open_opts o;

	(void)state;
	add(s, "S* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi");
	add(s, "CA1 AUTHENTICATE XOAUTH2 %s", b64);
	add(s, "S+ eyJzdGF0dXMiOiI0MDEifQ==");
	add(s, "C");
	add(s, "SA1 NO [AUTHENTICATIONFAILED] Invalid credentials");
	add(s, "E");
	o = opts(s);
	o.auth = IMAP_AUTH_XOAUTH2;
	open_fails(s, &o, ERR_AUTH, "Invalid credentials");
	free(b64);
}

static void
test_login_oauthbearer(void **state)
{
	struct server *s = new_server();
	char *raw, *b64;
	struct imap_open_opts o;

	(void)state;
	raw = xasprintf("n,a=a=2Cb=3Dc,\001host=127.0.0.1\001port=%d\001"
	    "auth=Bearer tok\001\001", s->port);
	b64 = sasl_base64(raw, strlen(raw));
	add(s, "S* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] hi");
	add(s, "CA1 AUTHENTICATE OAUTHBEARER");
	add(s, "S+ ");
	add(s, "C%s", b64);
	add(s, "S+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=");
	add(s, "CAQ==");
	add(s, "SA1 NO [AUTHENTICATIONFAILED] no");
	add(s, "E");
	o = opts(s);
	o.auth = IMAP_AUTH_OAUTHBEARER;
	o.user = "a,b=c";
	o.secret = "tok";
	open_fails(s, &o, ERR_AUTH, "login as a,b=c (AUTHENTICATE OAUTHBEARER) "
	    "refused");
	free(raw);
	free(b64);
}

/* ---- TLS requirements --------------------------------------------------------- */

static void
test_starttls_refusals(void **state)
{
	struct server *s;
	struct imap_open_opts o;

	(void)state;
	s = new_server();
	add(s, "S* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi");
	add(s, "E");
	o = opts(s);
	o.tls = TLS_MODE_STARTTLS;
	open_fails(s, &o, ERR_UNAVAIL, "does not offer STARTTLS");

	s = new_server();
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi");
	add(s, "E");
	o = opts(s);
	o.tls = TLS_MODE_STARTTLS;
	open_fails(s, &o, ERR_UNAVAIL, "PREAUTH");

	s = new_server();
	add(s, "S* OK [CAPABILITY IMAP4rev1 STARTTLS] hi");
	add(s, "CA1 STARTTLS");
	add(s, "RA1 OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] "
	    "injected\r\n");
	add(s, "E");
	o = opts(s);
	o.tls = TLS_MODE_STARTTLS;
	open_fails(s, &o, ERR_UNAVAIL, "injection");

	s = new_server();
	add(s, "S* OK [CAPABILITY IMAP4rev1 STARTTLS] hi");
	add(s, "CA1 STARTTLS");
	add(s, "SA1 NO not now");
	add(s, "E");
	o = opts(s);
	o.tls = TLS_MODE_STARTTLS;
	open_fails(s, &o, ERR_UNAVAIL, "STARTTLS refused: NO not now");
}

/* ---- folders -------------------------------------------------------------------- */

static void
test_enable_rev2(void **state)
{
	struct server *s = new_server();
	struct imap_folder f;
	struct imap *im;
	struct err e;

	(void)state;
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1 IMAP4rev2 ENABLE "
	    "UTF8=ACCEPT] hi");
	add(s, "CA1 ENABLE IMAP4rev2 UTF8=ACCEPT");
	add(s, "S* ENABLED IMAP4rev2");
	add(s, "SA1 OK enabled");
	add(s, "CA2 SELECT {9+}");
	add(s, "CEntwürfe");
	add(s, "S* 0 EXISTS");
	add(s, "S* OK [UIDVALIDITY 7] ok");
	add(s, "SA2 OK [READ-WRITE] done");
	im = preauth(s, NULL);
	assert_true(im->utf8);
	assert_true(imap_has(im, IMAP_CAP_UIDPLUS));
	assert_true(imap_has(im, IMAP_CAP_MOVE));
	assert_int_equal(imap_select(im, "Entw&APw-rfe", false, &f, &e), 0);
	assert_int_equal(f.uidvalidity, 7);
	assert_false(f.read_only);
	done(s, im);
}

static void
test_select(void **state)
{
	struct server *s = new_server();
	struct imap_folder f;
	struct imap *im;
	struct err e;

	(void)state;
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 EXAMINE \"Entw&APw-rfe\"");
	add(s, "S* FLAGS (\\Answered \\Seen)");
	add(s, "S* 3 EXISTS");
	add(s, "S* 0 RECENT");
	add(s, "S* OK [UIDVALIDITY 42] UIDs valid");
	add(s, "S* OK [UIDNEXT 9] next");
	add(s, "SA1 OK [READ-ONLY] done");
	add(s, "CA2 SELECT \"a \\\"b\\\"\"");
	add(s, "S* NO [ALERT] Quota nearly exceeded");
	add(s, "SA2 NO [NONEXISTENT] No such folder");
	add(s, "CA3 SELECT \"INBOX\"");
	add(s, "S* 1 EXISTS");
	add(s, "SA3 OK done");
	im = preauth(s, NULL);
	assert_int_equal(imap_select(im, "Entwürfe", true, &f, &e), 0);
	assert_int_equal(f.uidvalidity, 42);
	assert_int_equal(f.uidnext, 9);
	assert_int_equal(f.exists, 3);
	assert_true(f.read_only);
	assert_int_equal(imap_select(im, "a \"b\"", false, &f, &e), -1);
	assert_int_equal(e.cls, ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "cannot open folder \"a \"b\"\": NO "
	    "[NONEXISTENT] No such folder"));
	assert_true(trace_has("alert from the server: Quota nearly "
	    "exceeded"));
	/* Without UIDVALIDITY there is nothing to track by. */
	assert_int_equal(imap_select(im, "INBOX", false, &f, &e), -1);
	assert_int_equal(e.cls, ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "UIDVALIDITY"));
	done(s, im);
}

static void
select_inbox(struct server *s, uint32_t exists)
{
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS IDLE MOVE] hi");
	add(s, "CA1 SELECT \"INBOX\"");
	add(s, "S* %u EXISTS", exists);
	add(s, "S* OK [UIDVALIDITY 1] x");
	add(s, "SA1 OK [READ-WRITE] done");
}

static struct imap *
open_inbox(struct server *s)
{
	struct imap *im = preauth(s, NULL);
	struct imap_folder f;
	struct err e;

	if (imap_select(im, "INBOX", false, &f, &e) == -1)
		fail_msg("select: %s", e.msg);
	return im;
}

/* ---- the listing ---------------------------------------------------------------- */

struct listing {
	uint32_t	 uid[16];
	uint64_t	 size[16];
	unsigned	 flags[16];
	size_t		 n;
};

static int
listed(void *arg, uint32_t uid, uint64_t size, unsigned flags, struct err *e)
{
	struct listing *l = arg;

	(void)e;
	assert_true(l->n < 16);
	l->uid[l->n] = uid;
	l->size[l->n] = size;
	l->flags[l->n++] = flags;
	return 0;
}

static void
test_list(void **state)
{
	struct server *s = new_server();
	struct listing l = { 0 };
	struct imap *im;
	struct err e;

	(void)state;
	select_inbox(s, 2);
	add(s, "CA2 UID FETCH 1:* (UID RFC822.SIZE FLAGS)");
	add(s, "S* 1 FETCH (UID 4 RFC822.SIZE 100 FLAGS (\\Seen))");
	add(s, "S* 2 FETCH (FLAGS (\\Deleted \\Flagged $Junk) UID 9 "
	    "RFC822.SIZE 5)");
	add(s, "S* 1 FETCH (FLAGS (\\Answered) UID 4)");
	add(s, "S* 3 EXISTS");
	add(s, "S* 3 FETCH (UID 12 RFC822.SIZE 77 FLAGS ())");
	add(s, "SA2 OK done");
	im = open_inbox(s);
	assert_int_equal(imap_list(im, listed, &l, &e), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.uid[0], 4);
	assert_int_equal(l.size[0], 100);
	assert_int_equal(l.flags[0], IMAP_FLAG_SEEN);
	assert_int_equal(l.uid[1], 9);
	assert_int_equal(l.flags[1], IMAP_FLAG_DELETED | IMAP_FLAG_FLAGGED);
	assert_int_equal(l.uid[2], 12);
	assert_int_equal(l.flags[2], 0);
	/* The EXISTS during the listing counts as new mail. */
	assert_true(im->new_mail);
	assert_int_equal(im->folder.exists, 3);
	done(s, im);
}

static void
test_list_empty(void **state)
{
	struct server *s = new_server();
	struct listing l = { 0 };
	struct imap *im;
	struct err e;

	(void)state;
	select_inbox(s, 0);
	im = open_inbox(s);
	assert_int_equal(imap_list(im, listed, &l, &e), 0);
	assert_int_equal(l.n, 0);
	done(s, im);

	/* No EXISTS at all: asked anyway. */
	s = new_server();
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 SELECT \"INBOX\"");
	add(s, "S* OK [UIDVALIDITY 1] x");
	add(s, "SA1 OK done");
	add(s, "CA2 UID FETCH 1:* (UID RFC822.SIZE FLAGS)");
	add(s, "S* 1 FETCH (UID 3 RFC822.SIZE 10 FLAGS ())");
	add(s, "SA2 OK");
	im = open_inbox(s);
	assert_int_equal(imap_list(im, listed, &l, &e), 0);
	assert_int_equal(l.n, 1);
	done(s, im);
}

/* ---- fetching --------------------------------------------------------------------- */

static char *
contents(struct msg *m)
{
	off_t size = msg_size(m);
	char *buf = xmalloc((size_t)size + 1);

	assert_int_equal(msg_read(m, buf, (size_t)size, 0), (ssize_t)size);
	buf[size] = '\0';
	return buf;
}

/* Three fetches in flight, noise between every response, the UID after
 * the data, tagged answers out of order. */
static void
test_fetch_pipelined(void **state)
{
	struct server *s = new_server();
	struct imap_event ev;
	struct imap *im;
	struct msg m;
	struct err e;
	char *got;

	(void)state;
	select_inbox(s, 3);
	add(s, "CA2 UID FETCH 4 (UID BODY.PEEK[])");
	add(s, "CA3 UID FETCH 9 (UID BODY.PEEK[HEADER])");
	add(s, "CA4 UID FETCH 12 (UID BODY.PEEK[])");
	add(s, "S* 2 FETCH (FLAGS (\\Seen))");
	add(s, "R* 1 FETCH (UID 4 BODY[] {16}\r\nS: a\r\n\r\nb\rc\r\n.\r\n)\r\n");
	add(s, "S* 4 EXISTS");
	add(s, "SA2 OK done");
	add(s, "R* 2 FETCH (BODY[HEADER] {8}\r\nS: h\r\n\r\n UID 9)\r\n");
	add(s, "S* OK [ALERT] maintenance at noon");
	add(s, "R* 3 FETCH (UID 12 BODY[] \"x\")\r\nA4 OK\r\n");
	add(s, "S* 1 EXPUNGE");
	add(s, "SA3 OK done");
	im = open_inbox(s);
	msg_init(&m, "/tmp");
	imap_fetch(im, 4, IMAP_SECTION_WHOLE, 1000, &m, 40);
	imap_fetch(im, 9, IMAP_SECTION_HEADER, 1000, &m, 90);
	imap_fetch(im, 12, IMAP_SECTION_WHOLE, 1000, &m, 120);
	assert_int_equal(imap_in_flight(im), 3);

	assert_int_equal(imap_read(im, &ev, &e), 0);
	assert_int_equal(ev.kind, IMAP_EV_MESSAGE);
	assert_int_equal(ev.uid, 4);
	assert_int_equal(ev.cookie, 40);
	assert_int_equal(ev.size, 12);
	got = contents(&m);
	assert_string_equal(got, "S: a\n\nb\rc\n.\n");
	free(got);
	assert_int_equal(imap_read(im, &ev, &e), 0);
	assert_int_equal(ev.kind, IMAP_EV_DONE);
	assert_int_equal(ev.cmd, IMAP_CMD_FETCH);
	assert_int_equal(ev.uid, 4);
	assert_true(ev.fetched);
	assert_int_equal(ev.status, IMAP_ST_OK);

	assert_int_equal(imap_read(im, &ev, &e), 0);
	assert_int_equal(ev.kind, IMAP_EV_MESSAGE);
	assert_int_equal(ev.uid, 9);
	assert_int_equal(ev.section, IMAP_SECTION_HEADER);
	got = contents(&m);
	assert_string_equal(got, "S: h\n\n");
	free(got);
	assert_int_equal(imap_read(im, &ev, &e), 0);
	assert_int_equal(ev.kind, IMAP_EV_MESSAGE);
	assert_int_equal(ev.uid, 12);
	got = contents(&m);
	assert_string_equal(got, "x");
	free(got);
	/* A4 answered before A3. */
	assert_int_equal(imap_read(im, &ev, &e), 0);
	assert_int_equal(ev.kind, IMAP_EV_DONE);
	assert_int_equal(ev.cookie, 120);
	assert_int_equal(imap_read(im, &ev, &e), 0);
	assert_int_equal(ev.kind, IMAP_EV_DONE);
	assert_int_equal(ev.cookie, 90);
	assert_int_equal(imap_in_flight(im), 0);
	assert_true(trace_has("alert from the server: maintenance at noon"));
	assert_int_equal(im->folder.exists, 3);
	msg_free(&m);
	done(s, im);
}

/* One fetch, one scripted answer: imap_read fails saying `fragment`. */
static void
fetch_fails(const char *answer, off_t limit, const char *fragment)
{
	struct server *s = new_server();
	struct imap_event ev;
	struct imap *im;
	struct msg m;
	struct err e;
	int rc;

	select_inbox(s, 1);
	add(s, "CA2 UID FETCH 7 (UID BODY.PEEK[])");
	add(s, "R%s", answer);
	add(s, "E");
	im = open_inbox(s);
	msg_init(&m, "/tmp");
	imap_fetch(im, 7, IMAP_SECTION_WHOLE, limit, &m, 0);
	while ((rc = imap_read(im, &ev, &e)) == 0)
		;
	assert_int_equal(e.cls, ERR_TEMP);
	if (strstr(e.msg, fragment) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", e.msg, fragment);
	msg_free(&m);
	done(s, im);
}

static void
test_fetch_failures(void **state)
{
	(void)state;
	fetch_fails("* 1 FETCH (UID 8 BODY[] {3}\r\nabc)\r\n", 100,
	    "(UID 8), which was not asked for");
	fetch_fails("* 1 FETCH (BODY[] {3}\r\nabc)\r\n", 100,
	    "without its UID");
	fetch_fails("* 1 FETCH (UID 7 BODY[] {300}\r\n", 100,
	    "announces 300 bytes for message UID 7, more than its limit");
	fetch_fails("* 1 FETCH (UID 7 BODY[] NIL)\r\n", 100, "NIL");
	fetch_fails("* 1 FETCH (UID 7 BODY[TEXT] {1}\r\nx)\r\n", 100,
	    "not asked for");
	fetch_fails("* 1 FETCH (UID 7 BODY[] {2}\r\nab BODY[] {1}\r\nc)\r\n",
	    100, "not asked for");
	fetch_fails("* 1 FETCH (UID 7 BODY[] {2}\r\nab extra)\r\n", 100,
	    "malformed FETCH");
	fetch_fails("* 1 FETCH (UID 7 BODY[] {10}\r\nabc", 100,
	    "connection closed");
	fetch_fails("* BYE Server shutting down\r\n", 100,
	    "ended the session: BYE Server shutting down");
	fetch_fails("A9 OK what\r\n", 100, "not sent (tag \"A9\"");
	fetch_fails("+ more?\r\n", 100, "asks for more");
	fetch_fails("\x80\x81\r\n", 100, "unintelligible");
	/* UIDs of one UIDVALIDITY cannot be used under another. */
	fetch_fails("* OK [UIDVALIDITY 1] same\r\n* OK [UIDVALIDITY 99] new\r\n",
	    100, "changed the folder's UIDVALIDITY");
}

/* A FETCH answered OK without data: the message is gone. */
static void
test_fetch_vanished(void **state)
{
	struct server *s = new_server();
	struct imap_event ev;
	struct imap *im;
	struct msg m;
	struct err e;

	(void)state;
	select_inbox(s, 1);
	add(s, "CA2 UID FETCH 7 (UID BODY.PEEK[])");
	add(s, "SA2 OK nothing");
	im = open_inbox(s);
	msg_init(&m, "/tmp");
	imap_fetch(im, 7, IMAP_SECTION_WHOLE, 100, &m, 0);
	assert_int_equal(imap_read(im, &ev, &e), 0);
	assert_int_equal(ev.kind, IMAP_EV_DONE);
	assert_false(ev.fetched);
	msg_free(&m);
	done(s, im);
}

/* ---- flags, copies, moves ----------------------------------------------------------- */

static void
test_sets(void **state)
{
	static const uint32_t uids[] = { 1, 2, 3, 5, 7, 8 };
	struct server *s = new_server();
	struct imap_event ev;
	struct imap *im;
	struct err e;
	uint32_t *many;
	size_t taken;

	(void)state;
	select_inbox(s, 8);
	add(s, "CA2 UID STORE 1:3,5,7:8 +FLAGS.SILENT (\\Deleted)");
	add(s, "CA3 UID STORE 5 +FLAGS.SILENT (\\Seen \\Deleted)");
	add(s, "CA4 UID MOVE 8,7 \"Archive/2024\"");
	add(s, "CA5 UID COPY 3 \"Archive/2024\"");
	add(s, "SA2 OK");
	add(s, "SA3 NO [CANNOT] flags");
	add(s, "S* OK [COPYUID 9 7:8 1:2] moved");
	add(s, "S* 8 EXPUNGE");
	add(s, "S* 7 EXPUNGE");
	add(s, "SA4 OK");
	add(s, "SA5 OK");
	im = open_inbox(s);
	assert_int_equal(imap_store(im, uids, 6, IMAP_FLAG_DELETED, 2), 6);
	assert_int_equal(imap_store(im, uids + 3, 1, IMAP_FLAG_SEEN |
	    IMAP_FLAG_DELETED, 3), 1);
	assert_int_equal(imap_move(im, (uint32_t[]){ 8, 7 }, 2,
	    "Archive/2024", 4), 2);
	assert_int_equal(imap_copy(im, uids + 2, 1, "Archive/2024", 5), 1);
	for (uint64_t i = 2; i <= 5; i++) {
		assert_int_equal(imap_read(im, &ev, &e), 0);
		assert_int_equal(ev.kind, IMAP_EV_DONE);
		assert_int_equal(ev.cookie, i);
		assert_int_equal(ev.status, i == 3 ? IMAP_ST_NO : IMAP_ST_OK);
	}
	assert_int_equal(im->folder.exists, 6);
	done(s, im);

	/* A set too long for one command: the rest is for the next one. */
	many = xreallocarray(NULL, 3000, sizeof *many);
	for (uint32_t i = 0; i < 3000; i++)
		many[i] = 2 * i + 1;
	s = new_server();
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1] hi");
	im = preauth(s, NULL);
	taken = imap_store(im, many, 3000, IMAP_FLAG_DELETED, 0);
	assert_true(taken > 100 && taken < 3000);
	assert_true(im->outlen < IMAP_SET_MAX + 64);
	free(many);
	done(s, im);
}

/* A command whose literal the server refuses: the rest of it is never
 * sent, and the commands after it go on. */
static void
test_literal_in_pipeline(void **state)
{
	struct server *s = new_server();
	char *name = xmalloc(1201);
	struct imap_event ev;
	struct imap *im;
	struct err e;

	(void)state;
	memset(name, 'x', 1200);
	name[1200] = '\0';
	select_inbox(s, 1);
	add(s, "CA2 UID COPY 1 {1200}");
	add(s, "SA2 NO [LIMIT] name too long");
	add(s, "CA3 NOOP");
	add(s, "CA4 UID COPY 1 {1200}");
	add(s, "SA3 OK");
	add(s, "S+ go");
	add(s, "C%s", name);
	add(s, "SA4 OK copied");
	im = open_inbox(s);
	imap_copy(im, (uint32_t[]){ 1 }, 1, name, 2);
	imap_noop(im, 3);
	imap_copy(im, (uint32_t[]){ 1 }, 1, name, 4);
	for (uint64_t i = 2; i <= 4; i++) {
		assert_int_equal(imap_read(im, &ev, &e), 0);
		assert_int_equal(ev.cookie, i);
		assert_int_equal(ev.status, i == 2 ? IMAP_ST_NO : IMAP_ST_OK);
	}
	free(name);
	done(s, im);
}

/* ---- expunging ------------------------------------------------------------------------ */

static void
test_expunge_uidplus(void **state)
{
	struct server *s = new_server();
	enum imap_expunged res;
	struct imap *im;
	struct err e;
	size_t others;

	(void)state;
	select_inbox(s, 3);
	add(s, "CA2 UID EXPUNGE 3,5");
	add(s, "S* 2 EXPUNGE");
	add(s, "S* 1 EXPUNGE");
	add(s, "SA2 OK done");
	im = open_inbox(s);
	assert_int_equal(imap_expunge(im, (uint32_t[]){ 3, 5 }, 2, &res,
	    &others, &e), 0);
	assert_int_equal(res, IMAP_EXPUNGED);
	assert_int_equal(im->folder.exists, 1);
	done(s, im);
}

/* Without UIDPLUS: EXPUNGE only when every \Deleted message is ours. */
static void
expunge_plain(const char *caps, const char *search, const char *answer,
    enum imap_expunged want, size_t others)
{
	struct server *s = new_server();
	enum imap_expunged res;
	struct imap *im;
	struct err e;
	size_t n;

	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1 %s] hi", caps);
	add(s, "CA1 SELECT \"INBOX\"");
	add(s, "S* 3 EXISTS");
	add(s, "S* OK [UIDVALIDITY 1] x");
	add(s, "SA1 OK done");
	add(s, "CA2 %s", search);
	if (answer[0] != '\0')
		add(s, "S%s", answer);
	add(s, "SA2 OK searched");
	if (want == IMAP_EXPUNGED) {
		add(s, "CA3 EXPUNGE");
		add(s, "SA3 OK");
	} else
		add(s, "E");
	im = open_inbox(s);
	assert_int_equal(imap_expunge(im, (uint32_t[]){ 6, 3, 4 }, 3, &res,
	    &n, &e), 0);
	assert_int_equal(res, want);
	assert_int_equal(n, others);
	done(s, im);
}

static void
test_expunge_without_uidplus(void **state)
{
	const char *plain = "UID SEARCH DELETED NOT UID 6,3:4";
	const char *esearch = "UID SEARCH RETURN (COUNT) DELETED NOT UID "
	    "6,3:4";
	enum imap_expunged res;
	struct server *s;
	struct imap *im;
	uint32_t *many;
	struct err e;
	size_t n;

	(void)state;
	expunge_plain("", plain, "* SEARCH", IMAP_EXPUNGED, 0);
	expunge_plain("", plain, "", IMAP_EXPUNGED, 0);
	expunge_plain("", plain, "* SEARCH 2 9", IMAP_LEFT_FLAGGED, 2);
	expunge_plain("ESEARCH", esearch, "* ESEARCH (TAG \"A2\") UID COUNT 0",
	    IMAP_EXPUNGED, 0);
	expunge_plain("ESEARCH", esearch, "* ESEARCH (TAG \"A2\") UID COUNT "
	    "70000", IMAP_LEFT_FLAGGED, 70000);
	expunge_plain("ESEARCH", esearch, "* ESEARCH (TAG \"A2\") UID ALL "
	    "1:2,9", IMAP_LEFT_FLAGGED, 3);

	/* More UIDs than one search can leave out: nothing is expunged. */
	many = xreallocarray(NULL, 3000, sizeof *many);
	for (uint32_t i = 0; i < 3000; i++)
		many[i] = 2 * i + 1;
	s = new_server();
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 SELECT \"INBOX\"");
	add(s, "S* 3 EXISTS");
	add(s, "S* OK [UIDVALIDITY 1] x");
	add(s, "SA1 OK done");
	add(s, "E");
	im = open_inbox(s);
	assert_int_equal(imap_expunge(im, many, 3000, &res, &n, &e), 0);
	assert_int_equal(res, IMAP_LEFT_UNCHECKED);
	free(many);
	done(s, im);
}

/* ---- IDLE ----------------------------------------------------------------------------- */

static void
test_idle_new_mail(void **state)
{
	struct server *s = new_server();
	struct imap *im;
	struct err e;

	(void)state;
	select_inbox(s, 3);
	add(s, "CA2 IDLE");
	add(s, "S+ idling");
	add(s, "S* OK Still here");
	add(s, "S* 2 EXPUNGE");
	add(s, "S* 3 EXISTS");
	add(s, "CDONE");
	add(s, "SA2 OK done");
	im = open_inbox(s);
	assert_int_equal(imap_idle(im, 30, NULL, &e), 1);
	/* Already known: no second IDLE. */
	assert_int_equal(imap_idle(im, 30, NULL, &e), 1);
	done(s, im);
}

static void
test_idle_timeout_and_stop(void **state)
{
	volatile sig_atomic_t stop = 1;
	struct server *s = new_server();
	struct imap *im;
	struct err e;

	(void)state;
	select_inbox(s, 3);
	add(s, "CA2 IDLE");
	add(s, "S+ idling");
	add(s, "CDONE");
	add(s, "SA2 OK done");
	im = open_inbox(s);
	assert_int_equal(imap_idle(im, 1, NULL, &e), 0);
	assert_int_equal(imap_idle(im, 30, &stop, &e), 0);
	done(s, im);

	s = new_server();
	select_inbox(s, 3);
	add(s, "CA2 IDLE");
	add(s, "SA2 NO [UNAVAILABLE] no idling today");
	add(s, "E");
	im = open_inbox(s);
	assert_int_equal(imap_idle(im, 30, NULL, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, "IDLE refused"));
	done(s, im);

	s = new_server();
	select_inbox(s, 3);
	add(s, "CA2 IDLE");
	add(s, "S+ idling");
	add(s, "S* BYE Autologout; idle too long");
	add(s, "E");
	im = open_inbox(s);
	assert_int_equal(imap_idle(im, 30, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "Autologout"));
	done(s, im);
}

/* A long wait is cut into IDLE commands, each ended by DONE before the
 * server's 30-minute limit (shortened here to a second) and followed by
 * a new one, until the wait is over. */
static void
test_idle_renewed(void **state)
{
	struct server *s = new_server();
	struct imap *im;
	struct err e;
	int64_t start;

	(void)state;
	select_inbox(s, 3);
	add(s, "CA2 IDLE");
	add(s, "S+ idling");
	add(s, "CDONE");
	add(s, "SA2 OK renewing");
	add(s, "CA3 IDLE");
	add(s, "S+ idling again");
	add(s, "CDONE");
	add(s, "SA3 OK done");
	im = open_inbox(s);
	assert_int_equal(im->idle_renew_ms, IMAP_IDLE_RENEW * 1000);
	assert_true(IMAP_IDLE_RENEW < 29 * 60);
	im->idle_renew_ms = 1000;
	start = clock_ms();
	assert_int_equal(imap_idle(im, 2, NULL, &e), 0);
	assert_true(clock_ms() - start >= 2000);
	done(s, im);
}

/* ---- LOGOUT ---------------------------------------------------------------------------- */

static void
test_logout(void **state)
{
	struct server *s = new_server();
	struct imap *im;
	struct err e;

	(void)state;
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 LOGOUT");
	add(s, "S* BYE Logging out");
	add(s, "SA1 OK bye");
	im = preauth(s, NULL);
	assert_int_equal(imap_logout(im, &e), 0);
	server_end(s);
	free(s);

	/* Hanging up right after BYE is fine too. */
	s = new_server();
	add(s, "S* PREAUTH [CAPABILITY IMAP4rev1] hi");
	add(s, "CA1 LOGOUT");
	add(s, "S* BYE Logging out");
	im = preauth(s, NULL);
	assert_int_equal(imap_logout(im, &e), 0);
	server_end(s);
	free(s);
}

/* ---- untagged responses anywhere -------------------------------------------------------- */

static const char *const session_script[] = {
	"S* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] hi",
	"CA1 SELECT \"INBOX\"",
	"S* 2 EXISTS",
	"S* OK [UIDVALIDITY 1] x",
	"SA1 OK done",
	"CA2 UID FETCH 1:* (UID RFC822.SIZE FLAGS)",
	"S* 1 FETCH (UID 4 RFC822.SIZE 3 FLAGS ())",
	"S* 2 FETCH (UID 6 RFC822.SIZE 9 FLAGS (\\Seen))",
	"SA2 OK",
	"CA3 UID FETCH 4 (UID BODY.PEEK[])",
	"CA4 UID FETCH 6 (UID BODY.PEEK[])",
	"R* 1 FETCH (UID 4 BODY[] {3}\r\na\r\n)\r\n",
	"SA3 OK",
	"R* 2 FETCH (UID 6 BODY[] {9}\r\nb\r\nc\r\nd\r\n)\r\n",
	"SA4 OK",
	"CA5 UID STORE 4,6 +FLAGS.SILENT (\\Deleted)",
	"SA5 OK",
	"CA6 UID EXPUNGE 4,6",
	"SA6 OK",
	"CA7 LOGOUT",
	"S* BYE bye",
	"SA7 OK",
};

static const char noise[] = "R* 9 EXISTS\r\n* 1 FETCH (FLAGS (\\Flagged))\r\n"
    "* OK [ALERT] noise\r\n* NO warning\r\n* 3 RECENT\r\n"
    "* CAPABILITY IMAP4rev1 UIDPLUS\r\n* FLAGS (\\Seen)\r\n";

static void
run_session(struct server *s)
{
	struct listing l = { 0 };
	enum imap_expunged res;
	struct imap_folder f;
	struct imap_event ev;
	struct imap *im;
	struct msg m;
	struct err e;
	size_t others;
	char *got;

	im = preauth(s, NULL);
	msg_init(&m, "/tmp");
	assert_int_equal(imap_select(im, "INBOX", false, &f, &e), 0);
	assert_int_equal(imap_list(im, listed, &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.uid[1], 6);
	imap_fetch(im, 4, IMAP_SECTION_WHOLE, 100, &m, 0);
	imap_fetch(im, 6, IMAP_SECTION_WHOLE, 100, &m, 0);
	for (int i = 0; i < 4; i++) {
		if (imap_read(im, &ev, &e) == -1)
			fail_msg("%s", e.msg);
		if (ev.kind != IMAP_EV_MESSAGE)
			continue;
		got = contents(&m);
		assert_string_equal(got, ev.uid == 4 ? "a\n" : "b\nc\nd\n");
		free(got);
	}
	imap_store(im, l.uid, 2, IMAP_FLAG_DELETED, 0);
	assert_int_equal(imap_read(im, &ev, &e), 0);
	assert_int_equal(imap_expunge(im, l.uid, 2, &res, &others, &e), 0);
	assert_int_equal(res, IMAP_EXPUNGED);
	assert_int_equal(imap_logout(im, &e), 0);
	msg_free(&m);
}

static void
test_untagged_everywhere(void **state)
{
	size_t n = sizeof session_script / sizeof session_script[0];

	(void)state;
	for (size_t at = 1; at <= n; at++) {
		struct server *s = new_server();

		for (size_t i = 0; i < n; i++) {
			/* Before each server line, and after the last. */
			if (i == at && session_script[i][0] != 'C')
				add(s, "%s", noise);
			add(s, "%s", session_script[i]);
		}
		if (at == n)
			add(s, "%s", noise);
		run_session(s);
		server_end(s);
		free(s);
	}
}

/* ---- message data ------------------------------------------------------------------ */

/* The line-end conversion, over every split of the input in two. */
static void
test_crlf_to_lf(void **state)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "a\r\nb\r\n", "a\nb\n" },
		{ "\r\n\r\n", "\n\n" },
		{ "a\rb\r", "a\rb\r" },
		{ "\r\r\n\n", "\r\n\n" },
		{ "x\n\r", "x\n\r" },
		{ "\r", "\r" },
		{ "", "" },
	};
	char out[64];

	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t len = strlen(cases[c].in);

		for (size_t cut = 0; cut <= len; cut++) {
			bool held = false;
			size_t o = imap_crlf_to_lf(&held, cases[c].in, cut, out);

			o += imap_crlf_to_lf(&held, cases[c].in + cut, len - cut,
			    out + o);
			if (held)
				out[o++] = '\r';
			out[o] = '\0';
			assert_string_equal(out, cases[c].out);
		}
	}
}

/* ---- folder names ---------------------------------------------------------------------- */

static void
test_utf7(void **state)
{
	static const struct {
		const char	*utf8, *utf7;
	} pairs[] = {
		{ "INBOX", "INBOX" },
		{ "Entwürfe", "Entw&APw-rfe" },
		{ "a&b", "a&-b" },
		{ "日本語", "&ZeVnLIqe-" },
		{ "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
		{ "📬 box", "&2D3c7A- box" },
		{ "", "" },
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		s = imap_utf7_encode(pairs[i].utf8);
		assert_string_equal(s, pairs[i].utf7);
		free(s);
		s = imap_utf7_decode(pairs[i].utf7);
		assert_string_equal(s, pairs[i].utf8);
		free(s);
	}
	/* Malformed either way. */
	assert_null(imap_utf7_encode("caf\xe9"));
	assert_null(imap_utf7_encode("\xed\xa0\x80"));	/* a surrogate */
	assert_null(imap_utf7_encode("\xc0\xaf"));	/* overlong */
	assert_null(imap_utf7_decode("a&b"));		/* no "-" */
	assert_null(imap_utf7_decode("&AGE-"));		/* "a", encoded */
	assert_null(imap_utf7_decode("&2D0-"));		/* half a pair */
	assert_null(imap_utf7_decode("&A/w-"));		/* "/" is not base64 */
	assert_null(imap_utf7_decode("&APx-"));		/* bits left over */
	assert_null(imap_utf7_decode("Entw\xc3\xbc"));
	/* What is sent for a name, by session kind. */
	s = imap_mailbox_wire("Entwürfe", false);
	assert_string_equal(s, "Entw&APw-rfe");
	free(s);
	s = imap_mailbox_wire("Entw&APw-rfe", false);
	assert_string_equal(s, "Entw&APw-rfe");
	free(s);
	s = imap_mailbox_wire("Entw&APw-rfe", true);
	assert_string_equal(s, "Entwürfe");
	free(s);
	s = imap_mailbox_wire("R&D", true);		/* not modified UTF-7 */
	assert_string_equal(s, "R&D");
	free(s);
	s = imap_mailbox_wire("caf\xe9", false);	/* not UTF-8 either */
	assert_string_equal(s, "caf\xe9");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_refusals),
		cmocka_unit_test(test_greeting_without_caps),
		cmocka_unit_test(test_login_plain_ir),
		cmocka_unit_test(test_login_plain_challenge),
		cmocka_unit_test(test_login_command),
		cmocka_unit_test(test_login_sync_literal),
		cmocka_unit_test(test_login_literal_plus),
		cmocka_unit_test(test_login_literal_refused),
		cmocka_unit_test(test_login_sasl_login),
		cmocka_unit_test(test_login_refusals),
		cmocka_unit_test(test_login_xoauth2_failure),
		cmocka_unit_test(test_login_oauthbearer),
		cmocka_unit_test(test_starttls_refusals),
		cmocka_unit_test(test_enable_rev2),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_list_empty),
		cmocka_unit_test(test_fetch_pipelined),
		cmocka_unit_test(test_fetch_failures),
		cmocka_unit_test(test_fetch_vanished),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_literal_in_pipeline),
		cmocka_unit_test(test_expunge_uidplus),
		cmocka_unit_test(test_expunge_without_uidplus),
		cmocka_unit_test(test_idle_new_mail),
		cmocka_unit_test(test_idle_timeout_and_stop),
		cmocka_unit_test(test_idle_renewed),
		cmocka_unit_test(test_logout),
		cmocka_unit_test(test_untagged_everywhere),
		cmocka_unit_test(test_crlf_to_lf),
		cmocka_unit_test(test_utf7),
	};
	int fd, rc;

	/* Every line at -vv level goes to a file the tests read: what the
	 * user would see, and proof that no secret is ever traced. */
	fd = mkstemp(trace_path);
	assert_true(fd >= 0);
	close(fd);
	setenv("MAILFERRY_TRACE_FILE", trace_path, 1);
	log_setup(LOG_QUIET, false);
	rc = cmocka_run_group_tests_name("imap", tests, NULL, NULL);
	if (trace_has("secret") || trace_has("pässwort"))
		fprintf(stderr, "test-imap: a secret was traced (see %s)\n",
		    trace_path), rc = 1;
	else
		unlink(trace_path);
	return rc;
}
