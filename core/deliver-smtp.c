/*
 * Delivery by SMTP (to the local MTA, say) and LMTP (to Dovecot, Cyrus):
 * one connection for the whole run, opened at the first message. A
 * refusal of one message fails that message; a permanent refusal of
 * what every message shares (smtp.h) puts the destination out of use
 * for the run; a server that cannot be reached stops the run (every
 * other message would fail the same way).
 */
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "envelope.h"
#include "multidrop.h"
#include "smtp.h"
#include "xmalloc.h"

struct smtp_dest {
	struct smtp	*session;
};

static const char *const smtp_keys[] = {
	"host", "port", "tls", "tls_ca_file", "tls_fingerprint",
	"allow_plaintext_auth", "to", "from", "user", "password",
	"password_command", "timeout", "received_header", NULL
};
static const char *const lmtp_keys[] = {
	"socket", "host", "port", "tls", "tls_ca_file", "tls_fingerprint",
	"allow_plaintext_auth", "to", "from", "user", "password",
	"password_command", "timeout", "received_header", NULL
};

static bool
valid_address(const char *a)
{
	return envelope_address_plain(a, strlen(a));
}

static int
configure(struct destination *d, bool lmtp, char *why, size_t whylen)
{
	int token;

	if (lmtp && (d->socket == NULL) == (d->host == NULL)) {
		snprintf(why, whylen, "needs either socket or host");
		return -1;
	}
	if (!lmtp && d->host == NULL) {
		snprintf(why, whylen, "has no \"host\"");
		return -1;
	}
	if (d->port == 0)
		d->port = d->tls == TLS_MODE_IMPLICIT ? (lmtp ? 24 : 465) :
		    lmtp ? 24 : 25;
	if (d->nto == 0) {
		snprintf(why, whylen, "has no \"to\" (the recipients)");
		return -1;
	}
	if (multidrop_token_index(d->to, d->nto, &token, why, whylen) == -1)
		return -1;
	for (size_t i = 0; i < d->nto; i++)
		if ((int)i != token && (d->to[i][0] == '\0' ||
		    !valid_address(d->to[i]))) {
			snprintf(why, whylen, "\"%s\" is not an address for "
			    "\"to\" (no spaces or angle brackets)", d->to[i]);
			return -1;
		}
	if (d->from != NULL && !valid_address(d->from)) {
		snprintf(why, whylen, "\"%s\" is not an address for \"from\"",
		    d->from);
		return -1;
	}
	if ((d->password != NULL || d->password_command != NULL) &&
	    d->user == NULL) {
		snprintf(why, whylen, "has a password but no \"user\"");
		return -1;
	}
	if (d->user != NULL && d->password == NULL &&
	    d->password_command == NULL) {
		snprintf(why, whylen, "has a \"user\" but neither \"password\" "
		    "nor \"password_command\"");
		return -1;
	}
	if (d->socket != NULL && d->tls != TLS_MODE_NONE) {
		snprintf(why, whylen, "TLS over a unix socket makes no sense");
		return -1;
	}
	return 0;
}

static int
smtp_configure(struct destination *d, char *why, size_t whylen)
{
	return configure(d, false, why, whylen);
}

static int
lmtp_configure(struct destination *d, char *why, size_t whylen)
{
	return configure(d, true, why, whylen);
}

static int
net_check(struct destination *d, struct err *e)
{
	(void)d;
	(void)e;
	return 0;	/* nothing on disk; the server is tried at run time */
}

static int
net_prepare(struct destination *d, struct err *e)
{
	(void)e;
	if (d->state == NULL)
		d->state = xcalloc(1, sizeof(struct smtp_dest));
	return 0;
}

static int
net_deliver(struct destination *d, struct msg *m, const struct envelope *env,
    const char **name, struct err *e)
{
	struct smtp_dest *sd = d->state;
	const char *sender = d->from != NULL ? d->from :
	    env->sender != NULL ? env->sender : "";
	bool lmtp = strcmp(d->backend->type, "lmtp") == 0;
	enum smtp_failure how;
	size_t nrcpt, trace_len;
	const char *trace = deliver_trace(d, env, &trace_len);
	char **rcpt;
	int rc;

	(void)name;
	if (sd->session == NULL) {
		sd->session = smtp_open(d, lmtp, e);
		if (sd->session == NULL)
			return DELIVER_DOWN;
	}
	rcpt = multidrop_expand(d->to, d->nto, env->recipients,
	    env->nrecipients, &nrcpt);
	rc = smtp_send(sd->session, sender, rcpt, nrcpt, trace, trace_len, m,
	    &how, e);
	free(rcpt);
	if (rc == 0)
		return 0;
	err_prefix(e, "destination \"%s\"", d->name);
	if (how == SMTP_FAIL_LOST) {
		/* The next message gets a new connection. */
		smtp_close(sd->session);
		sd->session = NULL;
	}
	return how == SMTP_FAIL_DESTINATION ? DELIVER_REFUSED : DELIVER_FAILED;
}

static void
net_finish(struct destination *d)
{
	struct smtp_dest *sd = d->state;

	if (sd == NULL)
		return;
	smtp_close(sd->session);
	free(sd);
	d->state = NULL;
}

const struct dest_backend deliver_smtp = {
	.type = "smtp",
	.keys = smtp_keys,
	.received_header = true,
	.configure = smtp_configure,
	.check = net_check,
	.prepare = net_prepare,
	.deliver = net_deliver,
	.finish = net_finish,
};

const struct dest_backend deliver_lmtp = {
	.type = "lmtp",
	.keys = lmtp_keys,
	.received_header = true,
	.configure = lmtp_configure,
	.check = net_check,
	.prepare = net_prepare,
	.deliver = net_deliver,
	.finish = net_finish,
};
