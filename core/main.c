/*
 * mailferry: fetch mail from POP3 mailboxes, filter it, deliver it.
 */
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "config.h"
#include "config-rules.h"
#include "convert.h"
#include "deliver.h"
#include "err.h"
#include "fetch.h"
#include "fsutil.h"
#include "daemon.h"
#include "import-uids.h"
#include "log.h"
#include "progress.h"
#include "secret.h"
#include "setaside.h"
#include "setup.h"
#include "testmsg.h"
#include "xmalloc.h"

#ifndef MAILFERRY_VERSION
#define MAILFERRY_VERSION "dev"
#endif

struct options {
	char		*config_path;
	char		**accounts;
	size_t		 naccounts;
	bool		 dry_run;
	int		 verbosity;
	bool		 check_config;
	char		*test_message;
	char		*release;	/* a UID to release */
	int		 daemon;	/* poll interval, 0: run once */
	bool		 syslog;
	char		*import_uids;	/* FORMAT:FILE */
	char		*convert;	/* FORMAT, the file follows */
	char		*convert_file;
};

static volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: mailferry [-f FILE] [-a NAME]... [-n] [-v|-q] [-d SECONDS] [--syslog]\n"
"       mailferry -f FILE --check-config\n"
"       mailferry -f FILE -a NAME --test-message FILE.eml\n"
"       mailferry -f FILE -a NAME --import-uids fetchmail:FILE|mpop:FILE\n"
"       mailferry --convert fetchmailrc|mpoprc FILE\n"
"\n"
"  -f, --config FILE    configuration (default: $XDG_CONFIG_HOME/mailferry/\n"
"                       mailferry.conf, then ~/.mailferry.conf)\n"
"  -a, --account NAME   only this account (repeatable)\n"
"  -n, --dry-run        fetch and decide, but deliver, delete and record\n"
"                       nothing\n"
"  -v, --verbose        one line per message; twice: the protocol dialogue\n"
"  -q, --quiet          errors only\n"
"  -d, --daemon SECONDS poll forever, every SECONDS (SIGHUP: read the\n"
"                       configuration again, SIGUSR1: poll now,\n"
"                       SIGTERM: finish the messages in hand and stop)\n"
"      --syslog         log to syslog (facility mail); the default with -d\n"
"      --check-config   check the configuration (regexes, plugins,\n"
"                       destinations) and exit\n"
"      --test-message FILE  run the account's rules on a message file\n"
"                       and print what would happen; touches nothing\n"
"      --release UID    let the next run fetch a message set aside (a\n"
"                       plugin crashed on it) again; with one -a NAME\n"
"      --import-uids FORMAT:FILE  record the UIDs fetchmail (.fetchids)\n"
"                       or mpop (UIDLs file) fetched for the -a account\n"
"      --convert FORMAT FILE  print a configuration equivalent to a\n"
"                       .fetchmailrc (fetchmailrc) or .mpoprc (mpoprc)\n"
"      --version        print the version and exit\n"
"      --help           print this help and exit\n");
}

