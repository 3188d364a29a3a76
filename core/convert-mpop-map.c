/*
 * mpop's commands, each kept in an mp_account as written; then one
 * mp_account turned into a mailferry account, with a note for whatever
 * has no equivalent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert-mpop.h"
#include "xmalloc.h"

void
mp_account_init(struct mp_account *a)
{
	memset(a, 0, sizeof *a);
	for (size_t i = 0; i < MP_NNUMBERS; i++)
		a->v[i] = MP_UNSET;
}

void
mp_account_free(struct mp_account *a)
{
	for (size_t i = 0; i < MP_NSTRINGS; i++)
		free(a->s[i]);
	free(a->name);
	free(a->origin);
	for (size_t i = 0; i < a->nnotes; i++)
		free(a->notes[i]);
	free(a->notes);
}

void
mp_account_copy(struct mp_account *dst, const struct mp_account *src)
{
	mp_account_init(dst);
	mp_account_inherit(dst, src);
}

void
mp_account_inherit(struct mp_account *dst, const struct mp_account *src)
{
	for (size_t i = 0; i < MP_NSTRINGS; i++)
		if (src->s[i] != NULL)
			conv_set(&dst->s[i], src->s[i]);
	for (size_t i = 0; i < MP_NNUMBERS; i++)
		if (src->v[i] != MP_UNSET)
			dst->v[i] = src->v[i];
	for (size_t i = 0; i < src->nnotes; i++)
		conv_list_add(&dst->notes, &dst->nnotes, &dst->capnotes,
		    src->notes[i]);
}

enum cmd_kind {
	C_STRING,		/* kept; an empty argument unsets it */
	C_SWITCH,		/* on (or empty) / off */
	C_NUMBER,		/* a number, or off */
	C_SIZE,			/* off, or a size with k or m */
	C_SECRET,		/* only whether it was given */
	C_DELIVERY,
	C_IGNORE,		/* nothing to carry over */
	C_NOTE,			/* noted when given an argument */
};

struct mp_cmd {
	const char	*name;
	enum cmd_kind	 kind;
	int		 index;		/* into s[] or v[] */
};

static const struct mp_cmd commands[] = {
	{ "host", C_STRING, MP_HOST },
	{ "user", C_STRING, MP_USER },
	{ "passwordeval", C_STRING, MP_PASSWORDEVAL },
	{ "auth", C_STRING, MP_AUTH },
	{ "tls_trust_file", C_STRING, MP_TLS_TRUST_FILE },
	{ "tls_fingerprint", C_STRING, MP_TLS_FINGERPRINT },
	{ "uidls_file", C_STRING, MP_UIDLS_FILE },
	{ "port", C_NUMBER, MP_PORT },
	{ "timeout", C_NUMBER, MP_TIMEOUT },
	{ "password", C_SECRET, MP_PASSWORD },
	{ "tls", C_SWITCH, MP_TLS },
	{ "tls_starttls", C_SWITCH, MP_TLS_STARTTLS },
	{ "tls_certcheck", C_SWITCH, MP_TLS_CERTCHECK },
	{ "keep", C_SWITCH, MP_KEEP },
	{ "received_header", C_SWITCH, MP_RECEIVED_HEADER },
	{ "only_new", C_SWITCH, MP_ONLY_NEW },
	{ "killsize", C_SIZE, MP_KILLSIZE },
	{ "skipsize", C_SIZE, MP_SKIPSIZE },
	{ "delivery", C_DELIVERY, MP_DELIVERY },
	{ "pipelining", C_IGNORE, 0 },
	{ "tls_crl_file", C_NOTE, 0 },
	{ "tls_key_file", C_NOTE, 0 },
	{ "tls_cert_file", C_NOTE, 0 },
	{ "tls_priorities", C_NOTE, 0 },
	{ "tls_host_override", C_NOTE, 0 },
	{ "tls_min_dh_prime_bits", C_NOTE, 0 },
	{ "ntlmdomain", C_NOTE, 0 },
	{ "source_ip", C_NOTE, 0 },
	{ "proxy_host", C_NOTE, 0 },
	{ "proxy_port", C_NOTE, 0 },
	{ "socket", C_NOTE, 0 },
	{ "filter", C_NOTE, 0 },
	{ "eval", C_NOTE, 0 },
};

static void
note(struct mp_account *a, const char *fmt, const char *x, const char *y)
{
	char buf[400];

	snprintf(buf, sizeof buf, fmt, x, y);
	conv_list_add(&a->notes, &a->nnotes, &a->capnotes, buf);
}

static int64_t
size_of(const char *arg)
{
	char *end;
	long long v;

	if (strcmp(arg, "off") == 0)
		return MP_OFF;
	v = strtoll(arg, &end, 10);
	if (end == arg || v < 0 || v > (1LL << 40))
		return MP_UNSET;
	if (*end == 'k' && end[1] == '\0')
		return v * 1024;
	if (*end == 'm' && end[1] == '\0')
		return v * 1024 * 1024;
	return *end == '\0' ? v : MP_UNSET;
}

