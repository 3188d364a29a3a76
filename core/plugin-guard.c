#include <sys/time.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "plugin-guard.h"

/* The signals a crashing plugin dies of, and the clock's. */
static const int guarded[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
    SIGALRM };
#define NGUARDED	(sizeof guarded / sizeof guarded[0])

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
} prepared;

/*
 * The handlers stay in place between calls (a few syscalls fewer per
 * message); outside a call they put back the disposition they replaced
 * and raise the signal again, as if they had never been there.
 */
static struct sigaction saved[NGUARDED];
static bool installed[NGUARDED];
static volatile sig_atomic_t active;
static bool stopped;
static struct itimerval paused;
static void (*cleanup)(void);
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
put_back(int sig)
{
	for (size_t i = 0; i < NGUARDED; i++)
		if (guarded[i] == sig && installed[i]) {
			sigaction(sig, &saved[i], NULL);
			installed[i] = false;
		}
}

static void
on_signal(int sig, siginfo_t *info, void *context)
{
	const char *reason;

	(void)context;
	if (!active) {
		/* Not a plugin's doing (a late alarm is nobody's). A fault
		 * happens again when the handler returns, now to the
		 * disposition put back; a signal sent must be sent again. */
		if (sig != SIGALRM) {
			put_back(sig);
			if (info->si_code <= 0)
				raise(sig);
		}
		return;
	}
	reason = sig == SIGALRM ? prepared.hung : signal_reason(sig);
	if (prepared.fd != -1)
		put(prepared.fd, prepared.record, prepared.recordlen);
	put(STDERR_FILENO, prepared.head, prepared.headlen);
	put(STDERR_FILENO, reason, sig == SIGALRM ? prepared.hunglen :
	    strlen(reason));
	put(STDERR_FILENO, prepared.tail, prepared.taillen);
	if (cleanup != NULL)
		cleanup();
	_exit(prepared.status);
}

/* Only the message's fate differs: whether it was set aside. */
static void
prepare_tail(const struct guard_call *c)
{
	char *t = prepared.tail;
	size_t size = sizeof prepared.tail;

	if (c->uid == NULL)
		snprintf(t, size, " on a message without a UID, which cannot "
		    "be set aside\n");
	else if (c->fd == -1)
		snprintf(t, size, " on the message with UID %s (nothing "
		    "recorded)\n", c->uid);
	else
		snprintf(t, size, " on the message with UID %s: it is set "
		    "aside, left on the server, and later runs go on without "
		    "it; mailferry -a %s --release %s tries it again\n", c->uid,
		    c->account, c->uid);
	prepared.taillen = strlen(t);
}

static void
prepare(const struct guard_call *c)
{
	prepared.fd = c->fd;
	prepared.recordlen = c->recordlen < sizeof prepared.record ?
	    c->recordlen : 0;
	memcpy(prepared.record, c->record, prepared.recordlen);
	if (c->account != NULL)
		snprintf(prepared.head, sizeof prepared.head, "mailferry: %s: plugin "
		    "%s ", c->account, c->plugin);
	else
		snprintf(prepared.head, sizeof prepared.head, "mailferry: plugin %s ",
		    c->plugin);
	prepared.headlen = strlen(prepared.head);
	snprintf(prepared.hung, sizeof prepared.hung, "did not return within %d s",
	    c->seconds);
	prepared.hunglen = strlen(prepared.hung);
	prepare_tail(c);
	prepared.status = err_exitcode(ERR_INTERNAL);
}

static void
install(void)
{
	struct sigaction sa = { .sa_sigaction = on_signal,
	    .sa_flags = SA_SIGINFO | SA_ONSTACK };
	stack_t ss;

	/* Keep an alternate stack already in place (a sanitizer's). */
	if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE)) {
		ss = (stack_t){ .ss_sp = alt_stack,
		    .ss_size = sizeof alt_stack };
		(void)sigaltstack(&ss, NULL);
	}
	/* Every other signal waits: the handler never returns from a
	 * plugin's crash. */
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < NGUARDED; i++)
		if (!installed[i] &&
		    sigaction(guarded[i], &sa, &saved[i]) == 0)
			installed[i] = true;
}

void
guard_arm(const struct guard_call *c)
{
	struct itimerval it = { .it_value = { .tv_sec = c->seconds } };

	prepare(c);
	install();
	stopped = false;
	active = 1;
	setitimer(ITIMER_REAL, &it, NULL);
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
	setitimer(ITIMER_REAL, &off, NULL);
	active = 0;
}

void
guard_set_cleanup(void (*fn)(void))
{
	cleanup = fn;
}
