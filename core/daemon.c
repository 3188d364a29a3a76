#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "child-exit.h"
#include "clock.h"
#include "daemon-idle.h"
#include "daemon.h"
#include "log.h"
#include "xmalloc.h"

#define BACKOFF_MAX	3600	/* seconds */

struct slot {
	char	*name;
	int64_t	 due;		/* monotonic ms */
	int	 delay;		/* seconds until the next poll */
	pid_t	 pid;		/* fetching now, or 0 */
	int	 report_fd;	/* the fetch's LOGIN-DELAY comes here */
	int	 login_delay;	/* seconds the server last asked for */
	bool	 again;		/* SIGUSR1 came during the fetch */
	bool	 keep;		/* still in the configuration */
	bool	 idling;	/* its process waits in IDLE between polls */
};

struct daemon {
	struct setup	**setup;
	int		 interval;
	const char *const *only;
	size_t		 nonly;
	const struct run_overrides *ovr;
	const struct run_options *opt;
	struct slot	*slots;
	size_t		 nslots, capslots;
	sigset_t	 old_mask;
	bool		 stopping;
};

static bool
wanted(struct daemon *d, const char *name)
{
	if (d->nonly == 0)
		return true;
	for (size_t i = 0; i < d->nonly; i++)
		if (strcmp(d->only[i], name) == 0)
			return true;
	return false;
}

/* Match the slots to the configuration's accounts, keeping the state of
 * accounts that stay. */
static void
sync_slots(struct daemon *d)
{
	struct config *cfg = (*d->setup)->cfg;
	int64_t now = clock_ms();

	for (size_t i = 0; i < d->nslots; i++)
		d->slots[i].keep = false;
	for (size_t a = 0; a < cfg->naccounts; a++) {
		const char *name = cfg->accounts[a].name;
		struct slot *s = NULL;

		if (!wanted(d, name))
			continue;
		for (size_t i = 0; i < d->nslots && s == NULL; i++)
			if (strcmp(d->slots[i].name, name) == 0)
				s = &d->slots[i];
		if (s == NULL) {
			s = ARRAY_ADD(d->slots, d->nslots, d->capslots);
			*s = (struct slot){ .name = xstrdup(name), .due = now,
			    .delay = d->interval, .report_fd = -1 };
		}
		s->keep = true;
	}
	/* Accounts gone from the configuration: forget them once idle. */
	for (size_t i = 0; i < d->nslots;) {
		if (!d->slots[i].keep && d->slots[i].pid == 0) {
			free(d->slots[i].name);
			d->slots[i] = d->slots[--d->nslots];
		} else
			i++;
	}
}

static size_t
running(const struct daemon *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nslots; i++)
		n += d->slots[i].pid != 0;
	return n;
}

/* Fetches counted against `parallel`: a process that lives on in IDLE
 * between its fetches would otherwise hold a place for good. */
static size_t
polling(const struct daemon *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nslots; i++)
		n += d->slots[i].pid != 0 && !d->slots[i].idling;
	return n;
}

/* Pass a signal on to the accounts waiting in IDLE; returns how many. */
static size_t
tell_idlers(struct daemon *d, int sig, bool restart)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nslots; i++) {
		struct slot *s = &d->slots[i];

		if (s->pid == 0 || !s->idling)
			continue;
		kill(s->pid, sig);
		s->again = restart;
		n++;
	}
	return n;
}

/* The child: fetch (or wait in IDLE and fetch), and tell the parent the
 * server's LOGIN-DELAY. */
static void
run_fetch(struct daemon *d, struct account *a, bool idling, int report_fd)
{
	struct config *cfg = (*d->setup)->cfg;
	struct run_options opt = *d->opt;
	int login_delay = 0, code;

	opt.login_delay = &login_delay;
	/* SIGTERM means "finish the message in hand". */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &d->old_mask, NULL);
	if (idling)
		code = err_exitcode(daemon_idle_account(cfg, a, &opt,
		    d->interval));
	else
		code = err_exitcode(fetch_account(cfg, a, &opt));
	/* The parent reads no delay when this fails: it polls as usual. */
	if (write(report_fd, &login_delay, sizeof login_delay) == -1)
		code = code != 0 ? code : err_exitcode(ERR_TEMP);
	child_exit(code);
}

static void
start(struct daemon *d, struct slot *s)
{
	struct account *a = config_account((*d->setup)->cfg, s->name);
	int fds[2];
	pid_t pid;

	if (a == NULL)
		return;
	s->idling = daemon_idles(a);
	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_error("%s: cannot start a fetch: pipe: %s", s->name,
		    strerror(errno));
		s->due = clock_ms() + (int64_t)s->delay * 1000;
		return;
	}
	pid = fork();
	if (pid == -1) {
		log_error("%s: cannot start a fetch: %s", s->name,
		    strerror(errno));
		close(fds[0]);
		close(fds[1]);
		s->due = clock_ms() + (int64_t)s->delay * 1000;
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		run_fetch(d, a, s->idling, fds[1]);
	}
	close(fds[1]);
	s->pid = pid;
	s->report_fd = fds[0];
}

