/*
 * Fetching one account: lock, log in with its source (source.h),
 * list each mailbox, fetch every new message through a window of
 * pipelined requests, deliver it, record its UID durably, then
 * (keep = false, keep_days, or a rule) delete it from the server, and
 * close the session. Prints the account's summary line.
 */
#ifndef MF_FETCH_H
#define MF_FETCH_H

#include <signal.h>
#include <stdbool.h>

#include "config.h"
#include "err.h"

struct run_options {
	bool			 dry_run;
	/* -c: log in and list only; fetch, deliver, delete and record
	 * nothing. */
	bool			 check;
	/* --all: fetch known messages too, as if new. */
	bool			 all;
	/* --json: the summary as a JSON object (report.h). */
	bool			 json;
	/* Set by SIGTERM/SIGINT: finish the messages in hand, record
	 * them, close the session cleanly. */
	volatile sig_atomic_t	*stop;
	/* A stop leaves work undone: a transient failure (one-shot runs;
	 * the daemon stops normally). */
	bool			 stop_fails;
	/* When not NULL: where the server's LOGIN-DELAY (seconds, RFC
	 * 2449; 0: none) is reported, for the daemon's schedule. */
	int			*login_delay;
	/* When not NULL: the account's new messages are added here (for
	 * -c's exit status). */
	unsigned		*new_found;
};

/* Returns the class of the worst failure (ERR_NONE: all went well). */
enum err_class fetch_account(struct config *cfg, struct account *a,
    const struct run_options *opt);

#endif
