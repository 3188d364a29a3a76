/*
 * mailferry: fetch mail from POP3 mailboxes, filter it, deliver it.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "check-runtime.h"
#include "child-exit.h"
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
#include "options.h"
#include "overrides.h"
#include "progress.h"
#include "secret.h"
#include "setaside.h"
#include "setup.h"
#include "testmsg.h"
#include "xmalloc.h"

static volatile sig_atomic_t stop_requested;
/* Accounts fetched in parallel: their processes, which a stop reaches
 * too (a SIGTERM sent to this process alone, say). */
static pid_t *volatile children;
static volatile sig_atomic_t nchildren;

static void
on_stop_signal(int sig)
{
	int saved = errno;

	stop_requested = 1;
	for (sig_atomic_t i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], sig);
	errno = saved;
}

/* -c: an account that has nothing new, and did not fail. */
#define CHECK_NOTHING_NEW	1

/* What the accounts' exit statuses make: the worst failure; for -c,
 * without failures, 0 when some account has new mail, else 1. */
struct outcome {
	int		 worst;
	bool		 found;
};

static void
tally(struct outcome *out, int code)
{
	if (code == err_exitcode(ERR_NONE))
		out->found = true;
	else if (code != CHECK_NOTHING_NEW && code > out->worst)
		out->worst = code;
}

static int
outcome_status(const struct outcome *out, const struct run_options *ropt)
{
	if (out->worst != err_exitcode(ERR_NONE))
		return out->worst;
	return ropt->check && !out->found ? CHECK_NOTHING_NEW :
	    err_exitcode(ERR_NONE);
}

/* One account's exit status. */
static int
fetch_one(struct config *cfg, struct account *a,
    const struct run_options *ropt)
{
	struct run_options opt = *ropt;
	unsigned found = 0;
	enum err_class cls;

	opt.new_found = &found;
	cls = fetch_account(cfg, a, &opt);
	if (cls == ERR_NONE && ropt->check && found == 0)
		return CHECK_NOTHING_NEW;
	return err_exitcode(cls);
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
	bad += check_runtime(cfg);
	if (bad > 0)
		return err_exitcode(ERR_CONFIG);
	printf("%s: OK: %zu account%s, %zu destination%s, %zu plugin%s\n",
	    cfg->path, cfg->naccounts, cfg->naccounts == 1 ? "" : "s",
	    cfg->ndests, cfg->ndests == 1 ? "" : "s", s->plugins.n,
	    s->plugins.n == 1 ? "" : "s");
	warn_unused_plugins(s);
	for (size_t i = 0; i < cfg->naccounts; i++) {
		struct account *a = &cfg->accounts[i];

		printf("  account %s: %s%s@%s:%d, tls %s, %s%s, %zu rule%s\n",
		    a->name, a->protocol == PROTO_IMAP ? "imap " : "",
		    a->user, a->server, a->port, tls_mode_name(a->tls),
		    a->move_to != NULL ? "move to " : a->keep ? "keep" :
		    "delete after delivery", a->move_to != NULL ? a->move_to :
		    "", a->nrules, a->nrules == 1 ? "" : "s");
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
	if (!o->syslog && o->job != JOB_DAEMON)
		return false;
	if (access("/dev/log", W_OK) == 0)
		return true;
	fprintf(stderr, "mailferry: no syslog here (/dev/log); logging to "
	    "stderr\n");
	return false;
}

/* Start the next account in a process of its own; -1 when fork fails. */
static int
start_child(struct config *cfg, struct account *a,
    const struct run_options *ropt, size_t slot)
{
	pid_t pid = fork();

	if (pid == -1) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		nchildren = 0;
		child_exit(fetch_one(cfg, a, ropt));
	}
	children[slot] = pid;
	if ((sig_atomic_t)slot >= nchildren)
		nchildren = (sig_atomic_t)slot + 1;
	/* A stop that came just before the fork: pass it on. */
	if (stop_requested)
		kill(pid, SIGTERM);
	return 0;
}

