/*
 * SASL payloads (PLAIN, LOGIN, XOAUTH2), base64 at its edges, the
 * buffers that held a secret wiped, and the POP3 login exchanges over a
 * socket pair standing in for the server: each method, a server that
 * refuses, one that keeps asking, and the plaintext rule.
 */
#include <sys/socket.h>

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
#include "pop3-auth.h"
#include "pop3.h"
#include "sasl.h"
#include "xmalloc.h"

/*
 * Every buffer the code under test wipes, as it was just before: this
 * definition takes the place of libc's in the test program.
 */
static struct {
	char	*copy[64];
	size_t	 len[64];
	size_t	 n;
} wiped;

/* Records what was wiped, then wipes it. */
static void
record_wipe(void *p, size_t len)
{
	volatile unsigned char *v = p;

	if (wiped.n < 64) {
		wiped.copy[wiped.n] = malloc(len + 1);
		memcpy(wiped.copy[wiped.n], p, len);
		wiped.len[wiped.n++] = len;
	}
	for (size_t i = 0; i < len; i++)
		v[i] = 0;
}

void
explicit_bzero(void *p, size_t len)
{
	record_wipe(p, len);
}

/* With _FORTIFY_SOURCE the library's callers reach this one instead. */
void __explicit_bzero_chk(void *, size_t, size_t);

void
__explicit_bzero_chk(void *p, size_t len, size_t room)
{
	(void)room;
	record_wipe(p, len);
}

static void
wiped_reset(void)
{
	for (size_t i = 0; i < wiped.n; i++)
		free(wiped.copy[i]);
	wiped.n = 0;
}

/* Was a buffer holding exactly [s, s + len) wiped? */
static bool
was_wiped(const void *s, size_t len)
{
	for (size_t i = 0; i < wiped.n; i++)
		if (wiped.len[i] >= len && memcmp(wiped.copy[i], s, len) == 0)
			return true;
	return false;
}

static void
test_base64_edges(void **state)
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*out;
	} cases[] = {
		{ "", 0, "" },
		{ "f", 1, "Zg==" },
		{ "fo", 2, "Zm8=" },
		{ "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg==" },
		{ "fooba", 5, "Zm9vYmE=" },
		{ "foobar", 6, "Zm9vYmFy" },
		{ "\0\0\0", 3, "AAAA" },
		{ "\xff\xfe\xfd", 3, "//79" },
		{ "\xfb\xef", 2, "++8=" },
	};
	char *big, *b64;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		b64 = sasl_base64(cases[i].in, cases[i].len);
		assert_string_equal(b64, cases[i].out);
		free(b64);
	}
	/* Long input: one line, no newlines (EVP's block encoder). */
	big = malloc(100000);
	memset(big, 'x', 100000);
	b64 = sasl_base64(big, 100000);
	assert_int_equal(strlen(b64), 4 * ((100000 + 2) / 3));
	assert_null(strchr(b64, '\n'));
	free(b64);
	free(big);
}

static void
test_plain(void **state)
{
	char *b64;

	(void)state;
	wiped_reset();
	b64 = sasl_plain("alice", "s3cret");
	/* base64 of "\0alice\0s3cret" */
	assert_string_equal(b64, "AGFsaWNlAHMzY3JldA==");
	assert_true(was_wiped("\0alice\0s3cret", 13));
	free(b64);
	b64 = sasl_plain("", "");
	assert_string_equal(b64, "AAA=");
	free(b64);
	/* Non-ASCII passes through as bytes (UTF-8, RFC 4616). */
	b64 = sasl_plain("j\xc3\xb6rg", "p\xc3\xa4ss");
	assert_string_equal(b64, "AGrDtnJnAHDDpHNz");
	free(b64);
	wiped_reset();
}

