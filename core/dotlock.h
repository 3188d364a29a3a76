/*
 * The dotlock of an mbox (MBOX.lock), taken as mutt, procmail and MTAs
 * take it, and holding one line that says who took it and what it is
 * doing:
 *
 *   mailferry-dotlock 2 PID HOST DEV INO OFFSET LENGTH LAST
 *
 * PID and HOST: the run holding it. DEV and INO: the mbox it is for.
 * OFFSET: the mbox's size when the run's appends under this lock began;
 * LENGTH: the exact length of those appends, the one in progress
 * included; LAST: where the one in progress began. All three are "-"
 * until the first append starts. Numbers are decimal without sign or
 * leading zeros. (Version 1, written by earlier releases, has no LAST:
 * its one append began at OFFSET.)
 *
 * A run killed before its appends were committed leaves its lock
 * behind, and the next run cuts them all off; but only when the lock
 * proves to be that run's: a regular file of this user, in exactly this
 * format, for this host and this very mbox, naming a process that is
 * gone, and a file whose tail is what those appends would have left (it
 * starts with "From " at OFFSET, has not grown past OFFSET + LENGTH,
 * reaches LAST, and holds no other message's "From " line after the one
 * at LAST). Anything else is somebody else's lock: waited for, with a
 * deadline, and removed without touching the mbox only once it is older
 * than ten minutes.
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
	int		 version;	/* 1 or 2; 0 is taken as 2 */
	long		 pid;
	char		 host[DOTLOCK_HOST_MAX + 1];
	uint64_t	 dev;
	uint64_t	 ino;
	int64_t		 offset;	/* -1: no append yet */
	int64_t		 length;	/* -1 with offset */
	int64_t		 last;		/* -1 with offset; version 1: offset */
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
/*
 * Record, before an append begins, that this run's appends to the mbox
 * (dev, ino) began at `offset` and are, with this one, `length` bytes
 * long, this one beginning at `last`. Durably (synced) when `durable`;
 * otherwise a crash of the process keeps the record, a crash of the
 * system may lose it.
 */
int dotlock_note_append(struct dotlock *dl, dev_t dev, ino_t ino,
    off_t offset, off_t length, off_t last, bool durable, struct err *e);
void dotlock_release(struct dotlock *dl);
/* Let go of a held lock without removing it: what it records is left
 * for the next run to repair (an append that could not be cut back). */
void dotlock_abandon(struct dotlock *dl);

#endif
