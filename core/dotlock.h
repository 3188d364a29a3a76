/*
 * The dotlock of an mbox (MBOX.lock), taken as mutt, procmail and MTAs
 * take it, and holding one line that says who took it and what it is
 * doing:
 *
 *   mailferry-dotlock 1 PID HOST DEV INO OFFSET LENGTH
 *
 * PID and HOST: the run holding it. DEV and INO: the mbox it is for.
 * OFFSET: the mbox's size when the append began; LENGTH: the exact length
 * of that append; both "-" until the append starts. Numbers are decimal
 * without sign or leading zeros.
 *
 * A run killed in the middle of an append leaves its lock behind, and the
 * next run cuts the partial message off; but only when the lock proves to
 * be that run's: a regular file of this user, in exactly this format, for
 * this host and this very mbox, naming a process that is gone, and a file
 * whose tail is a prefix of one append of that length at that offset (it
 * starts with "From " there, has not grown past OFFSET + LENGTH, and holds
 * no other message's "From " line after it). Anything else is somebody
 * else's lock: waited for, with a deadline, and removed without touching
 * the mbox only once it is older than ten minutes.
 */
#ifndef MF_DOTLOCK_H
#define MF_DOTLOCK_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DOTLOCK_RECORD_MAX	512
#define DOTLOCK_HOST_MAX	255

struct dotlock_record {
	long		 pid;
	char		 host[DOTLOCK_HOST_MAX + 1];
	uint64_t	 dev;
	uint64_t	 ino;
	int64_t		 offset;	/* -1: no append yet */
	int64_t		 length;	/* -1 with offset */
};

/* Parse a lock's contents: 0 only when it is exactly a record as
 * dotlock_format writes it. */
int dotlock_parse(const char *buf, size_t len, struct dotlock_record *r);
/* The record as a line; returns its length (less than size), 0 when r
 * cannot be written. */
size_t dotlock_format(const struct dotlock_record *r, char *buf,
    size_t size);

struct dotlock {
	char		*path;		/* MBOX.lock */
	char		*mbox;
	char		 host[DOTLOCK_HOST_MAX + 1];
	int		 timeout;	/* seconds to wait for it */
	bool		 held;
	bool		 warned;	/* "fcntl only" said once */
	char		 why[300];	/* why it is still busy */
};

void dotlock_init(struct dotlock *dl, const char *mbox, int timeout);
void dotlock_free(struct dotlock *dl);
/* Take the lock, repairing after a crashed run of ours. 0: held; 1: no
 * right to create it beside the mbox (a spool directory), so only the
 * fcntl lock protects; -1 with e set (ERR_TEMP after the timeout). */
int dotlock_take(struct dotlock *dl, struct err *e);
/* Durably record that an append of `length` bytes to the mbox `st`
 * begins at `offset`, before it begins. */
int dotlock_note_append(struct dotlock *dl, dev_t dev, ino_t ino,
    off_t offset, off_t length, struct err *e);
void dotlock_release(struct dotlock *dl);

#endif