/* --import-uids and --convert are jobs of their own. */
static int
check_migration_options(const struct options *o)
{
	bool other = o->check_config || o->test_message != NULL ||
	    o->daemon > 0 || o->dry_run;

	if (o->convert != NULL && (other || o->import_uids != NULL ||
	    o->naccounts > 0 || o->convert_file == NULL)) {
		fprintf(stderr, "mailferry: --convert takes a format and a "
		    "file, and no other option: --convert fetchmailrc|mpoprc "
		    "FILE\n");
		return -1;
	}
	if (o->import_uids != NULL && (other || o->naccounts != 1)) {
		fprintf(stderr, "mailferry: --import-uids takes one -a NAME, "
		    "and none of --check-config, --test-message, -d, -n\n");
		return -1;
	}
	return 0;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_CHECK = 256, OPT_TEST_MESSAGE, OPT_SYSLOG, OPT_VERSION,
	    OPT_HELP, OPT_RELEASE, OPT_IMPORT_UIDS, OPT_CONVERT };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "account", required_argument, NULL, 'a' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "daemon", required_argument, NULL, 'd' },
		{ "syslog", no_argument, NULL, OPT_SYSLOG },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "test-message", required_argument, NULL, OPT_TEST_MESSAGE },
		{ "release", required_argument, NULL, OPT_RELEASE },
		{ "import-uids", required_argument, NULL, OPT_IMPORT_UIDS },
		{ "convert", required_argument, NULL, OPT_CONVERT },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "f:a:nvqd:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'f':
			free(o->config_path);
			o->config_path = xstrdup(optarg);
			break;
		case 'a':
			o->accounts = xreallocarray(o->accounts,
			    o->naccounts + 1, sizeof *o->accounts);
			o->accounts[o->naccounts++] = optarg;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'v':
			if (o->verbosity < LOG_TRACE)
				o->verbosity++;
			break;
		case 'q':
			o->verbosity = LOG_QUIET;
			break;
		case OPT_CHECK:
			o->check_config = true;
			break;
		case OPT_TEST_MESSAGE:
			o->test_message = optarg;
			break;
		case OPT_RELEASE:
			o->release = optarg;
			break;
		case 'd': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end != '\0' || v < 1 || v > 7 * 86400) {
				fprintf(stderr, "mailferry: -d takes a number of "
				    "seconds between 1 and 604800\n");
				return -1;
			}
			o->daemon = (int)v;
			break;
		}
		case OPT_SYSLOG:
			o->syslog = true;
			break;
		case OPT_IMPORT_UIDS:
			o->import_uids = optarg;
			break;
		case OPT_CONVERT:
			o->convert = optarg;
			break;
		case OPT_VERSION:
			printf("mailferry %s\n", MAILFERRY_VERSION);
			exit(err_exitcode(ERR_NONE));
		case OPT_HELP:
			usage(stdout);
			exit(err_exitcode(ERR_NONE));
		default:
			usage(stderr);
			return -1;
		}
	}
	if (o->daemon > 0 && (o->check_config || o->test_message != NULL ||
	    o->dry_run || o->release != NULL)) {
		fprintf(stderr, "mailferry: -d polls for real: not with "
		    "--check-config, --test-message, --release or -n\n");
		return -1;
	}
	if (o->release != NULL && (o->test_message != NULL ||
	    o->check_config)) {
		fprintf(stderr, "mailferry: --release goes alone, not with "
		    "--test-message or --check-config\n");
		return -1;
	}
	if ((o->test_message != NULL || o->release != NULL) &&
	    o->naccounts > 1) {
		fprintf(stderr, "mailferry: --%s takes one -a NAME\n",
		    o->release != NULL ? "release" : "test-message");
		return -1;
	}
	if (o->convert != NULL && optind < argc)
		o->convert_file = argv[optind++];
	if (optind != argc) {
		fprintf(stderr, "mailferry: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return -1;
	}
	return check_migration_options(o);
}

/* The accounts this run is about, in configuration order. */
static struct account **
select_accounts(struct config *cfg, const struct options *o, size_t *n)
{
	struct account **sel = xcalloc(cfg->naccounts + 1, sizeof *sel);

	*n = 0;
	for (size_t i = 0; i < o->naccounts; i++)
		if (config_account(cfg, o->accounts[i]) == NULL) {
			log_error("no account named \"%s\" in %s",
			    o->accounts[i], cfg->path);
			free(sel);
			return NULL;
		}
	for (size_t i = 0; i < cfg->naccounts; i++) {
		bool wanted = o->naccounts == 0;

		for (size_t j = 0; j < o->naccounts; j++)
			wanted |= strcmp(o->accounts[j],
			    cfg->accounts[i].name) == 0;
		if (wanted)
			sel[(*n)++] = &cfg->accounts[i];
	}
	return sel;
}

