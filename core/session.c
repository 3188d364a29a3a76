#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * RFC 6856: a server offering UTF8 may rewrite a message whose header is
 * not ASCII (into a "cannot be displayed" wrapper, say) for a client that
 * did not ask for UTF-8; asking keeps every message as it was sent.
 */
static int
enable_utf8(struct pop3 *p, struct err *e)
{
	struct pop3_reply r;

	pop3_send(p, POP3_UTF8, 0, "UTF8", SIZE_MAX);
	if (pop3_reply(p, &r, e) == -1)
		return -1;
	if (!r.ok) {
		char text[sizeof r.text + 8];

		log_escape(text, sizeof text, r.text, strlen(r.text));
		log_warn("%s: the server offers UTF8 but refused it (-ERR %s); "
		    "messages with non-ASCII headers may arrive rewritten",
		    p->conn->label, text);
		return 0;
	}
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: UTF8 enabled: messages with UTF-8 headers "
		    "arrive as they were sent", p->conn->label);
	return 0;
}

/*
 * CAPA again after login, where some servers first list UIDL or a
 * LOGIN-DELAY of the user's own (RFC 2449); a server refusing CAPA now
 * keeps what it said before.
 */
static int
capabilities_after_login(struct pop3 *p, struct err *e)
{
	unsigned caps = p->caps;
	int login_delay = p->login_delay;

	if (p->capa_answered && (p->caps & POP3_CAP_UIDL) &&
	    !p->login_delay_per_user)
		return 0;
	if (pop3_capa(p, e) == -1)
		return -1;
	if (!p->capa_answered && caps != 0) {
		p->caps = caps;
		p->login_delay = login_delay;
		p->capa_answered = true;
	}
	return 0;
}

static int
log_in(struct pop3 *p, const struct account *a, const char *secret,
    struct err *e)
{
	if ((p->caps & POP3_CAP_UTF8) && enable_utf8(p, e) == -1)
		return -1;
	if (pop3_login(p, a, secret, p->conn->tls != NULL, e) == -1)
		return -1;
	return capabilities_after_login(p, e);
}

struct pop3 *
session_open(const struct config *cfg, const struct account *a,
    const char *secret, int *login_delay, struct err *e)
{
	struct conn *c;
	struct pop3 *p;
	int rc = -1;

	c = conn_connect(a->server, a->port, cfg->timeout, e);
	if (c == NULL)
		return NULL;
	p = pop3_new(c);
	if ((a->tls != TLS_MODE_IMPLICIT || start_tls(p, a, e) == 0) &&
	    pop3_greeting(p, e) == 0 && pop3_capa(p, e) == 0 &&
	    (a->tls != TLS_MODE_STARTTLS || stls(p, a, e) == 0))
		rc = log_in(p, a, secret, e);
	/* Known even when the login was refused for coming too soon. */
	if (login_delay != NULL)
		*login_delay = p->login_delay;
	if (rc == -1) {
		session_abort(p);
		return NULL;
	}
	return p;
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