static int64_t
number_of(const char *arg)
{
	char *end;
	long v;

	if (strcmp(arg, "off") == 0)
		return MP_OFF;
	v = strtol(arg, &end, 10);
	return end != arg && *end == '\0' && v >= 0 && v <= 65535 ? v :
	    MP_UNSET;
}

static int64_t
switch_of(const char *arg)
{
	if (arg[0] == '\0' || strcmp(arg, "on") == 0)
		return 1;
	return strcmp(arg, "off") == 0 ? 0 : MP_UNSET;
}

/* "delivery METHOD ARGUMENT". */
static void
delivery(struct mp_account *a, const char *arg, const char *where)
{
	static const char *const methods[] = { "mda", "maildir", "mbox",
	    "exchange", NULL };
	size_t len = strcspn(arg, " \t");

	for (size_t i = 0; methods[i] != NULL; i++)
		if (strlen(methods[i]) == len &&
		    strncmp(arg, methods[i], len) == 0) {
			char *rest = xstrdup(arg + len);

			a->v[MP_DELIVERY] = (int64_t)i + MP_DELIVERY_MDA;
			conv_set(&a->s[MP_DELIVERY_ARG], mp_trim(rest));
			free(rest);
			return;
		}
	note(a, "%s: delivery %s is not an mpop delivery method", where, arg);
}

int
mp_command(struct conv *c, struct mp_account *a, const char *cmd,
    const char *arg, const char *where)
{
	const struct mp_cmd *k = NULL;
	int64_t v = MP_UNSET;

	(void)c;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, cmd) == 0)
			k = &commands[i];
	if (k == NULL)
		return -1;
	switch (k->kind) {
	case C_STRING:
		conv_set(&a->s[k->index], arg[0] != '\0' ? arg : NULL);
		return 0;
	case C_SECRET:
		a->v[k->index] = arg[0] != '\0';
		return 0;
	case C_DELIVERY:
		delivery(a, arg, where);
		return 0;
	case C_IGNORE:
		return 0;
	case C_NOTE:
		if (arg[0] != '\0')
			note(a, "%s: %s has no equivalent in mailferry", where,
			    cmd);
		return 0;
	case C_SWITCH:
		v = switch_of(arg);
		break;
	case C_NUMBER:
		v = number_of(arg);
		break;
	case C_SIZE:
		v = size_of(arg);
		break;
	}
	if (v == MP_UNSET)
		note(a, "%s: the value of %s is not understood: ignored", where,
		    cmd);
	else
		a->v[k->index] = v;
	return 0;
}

static void
disable(struct conv_account *ca, const char *why)
{
	if (!ca->disabled) {
		ca->disabled = true;
		conv_set(&ca->why_disabled, why);
	}
}

/* tls, tls_starttls, port, auth. */
static void
connection(struct conv *c, struct conv_account *ca,
    const struct mp_account *a)
{
	static const char *const same[] = { "user", "plain", "login", "apop",
	    "xoauth2", NULL };
	const char *auth = a->s[MP_AUTH];
	bool cleartext = false;

	ca->tls = a->v[MP_TLS] != 1 ? TLS_MODE_NONE :
	    a->v[MP_TLS_STARTTLS] == 0 ? TLS_MODE_IMPLICIT : TLS_MODE_STARTTLS;
	if (a->v[MP_PORT] > 0)
		ca->port = (int)a->v[MP_PORT];
	for (size_t i = 0; auth != NULL && same[i] != NULL; i++)
		if (strcmp(auth, same[i]) == 0) {
			ca->auth = same[i];
			cleartext = i < 3;
		}
	if (auth != NULL && strcmp(auth, "on") != 0 && ca->auth == NULL)
		conv_note(c, ca, "auth %s: mailferry logs in with USER/PASS, "
		    "APOP, SASL PLAIN, LOGIN or XOAUTH2 (auth = \"auto\" picks "
		    "one)", auth);
	if (ca->tls != TLS_MODE_NONE)
		return;
	/* mpop logged in without TLS: so must mailferry, which sends no
	 * credentials in clear text unless allowed. */
	ca->plaintext = true;
	if (cleartext || ca->auth != NULL)
		return;
	ca->auth = "apop";
	conv_note(c, ca, "tls off: over plain text mpop used only logins that "
	    "hide the password; auth = \"apop\" does the same here, and "
	    "allow_plaintext_auth = true lets its digest go out without TLS "
	    "(a digest can be attacked offline: use TLS where the server "
	    "offers it)");
}