/* A plugin only acts through rules; one loaded but never called is most
 * likely a forgotten rule. */
static void
warn_unused_plugins(const struct setup *s)
{
	const struct config *cfg = s->cfg;

	for (size_t i = 0; i < s->plugins.n; i++) {
		const struct plugin *p = s->plugins.list[i];
		bool used = false;

		for (size_t a = 0; a < cfg->naccounts && !used; a++)
			for (size_t r = 0; r < cfg->accounts[a].nrules; r++)
				used |= cfg->accounts[a].rules[r].plugin == p;
		if (!used)
			log_warn("plugin \"%s\" is loaded but no rule uses it "
			    "(add a rule with plugin = \"%s\")", p->name,
			    p->name);
	}
}

static int
check_config(const struct setup *s)
{
	struct config *cfg = s->cfg;
	struct err e;
	int bad = 0;

	for (size_t i = 0; i < cfg->ndests; i++) {
		struct destination *d = &cfg->dests[i];

		err_clear(&e);
		if (d->backend->check(d, &e) == -1) {
			log_error_at(d->src.file, d->src.line, "destination "
			    "\"%s\": %s", d->name, e.msg);
			bad++;
		}
	}
	if (bad > 0)
		return err_exitcode(ERR_CONFIG);
	printf("%s: OK: %zu account%s, %zu destination%s, %zu plugin%s\n",
	    cfg->path, cfg->naccounts, cfg->naccounts == 1 ? "" : "s",
	    cfg->ndests, cfg->ndests == 1 ? "" : "s", s->plugins.n,
	    s->plugins.n == 1 ? "" : "s");
	warn_unused_plugins(s);
	for (size_t i = 0; i < cfg->naccounts; i++) {
		struct account *a = &cfg->accounts[i];

		printf("  account %s: %s@%s:%d, tls %s, %s, %zu rule%s\n",
		    a->name, a->user, a->server, a->port,
		    tls_mode_name(a->tls), a->keep ? "keep" :
		    "delete after delivery", a->nrules,
		    a->nrules == 1 ? "" : "s");
	}
	for (size_t i = 0; i < cfg->ndests; i++)
		printf("  destination %s: %s %s\n", cfg->dests[i].name,
		    cfg->dests[i].backend->type, cfg->dests[i].path != NULL ?
		    cfg->dests[i].path : cfg->dests[i].host != NULL ?
		    cfg->dests[i].host : cfg->dests[i].socket != NULL ?
		    cfg->dests[i].socket : cfg->dests[i].command != NULL ?
		    cfg->dests[i].command : "");
	return err_exitcode(ERR_NONE);
}

/* A first run without any configuration: say where one goes. */
static void
no_configuration(void)
{
	char *xdg = config_xdg_path();
	char *home = expand_path("~/.mailferry.conf");

	log_error("no configuration: create %s (or %s, or name one with "
	    "-f FILE); mailferry.conf(5) describes it, and %s/mailferry.conf "
	    "is a commented example", xdg, home, EXAMPLES_DIR);
	free(xdg);
	free(home);
}

/* Syslog with --syslog, and by default in daemon mode, when there is a
 * syslog to talk to: without /dev/log every line would be lost. */
static bool
use_syslog(const struct options *o)
{
	if (!o->syslog && o->daemon == 0)
		return false;
	if (access("/dev/log", W_OK) == 0)
		return true;
	fprintf(stderr, "mailferry: no syslog here (/dev/log); logging to "
	    "stderr\n");
	return false;
}

static int
worse(int a, int b)
{
	return a > b ? a : b;
}

/* Run the accounts, up to cfg->parallel at once, each in its own process
 * when there are several, so one account's trouble cannot touch another. */
