/*
 * What an account of the configuration means for an IMAP session: its
 * login method. (The session itself is opened by the IMAP source,
 * source-imap.c, with the secret source_open() obtains.)
 */
#ifndef MF_IMAP_ACCOUNT_H
#define MF_IMAP_ACCOUNT_H

#include "config.h"
#include "err.h"
#include "imap.h"

/* The login method for the account's `auth` (apop never reaches here:
 * the configuration refuses it for IMAP). */
enum imap_auth imap_account_auth(enum auth_method m);

#endif
