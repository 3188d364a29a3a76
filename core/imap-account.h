/*
 * An IMAP session for an account of the configuration: its server, TLS
 * settings, login method and credentials (password, or the first line of
 * password_command, fetched for this session and wiped after the login).
 */
#ifndef MF_IMAP_ACCOUNT_H
#define MF_IMAP_ACCOUNT_H

#include "config.h"
#include "err.h"
#include "imap.h"

/* The login method for the account's `auth` (apop never reaches here:
 * the configuration refuses it for IMAP). */
enum imap_auth imap_account_auth(enum auth_method m);

/* Connect, TLS, log in (imap_open); NULL with e set on failure. */
struct imap *imap_account_open(const struct config *cfg,
    const struct account *a, struct err *e);

#endif