/*
 * The LOGIN-DELAY the fetch that just ended reported: the server refuses
 * (or counts against us) a login sooner than that, so the next poll of
 * the account waits at least as long.
 */
static void
apply_login_delay(struct slot *s)
{
	int login_delay = 0;

	if (s->report_fd != -1) {
		/* The child has exited: what it wrote is there, or nothing. */
		if (read(s->report_fd, &login_delay, sizeof login_delay) !=
		    (ssize_t)sizeof login_delay || login_delay < 0)
			login_delay = s->login_delay;
		close(s->report_fd);
		s->report_fd = -1;
	}
	if (login_delay > s->delay && login_delay != s->login_delay)
		log_info("%s: the server allows one login every %d s "
		    "(LOGIN-DELAY): polling it that often", s->name,
		    login_delay);
	s->login_delay = login_delay;
	if (login_delay > s->delay)
		s->delay = login_delay;
}

/* A fetch ended: schedule the account's next one. */
static void
finished(struct daemon *d, pid_t pid, int wstatus)
{
	int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) :
	    err_exitcode(ERR_INTERNAL);

	for (size_t i = 0; i < d->nslots; i++) {
		struct slot *s = &d->slots[i];

		if (s->pid != pid)
			continue;
		s->pid = 0;
		if (code == 0)
			s->delay = d->interval;
		else {
			/* Back off, so a broken account is not hammered;
			 * the others keep their pace. */
			s->delay = s->delay * 2 > BACKOFF_MAX ?
			    (d->interval > BACKOFF_MAX ? d->interval :
			    BACKOFF_MAX) : s->delay * 2;
		}
		apply_login_delay(s);
		if (code != 0)
			log_warn("%s: failed (exit status %d); next attempt in "
			    "%d s", s->name, code, s->delay);
		s->due = clock_ms() + (int64_t)s->delay * 1000;
		/* A poll asked for while busy is owed now. */
		if (s->again)
			s->due = clock_ms();
		s->again = false;
		return;
	}
}

static void
reap(struct daemon *d)
{
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
		finished(d, pid, wstatus);
	sync_slots(d);
}

static void
reload(struct daemon *d)
{
	const char *path = (*d->setup)->cfg->path;
	struct setup *fresh = setup_open(path, SETUP_RUN);

	if (fresh == NULL) {
		log_error("%s: the new configuration has errors (see above); "
		    "keeping the old one", path);
		return;
	}
	overrides_apply(d->ovr, fresh->cfg);
	setup_close(*d->setup);
	*d->setup = fresh;
	sync_slots(d);
	log_info("%s: configuration read again: %zu account(s)",
	    fresh->cfg->path, d->nslots);
}

int
daemon_run(struct setup **setup, int interval, const char *const *only,
    size_t nonly, const struct run_overrides *ovr,
    const struct run_options *opt)
{
	struct daemon d = { .setup = setup, .interval = interval,
	    .only = only, .nonly = nonly, .ovr = ovr, .opt = opt };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, &d.old_mask);
	sync_slots(&d);
	log_info("polling every %d s: %zu account(s)", interval, d.nslots);

	while (!d.stopping || running(&d) > 0) {
		int64_t now = clock_ms(), next = now + (int64_t)interval * 1000;
		struct timespec ts;
		int sig;

		for (size_t i = 0; i < d.nslots && !d.stopping; i++) {
			struct slot *s = &d.slots[i];

			if (s->pid == 0 && s->keep && s->due <= now &&
			    polling(&d) < (size_t)(*setup)->cfg->parallel)
				start(&d, s);
		}
		for (size_t i = 0; i < d.nslots; i++)
			if (d.slots[i].pid == 0 && d.slots[i].due < next)
				next = d.slots[i].due;
		if (next < now)
			next = now + 100;	/* busy: poll children */
		ts.tv_sec = (next - now) / 1000;
		ts.tv_nsec = (next - now) % 1000 * 1000000;
		sig = sigtimedwait(&set, NULL, &ts);
		switch (sig) {
		case SIGCHLD:
			reap(&d);
			break;
		case SIGHUP:
			reload(&d);
			/* Those waiting in IDLE hold the old configuration:
			 * end them, to start again at once. */
			tell_idlers(&d, SIGHUP, true);
			break;
		case SIGUSR1:
			log_info("SIGUSR1: polling now");
			for (size_t i = 0; i < d.nslots; i++) {
				d.slots[i].due = clock_ms();
				d.slots[i].again = d.slots[i].pid != 0;
			}
			tell_idlers(&d, SIGUSR1, false);
			break;
		case SIGTERM:
		case SIGINT:
			if (!d.stopping)
				log_info("stopping: fetches under way finish "
				    "the messages in hand");
			d.stopping = true;
			for (size_t i = 0; i < d.nslots; i++)
				if (d.slots[i].pid != 0)
					kill(d.slots[i].pid, SIGTERM);
			break;
		default:
			/* A timeout, or an interrupted wait. */
			reap(&d);
			break;
		}
	}
	for (size_t i = 0; i < d.nslots; i++)
		free(d.slots[i].name);
	free(d.slots);
	log_info("stopped");
	return err_exitcode(ERR_NONE);
}
