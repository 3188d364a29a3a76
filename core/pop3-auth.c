#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "pop3-auth.h"
#include "sasl.h"
#include "xmalloc.h"

#define AUTO_METHODS_MAX	4

static const char *
method_name(enum auth_method m)
{
	switch (m) {
	case AUTH_USER:
		return "USER/PASS";
	case AUTH_APOP:
		return "APOP";
	case AUTH_PLAIN:
		return "SASL PLAIN";
	case AUTH_LOGIN:
		return "SASL LOGIN";
	case AUTH_XOAUTH2:
		return "SASL XOAUTH2";
	case AUTH_OAUTHBEARER:
		return "SASL OAUTHBEARER";
	case AUTH_AUTO:
		break;
	}
	return "auto";
}

/* Does the SASL capability list mechanism `mech`? */
static bool
offers_sasl(const struct pop3 *p, const char *mech)
{
	const char *s = p->sasl;
	size_t len = strlen(mech);

	if (s == NULL)
		return false;
	while (*s != '\0') {
		while (*s == ' ')
			s++;
		if (strncasecmp(s, mech, len) == 0 &&
		    (s[len] == ' ' || s[len] == '\0'))
			return true;
		s += strcspn(s, " ");
	}
	return false;
}

/*
 * Is the method the configuration names offered? Only what the server
 * said counts: CAPA for USER and SASL mechanisms (a server without CAPA
 * gets the benefit of the doubt), the greeting's timestamp for APOP.
 * Fills `why` when it is not.
 */
static bool
offered(const struct pop3 *p, enum auth_method m, char *why, size_t size)
{
	switch (m) {
	case AUTH_APOP:
		snprintf(why, size, "no timestamp in its greeting");
		return p->apop_stamp != NULL;
	case AUTH_USER:
		snprintf(why, size, "its CAPA does not list USER");
		return !p->capa_answered || (p->caps & POP3_CAP_USER);
	case AUTH_PLAIN:
	case AUTH_LOGIN:
	case AUTH_XOAUTH2:
		if (p->sasl == NULL)
			snprintf(why, size, "its CAPA lists no SASL mechanisms");
		else
			snprintf(why, size, "its CAPA lists SASL%s", p->sasl);
		return !p->capa_answered ||
		    offers_sasl(p, strchr(method_name(m), ' ') + 1);
	case AUTH_OAUTHBEARER:	/* refused for POP3 by config-imap.c */
	case AUTH_AUTO:
		break;
	}
	return true;
}

/* Send a command carrying a secret, read its final reply. */
static int
secret_command(struct pop3 *p, enum pop3_cmd cmd, const char *line,
    size_t secret_from, struct pop3_reply *r, struct err *e)
{
	pop3_send(p, cmd, 0, line, secret_from);
	return pop3_reply(p, r, e);
}

/*
 * Each login_* function returns -1 when the exchange itself failed (e
 * set), else 0 with the server's verdict in r (r->ok).
 */
static int
login_user(struct pop3 *p, const char *user, const char *secret,
    struct pop3_reply *r, struct err *e)
{
	char *line;
	int rc;

	line = xasprintf("USER %s", user);
	rc = secret_command(p, POP3_USER, line, SIZE_MAX, r, e);
	free(line);
	if (rc == -1 || !r->ok)
		return rc;
	line = xasprintf("PASS %s", secret);
	rc = secret_command(p, POP3_PASS, line, 5, r, e);
	freezero_str(line);
	return rc;
}

static int
login_apop(struct pop3 *p, const char *user, const char *secret,
    struct pop3_reply *r, struct err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char hex[2 * EVP_MAX_MD_SIZE + 1], *input, *line;
	size_t prefix;
	int rc;

	input = xasprintf("%s%s", p->apop_stamp, secret);
	if (EVP_Digest(input, strlen(input), md, &mdlen, EVP_md5(), NULL) != 1) {
		freezero_str(input);
		return err_set(e, ERR_INTERNAL, "APOP: MD5 is not available");
	}
	freezero_str(input);
	/* RFC 1939 writes the digest in lower case. */
	if (OPENSSL_buf2hexstr_ex(hex, sizeof hex, NULL, md, mdlen, '\0') != 1)
		return err_set(e, ERR_INTERNAL, "APOP: hex encoding failed");
	for (char *h = hex; *h != '\0'; h++)
		*h = (char)tolower((unsigned char)*h);
	line = xasprintf("APOP %s %s", user, hex);
	prefix = strlen(line) - strlen(hex);
	rc = secret_command(p, POP3_APOP, line, prefix, r, e);
	freezero_str(line);
	explicit_bzero(hex, sizeof hex);
	return rc;
}

