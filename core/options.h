/*
 * The command line: which job this run does (fetch, poll, check the
 * configuration, ...) and with what, every option checked against the
 * job before anything is read or contacted.
 */
#ifndef MF_OPTIONS_H
#define MF_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "overrides.h"

enum job {
	JOB_FETCH,		/* the default: every selected account once */
	JOB_DAEMON,		/* -d SECONDS */
	JOB_CHECK_CONFIG,	/* --check-config */
	JOB_TEST_MESSAGE,	/* --test-message FILE */
	JOB_RELEASE,		/* --release UID */
	JOB_IMPORT_UIDS,	/* --import-uids FORMAT:FILE */
	JOB_CONVERT,		/* --convert FORMAT FILE */
};

struct options {
	enum job	 job;
	const char	*job_arg;	/* the argument of the job's option */
	const char	*convert_file;
	char		*config_path;	/* -f, or NULL: the default */
	/* -a NAME and the plain arguments, in the order given. */
	const char	**accounts;
	size_t		 naccounts, capaccounts;
	bool		 dry_run;
	bool		 check;		/* -c */
	bool		 all;		/* --all */
	bool		 json;		/* --json */
	int		 verbosity;
	bool		 syslog;
	int		 daemon;	/* seconds between polls */
	struct run_overrides ovr;
};

/* Fill o from the command line. --help and --version print and exit 0;
 * anything wrong is explained on stderr and returns -1 (exit 64). */
int options_parse(int argc, char **argv, struct options *o);
void options_free(struct options *o);

/* The usage message: the synopsis of mailferry(1), then the options. */
void options_usage(FILE *fp);

#endif
