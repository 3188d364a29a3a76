#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "imap-account.h"
#include "imap-session.h"
#include "xmalloc.h"

enum imap_auth
imap_account_auth(enum auth_method m)
{
	switch (m) {
	case AUTH_USER:
		return IMAP_AUTH_LOGIN;
	case AUTH_PLAIN:
		return IMAP_AUTH_PLAIN;
	case AUTH_LOGIN:
		return IMAP_AUTH_SASL_LOGIN;
	case AUTH_XOAUTH2:
		return IMAP_AUTH_XOAUTH2;
	case AUTH_OAUTHBEARER:
		return IMAP_AUTH_OAUTHBEARER;
	case AUTH_AUTO:
	case AUTH_APOP:
		break;
	}
	return IMAP_AUTH_AUTO;
}

static char *
secret_of(const struct config *cfg, const struct account *a, struct err *e)
{
	char what[300];

	if (a->password != NULL)
		return xstrdup(a->password);
	snprintf(what, sizeof what, "account \"%s\": password_command",
	    a->name);
	return command_first_line(a->password_command, cfg->timeout, what, e);
}

struct imap *
imap_account_open(const struct config *cfg, const struct account *a,
    struct err *e)
{
	struct imap_open_opts o = {
		.host = a->server,
		.port = a->port,
		.tls = a->tls,
		.tls_ca_file = a->tls_ca_file,
		.tls_fingerprint = a->tls_fingerprint,
		.timeout = cfg->timeout,
		.user = a->user,
		.auth = imap_account_auth(a->auth),
		.allow_plaintext_auth = a->allow_plaintext_auth,
	};
	struct imap *im;
	char *secret;

	if ((secret = secret_of(cfg, a, e)) == NULL)
		return NULL;
	o.secret = secret;
	im = imap_open(&o, e);
	freezero_str(secret);
	return im;
}
