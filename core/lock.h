/*
 * One run per account at a time: an flock(2) on a file in state_dir,
 * released by the kernel however the run ends (even kill -9), so a stale
 * lock never blocks the next cron run. And the waiting every lock here
 * does: with a deadline, and backing off so a wait costs no CPU.
 */
#ifndef MF_LOCK_H
#define MF_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Take the lock of `account`, waiting up to `wait` seconds for another
 * run to finish; then ERR_TEMP naming the lock file. Returns the lock's
 * file descriptor. */
int lock_account(const char *state_dir, const char *account, int wait,
    struct err *e);
void unlock_account(int fd);

/* Tries of a lock until a deadline: sleeps from 10 ms, doubling up to
 * half a second, the last one cut to end at the deadline. */
struct backoff {
	int64_t		 deadline;	/* monotonic ms */
	int		 delay_ms;
};

void backoff_start(struct backoff *b, int seconds);
/* Sleep before the next try; false (without sleeping) once the
 * deadline has passed. */
bool backoff_wait(struct backoff *b);
/* A whole-file fcntl write lock on fd, tried until b's deadline; -1
 * with errno (EAGAIN: still held by another at the deadline). */
int lock_fcntl(int fd, struct backoff *b);

#endif
