#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap-auth.h"
#include "imap-internal.h"
#include "log.h"
#include "sasl.h"
#include "xmalloc.h"

/* One SASL exchange (RFC 3501 6.2.2). */
struct sasl {
	const char	*mech;
	bool		 client_first;	/* the first response needs no challenge */
	char		*resp[2];	/* responses, base64, each a secret */
	size_t		 nresp;
	const char	*after;		/* answer to a challenge after them */
};

const char *
imap_auth_name(enum imap_auth auth)
{
	static const char *const names[] = {
		[IMAP_AUTH_AUTO] = "auto",
		[IMAP_AUTH_LOGIN] = "LOGIN",
		[IMAP_AUTH_PLAIN] = "AUTHENTICATE PLAIN",
		[IMAP_AUTH_SASL_LOGIN] = "AUTHENTICATE LOGIN",
		[IMAP_AUTH_XOAUTH2] = "AUTHENTICATE XOAUTH2",
		[IMAP_AUTH_OAUTHBEARER] = "AUTHENTICATE OAUTHBEARER",
	};

	return names[auth];
}

static int
refused(struct imap *im, const struct imap_event *ev, const char *user,
    enum imap_auth method, struct err *e)
{
	char what[300];

	snprintf(what, sizeof what, "login as %s (%s) refused", user,
	    imap_auth_name(method));
	/* A refusal without a code is about the credentials. */
	return imap_fail(im, ev, what, ERR_AUTH, e);
}

static int
login_command(struct imap *im, const struct imap_open_opts *o,
    struct err *e)
{
	struct imap_event ev;

	if (imap_has(im, IMAP_CAP_LOGINDISABLED))
		return err_set(e, ERR_AUTH, "%s: the server forbids the LOGIN "
		    "command here (LOGINDISABLED) and offers no usable "
		    "AUTHENTICATE mechanism", im->conn->label);
	imap_cmd_begin(im, IMAP_CMD_LOGIN, "LOGIN ");
	imap_cmd_string(im, o->user, false);
	imap_cmd_raw(im, " ", false);
	imap_cmd_string(im, o->secret, true);
	imap_cmd_end(im, 0);
	if (imap_wait_done(im, &ev, e) == -1)
		return -1;
	return ev.status == IMAP_ST_OK ? 0 :
	    refused(im, &ev, o->user, IMAP_AUTH_LOGIN, e);
}

static int
authenticate(struct imap *im, const struct imap_open_opts *o,
    enum imap_auth method, const struct sasl *s, struct err *e)
{
	struct imap_event ev;
	size_t i = 0, extra = 0;

	imap_cmd_begin(im, IMAP_CMD_AUTHENTICATE, "AUTHENTICATE ");
	imap_cmd_raw(im, s->mech, false);
	if (s->client_first && imap_has(im, IMAP_CAP_SASL_IR)) {
		imap_cmd_raw(im, " ", false);
		imap_cmd_raw(im, s->resp[0][0] != '\0' ? s->resp[0] : "=", true);
		i = 1;
	}
	imap_cmd_end(im, 0);
	for (;;) {
		if (imap_next_event(im, &ev, e) == -1)
			return -1;
		if (ev.kind == IMAP_EV_DONE)
			break;
		if (ev.kind != IMAP_EV_CONTINUE)
			return err_set(e, ERR_TEMP, "%s: the server sent "
			    "message data during login", im->conn->label);
		/* A failed XOAUTH2 or OAUTHBEARER sends its reason as a
		 * challenge and wants one more (dummy) answer. */
		if (i < s->nresp)
			imap_send_line(im, s->resp[i++], true);
		else if (extra++ == 0)
			imap_send_line(im, s->after, false);
		else
			return err_set(e, ERR_TEMP, "%s: SASL %s: the server "
			    "keeps asking", im->conn->label, s->mech);
	}
	return ev.status == IMAP_ST_OK ? 0 :
	    refused(im, &ev, o->user, method, e);
}

/* "a=" of a GS2 header: "," and "=" escaped (RFC 5801). */
static char *
gs2_name(const char *user)
{
	char *out = xmalloc(3 * strlen(user) + 1), *o = out;

	for (; *user != '\0'; user++) {
		if (*user == ',')
			o += sprintf(o, "=2C");
		else if (*user == '=')
			o += sprintf(o, "=3D");
		else
			*o++ = *user;
	}
	*o = '\0';
	return out;
}

/* The first response of each mechanism, before base64. */
static char *
raw_response(const struct imap_open_opts *o, enum imap_auth method)
{
	char *name, *raw;

	if (method == IMAP_AUTH_XOAUTH2)
		return xasprintf("user=%s\001auth=Bearer %s\001\001", o->user,
		    o->secret);
	name = gs2_name(o->user);
	raw = xasprintf("n,a=%s,\001host=%s\001port=%d\001auth=Bearer "
	    "%s\001\001", name, o->host, o->port, o->secret);
	free(name);
	return raw;
}

static int
sasl_login(struct imap *im, const struct imap_open_opts *o,
    enum imap_auth method, struct err *e)
{
	struct sasl s = { .client_first = true, .nresp = 1, .after = "*" };
	char *raw;
	int rc;

	switch (method) {
	case IMAP_AUTH_PLAIN:
		s.mech = "PLAIN";
		s.resp[0] = sasl_plain(o->user, o->secret);
		break;
	case IMAP_AUTH_SASL_LOGIN:
		s.mech = "LOGIN";
		s.client_first = false;
		s.resp[0] = sasl_base64(o->user, strlen(o->user));
		s.resp[1] = sasl_base64(o->secret, strlen(o->secret));
		s.nresp = 2;
		break;
	default:
		s.mech = method == IMAP_AUTH_XOAUTH2 ? "XOAUTH2" :
		    "OAUTHBEARER";
		s.after = method == IMAP_AUTH_XOAUTH2 ? "" : "AQ==";
		raw = raw_response(o, method);
		s.resp[0] = sasl_base64(raw, strlen(raw));
		freezero_str(raw);
		break;
	}
	rc = authenticate(im, o, method, &s, e);
	for (size_t i = 0; i < s.nresp; i++)
		freezero_str(s.resp[i]);
	return rc;
}

static enum imap_auth
choose(const struct imap *im)
{
	if (imap_has(im, IMAP_CAP_AUTH_PLAIN))
		return IMAP_AUTH_PLAIN;
	if (!imap_has(im, IMAP_CAP_LOGINDISABLED))
		return IMAP_AUTH_LOGIN;
	if (imap_has(im, IMAP_CAP_AUTH_LOGIN))
		return IMAP_AUTH_SASL_LOGIN;
	return IMAP_AUTH_LOGIN;		/* refused with a clear message */
}

int
imap_login(struct imap *im, const struct imap_open_opts *o, bool encrypted,
    struct err *e)
{
	enum imap_auth method = o->auth;

	if (sasl_may_send(im->conn->label, encrypted, o->allow_plaintext_auth,
	    e) == -1)
		return -1;
	if (method == IMAP_AUTH_AUTO)
		method = choose(im);
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: logging in as %s (%s)", im->conn->label,
		    o->user, imap_auth_name(method));
	if (method == IMAP_AUTH_LOGIN)
		return login_command(im, o, e);
	return sasl_login(im, o, method, e);
}