/* One SASL exchange: AUTH MECH, then each response after a "+". */
static int
login_sasl(struct pop3 *p, const char *mech, char *const responses[],
    size_t nresponses, struct pop3_reply *r, struct err *e)
{
	char line[64];
	size_t i = 0;

	snprintf(line, sizeof line, "AUTH %s", mech);
	pop3_send(p, POP3_AUTH, 0, line, SIZE_MAX);
	for (;;) {
		if (pop3_reply(p, r, e) == -1)
			return -1;
		if (!r->more)
			return 0;
		/* The server wants more; a failed XOAUTH2 sends its reason
		 * as a challenge and expects an empty line back. */
		pop3_send_continuation(p, i < nresponses ? responses[i] : "",
		    0);
		i++;
		if (i > nresponses + 1)
			return err_set(e, ERR_TEMP, "%s: SASL %s: the server "
			    "keeps asking", p->conn->label, mech);
	}
}

/* A mechanism answered with one response, which is wiped after. */
static int
login_single(struct pop3 *p, const char *mech, char *b64,
    struct pop3_reply *r, struct err *e)
{
	int rc = login_sasl(p, mech, &b64, 1, r, e);

	freezero_str(b64);
	return rc;
}

static int
login_plain(struct pop3 *p, const char *user, const char *secret,
    struct pop3_reply *r, struct err *e)
{
	return login_single(p, "PLAIN", sasl_plain(user, secret), r, e);
}

static int
login_login(struct pop3 *p, const char *user, const char *secret,
    struct pop3_reply *r, struct err *e)
{
	char *responses[2] = { sasl_base64(user, strlen(user)),
	    sasl_base64(secret, strlen(secret)) };
	int rc = login_sasl(p, "LOGIN", responses, 2, r, e);

	free(responses[0]);
	freezero_str(responses[1]);
	return rc;
}

static int
login_xoauth2(struct pop3 *p, const char *user, const char *token,
    struct pop3_reply *r, struct err *e)
{
	return login_single(p, "XOAUTH2", sasl_xoauth2(user, token), r, e);
}

static int
login_with(struct pop3 *p, enum auth_method m, const char *user,
    const char *secret, struct pop3_reply *r, struct err *e)
{
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: logging in as %s (%s)", p->conn->label, user,
		    method_name(m));
	switch (m) {
	case AUTH_USER:
		return login_user(p, user, secret, r, e);
	case AUTH_APOP:
		return login_apop(p, user, secret, r, e);
	case AUTH_PLAIN:
		return login_plain(p, user, secret, r, e);
	case AUTH_LOGIN:
		return login_login(p, user, secret, r, e);
	case AUTH_XOAUTH2:
		return login_xoauth2(p, user, secret, r, e);
	case AUTH_OAUTHBEARER:	/* refused for POP3 by config-imap.c */
	case AUTH_AUTO:
		break;
	}
	return err_set(e, ERR_INTERNAL, "no authentication method");
}

/* A refusal with [LOGIN-DELAY]: say why, and when to try again. */
static void
explain_login_delay(const struct pop3 *p, const struct pop3_reply *r,
    struct err *e)
{
	size_t len = strlen(e->msg);
	char when[32];
	time_t t;

	if (strcasecmp(r->code, "LOGIN-DELAY") != 0)
		return;
	if (p->login_delay <= 0) {
		snprintf(e->msg + len, sizeof e->msg - len, " (the server wants "
		    "a longer pause between logins; try again later)");
		return;
	}
	/* The last login was less than login_delay ago. */
	t = time(NULL) + p->login_delay;
	strftime(when, sizeof when, "%H:%M:%S", localtime(&t));
	snprintf(e->msg + len, sizeof e->msg - len, " (the server allows one "
	    "login every %d s; try again at %s at the latest)",
	    p->login_delay, when);
}

