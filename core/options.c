#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "err.h"
#include "log.h"
#include "options.h"
#include "version.h"
#include "xmalloc.h"

/* The options given, for checking them against the job. */
enum {
	G_CONFIG	= 1 << 0,
	G_ACCOUNT	= 1 << 1,
	G_DRY_RUN	= 1 << 2,
	G_VERBOSITY	= 1 << 3,
	G_SYSLOG	= 1 << 4,
	G_KEEP		= 1 << 5,
	G_FETCH_LIMIT	= 1 << 6,
	G_CHECK		= 1 << 7,
	G_ALL		= 1 << 8,
	G_JSON		= 1 << 9,
};

static const struct {
	unsigned	 bit;
	const char	*name;
} option_names[] = {
	{ G_CONFIG, "-f" },
	{ G_ACCOUNT, "an account name" },
	{ G_DRY_RUN, "-n" },
	{ G_VERBOSITY, "-v or -q" },
	{ G_SYSLOG, "--syslog" },
	{ G_KEEP, "-k or -K" },
	{ G_FETCH_LIMIT, "--fetch-limit" },
	{ G_CHECK, "-c" },
	{ G_ALL, "--all" },
	{ G_JSON, "--json" },
};

/* -c lists only: what would change what is fetched has no place. */
#define G_NOT_WITH_CHECK	(G_DRY_RUN | G_KEEP | G_FETCH_LIMIT | G_ALL)

#define G_RUN	(G_CONFIG | G_ACCOUNT | G_VERBOSITY | G_SYSLOG | G_KEEP | \
		 G_FETCH_LIMIT)

/* Per job: the option that asks for it and the options it takes. */
static const struct {
	const char	*option;
	unsigned	 takes;
} jobs[] = {
	[JOB_FETCH] = { NULL, G_RUN | G_DRY_RUN | G_CHECK | G_ALL | G_JSON },
	[JOB_DAEMON] = { "-d", G_RUN },
	[JOB_CHECK_CONFIG] = { "--check-config", G_CONFIG | G_ACCOUNT |
	    G_VERBOSITY },
	[JOB_TEST_MESSAGE] = { "--test-message", G_CONFIG | G_ACCOUNT |
	    G_VERBOSITY },
	[JOB_RELEASE] = { "--release", G_CONFIG | G_ACCOUNT | G_VERBOSITY },
	[JOB_IMPORT_UIDS] = { "--import-uids", G_CONFIG | G_ACCOUNT |
	    G_VERBOSITY },
	[JOB_CONVERT] = { "--convert", G_VERBOSITY },
};

enum {
	OPT_CHECK_CONFIG = 256, OPT_TEST_MESSAGE, OPT_SYSLOG, OPT_VERSION,
	OPT_HELP, OPT_RELEASE, OPT_IMPORT_UIDS, OPT_CONVERT, OPT_FETCH_LIMIT,
	OPT_ALL, OPT_JSON,
};

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'f' },
	{ "account", required_argument, NULL, 'a' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "check", no_argument, NULL, 'c' },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "keep", no_argument, NULL, 'k' },
	{ "no-keep", no_argument, NULL, 'K' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "daemon", required_argument, NULL, 'd' },
	{ "fetch-limit", required_argument, NULL, OPT_FETCH_LIMIT },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
	{ "test-message", required_argument, NULL, OPT_TEST_MESSAGE },
	{ "release", required_argument, NULL, OPT_RELEASE },
	{ "import-uids", required_argument, NULL, OPT_IMPORT_UIDS },
	{ "convert", required_argument, NULL, OPT_CONVERT },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* The synopsis is mailferry(1)'s, word for word (a test compares them). */
static const char synopsis[] =
"usage: mailferry [-n] [--all] [-k | -K] [-q | -v] [-a account ...]\n"
"                 [-f file] [--fetch-limit n] [--json] [--syslog]\n"
"                 [account ...]\n"
"       mailferry -c [-q | -v] [-a account ...] [-f file] [--json]\n"
"                 [--syslog] [account ...]\n"
"       mailferry [-k | -K] [-q | -v] [-a account ...] [-f file]\n"
"                 [--fetch-limit n] [--syslog] -d seconds [account ...]\n"
"       mailferry [-f file] --check-config\n"
"       mailferry [-f file] [-a account] --test-message message-file\n"
"       mailferry [-f file] [-a account] --release uid\n"
"       mailferry [-f file] -a account --import-uids fetchmail:file |\n"
"                 mpop:file\n"
"       mailferry --convert fetchmailrc | mpoprc file\n"
"       mailferry --help | --version\n";

