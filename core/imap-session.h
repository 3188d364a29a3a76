/*
 * A logged-in IMAP session: connect, TLS (implicit, or STARTTLS with no
 * silent fallback to plain text and nothing accepted that the server
 * sent before the handshake), greeting, capabilities (read again after
 * STARTTLS and after login), login (imap-auth.h), and ENABLE of
 * IMAP4rev2 and UTF8=ACCEPT where offered.
 */
#ifndef MF_IMAP_SESSION_H
#define MF_IMAP_SESSION_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "imap.h"

enum imap_auth {
	IMAP_AUTH_AUTO,		/* the best the server offers */
	IMAP_AUTH_LOGIN,	/* the LOGIN command */
	IMAP_AUTH_PLAIN,	/* AUTHENTICATE PLAIN */
	IMAP_AUTH_SASL_LOGIN,	/* AUTHENTICATE LOGIN */
	IMAP_AUTH_XOAUTH2,	/* AUTHENTICATE XOAUTH2 (secret: a token) */
	IMAP_AUTH_OAUTHBEARER,	/* AUTHENTICATE OAUTHBEARER (RFC 7628) */
};

struct imap_open_opts {
	const char	*host;
	int		 port;
	enum tls_mode	 tls;
	const char	*tls_ca_file;	/* NULL: the system store */
	const char	*tls_fingerprint;	/* NULL: none */
	int		 timeout;	/* seconds, for every wait */
	const char	*user;
	const char	*secret;	/* password or token; not kept */
	enum imap_auth	 auth;
	bool		 allow_plaintext_auth;
};

struct imap *imap_open(const struct imap_open_opts *o, struct err *e);
/* LOGOUT and close; frees im. Returns 0 when the server answered. */
int imap_logout(struct imap *im, struct err *e);
/* Close without LOGOUT (after a failure); frees im. */
void imap_abort(struct imap *im);

const char *imap_auth_name(enum imap_auth auth);

#endif