static int
login_failed(struct pop3 *p, const struct pop3_reply *r, const char *methods,
    const char *user, struct err *e)
{
	char what[300];

	snprintf(what, sizeof what, "login as %s (%s) refused", user, methods);
	/* A refusal without a code is about the credentials. */
	pop3_fail(p, r, what, ERR_AUTH, e);
	explain_login_delay(p, r, e);
	return -1;
}

/*
 * What auth = "auto" tries, in order. Without TLS (allowed only by
 * allow_plaintext_auth), APOP first, as it does not reveal the password
 * itself to an eavesdropper; then one SASL mechanism carrying the
 * password (PLAIN, else LOGIN), then USER/PASS. Under TLS, which
 * protects them alike, the password methods first and APOP last.
 */
static size_t
auto_methods(const struct pop3 *p, bool encrypted,
    enum auth_method out[AUTO_METHODS_MAX])
{
	size_t n = 0;

	if (!encrypted && p->apop_stamp != NULL)
		out[n++] = AUTH_APOP;
	if (offers_sasl(p, "PLAIN"))
		out[n++] = AUTH_PLAIN;
	else if (offers_sasl(p, "LOGIN"))
		out[n++] = AUTH_LOGIN;
	/* USER is mandatory to advertise with CAPA, but servers without
	 * CAPA usually take it too. */
	if ((p->caps & POP3_CAP_USER) || !p->capa_answered)
		out[n++] = AUTH_USER;
	if (encrypted && p->apop_stamp != NULL)
		out[n++] = AUTH_APOP;
	if (n == 0)
		out[n++] = AUTH_USER;
	return n;
}

/*
 * After a refusal, is another method worth a try? Not when the server
 * says the refusal is about something else than the method (in use,
 * temporary, LOGIN-DELAY), nor when a method that sent the password
 * itself was refused with [AUTH]: the same password would be refused
 * again. APOP, refused, may only lack a secret on the server's side.
 */
static bool
worth_next(enum auth_method tried, const struct pop3_reply *r)
{
	if (r->code[0] != '\0' && strcasecmp(r->code, "AUTH") != 0)
		return false;
	return tried == AUTH_APOP || r->code[0] == '\0';
}

static int
login_auto(struct pop3 *p, const char *user, const char *secret,
    bool encrypted, struct err *e)
{
	enum auth_method methods[AUTO_METHODS_MAX];
	size_t n = auto_methods(p, encrypted, methods);
	char tried[128] = "";
	struct pop3_reply r;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(tried);

		snprintf(tried + len, sizeof tried - len, "%s%s",
		    i > 0 ? ", then " : "", method_name(methods[i]));
		if (login_with(p, methods[i], user, secret, &r, e) == -1) {
			if (i > 0)
				err_prefix(e, "login as %s (%s)", user, tried);
			return -1;
		}
		if (r.ok)
			return 0;
		if (i + 1 == n || !worth_next(methods[i], &r))
			break;
		if (log_enabled(LOG_VERBOSE))
			log_verbose("%s: %s refused (-ERR %s%s%s); trying %s",
			    p->conn->label, method_name(methods[i]),
			    r.code[0] ? "[" : "", r.code, r.code[0] ? "]" : "",
			    method_name(methods[i + 1]));
	}
	return login_failed(p, &r, tried, user, e);
}

int
pop3_login(struct pop3 *p, const struct account *a, const char *secret,
    bool encrypted, struct err *e)
{
	struct pop3_reply r;
	char why[200];

	/* Not even an APOP digest goes out in the clear unless allowed:
	 * it can be attacked offline. */
	if (sasl_may_send(p->conn->label, encrypted, a->allow_plaintext_auth,
	    e) == -1)
		return -1;
	if (a->auth == AUTH_AUTO)
		return login_auto(p, a->user, secret, encrypted, e);
	if (!offered(p, a->auth, why, sizeof why))
		return err_set(e, ERR_UNAVAIL, "%s: %s is not offered by the "
		    "server (%s); set auth = \"auto\" or another method",
		    p->conn->label, method_name(a->auth), why);
	if (login_with(p, a->auth, a->user, secret, &r, e) == -1)
		return -1;
	return r.ok ? 0 : login_failed(p, &r, method_name(a->auth), a->user,
	    e);
}
