/*
 * Daemon mode for an IMAP account with idle = true: one process that
 * fetches, then waits in IDLE on the account's first folder (its own
 * session, apart from the fetch's) until new mail arrives or the poll
 * interval has passed, fetches again, and so on. Without IDLE it is one
 * ordinary poll.
 *
 * Signals to that process: SIGUSR1 fetches now, SIGHUP ends it after the
 * fetch under way (the daemon starts it again with the configuration
 * just read), SIGTERM and SIGINT finish the message in hand and end it.
 */
#ifndef MF_DAEMON_IDLE_H
#define MF_DAEMON_IDLE_H

#include "config.h"
#include "err.h"
#include "fetch.h"

/* Does the account wait in IDLE between polls? */
bool daemon_idles(const struct account *a);

/* Runs in the account's process until a signal ends it or a fetch
 * fails; returns the class of the last fetch's failure. */
enum err_class daemon_idle_account(struct config *cfg, struct account *a,
    const struct run_options *opt, int interval);

#endif