static const char option_help[] =
"  ACCOUNT ...          only these accounts, as with -a ACCOUNT each\n"
"  -a, --account NAME   only this account (repeatable)\n"
"  -f, --config FILE    configuration (default: $XDG_CONFIG_HOME/mailferry/\n"
"                       mailferry.conf, then ~/.mailferry.conf)\n"
"  -n, --dry-run        fetch and decide, but deliver, delete and record\n"
"                       nothing; show the deletions a run would make\n"
"  -c, --check          log in and list only: how many messages are new\n"
"                       (exit 0: some, 1: none)\n"
"      --all            fetch every message, also those fetched before\n"
"  -k, --keep           leave every fetched message on the server this run\n"
"  -K, --no-keep        delete every delivered message from the server\n"
"                       this run\n"
"      --fetch-limit N  at most N new messages per account this run\n"
"                       (0: no limit)\n"
"  -v, --verbose        one line per message; twice: the protocol dialogue\n"
"  -q, --quiet          errors only\n"
"  -d, --daemon SECONDS poll forever, every SECONDS (SIGHUP: read the\n"
"                       configuration again, SIGUSR1: poll now,\n"
"                       SIGTERM: finish the messages in hand and stop)\n"
"      --json           each account's summary as a JSON object on a line\n"
"      --syslog         log to syslog (facility mail); the default with -d\n"
"      --check-config   check the configuration (regexes, plugins,\n"
"                       destinations, commands) and exit\n"
"      --test-message FILE  run the account's rules on a message file\n"
"                       and print what would happen; touches nothing\n"
"      --release UID    let the next run fetch a message set aside (a\n"
"                       plugin crashed on it) again\n"
"      --import-uids FORMAT:FILE  record the UIDs fetchmail (.fetchids)\n"
"                       or mpop (UIDLs file) fetched for the account\n"
"      --convert FORMAT FILE  print a configuration equivalent to a\n"
"                       .fetchmailrc (fetchmailrc) or .mpoprc (mpoprc)\n"
"      --version        print the versions of mailferry and its libraries\n"
"      --help           print this help and exit\n";

void
options_usage(FILE *fp)
{
	fprintf(fp, "%s\n%s", synopsis, option_help);
}