static void
test_xoauth2(void **state)
{
	char *b64;

	(void)state;
	wiped_reset();
	b64 = sasl_xoauth2("someuser@example.com",
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
	/* The example of Google's XOAUTH2 protocol description. */
	assert_string_equal(b64, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJ"
	    "lYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0"
	    "Q2cBAQ==");
	assert_true(was_wiped("user=someuser@example.com\001auth=Bearer "
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001", 79));
	free(b64);
	wiped_reset();
}

/* ---- the login exchanges ----------------------------------------- */

struct server {
	int		 peer;	/* our end: what the client wrote */
	struct pop3	*p;
};

/* A POP3 session whose server has already said `wire` (greeting
 * included) and then stops talking. */
static void
server_start(struct server *s, const char *wire)
{
	struct conn *c = xcalloc(1, sizeof *c);
	struct err e;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_int_equal(write(sv[1], wire, strlen(wire)),
	    (ssize_t)strlen(wire));
	shutdown(sv[1], SHUT_WR);
	c->fd = sv[0];
	c->label = xstrdup("pop.test:995");
	c->timeout_ms = 5000;
	c->rbuf = xmalloc(CONN_READ_BUFFER + 1);
	s->peer = sv[1];
	s->p = pop3_new(c);
	assert_int_equal(pop3_greeting(s->p, &e), 0);
}

/* Everything the client sent, once it is done. */
static char *
server_heard(struct server *s)
{
	static char buf[8192];
	size_t len = 0;
	ssize_t n;

	conn_close(s->p->conn);
	s->p->conn = NULL;
	pop3_free(s->p);
	while ((n = read(s->peer, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(s->peer);
	buf[len] = '\0';
	return buf;
}

static struct account
account(enum auth_method method)
{
	return (struct account){ .name = "acct", .user = "alice",
	    .auth = method };
}

/* Log in with `secret` over a channel said to be encrypted; returns
 * pop3_login's result and what the client sent. */
static int
login(const char *wire, const struct account *a, const char *secret,
    bool encrypted, struct err *e, char **heard)
{
	struct server s;
	int rc;

	server_start(&s, wire);
	err_clear(e);
	rc = pop3_login(s.p, a, secret, encrypted, e);
	*heard = server_heard(&s);
	return rc;
}

static void
test_login_plain(void **state)
{
	struct account a = account(AUTH_PLAIN);
	char *heard;
	struct err e;

	(void)state;
	wiped_reset();
	assert_int_equal(login("+OK ready\r\n+ \r\n+OK welcome\r\n", &a,
	    "s3cret", true, &e, &heard), 0);
	assert_string_equal(heard, "AUTH PLAIN\r\nAGFsaWNlAHMzY3JldA==\r\n");
	/* The encoded secret is wiped, not just freed. */
	assert_true(was_wiped("AGFsaWNlAHMzY3JldA==", 20));
	wiped_reset();
}

static void
test_login_login(void **state)
{
	struct account a = account(AUTH_LOGIN);
	char *heard;
	struct err e;

	(void)state;
	wiped_reset();
	assert_int_equal(login("+OK ready\r\n+ VXNlcm5hbWU6\r\n"
	    "+ UGFzc3dvcmQ6\r\n+OK\r\n", &a, "s3cret", true, &e, &heard), 0);
	assert_string_equal(heard, "AUTH LOGIN\r\nYWxpY2U=\r\nczNjcmV0\r\n");
	assert_true(was_wiped("czNjcmV0", 8));
	wiped_reset();
}

static void
test_login_xoauth2(void **state)
{
	struct account a = account(AUTH_XOAUTH2);
	char *heard, *b64 = sasl_xoauth2("alice", "tok"), expect[256];
	struct err e;

	(void)state;
	snprintf(expect, sizeof expect, "AUTH XOAUTH2\r\n%s\r\n", b64);
	assert_int_equal(login("+OK ready\r\n+ \r\n+OK\r\n", &a, "tok", true,
	    &e, &heard), 0);
	assert_string_equal(heard, expect);
	/* A refused token comes back as a challenge that wants an empty
	 * line before the -ERR. */
	snprintf(expect, sizeof expect, "AUTH XOAUTH2\r\n%s\r\n\r\n", b64);
	assert_int_equal(login("+OK ready\r\n+ \r\n"
	    "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n-ERR [AUTH] invalid token\r\n", &a,
	    "tok", true, &e, &heard), -1);
	assert_string_equal(heard, expect);
	assert_int_equal(e.cls, ERR_AUTH);
	assert_string_equal(e.msg, "pop.test:995: login as alice (SASL XOAUTH2) "
	    "refused: -ERR [AUTH] invalid token");
	freezero_str(b64);
}

static void
test_login_refused(void **state)
{
	struct account a = account(AUTH_PLAIN);
	char *heard;
	struct err e;

	(void)state;
	/* Refused at once, and after the response; a code says why. */
	assert_int_equal(login("+OK\r\n-ERR no PLAIN here\r\n", &a, "x", true,
	    &e, &heard), -1);
	assert_string_equal(heard, "AUTH PLAIN\r\n");
	assert_int_equal(e.cls, ERR_AUTH);
	assert_string_equal(e.msg, "pop.test:995: login as alice (SASL PLAIN) "
	    "refused: -ERR no PLAIN here");
	assert_int_equal(login("+OK\r\n+ \r\n-ERR [SYS/TEMP] try later\r\n",
	    &a, "x", true, &e, &heard), -1);
	assert_int_equal(e.cls, ERR_TEMP);
}

static void
test_login_server_keeps_asking(void **state)
{
	struct account a = account(AUTH_PLAIN);
	char *heard;
	struct err e;

	(void)state;
	/* One response, then empty lines, then the client gives up. */
	assert_int_equal(login("+OK\r\n+ \r\n+ \r\n+ \r\n+ \r\n+ \r\n+ \r\n",
	    &a, "x", true, &e, &heard), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_string_equal(e.msg, "pop.test:995: SASL PLAIN: the server "
	    "keeps asking");
	assert_string_equal(heard, "AUTH PLAIN\r\nAGFsaWNlAHg=\r\n\r\n");
}

static void
test_login_garbled_and_cut(void **state)
{
	struct account a = account(AUTH_LOGIN);
	char *heard;
	struct err e;

	(void)state;
	assert_int_equal(login("+OK\r\n+ VXNlcm5hbWU6\r\n*\r\n", &a, "x", true,
	    &e, &heard), -1);
	assert_string_equal(e.msg, "pop.test:995: unexpected reply to AUTH: "
	    "\"*\"");
	assert_int_equal(login("+OK\r\n+ VXNlcm5hbWU6\r\n", &a, "x", true, &e,
	    &heard), -1);
	assert_string_equal(e.msg, "pop.test:995: connection closed by the "
	    "server");
}

static void
test_login_user_pass(void **state)
{
	struct account a = account(AUTH_USER);
	char *heard;
	struct err e;

	(void)state;
	assert_int_equal(login("+OK\r\n+OK\r\n+OK\r\n", &a, "s3cret", true, &e,
	    &heard), 0);
	assert_string_equal(heard, "USER alice\r\nPASS s3cret\r\n");
	/* A refused user is never sent the password. */
	assert_int_equal(login("+OK\r\n-ERR who?\r\n", &a, "s3cret", true, &e,
	    &heard), -1);
	assert_string_equal(heard, "USER alice\r\n");
	assert_int_equal(e.cls, ERR_AUTH);
}

static void
test_login_apop(void **state)
{
	struct account a = { .name = "acct", .user = "mrose",
	    .auth = AUTH_APOP };
	char *heard;
	struct err e;

	(void)state;
	/* The example of RFC 1939 section 7. */
	assert_int_equal(login("+OK POP3 server ready "
	    "<1896.697170952@dbc.mtview.ca.us>\r\n+OK\r\n", &a, "tanstaaf",
	    true, &e, &heard), 0);
	assert_string_equal(heard,
	    "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
	/* No timestamp in the greeting: APOP is not offered, nothing sent. */
	assert_int_equal(login("+OK ready\r\n", &a, "tanstaaf", true, &e,
	    &heard), -1);
	assert_string_equal(heard, "");
	assert_int_equal(e.cls, ERR_UNAVAIL);
}

static void
test_plaintext_rule(void **state)
{
	struct account a = account(AUTH_AUTO);
	char *heard;
	struct err e;

	(void)state;
	/* Without TLS, nothing at all unless the account allows it. */
	assert_int_equal(login("+OK <1.2@x>\r\n", &a, "s3cret", false, &e,
	    &heard), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_string_equal(heard, "");
	/* Allowed: auto prefers APOP, which does not reveal the secret. */
	a.allow_plaintext_auth = true;
	assert_int_equal(login("+OK <1.2@x>\r\n+OK\r\n", &a, "s3cret", false,
	    &e, &heard), 0);
	assert_memory_equal(heard, "APOP alice ", 11);
	/* Under TLS, auto without CAPA: USER/PASS. */
	assert_int_equal(login("+OK <1.2@x>\r\n+OK\r\n+OK\r\n", &a, "s3cret",
	    true, &e, &heard), 0);
	assert_string_equal(heard, "USER alice\r\nPASS s3cret\r\n");
}

static void
test_auto_follows_capa(void **state)
{
	struct account a = account(AUTH_AUTO);
	struct server s;
	struct err e;

	(void)state;
	/* SASL PLAIN offered: chosen under TLS. */
	server_start(&s, "+OK\r\n+OK\r\nSASL LOGIN PLAIN\r\n.\r\n+ \r\n+OK\r\n");
	assert_int_equal(pop3_capa(s.p, &e), 0);
	assert_int_equal(pop3_login(s.p, &a, "x", true, &e), 0);
	assert_string_equal(server_heard(&s), "CAPA\r\nAUTH PLAIN\r\n"
	    "AGFsaWNlAHg=\r\n");
	/* Only LOGIN, no USER: LOGIN. */
	server_start(&s, "+OK\r\n+OK\r\nSASL LOGIN\r\n.\r\n+ \r\n+ \r\n+OK\r\n");
	assert_int_equal(pop3_capa(s.p, &e), 0);
	assert_int_equal(pop3_login(s.p, &a, "x", true, &e), 0);
	assert_string_equal(server_heard(&s), "CAPA\r\nAUTH LOGIN\r\n"
	    "YWxpY2U=\r\neA==\r\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_edges),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_login_plain),
		cmocka_unit_test(test_login_login),
		cmocka_unit_test(test_login_xoauth2),
		cmocka_unit_test(test_login_refused),
		cmocka_unit_test(test_login_server_keeps_asking),
		cmocka_unit_test(test_login_garbled_and_cut),
		cmocka_unit_test(test_login_user_pass),
		cmocka_unit_test(test_login_apop),
		cmocka_unit_test(test_plaintext_rule),
		cmocka_unit_test(test_auto_follows_capa),
	};
	int rc;

	rc = cmocka_run_group_tests_name("sasl", tests, NULL, NULL);
	wiped_reset();
	return rc;
}
