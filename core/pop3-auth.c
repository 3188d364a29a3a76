#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "pop3-auth.h"
#include "sasl.h"
#include "xmalloc.h"

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

/* Send a command carrying a secret, read its final reply. */
static int
secret_command(struct pop3 *p, enum pop3_cmd cmd, const char *line,
    size_t secret_from, struct pop3_reply *r, struct err *e)
{
	pop3_send(p, cmd, 0, line, secret_from);
	return pop3_reply(p, r, e);
}

static int
login_failed(struct pop3 *p, const struct pop3_reply *r, const char *method,
    const char *user, struct err *e)
{
	char what[300];

	snprintf(what, sizeof what, "login as %s (%s) refused", user, method);
	/* A refusal without a code is about the credentials. */
	return pop3_fail(p, r, what, ERR_AUTH, e);
}

static int
login_user(struct pop3 *p, const char *user, const char *secret,
    struct err *e)
{
	struct pop3_reply r;
	char *line;
	int rc;

	line = xasprintf("USER %s", user);
	rc = secret_command(p, POP3_USER, line, SIZE_MAX, &r, e);
	free(line);
	if (rc == -1)
		return -1;
	if (!r.ok)
		return login_failed(p, &r, "USER", user, e);
	line = xasprintf("PASS %s", secret);
	rc = secret_command(p, POP3_PASS, line, 5, &r, e);
	freezero_str(line);
	if (rc == -1)
		return -1;
	return r.ok ? 0 : login_failed(p, &r, "USER/PASS", user, e);
}

static int
login_apop(struct pop3 *p, const char *user, const char *secret,
    struct err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char hex[2 * EVP_MAX_MD_SIZE + 1], *input, *line;
	struct pop3_reply r;
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
	rc = secret_command(p, POP3_APOP, line, prefix, &r, e);
	freezero_str(line);
	explicit_bzero(hex, sizeof hex);
	if (rc == -1)
		return -1;
	return r.ok ? 0 : login_failed(p, &r, "APOP", user, e);
}

/* One SASL exchange: AUTH MECH, then each response after a "+". */
static int
login_sasl(struct pop3 *p, const char *mech, const char *user,
    char *const responses[], size_t nresponses, struct err *e)
{
	struct pop3_reply r;
	char line[64];
	size_t i = 0;

	snprintf(line, sizeof line, "AUTH %s", mech);
	pop3_send(p, POP3_AUTH, 0, line, SIZE_MAX);
	for (;;) {
		if (pop3_reply(p, &r, e) == -1)
			return -1;
		if (!r.more)
			break;
		/* The server wants more; a failed XOAUTH2 sends its reason
		 * as a challenge and expects an empty line back. */
		pop3_send_continuation(p, i < nresponses ? responses[i] : "",
		    0);
		i++;
		if (i > nresponses + 1)
			return err_set(e, ERR_TEMP, "%s: SASL %s: the server "
			    "keeps asking", p->conn->label, mech);
	}
	return r.ok ? 0 : login_failed(p, &r, mech, user, e);
}

/* A mechanism answered with one response, which is wiped after. */
static int
login_single(struct pop3 *p, const char *mech, const char *user, char *b64,
    struct err *e)
{
	int rc = login_sasl(p, mech, user, &b64, 1, e);

	freezero_str(b64);
	return rc;
}

static int
login_plain(struct pop3 *p, const char *user, const char *secret,
    struct err *e)
{
	return login_single(p, "PLAIN", user, sasl_plain(user, secret), e);
}

static int
login_login(struct pop3 *p, const char *user, const char *secret,
    struct err *e)
{
	char *responses[2] = { sasl_base64(user, strlen(user)),
	    sasl_base64(secret, strlen(secret)) };
	int rc = login_sasl(p, "LOGIN", user, responses, 2, e);

	free(responses[0]);
	freezero_str(responses[1]);
	return rc;
}

static int
login_xoauth2(struct pop3 *p, const char *user, const char *token,
    struct err *e)
{
	return login_single(p, "XOAUTH2", user, sasl_xoauth2(user, token), e);
}

/*
 * The method auth = "auto" picks: under TLS, SASL PLAIN or USER/PASS
 * (TLS protects them alike); without TLS (allowed only by
 * allow_plaintext_auth), APOP first, as it does not reveal the password
 * itself to an eavesdropper.
 */
static enum auth_method
choose(const struct pop3 *p, bool encrypted)
{
	if (!encrypted && p->apop_stamp != NULL)
		return AUTH_APOP;
	if (offers_sasl(p, "PLAIN"))
		return AUTH_PLAIN;
	/* USER is mandatory to advertise with CAPA, but servers without
	 * CAPA usually take it too. */
	if ((p->caps & POP3_CAP_USER) || !p->capa_answered)
		return AUTH_USER;
	if (offers_sasl(p, "LOGIN"))
		return AUTH_LOGIN;
	if (p->apop_stamp != NULL)
		return AUTH_APOP;
	return AUTH_USER;
}

int
pop3_login(struct pop3 *p, const struct account *a, const char *secret,
    bool encrypted, struct err *e)
{
	enum auth_method method = a->auth;

	/* Not even an APOP digest goes out in the clear unless allowed:
	 * it can be attacked offline. */
	if (sasl_may_send(p->conn->label, encrypted, a->allow_plaintext_auth,
	    e) == -1)
		return -1;
	if (method == AUTH_AUTO)
		method = choose(p, encrypted);
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: logging in as %s (%s)", p->conn->label, a->user,
		    method == AUTH_USER ? "USER/PASS" : method == AUTH_APOP ?
		    "APOP" : method == AUTH_PLAIN ? "SASL PLAIN" :
		    method == AUTH_LOGIN ? "SASL LOGIN" : "SASL XOAUTH2");
	switch (method) {
	case AUTH_USER:
		return login_user(p, a->user, secret, e);
	case AUTH_APOP:
		if (p->apop_stamp == NULL)
			return err_set(e, ERR_AUTH, "%s: APOP is not offered "
			    "(no timestamp in the greeting)", p->conn->label);
		return login_apop(p, a->user, secret, e);
	case AUTH_PLAIN:
		return login_plain(p, a->user, secret, e);
	case AUTH_LOGIN:
		return login_login(p, a->user, secret, e);
	case AUTH_XOAUTH2:
		return login_xoauth2(p, a->user, secret, e);
	case AUTH_AUTO:
		break;
	}
	return err_set(e, ERR_INTERNAL, "no authentication method");
}
