/*
 * A logged-in POP3 session for an account: connect, TLS (implicit or
 * STLS, never a silent fallback to plain text), greeting, capabilities,
 * UTF8 when offered (RFC 6856), login with the secret the caller
 * obtained (source_open(), from the configuration or password_command).
 */
#ifndef MF_SESSION_H
#define MF_SESSION_H

#include "config.h"
#include "err.h"
#include "pop3.h"

/* *login_delay (when not NULL) is set to the seconds the server wants
 * between logins (LOGIN-DELAY, RFC 2449; 0: none announced), also when
 * the login failed. */
struct pop3 *session_open(const struct config *cfg, const struct account *a,
    const char *secret, int *login_delay, struct err *e);
/* QUIT and close. Returns 0 when the server answered +OK, which is when
 * deletions take effect. */
int session_quit(struct pop3 *p, struct err *e);
/* Close without QUIT, after a failure. */
void session_abort(struct pop3 *p);

#endif
