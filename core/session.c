#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "log.h"
#include "pop3-auth.h"
#include "session.h"
#include "xmalloc.h"

static int
start_tls(struct pop3 *p, const struct account *a, struct err *e)
{
	struct tls_options opt = {
		.host = a->server,
		.ca_file = a->tls_ca_file,
		.fingerprint = a->tls_fingerprint,
	};
	char desc[128];

	if (conn_start_tls(p->conn, &opt, e) == -1)
		return -1;
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: TLS established (%s)", p->conn->label,
		    tls_describe(p->conn->tls, desc, sizeof desc));
	return 0;
}

static int
stls(struct pop3 *p, const struct account *a, struct err *e)
{
	struct pop3_reply r;

	if (!(p->caps & POP3_CAP_STLS))
		return err_set(e, ERR_UNAVAIL, "%s: the server does not offer "
		    "STLS, and tls = \"starttls\" forbids continuing without "
		    "TLS", p->conn->label);
	pop3_send(p, POP3_STLS, 0, "STLS", SIZE_MAX);
	if (pop3_reply(p, &r, e) == -1)
		return -1;
	if (!r.ok)
		return pop3_fail(p, &r, "STLS refused", ERR_UNAVAIL, e);
	/* Anything the server sent before the handshake is suspect. */
	if (conn_buffered(p->conn) > 0)
		return err_set(e, ERR_UNAVAIL, "%s: the server sent data "
		    "after its STLS reply (possible injection attack)",
		    p->conn->label);
	if (start_tls(p, a, e) == -1)
		return -1;
	/* Capabilities may change once under TLS (RFC 2595). */
	return pop3_capa(p, e);
}

static char *
get_secret(const struct config *cfg, const struct account *a, struct err *e)
{
	char what[300];

	if (a->password != NULL)
		return xstrdup(a->password);
	snprintf(what, sizeof what, "account \"%s\": password_command",
	    a->name);
	return command_first_line(a->password_command, cfg->timeout, what, e);
}

struct pop3 *
session_open(const struct config *cfg, const struct account *a,
    struct err *e)
{
	struct conn *c;
	struct pop3 *p;
	char *secret;

	secret = get_secret(cfg, a, e);
	if (secret == NULL)
		return NULL;
	c = conn_connect(a->server, a->port, cfg->timeout, e);
	if (c == NULL) {
		freezero_str(secret);
		return NULL;
	}
	p = pop3_new(c);
	if (a->tls == TLS_MODE_IMPLICIT && start_tls(p, a, e) == -1)
		goto fail;
	if (pop3_greeting(p, e) == -1 || pop3_capa(p, e) == -1)
		goto fail;
	if (a->tls == TLS_MODE_STARTTLS && stls(p, a, e) == -1)
		goto fail;
	if (pop3_login(p, a, secret, p->conn->tls != NULL, e) == -1)
		goto fail;
	freezero_str(secret);
	/* Some servers only reveal capabilities after login (RFC 2449). */
	if (!p->capa_answered || !(p->caps & POP3_CAP_UIDL)) {
		if (pop3_capa(p, e) == -1)
			goto fail_no_secret;
	}
	return p;
fail:
	freezero_str(secret);
fail_no_secret:
	session_abort(p);
	return NULL;
}

int
session_quit(struct pop3 *p, struct err *e)
{
	struct pop3_reply r;
	int rc = 0;

	pop3_send(p, POP3_QUIT, 0, "QUIT", SIZE_MAX);
	if (pop3_reply(p, &r, e) == -1)
		rc = -1;
	else if (!r.ok)
		rc = pop3_fail(p, &r, "QUIT failed (deletions not done)",
		    ERR_TEMP, e);
	session_abort(p);
	return rc;
}

void
session_abort(struct pop3 *p)
{
	if (p == NULL)
		return;
	conn_close(p->conn);
	pop3_free(p);
}
