/*
 * The IDLE loop of one IMAP account in daemon mode. The waiting session
 * opens its folder (EXAMINE: it changes nothing) before each fetch, so
 * mail that arrives during the fetch is announced as soon as IDLE
 * starts: nothing slips between the fetch and the wait.
 */
#include <signal.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "daemon-idle.h"
#include "imap-account.h"
#include "imap-session.h"
#include "log.h"

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

/* The waiting session, logged in, its folder opened; NULL (and said
 * why) when the account is to be polled instead. */
static struct imap *
open_waiter(const struct config *cfg, const struct account *a)
{
	struct imap_folder f;
	struct imap *im;
	struct err e;

	err_clear(&e);
	if ((im = imap_account_open(cfg, a, &e)) == NULL) {
		log_warn("%s: cannot wait for new mail: %s", a->name, e.msg);
		return NULL;
	}
	if (!imap_has(im, IMAP_CAP_IDLE)) {
		log_verbose("%s: the server does not offer IDLE: polling",
		    a->name);
		(void)imap_logout(im, &e);
		return NULL;
	}
	if (imap_select(im, a->folders[0], true, &f, &e) == -1) {
		log_warn("%s: cannot wait for new mail: %s", a->name, e.msg);
		imap_abort(im);
		return NULL;
	}
	return im;
}

/* Open the folder again, so that what arrives from now on is news. */
static int
rearm(struct imap *im, const struct account *a)
{
	struct imap_folder f;
	struct err e;

	err_clear(&e);
	if (imap_select(im, a->folders[0], true, &f, &e) == -1) {
		log_warn("%s: waiting for new mail: %s", a->name, e.msg);
		return -1;
	}
	return 0;
}

/* Wait until new mail, a signal, or the next poll is due. 0 on any of
 * these, -1 when the session failed (closed, and *im NULL). */
static int
wait_for_mail(struct imap **im, const struct account *a, int64_t due,
    unsigned *failures)
{
	int64_t started = clock_ms();
	int seconds = (int)((due - started + 999) / 1000);
	struct err e;

	if (seconds <= 0 || wake)
		return 0;
	log_verbose("%s: waiting for new mail in \"%s\" (IDLE), at most %d s",
	    a->name, a->folders[0], seconds);
	err_clear(&e);
	if (imap_idle(*im, seconds, &wake, &e) >= 0) {
		*failures = 0;
		return 0;
	}
	log_warn("%s: waiting for new mail: %s", a->name, e.msg);
	imap_abort(*im);
	*im = NULL;
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
	struct imap *im = NULL;
	unsigned failures = 0;
	struct err e;

	stop_flag = opt->stop;
	catch_signals();
	while (!leave && failures < IDLE_FAILURES_MAX) {
		int64_t due = clock_ms() + (int64_t)interval * 1000;

		if (im == NULL)
			im = open_waiter(cfg, a);
		else if (rearm(im, a) == -1) {
			imap_abort(im);
			im = open_waiter(cfg, a);
		}
		wake = 0;
		cls = fetch_account(cfg, a, opt);
		if (im == NULL || cls != ERR_NONE || leave)
			break;
		(void)wait_for_mail(&im, a, due, &failures);
	}
	if (failures >= IDLE_FAILURES_MAX && cls == ERR_NONE)
		cls = ERR_TEMP;
	if (im != NULL) {
		err_clear(&e);
		(void)imap_logout(im, &e);
	}
	return cls;
}
