/*
 * POP3 authentication: USER/PASS and APOP (RFC 1939), SASL PLAIN, LOGIN
 * and XOAUTH2 through AUTH (RFC 5034). With auth = "auto" the strongest
 * method the server offers over the channel in use is chosen. No secret
 * is ever sent over an unencrypted channel unless the account allows it
 * (APOP sends only a digest and is always allowed).
 */
#ifndef MF_POP3_AUTH_H
#define MF_POP3_AUTH_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "pop3.h"

/* Log in as a->user with `secret` (a password, or the XOAUTH2 token).
 * `encrypted` says whether the connection is under TLS. */
int pop3_login(struct pop3 *p, const struct account *a, const char *secret,
    bool encrypted, struct err *e);

#endif