static int
run_accounts(struct config *cfg, struct account **sel, size_t n,
    const struct run_options *ropt)
{
	size_t next = 0, running = 0;
	int status = err_exitcode(ERR_NONE);

	if (cfg->parallel <= 1 || n <= 1) {
		for (size_t i = 0; i < n && !stop_requested; i++)
			status = worse(status, err_exitcode(
			    fetch_account(cfg, sel[i], ropt)));
		return status;
	}
	fflush(stdout);
	while (next < n || running > 0) {
		int wstatus;
		pid_t pid;

		if (next < n && running < (size_t)cfg->parallel &&
		    !stop_requested) {
			pid = fork();
			if (pid == -1) {
				log_error("fork: %s", strerror(errno));
				status = worse(status, err_exitcode(ERR_TEMP));
				next = n;
				continue;
			}
			if (pid == 0)
				_exit(err_exitcode(fetch_account(cfg,
				    sel[next], ropt)));
			next++;
			running++;
			continue;
		}
		if (running == 0)
			break;
		pid = wait(&wstatus);
		if (pid == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		running--;
		if (WIFEXITED(wstatus))
			status = worse(status, WEXITSTATUS(wstatus));
		else
			status = worse(status, err_exitcode(ERR_INTERNAL));
	}
	return status;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct run_options ropt = { .stop = &stop_requested };
	struct sigaction sa = { .sa_handler = on_stop_signal };
	struct account **sel;
	struct setup *setup;
	struct config *cfg;
	struct err e;
	size_t nsel;
	int status;

	if (parse_options(argc, argv, &o) == -1) {
		free(o.config_path);
		free(o.accounts);
		return err_exitcode(ERR_USAGE);
	}
	if (o.convert != NULL) {
		free(o.config_path);
		return convert_main(o.convert, o.convert_file);
	}
	log_setup(o.verbosity, use_syslog(&o));
	if (secret_no_dumps(&e) == -1)
		log_warn("%s", e.msg);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	OPENSSL_init_ssl(0, NULL);

	if (o.config_path == NULL) {
		o.config_path = config_default_path();
		if (access(o.config_path, F_OK) == -1 && errno == ENOENT) {
			no_configuration();
			free(o.config_path);
			free(o.accounts);
			return err_exitcode(ERR_CONFIG);
		}
	}
	setup = setup_open(o.config_path, o.check_config ? SETUP_CHECK :
	    SETUP_RUN);
	if (setup == NULL) {
		free(o.config_path);
		free(o.accounts);
		return err_exitcode(ERR_CONFIG);
	}
	cfg = setup->cfg;
	if (o.check_config) {
		status = check_config(setup);
		goto out;
	}
	sel = select_accounts(cfg, &o, &nsel);
	if (sel == NULL) {
		status = err_exitcode(ERR_USAGE);
		goto out;
	}
	if (o.import_uids != NULL) {
		err_clear(&e);
		status = err_exitcode(ERR_NONE);
		if (import_uids(cfg, sel[0], o.import_uids, &e) == -1) {
			log_error("%s", e.msg);
			status = err_exitcode(e.cls);
		}
		free(sel);
		goto out;
	}
	if (o.test_message != NULL || o.release != NULL) {
		if (nsel != 1) {
			log_error("--%s: name the account with -a NAME",
			    o.release != NULL ? "release" : "test-message");
			status = err_exitcode(ERR_USAGE);
		} else if (o.release != NULL)
			status = setaside_release(cfg, sel[0], o.release);
		else
			status = test_message(cfg, sel[0], o.test_message);
		free(sel);
		goto out;
	}
	ropt.dry_run = o.dry_run;
	if (o.daemon > 0) {
		free(sel);
		status = daemon_run(&setup, o.daemon, o.accounts, o.naccounts,
		    &ropt);
		goto out;
	}
	/* One progress line at a time: not with accounts in parallel. */
	progress_allow(!o.syslog && o.verbosity >= LOG_NORMAL &&
	    (nsel == 1 || cfg->parallel == 1));
	status = run_accounts(cfg, sel, nsel, &ropt);
	free(sel);
out:
	setup_close(setup);
	free(o.config_path);
	free(o.accounts);
	return status;
}
