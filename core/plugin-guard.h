/*
 * Surviving a plugin that crashes or hangs in filter(). Around each call
 * the guard is armed: a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT)
 * or the call outliving its time (SIGALRM) appends a prepared record to
 * the UID store, which sets the message aside for the next runs, prints
 * a prepared message on standard error and ends the process with the
 * exit status of an internal error (70). The handler only calls write(2)
 * and _exit(2), which are async-signal-safe; the record needs no fsync,
 * since the page cache outlives the process.
 *
 * Ending the process is the only safe way on: the plugin stopped at an
 * unknown point, maybe holding a lock of the C library or half-way
 * through changing its own state.
 */
#ifndef MF_PLUGIN_GUARD_H
#define MF_PLUGIN_GUARD_H

#include <stddef.h>

struct guard_call {
	int		 fd;		/* where record goes; -1: nowhere */
	const char	*record;	/* one line, written with one write(2) */
	size_t		 recordlen;
	const char	*account;	/* NULL: no account to name */
	const char	*plugin;
	const char	*uid;		/* NULL: the message has none */
	int		 seconds;	/* how long filter() may take */
};

/* Arm the guard for one filter() call; everything is copied. The
 * handlers stay installed after the call, and outside one behave as if
 * they were not there (the disposition they replaced takes the signal). */
void guard_arm(const struct guard_call *c);
/* Stop and restart the clock around work that bounds its own time (a
 * filter program run for the plugin, with its own timeout). */
void guard_pause(void);
void guard_resume(void);
/* The call returned: stop the clock. */
void guard_disarm(void);
/* What the handler does before ending the process, to leave nothing
 * half-done that outlives it (an mbox batch, cut off and unlocked). The
 * function may only make async-signal-safe calls. */
void guard_set_cleanup(void (*fn)(void));

#endif
