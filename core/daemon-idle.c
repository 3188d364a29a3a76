/*
 * The IDLE loop of one IMAP account in daemon mode, through the source
 * interface (source.h): the waiting session selects the first folder
 * again before each fetch, so mail that arrives during the fetch is
 * announced as soon as the wait starts: nothing slips between the fetch
 * and the wait.
 */
#include <signal.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "daemon-idle.h"
#include "log.h"
#include "source.h"

/* IDLE sessions that fail this soon after starting, this many times in a
 * row, end the process: the daemon then backs off as for any failure. */
#define IDLE_SHORT_MS		60000
#define IDLE_FAILURES_MAX	3

static volatile sig_atomic_t wake, leave;
static volatile sig_atomic_t *stop_flag;

static void
on_signal(int sig)
{
	wake = 1;
	if (sig == SIGHUP || sig == SIGTERM || sig == SIGINT)
		leave = 1;
	if ((sig == SIGTERM || sig == SIGINT) && stop_flag != NULL)
		*stop_flag = 1;
}

static void
catch_signals(void)
{
	struct sigaction sa;
	const int sigs[] = { SIGUSR1, SIGHUP, SIGTERM, SIGINT };

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal must cut a wait short. */
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

bool
daemon_idles(const struct account *a)
{
	return a->protocol == PROTO_IMAP && a->idle;
}

/* Open the first mailbox again, so that what arrives from now on is
 * news. */
static int
rearm(struct source_session *ss, const struct account *a)
{
	struct source_mailbox mb;
	struct err e;

	err_clear(&e);
	if (ss->backend->select(ss, 0, &mb, &e) != 0) {
		log_warn("%s: cannot wait for new mail: %s", a->name, e.msg);
		return -1;
	}
	return 0;
}

/* The waiting session, logged in, its first mailbox selected; NULL
 * (and said why) when the account is to be polled instead. */
static struct source_session *
open_waiter(const struct config *cfg, const struct account *a)
{
	const struct source_backend *b = source_for(a);
	struct source_session *ss;
	struct err e;

	if (b->idle == NULL)
		return NULL;
	err_clear(&e);
	if ((ss = source_open(b, cfg, a, NULL, &e)) == NULL) {
		log_warn("%s: cannot wait for new mail: %s", a->name, e.msg);
		return NULL;
	}
	/* It only waits: the fetch runs in a session of its own. */
	ss->read_only = true;
	if (!ss->caps.idle) {
		log_verbose("%s: the server does not offer IDLE: polling",
		    a->name);
		(void)b->close(ss, &e);
		return NULL;
	}
	if (rearm(ss, a) == -1) {
		b->abort(ss);
		return NULL;
	}
	return ss;
}

/* Wait until new mail, a signal, or the next poll is due. 0 on any of
 * these, -1 when the session failed (closed, and *im NULL). */
static int
wait_for_mail(struct source_session **ss, const struct account *a,
    int64_t due, unsigned *failures)
{
	int64_t started = clock_ms();
	int seconds = (int)((due - started + 999) / 1000);
	struct err e;

	if (seconds <= 0 || wake)
		return 0;
	log_verbose("%s: waiting for new mail in \"%s\" (IDLE), at most %d s",
	    a->name, a->folders[0], seconds);
	err_clear(&e);
	if ((*ss)->backend->idle(*ss, seconds, &wake, &e) >= 0) {
		*failures = 0;
		return 0;
	}
	log_warn("%s: waiting for new mail: %s", a->name, e.msg);
	(*ss)->backend->abort(*ss);
	*ss = NULL;
	if (clock_ms() - started < IDLE_SHORT_MS)
		(*failures)++;
	else
		*failures = 1;
	return -1;
}

enum err_class
daemon_idle_account(struct config *cfg, struct account *a,
    const struct run_options *opt, int interval)
{
	enum err_class cls = ERR_NONE;
	struct source_session *ss = NULL;
	unsigned failures = 0;
	struct err e;

	stop_flag = opt->stop;
	catch_signals();
	while (!leave && failures < IDLE_FAILURES_MAX) {
		int64_t due = clock_ms() + (int64_t)interval * 1000;

		if (ss == NULL)
			ss = open_waiter(cfg, a);
		else if (rearm(ss, a) == -1) {
			ss->backend->abort(ss);
			ss = open_waiter(cfg, a);
		}
		wake = 0;
		cls = fetch_account(cfg, a, opt);
		if (ss == NULL || cls != ERR_NONE || leave)
			break;
		(void)wait_for_mail(&ss, a, due, &failures);
	}
	if (failures >= IDLE_FAILURES_MAX && cls == ERR_NONE)
		cls = ERR_TEMP;
	if (ss != NULL) {
		err_clear(&e);
		(void)ss->backend->close(ss, &e);
	}
	return cls;
}