static void
child_ended(pid_t pid, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* Accounts up to cfg->parallel at once, each in its own process, so one
 * account's trouble cannot touch another. */
static void
run_parallel(struct config *cfg, struct account **sel, size_t n,
    const struct run_options *ropt, struct outcome *out)
{
	size_t next = 0, running = 0;

	children = xcalloc(n, sizeof *children);
	fflush(stdout);
	while (next < n || running > 0) {
		int wstatus;
		pid_t pid;

		if (next < n && running < (size_t)cfg->parallel &&
		    !stop_requested) {
			if (start_child(cfg, sel[next], ropt, next) == -1) {
				tally(out, err_exitcode(ERR_TEMP));
				n = next;
				continue;
			}
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
		child_ended(pid, n);
		running--;
		tally(out, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) :
		    err_exitcode(ERR_INTERNAL));
	}
	nchildren = 0;
	free(children);
	children = NULL;
}

/* Run the selected accounts, one after another or in parallel. */
static int
run_accounts(struct config *cfg, struct account **sel, size_t n,
    const struct run_options *ropt)
{
	struct outcome out = { err_exitcode(ERR_NONE), false };
	size_t done = 0;

	if (cfg->parallel <= 1 || n <= 1) {
		for (; done < n && !stop_requested; done++)
			tally(&out, fetch_one(cfg, sel[done], ropt));
	} else
		run_parallel(cfg, sel, n, ropt, &out);
	if (stop_requested) {
		/* Some mail may be left for the next run. */
		tally(&out, err_exitcode(ERR_TEMP));
		if (done < n && (cfg->parallel <= 1 || n <= 1))
			log_info("stopped by a signal: %zu account%s not "
			    "fetched", n - done, n - done == 1 ? "" : "s");
	}
	return outcome_status(&out, ropt);
}

/* The jobs about one account: it must be named, or be the only one. */
static int
one_account_job(struct config *cfg, const struct options *o,
    struct account *a)
{
	struct err e;

	switch (o->job) {
	case JOB_RELEASE:
		return setaside_release(cfg, a, o->job_arg);
	case JOB_TEST_MESSAGE:
		return test_message(cfg, a, o->job_arg);
	default:
		err_clear(&e);
		if (import_uids(cfg, a, o->job_arg, &e) == 0)
			return err_exitcode(ERR_NONE);
		log_error("%s", e.msg);
		return err_exitcode(e.cls);
	}
}

static int
fetch_once(struct config *cfg, const struct options *o, struct account **sel,
    size_t nsel)
{
	struct run_options ropt = { .stop = &stop_requested,
	    .stop_fails = true, .dry_run = o->dry_run, .check = o->check,
	    .all = o->all, .json = o->json };

	/* One progress line at a time: not with accounts in parallel. */
	progress_allow(!o->syslog && o->verbosity >= LOG_NORMAL &&
	    (nsel == 1 || cfg->parallel == 1));
	return run_accounts(cfg, sel, nsel, &ropt);
}

/* Everything but --convert, once the configuration is read and made
 * ready (*setup is replaced when the daemon reads it again). */
static int
run_job(struct setup **setup, const struct options *o)
{
	struct run_options ropt = { .stop = &stop_requested };
	struct config *cfg = (*setup)->cfg;
	struct account **sel;
	size_t nsel;
	int status;

	if (o->job == JOB_CHECK_CONFIG)
		return check_config(*setup);
	overrides_apply(&o->ovr, cfg);
	if (o->job == JOB_DAEMON)
		return daemon_run(setup, o->daemon, o->accounts, o->naccounts,
		    &o->ovr, &ropt);
	sel = select_accounts(cfg, o, &nsel);
	if (sel == NULL)
		return err_exitcode(ERR_USAGE);
	if (o->job == JOB_FETCH)
		status = fetch_once(cfg, o, sel, nsel);
	else if (nsel != 1) {
		log_error("%s: name the account with -a NAME: %s holds %zu",
		    o->job == JOB_RELEASE ? "--release" : "--test-message",
		    cfg->path, nsel);
		status = err_exitcode(ERR_USAGE);
	} else
		status = one_account_job(cfg, o, sel[0]);
	free(sel);
	return status;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	struct options o;
	struct setup *setup;
	struct err e;
	int status;

	if (options_parse(argc, argv, &o) == -1) {
		options_free(&o);
		return err_exitcode(ERR_USAGE);
	}
	if (o.job == JOB_CONVERT) {
		status = convert_main(o.job_arg, o.convert_file);
		options_free(&o);
		return status;
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
			options_free(&o);
			return err_exitcode(ERR_CONFIG);
		}
	}
	setup = setup_open(o.config_path, o.job == JOB_CHECK_CONFIG ?
	    SETUP_CHECK : SETUP_RUN);
	if (setup == NULL) {
		options_free(&o);
		return err_exitcode(ERR_CONFIG);
	}
	status = run_job(&setup, &o);
	setup_close(setup);
	options_free(&o);
	return status;
}
