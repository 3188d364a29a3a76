/*
 * What an account's run prints when it ends: the summary line on stdout
 * (mailferry(1) OUTPUT), or with --json the same as one JSON object on a
 * line of its own, whose fields mailferry(1) documents and keeps stable.
 */
#ifndef MF_REPORT_H
#define MF_REPORT_H

#include <stdbool.h>

#include "fetch-stats.h"

struct report {
	const char	*account;
	const char	*protocol;	/* "pop3", "imap" */
	const char	*server;
	const struct stats *st;
	bool		 dry_run;	/* -n */
	bool		 check;		/* -c: listed only */
	double		 seconds;
	int		 status;	/* the account's exit status */
	const char	*error;		/* what went wrong; NULL: nothing */
};

/* The text line, through log_summary(). */
void report_text(const struct report *r);
/* The JSON object, one line written at once on stdout. */
void report_json(const struct report *r);

#endif