/* A whole number from min to max, or -1. */
static int
number(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
set_job(struct options *o, enum job job, const char *arg)
{
	if (o->job != JOB_FETCH && o->job != job) {
		fprintf(stderr, "mailferry: %s and %s cannot be used "
		    "together\n", jobs[o->job].option, jobs[job].option);
		return -1;
	}
	o->job = job;
	o->job_arg = arg;
	return 0;
}

static void
add_account(struct options *o, const char *name)
{
	*ARRAY_ADD(o->accounts, o->naccounts, o->capaccounts) = name;
}

/* One option of getopt_long's; -1 when it is wrong. */
static int
take_option(struct options *o, int c, unsigned *given)
{
	long v;

	switch (c) {
	case 'f':
		free(o->config_path);
		o->config_path = xstrdup(optarg);
		*given |= G_CONFIG;
		return 0;
	case 'a':
		add_account(o, optarg);
		*given |= G_ACCOUNT;
		return 0;
	case 'n':
		o->dry_run = true;
		*given |= G_DRY_RUN;
		return 0;
	case 'c':
		o->check = true;
		*given |= G_CHECK;
		return 0;
	case OPT_ALL:
		o->all = true;
		*given |= G_ALL;
		return 0;
	case OPT_JSON:
		o->json = true;
		*given |= G_JSON;
		return 0;
	case 'k':
	case 'K':
		o->ovr.keep = c == 'k';
		*given |= G_KEEP;
		return 0;
	case 'v':
		if (o->verbosity < LOG_TRACE)
			o->verbosity++;
		*given |= G_VERBOSITY;
		return 0;
	case 'q':
		o->verbosity = LOG_QUIET;
		*given |= G_VERBOSITY;
		return 0;
	case 'd':
		if (number(optarg, 1, 7 * 86400, &v) == -1) {
			fprintf(stderr, "mailferry: -d takes a number of "
			    "seconds between 1 and 604800\n");
			return -1;
		}
		o->daemon = (int)v;
		return set_job(o, JOB_DAEMON, optarg);
	case OPT_FETCH_LIMIT:
		if (number(optarg, 0, 1000000, &v) == -1) {
			fprintf(stderr, "mailferry: --fetch-limit takes a "
			    "number of messages between 0 (no limit) and "
			    "1000000\n");
			return -1;
		}
		o->ovr.fetch_limit = (int)v;
		*given |= G_FETCH_LIMIT;
		return 0;
	case OPT_SYSLOG:
		o->syslog = true;
		*given |= G_SYSLOG;
		return 0;
	case OPT_CHECK_CONFIG:
		return set_job(o, JOB_CHECK_CONFIG, NULL);
	case OPT_TEST_MESSAGE:
		return set_job(o, JOB_TEST_MESSAGE, optarg);
	case OPT_RELEASE:
		return set_job(o, JOB_RELEASE, optarg);
	case OPT_IMPORT_UIDS:
		return set_job(o, JOB_IMPORT_UIDS, optarg);
	case OPT_CONVERT:
		return set_job(o, JOB_CONVERT, optarg);
	case OPT_VERSION:
		version_print(stdout);
		exit(err_exitcode(ERR_NONE));
	case OPT_HELP:
		options_usage(stdout);
		exit(err_exitcode(ERR_NONE));
	}
	fprintf(stderr, "Try mailferry --help.\n");
	return -1;
}

/* Does every option given go with the job? */
static int
check_job(const struct options *o, unsigned given)
{
	const char *job = jobs[o->job].option;

	for (size_t i = 0; i < sizeof option_names / sizeof *option_names;
	    i++) {
		if (!(given & option_names[i].bit) ||
		    (jobs[o->job].takes & option_names[i].bit))
			continue;
		if (job == NULL)
			job = "this";
		fprintf(stderr, "mailferry: %s cannot be used with %s\n",
		    option_names[i].name, job);
		return -1;
	}
	for (size_t i = 0; i < sizeof option_names / sizeof *option_names &&
	    (given & G_CHECK); i++)
		if (given & G_NOT_WITH_CHECK & option_names[i].bit) {
			fprintf(stderr, "mailferry: %s cannot be used with -c\n",
			    option_names[i].name);
			return -1;
		}
	if ((o->job == JOB_TEST_MESSAGE || o->job == JOB_RELEASE) &&
	    o->naccounts > 1) {
		fprintf(stderr, "mailferry: %s takes one account\n", job);
		return -1;
	}
	if (o->job == JOB_IMPORT_UIDS && o->naccounts != 1) {
		fprintf(stderr, "mailferry: --import-uids takes one account: "
		    "-a NAME --import-uids FORMAT:FILE\n");
		return -1;
	}
	return 0;
}

int
options_parse(int argc, char **argv, struct options *o)
{
	unsigned given = 0;
	int c;

	*o = (struct options){ .job = JOB_FETCH, .verbosity = LOG_NORMAL,
	    .ovr = { OVERRIDE_NONE, OVERRIDE_NONE } };
	while ((c = getopt_long(argc, argv, "f:a:nckKvqd:", longopts,
	    NULL)) != -1)
		if (take_option(o, c, &given) == -1)
			return -1;
	if (o->job == JOB_CONVERT) {
		if (optind + 1 != argc) {
			fprintf(stderr, "mailferry: --convert takes a format "
			    "and a file: --convert fetchmailrc|mpoprc FILE\n");
			return -1;
		}
		o->convert_file = argv[optind++];
	}
	for (; optind < argc; optind++) {
		add_account(o, argv[optind]);
		given |= G_ACCOUNT;
	}
	return check_job(o, given);
}

void
options_free(struct options *o)
{
	free(o->config_path);
	free(o->accounts);
	o->config_path = NULL;
	o->accounts = NULL;
}
