/*
 * IMAP login: the LOGIN command (not when the server says LOGINDISABLED)
 * and AUTHENTICATE PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER, with the
 * initial response in the command where the server offers SASL-IR (RFC
 * 4959). With IMAP_AUTH_AUTO: AUTHENTICATE PLAIN if offered, else LOGIN,
 * else AUTHENTICATE LOGIN. No credential is sent over an unencrypted
 * connection unless allow_plaintext_auth; none is ever traced.
 */
#ifndef MF_IMAP_AUTH_H
#define MF_IMAP_AUTH_H

#include <stdbool.h>

#include "err.h"
#include "imap-session.h"
#include "imap.h"

/* `encrypted`: the connection is under TLS. A refusal is ERR_AUTH (or
 * the class its response code says). */
int imap_login(struct imap *im, const struct imap_open_opts *o,
    bool encrypted, struct err *e);

#endif
