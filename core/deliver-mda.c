/*
 * Delivery through a program (procmail, maildrop, dovecot-lda): the
 * message on its standard input. The command line is split into words by
 * mailferry and run without a shell; a word that is exactly %F becomes
 * the envelope sender, %T the recipient (the first `to`, else the user
 * running mailferry), unless the value begins with "-" (the message then
 * fails for this destination). Exit 0 is delivered, 75 deferred; a
 * sysexits code that blames the command or the recipient rather than the
 * message (see blames_destination) puts the destination out of use for
 * the run; anything else is a failure of that message.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "deliver.h"
#include "envelope.h"
#include "multidrop.h"
#include "xmalloc.h"

#define EXIT_TEMPFAIL	75

struct mda {
	char	**argv;		/* as split, before substitution */
};

static const char *const mda_keys[] = { "command", "to", "timeout",
    "received_header", NULL };

static int
mda_configure(struct destination *d, char *why, size_t whylen)
{
	const char *reason;
	char **argv;

	if (d->command == NULL) {
		snprintf(why, whylen, "has no \"command\"");
		return -1;
	}
	argv = command_split(d->command, &reason);
	if (argv == NULL) {
		snprintf(why, whylen, "command \"%s\": %s", d->command, reason);
		return -1;
	}
	command_free_argv(argv);
	if (d->nto > 0 && d->to[0][0] == '-') {
		snprintf(why, whylen, "to \"%s\" begins with \"-\": as %%T it "
		    "would be taken for an option of the command", d->to[0]);
		return -1;
	}
	for (size_t i = 0; i < d->nto; i++)
		if (strcmp(d->to[i], MULTIDROP_TOKEN) == 0) {
			snprintf(why, whylen, "\"%s\" works in the \"to\" of "
			    "smtp and lmtp destinations only", MULTIDROP_TOKEN);
			return -1;
		}
	return 0;
}

static int
mda_check(struct destination *d, struct err *e)
{
	const char *reason;
	char **argv = command_split(d->command, &reason);
	int rc = 0;

	if (strchr(argv[0], '/') != NULL && access(argv[0], X_OK) == -1)
		rc = err_sys(e, ERR_CONFIG, "%s", argv[0]);
	else if (!command_exists(argv[0]))
		rc = err_set(e, ERR_CONFIG, "%s is not found in PATH (%s)",
		    argv[0], getenv("PATH") != NULL ? getenv("PATH") :
		    "not set");
	command_free_argv(argv);
	return rc;
}

static int
mda_prepare(struct destination *d, struct err *e)
{
	struct mda *md;
	const char *reason;

	if (d->state != NULL)
		return 0;
	md = xcalloc(1, sizeof *md);
	md->argv = command_split(d->command, &reason);
	if (md->argv == NULL) {
		free(md);
		return err_set(e, ERR_CONFIG, "command: %s", reason);
	}
	d->state = md;
	return 0;
}

struct feeder {
	const char	*trace;		/* first, then the message */
	size_t		 trace_len, trace_off;
	struct msg	*m;
	off_t		 offset;
};

static int
feed(void *arg, char *buf, size_t size, size_t *len, struct err *e)
{
	struct feeder *f = arg;
	ssize_t n;

	if (f->trace_off < f->trace_len) {
		*len = f->trace_len - f->trace_off < size ?
		    f->trace_len - f->trace_off : size;
		memcpy(buf, f->trace + f->trace_off, *len);
		f->trace_off += *len;
		return 0;
	}
	n = msg_read(f->m, buf, size, f->offset);
	if (n < 0)
		return err_set(e, ERR_TEMP, "reading the message");
	f->offset += n;
	*len = (size_t)n;
	return 0;
}

/*
 * Exit codes (sysexits.h, and the shell's 126 for "cannot execute") that
 * every other message would get too: a wrong command line, an unknown
 * recipient or host, a service or file that is missing, no permission,
 * a configuration error. A message the program did not like (65), a
 * crash (70) or an I/O error (74) concern this message, or may pass.
 */
static bool
blames_destination(int status)
{
	switch (status) {
	case 64:	/* EX_USAGE */
	case 67:	/* EX_NOUSER */
	case 68:	/* EX_NOHOST */
	case 69:	/* EX_UNAVAILABLE */
	case 72:	/* EX_OSFILE */
	case 73:	/* EX_CANTCREAT */
	case 76:	/* EX_PROTOCOL */
	case 77:	/* EX_NOPERM */
	case 78:	/* EX_CONFIG */
	case 126:	/* found but not executable */
		return true;
	}
	return false;
}

static const char *
local_user(void)
{
	struct passwd *pw = getpwuid(getuid());

	return pw != NULL ? pw->pw_name : "root";
}

static int
mda_deliver(struct destination *d, struct msg *m, const struct envelope *env,
    const char **name, struct err *e)
{
	struct mda *md = d->state;
	struct feeder f = { .m = m };
	struct command_result res;
	const char *refused;
	char **argv;
	int rc;

	(void)name;
	f.trace = deliver_trace(d, env, &f.trace_len);
	/* Substitution replaces whole words only: a sender or recipient
	 * never becomes part of another argument, let alone a shell line. */
	argv = envelope_argv(md->argv, env->sender != NULL &&
	    env->sender[0] != '\0' ? env->sender : "MAILER-DAEMON",
	    d->nto > 0 ? d->to[0] : local_user(), &refused);
	if (argv == NULL) {
		err_set(e, ERR_UNAVAIL, "destination \"%s\": refusing to run "
		    "%s with \"%s\" as a word: it begins with \"-\" and would "
		    "be taken for an option", d->name, md->argv[0], refused);
		return DELIVER_FAILED;
	}
	rc = command_run(argv, d->timeout, feed, &f, NULL, NULL, &res, e);
	if (rc == -1) {
		err_prefix(e, "destination \"%s\": %s", d->name, argv[0]);
		free(argv);
		return DELIVER_DOWN;
	}
	if (res.timed_out) {
		err_set(e, ERR_TEMP, "destination \"%s\": %s did not finish "
		    "within %d s", d->name, argv[0], d->timeout);
		rc = DELIVER_FAILED;
	} else if (!res.exited) {
		err_set(e, ERR_TEMP, "destination \"%s\": %s was killed by a "
		    "signal", d->name, argv[0]);
		rc = DELIVER_FAILED;
	} else if (res.status == 0)
		rc = 0;
	else {
		err_set(e, res.status == EXIT_TEMPFAIL ? ERR_TEMP : ERR_UNAVAIL,
		    "destination \"%s\": %s exited with status %d%s%s%s",
		    d->name, argv[0], res.status,
		    res.status == EXIT_TEMPFAIL ? " (try again later)" : "",
		    res.stderr_text[0] ? ": " : "", res.stderr_text);
		/* Could not be run at all (status 127 from the child):
		 * every message would fail the same way. */
		rc = res.status == 127 ? DELIVER_DOWN :
		    blames_destination(res.status) ? DELIVER_REFUSED :
		    DELIVER_FAILED;
	}
	free(argv);
	return rc;
}

static void
mda_finish(struct destination *d)
{
	struct mda *md = d->state;

	if (md == NULL)
		return;
	command_free_argv(md->argv);
	free(md);
	d->state = NULL;
}

const struct dest_backend deliver_mda = {
	.type = "mda",
	.keys = mda_keys,
	.received_header = true,
	.configure = mda_configure,
	.check = mda_check,
	.prepare = mda_prepare,
	.deliver = mda_deliver,
	.finish = mda_finish,
};