/* tls_trust_file, tls_fingerprint, tls_certcheck. */
static void
certificates(struct conv *c, struct conv_account *ca,
    const struct mp_account *a)
{
	const char *trust = a->s[MP_TLS_TRUST_FILE];
	const char *fp = a->s[MP_TLS_FINGERPRINT];

	if (a->v[MP_TIMEOUT] > 0 && a->v[MP_TIMEOUT] > c->timeout)
		c->timeout = (int)a->v[MP_TIMEOUT];
	if (ca->tls == TLS_MODE_NONE)
		return;
	if (trust != NULL && strcmp(trust, "system") != 0)
		conv_set(&ca->tls_ca_file, trust);
	if (fp != NULL && (ca->tls_fingerprint = conv_sha256_pin(fp)) == NULL)
		conv_note(c, ca, "tls_fingerprint %s is not a SHA-256 digest; "
		    "mailferry pins with one: mpop --serverinfo --tls "
		    "--tls-certcheck=off --tls-fingerprint= prints it", fp);
	if (a->v[MP_TLS_CERTCHECK] == 0 && ca->tls_fingerprint == NULL)
		conv_note(c, ca, "tls_certcheck off: mailferry always verifies "
		    "the server's certificate; for a self-signed one, pin it "
		    "with tls_fingerprint");
}

/* user, password, keep, killsize, skipsize, only_new, uidls_file. */
static void
fetching(struct conv *c, struct conv_account *ca, const struct mp_account *a)
{
	conv_set(&ca->user, a->s[MP_USER] != NULL ? a->s[MP_USER] :
	    conv_local_user());
	ca->had_password = a->v[MP_PASSWORD] == 1;
	conv_set(&ca->password_command, a->s[MP_PASSWORDEVAL]);
	ca->keep = a->v[MP_KEEP] == 1 ? 1 : 0;
	if (a->v[MP_KILLSIZE] > 0)
		ca->kill_size = a->v[MP_KILLSIZE];
	else if (a->v[MP_KILLSIZE] == 0)
		conv_note(c, ca, "killsize 0: to mark every message as fetched, "
		    "use mailferry --import-uids instead");
	if (a->v[MP_SKIPSIZE] > 0)
		ca->max_size = a->v[MP_SKIPSIZE];
	else if (a->v[MP_SKIPSIZE] == 0)
		conv_note(c, ca, "skipsize 0 (skip every message) is not "
		    "carried over");
	if (a->v[MP_ONLY_NEW] == 0)
		conv_note(c, ca, "only_new off: mailferry fetches new messages "
		    "only (mailferry --all fetches every message once)");
	if (a->s[MP_UIDLS_FILE] != NULL)
		conv_note(c, ca, "uidls_file %s: take over its UIDs with "
		    "mailferry -a %s --import-uids mpop:FILE (%%U the user, %%H "
		    "the host)", a->s[MP_UIDLS_FILE], a->name);
}

static void
destination(struct conv_account *ca, const struct mp_account *a)
{
	struct conv_dest *d = &ca->dest;
	const char *arg = a->s[MP_DELIVERY_ARG];
	bool uses_to;

	ca->has_dest = arg != NULL;
	switch (arg != NULL ? a->v[MP_DELIVERY] : MP_DELIVERY_NONE) {
	case MP_DELIVERY_MDA:
		d->kind = CONV_MDA;
		d->command = conv_mda_command(arg, &uses_to);
		/* mpop's default is on, mailferry's for mda too. */
		if (a->v[MP_RECEIVED_HEADER] == 0)
			d->received_header = 0;
		return;
	case MP_DELIVERY_MAILDIR:
	case MP_DELIVERY_MBOX:
		d->kind = a->v[MP_DELIVERY] == MP_DELIVERY_MAILDIR ?
		    CONV_MAILDIR : CONV_MBOX;
		conv_set(&d->path, arg);
		/* mpop adds a Received field unless told not to;
		 * mailferry's files stay as fetched unless told to. */
		if (a->v[MP_RECEIVED_HEADER] != 0)
			d->received_header = 1;
		return;
	}
	ca->has_dest = false;
	disable(ca, a->v[MP_DELIVERY] == MP_DELIVERY_EXCHANGE ?
	    "delivery exchange has no equivalent in mailferry" :
	    "the account has no delivery");
}

int
mp_add_account(struct conv *c, const struct mp_account *a, struct err *e)
{
	struct conv_account *ca = conv_add_account(c, a->origin, e);

	if (ca == NULL)
		return -1;
	for (size_t i = 0; i < a->nnotes; i++)
		conv_note(c, ca, "%s", a->notes[i]);
	ca->name = xstrdup(a->name);
	for (size_t i = 0; i + 1 < c->naccounts; i++)
		if (strcmp(c->accounts[i].name, ca->name) == 0) {
			free(ca->name);
			ca->name = xasprintf("%s-%zu", a->name, c->naccounts);
			break;
		}
	conv_set(&ca->server, a->s[MP_HOST] != NULL ? a->s[MP_HOST] : "");
	if (a->s[MP_HOST] == NULL)
		disable(ca, "the account has no host");
	connection(c, ca, a);
	certificates(c, ca, a);
	fetching(c, ca, a);
	destination(ca, a);
	return 0;
}
