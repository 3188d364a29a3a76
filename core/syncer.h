/*
 * Making a batch of new files durable together: one syncfs(2) of their
 * file system instead of an fdatasync(2) per file, and passes of it
 * started in the background while the batch is still being written, so
 * that the disk works while the network does.
 *
 * A pass is a syncfs of the whole file system, run by a thread of the
 * syncer's own; every write that completed before a pass began is durable
 * once that pass has ended without error. syncer_wait() asks for a pass
 * and waits for it: what was written before the call is then durable.
 *
 * Only file systems whose syncfs is known to write back every file and
 * its metadata and to report writeback errors get a syncer; for any other
 * (NFS, FUSE, ...), syncer_new() says so and the caller syncs each file.
 */
#ifndef MF_SYNCER_H
#define MF_SYNCER_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct syncer;

/*
 * A syncer for the file system holding directory `dir`. NULL with
 * *usable false when that file system is not one syncfs can be trusted
 * on (e unset); NULL with *usable true when the directory cannot be
 * opened (e set).
 */
struct syncer *syncer_new(const char *dir, bool *usable, struct err *e);
/*
 * The pass that will cover what was written before this call: once
 * syncer_durable_through() reaches it, those writes are durable.
 */
uint64_t syncer_ticket(struct syncer *s);
/* The latest pass ended with every pass so far successful; 0 after a
 * failure (nothing more is known durable through the syncer). */
uint64_t syncer_durable_through(struct syncer *s);
/* Start a pass in the background, unless one not yet begun is pending. */
void syncer_kick(struct syncer *s);
/* Make everything written before this call durable. -1 (e set) when a
 * pass failed, this one or an earlier one: writeback errors are kept. */
int syncer_wait(struct syncer *s, struct err *e);
/* Wait for a pass in progress, then end the thread. */
void syncer_free(struct syncer *s);

#endif
