#include <sys/time.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "plugin-guard.h"

/* The signals a crashing plugin dies of. */
static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
    SIGABRT };
#define NCRASH	(sizeof crash_signals / sizeof crash_signals[0])

/* What the handler writes, prepared by guard_arm(). */
static struct {
	int	 fd;
	char	 record[512];
	size_t	 recordlen;
	char	 head[512];		/* "mailferry: ACCOUNT: plugin NAME " */
	size_t	 headlen;
	char	 hung[64];		/* "did not return within N s" */
	size_t	 hunglen;
	char	 tail[1024];		/* " on the message ...\n" */
	size_t	 taillen;
	int	 status;
} armed;

static struct sigaction saved_crash[NCRASH], saved_alarm;
static struct itimerval paused;
static bool active, stopped;
/* A stack for the handler: a plugin recursing without end has used up
 * its own. */
static char alt_stack[64 * 1024];

static const char *
signal_reason(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "crashed (SIGSEGV)";
	case SIGBUS:
		return "crashed (SIGBUS)";
	case SIGILL:
		return "crashed (SIGILL)";
	case SIGFPE:
		return "crashed (SIGFPE)";
	case SIGABRT:
		return "aborted (SIGABRT)";
	}
	return "crashed";
}

static void
put(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void
on_signal(int sig)
{
	const char *reason = sig == SIGALRM ? armed.hung : signal_reason(sig);

	if (armed.fd != -1)
		put(armed.fd, armed.record, armed.recordlen);
	put(STDERR_FILENO, armed.head, armed.headlen);
	put(STDERR_FILENO, reason, sig == SIGALRM ? armed.hunglen :
	    strlen(reason));
	put(STDERR_FILENO, armed.tail, armed.taillen);
	_exit(armed.status);
}

/* Only the message's fate differs: whether it was set aside. */
static void
prepare_tail(const struct guard_call *c)
{
	const char *uid = c->uid != NULL ? c->uid : "";

	if (c->uid == NULL)
		snprintf(armed.tail, sizeof armed.tail, " on a message without "
		    "a UID, which cannot be set aside\n");
	else if (c->fd == -1)
		snprintf(armed.tail, sizeof armed.tail, " on the message with "
		    "UID %s (nothing recorded)\n", uid);
	else
		snprintf(armed.tail, sizeof armed.tail, " on the message with "
		    "UID %s: it is set aside, left on the server, and later "
		    "runs go on without it; mailferry -a %s --release %s "
		    "tries it again\n", uid, c->account, uid);
	armed.taillen = strlen(armed.tail);
}

static void
prepare(const struct guard_call *c)
{
	armed.fd = c->fd;
	armed.recordlen = c->recordlen < sizeof armed.record ?
	    c->recordlen : 0;
	memcpy(armed.record, c->record, armed.recordlen);
	if (c->account != NULL)
		snprintf(armed.head, sizeof armed.head, "mailferry: %s: plugin "
		    "%s ", c->account, c->plugin);
	else
		snprintf(armed.head, sizeof armed.head, "mailferry: plugin %s ",
		    c->plugin);
	armed.headlen = strlen(armed.head);
	snprintf(armed.hung, sizeof armed.hung, "did not return within %d s",
	    c->seconds);
	armed.hunglen = strlen(armed.hung);
	prepare_tail(c);
	armed.status = err_exitcode(ERR_INTERNAL);
}

static void
use_alt_stack(void)
{
	stack_t ss;

	/* Keep one already in place (a sanitizer's). */
	if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE))
		return;
	ss = (stack_t){ .ss_sp = alt_stack, .ss_size = sizeof alt_stack };
	(void)sigaltstack(&ss, NULL);
}

void
guard_arm(const struct guard_call *c)
{
	struct sigaction sa = { .sa_handler = on_signal,
	    .sa_flags = SA_ONSTACK };
	struct itimerval it = { .it_value = { .tv_sec = c->seconds } };

	prepare(c);
	use_alt_stack();
	/* Every other signal of the handler waits: it never returns. */
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < NCRASH; i++)
		sigaction(crash_signals[i], &sa, &saved_crash[i]);
	sigaction(SIGALRM, &sa, &saved_alarm);
	setitimer(ITIMER_REAL, &it, NULL);
	active = true;
	stopped = false;
}

void
guard_pause(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	if (!active || stopped)
		return;
	setitimer(ITIMER_REAL, &off, &paused);
	stopped = true;
}

void
guard_resume(void)
{
	if (!active || !stopped)
		return;
	stopped = false;
	/* A clock stopped in its last microsecond still gets to ring. */
	if (paused.it_value.tv_sec == 0 && paused.it_value.tv_usec == 0)
		paused.it_value.tv_usec = 1;
	setitimer(ITIMER_REAL, &paused, NULL);
}

void
guard_disarm(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	if (!active)
		return;
	active = false;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &saved_alarm, NULL);
	for (size_t i = 0; i < NCRASH; i++)
		sigaction(crash_signals[i], &saved_crash[i], NULL);
}
