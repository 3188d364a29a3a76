#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imap-auth.h"
#include "imap-internal.h"
#include "imap-session.h"
#include "log.h"

static int
start_tls(struct imap *im, const struct imap_open_opts *o, struct err *e)
{
	struct tls_options opt = {
		.host = o->host,
		.ca_file = o->tls_ca_file,
		.fingerprint = o->tls_fingerprint,
		.implicit_port = o->tls == TLS_MODE_IMPLICIT ? 993 : -1,
	};
	char desc[128];

	if (conn_start_tls(im->conn, &opt, e) == -1)
		return -1;
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: TLS established (%s)", im->conn->label,
		    tls_describe(im->conn->tls, desc, sizeof desc));
	return 0;
}

static int
capability(struct imap *im, struct err *e)
{
	return imap_simple(im, IMAP_CMD_CAPABILITY, "CAPABILITY",
	    "CAPABILITY failed", ERR_TEMP, e);
}

static int
starttls(struct imap *im, const struct imap_open_opts *o, struct err *e)
{
	/* RFC 2595: after PREAUTH there is no way to STARTTLS. */
	if (im->preauth)
		return err_set(e, ERR_UNAVAIL, "%s: the server greets with "
		    "PREAUTH, which leaves no way to start TLS, and tls = "
		    "\"starttls\" forbids continuing without it",
		    im->conn->label);
	if (!imap_has(im, IMAP_CAP_STARTTLS))
		return err_set(e, ERR_UNAVAIL, "%s: the server does not offer "
		    "STARTTLS, and tls = \"starttls\" forbids continuing "
		    "without TLS", im->conn->label);
	if (imap_simple(im, IMAP_CMD_STARTTLS, "STARTTLS", "STARTTLS refused",
	    ERR_UNAVAIL, e) == -1)
		return -1;
	/* Anything the server sent before the handshake is suspect. */
	if (conn_buffered(im->conn) > 0)
		return err_set(e, ERR_UNAVAIL, "%s: the server sent data "
		    "after its STARTTLS reply (possible injection attack)",
		    im->conn->label);
	if (start_tls(im, o, e) == -1)
		return -1;
	/* What was said in clear text no longer counts (RFC 3501 6.2.1). */
	im->caps = 0;
	im->caps_known = false;
	return capability(im, e);
}

/* IMAP4rev2 and UTF8=ACCEPT: messages as stored (no downgrading of
 * UTF-8 headers), and the rev2 base commands. */
static int
enable(struct imap *im, struct err *e)
{
	struct imap_event ev;

	if (!imap_has(im, IMAP_CAP_ENABLE) || !imap_has(im,
	    IMAP_CAP_IMAP4REV2 | IMAP_CAP_UTF8_ACCEPT))
		return 0;
	imap_cmd_begin(im, IMAP_CMD_ENABLE, "ENABLE");
	if (imap_has(im, IMAP_CAP_IMAP4REV2))
		imap_cmd_raw(im, " IMAP4rev2", false);
	if (imap_has(im, IMAP_CAP_UTF8_ACCEPT))
		imap_cmd_raw(im, " UTF8=ACCEPT", false);
	imap_cmd_end(im, 0);
	if (imap_wait_done(im, &ev, e) == -1)
		return -1;
	/* Refused: IMAP4rev1 it is. */
	if (ev.status != IMAP_ST_OK && log_enabled(LOG_VERBOSE))
		log_verbose("%s: ENABLE refused; continuing in IMAP4rev1",
		    im->conn->label);
	return 0;
}

struct imap *
imap_open(const struct imap_open_opts *o, struct err *e)
{
	struct conn *c;
	struct imap *im;

	c = conn_connect(o->host, o->port, o->timeout, e);
	if (c == NULL)
		return NULL;
	im = imap_new(c);
	if (o->tls == TLS_MODE_IMPLICIT && start_tls(im, o, e) == -1)
		goto fail;
	if (imap_greeting(im, e) == -1)
		goto fail;
	if (!im->caps_known && capability(im, e) == -1)
		goto fail;
	if (o->tls == TLS_MODE_STARTTLS && starttls(im, o, e) == -1)
		goto fail;
	if (!im->preauth) {
		/* Capabilities may change with login (RFC 3501 6.2.3). */
		im->caps_known = false;
		if (imap_login(im, o, im->conn->tls != NULL, e) == -1)
			goto fail;
		if (!im->caps_known && capability(im, e) == -1)
			goto fail;
	}
	if (enable(im, e) == -1)
		goto fail;
	return im;
fail:
	imap_abort(im);
	return NULL;
}

int
imap_logout(struct imap *im, struct err *e)
{
	struct imap_event ev;
	int rc = 0;

	if (im->unanswered != 0) {
		imap_abort(im);
		return err_set(e, ERR_INTERNAL, "IMAP LOGOUT with commands "
		    "in flight");
	}
	im->logging_out = true;
	imap_cmd_begin(im, IMAP_CMD_LOGOUT, "LOGOUT");
	imap_cmd_end(im, 0);
	if (imap_wait_done(im, &ev, e) == -1) {
		/* Hanging up right after BYE is common enough. */
		if (im->bye)
			err_clear(e);
		else
			rc = -1;
	} else if (ev.status != IMAP_ST_OK)
		rc = imap_fail(im, &ev, "LOGOUT failed", ERR_TEMP, e);
	imap_abort(im);
	return rc;
}

void
imap_abort(struct imap *im)
{
	if (im == NULL)
		return;
	conn_close(im->conn);
	imap_free(im);
}
