/*
 * pipe: run an external filter (spamc, rspamc, bogofilter, a script) with
 * the message on its standard input, never through a shell.
 *
 *   args = { command = "/usr/bin/spamc -c";   split into words, no shell
 *            replace = false;                  stdout replaces the message
 *            timeout = 60;                     seconds (default: global)
 *            match_status = 1; }               this status: deliver to the
 *                                              rule's `deliver`
 * Exit 0 continues, 75 defers, anything else is an error (deferred).
 */
#include <stdio.h>
#include <string.h>

#include <mailferry/plugin.h>

#define EXIT_TEMPFAIL	75

static const struct mf_host *host;

static int
init(const struct mf_host *h, const struct mf_options *options, void **state,
    char *err, size_t errlen)
{
	(void)state;
	host = h;
	if (h->opt_keys(options) > 0) {
		snprintf(err, errlen, "takes no options (its settings go in each "
		    "rule's args)");
		return -1;
	}
	return 0;
}

static int
check_args(void *state, const struct mf_options *args, char *err,
    size_t errlen)
{
	static const char *const keys[] = {
		"command", "replace", "timeout", "match_status"
	};
	const char *command = host->opt_string(args, "command");
	long long n;
	int b;
	char **argv;

	(void)state;
	for (size_t i = 0; i < host->opt_keys(args); i++) {
		const char *key = host->opt_key(args, i);
		int known = 0;

		for (size_t k = 0; k < 4; k++)
			known |= strcmp(key, keys[k]) == 0;
		if (!known) {
			snprintf(err, errlen, "unknown key \"%s\" in args "
			    "(command, replace, timeout, match_status)", key);
			return -1;
		}
	}
	if (command == NULL) {
		snprintf(err, errlen, "args needs command = \"...\"");
		return -1;
	}
	argv = host->split_command(command);
	if (argv == NULL) {
		snprintf(err, errlen, "command \"%s\" cannot be split into "
		    "words (unbalanced quotes?)", command);
		return -1;
	}
	host->free_argv(argv);
	if (host->opt_keys(args) > 1) {
		for (size_t i = 0; i < host->opt_keys(args); i++) {
			const char *key = host->opt_key(args, i);

			if (strcmp(key, "replace") == 0 &&
			    host->opt_bool(args, key, &b) != 0) {
				snprintf(err, errlen, "replace must be true or "
				    "false");
				return -1;
			}
			if ((strcmp(key, "timeout") == 0 ||
			    strcmp(key, "match_status") == 0) &&
			    (host->opt_int(args, key, &n) != 0 || n < 0 ||
			    n > (strcmp(key, "timeout") == 0 ? 86400 : 255))) {
				snprintf(err, errlen, "%s must be a whole number "
				    "%s", key, strcmp(key, "timeout") == 0 ?
				    "of seconds" : "from 0 to 255");
				return -1;
			}
		}
	}
	return 0;
}

static enum mf_verdict
filter(void *state, struct mf_message *m, const struct mf_options *args,
    char *err, size_t errlen)
{
	long long timeout = host->timeout(), match_status = -1;
	int replace = 0, status, rc;
	char **argv;

	(void)state;
	host->opt_bool(args, "replace", &replace);
	host->opt_int(args, "timeout", &timeout);
	host->opt_int(args, "match_status", &match_status);
	argv = host->split_command(host->opt_string(args, "command"));
	if (argv == NULL) {
		snprintf(err, errlen, "bad command");
		return MF_ERROR;
	}
	rc = host->run_filter(m, argv, (int)timeout,
	    replace ? MF_RUN_REPLACE : 0, &status, err, errlen);
	host->free_argv(argv);
	if (rc != 0)
		return MF_ERROR;
	if (status == match_status)
		return MF_DELIVER;
	if (status == 0)
		return MF_CONTINUE;
	if (status == EXIT_TEMPFAIL) {
		snprintf(err, errlen, "the filter asked to try again later "
		    "(exit status 75)");
		return MF_DEFER;
	}
	snprintf(err, errlen, "the filter failed with exit status %d", status);
	return MF_ERROR;
}

MAILFERRY_PLUGIN(
	.name = "pipe",
	.version = "1.0",
	.init = init,
	.check_args = check_args,
	.filter = filter,
);
