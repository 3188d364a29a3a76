/*
 * POP3 authentication: USER/PASS and APOP (RFC 1939), SASL PLAIN, LOGIN
 * and XOAUTH2 through AUTH (RFC 5034). With auth = "auto" the methods the
 * server offers are tried strongest first for the channel in use, the
 * next one after a refusal that may be about the method (an APOP the
 * server has no secret for) rather than the password. A method named in
 * the configuration that the server does not offer is ERR_UNAVAIL, not a
 * refused login. No credential, not even an APOP digest, is sent over an
 * unencrypted channel unless the account allows it.
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
