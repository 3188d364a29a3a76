/*
 * One run per account at a time: an flock(2) on a file in state_dir,
 * released by the kernel however the run ends (even kill -9), so a stale
 * lock never blocks the next cron run.
 */
#ifndef MF_LOCK_H
#define MF_LOCK_H

#include "err.h"

/* Take the lock of `account`, waiting up to `wait` seconds for another
 * run to finish; then ERR_TEMP naming the lock file. Returns the lock's
 * file descriptor. */
int lock_account(const char *state_dir, const char *account, int wait,
    struct err *e);
void unlock_account(int fd);

#endif
