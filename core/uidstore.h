/*
 * The UID store of an account: which messages were already fetched, and
 * when. It is an append-only log in state_dir, made durable with fsync
 * (never rewritten in place), and compacted at the end of a run to the
 * UIDs still on the server by writing a new file and renaming it.
 *
 * Log lines:
 *   mailferry-uids 1                  first line
 *   + UID EPOCH                       delivered at EPOCH
 *   S UID EPOCH                       skipped by a rule at EPOCH: it stays on
 *                                     the server whatever keep says
 *   D UID EPOCH DEST                  UID reached destination DEST, but
 *                                     another of its destinations failed:
 *                                     the next run skips DEST
 *   F UID EPOCH                       fetching UID broke the session: the
 *                                     next runs fetch it last, so it does
 *                                     not hold the others back
 *   C UID EPOCH PLUGIN                plugin PLUGIN crashed or hung on UID:
 *                                     the message is set aside (left on the
 *                                     server, not fetched) while a rule of
 *                                     the account still calls PLUGIN.
 *                                     Written from a signal handler, so
 *                                     without fsync (a crash of the process
 *                                     leaves the page cache intact)
 *   L UID EPOCH LIMIT                 the data of UID went over max_size
 *                                     LIMIT although the server announced
 *                                     less: set aside while max_size is at
 *                                     most LIMIT
 *   R UID EPOCH                       released (mailferry --release): the
 *                                     C and L lines of UID before it no
 *                                     longer count
 *   P UID EPOCH DEST NAME             delivery of UID to Maildir DEST as
 *                                     file NAME was about to become visible
 * A P line not followed by a + line for the same UID is a delivery a
 * crash interrupted; the caller asks the destination whether NAME made it.
 * A + or S line ends every D, F, C and L line of its UID before it.
 * UIDs are checked to be 1 to 255 characters of 0x21-0x7e, so they never
 * break a line; they are never used as file names. A POP3 UID is the
 * server's; an IMAP one is FOLDER:UIDVALIDITY:UID (listing_prefix() in
 * fetch-list.h), so both protocols share one format.
 */
#ifndef MF_UIDSTORE_H
#define MF_UIDSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

#define UID_MAX_LEN	255

struct uid_pending {
	char		*uid;
	time_t		 when;
	char		*dest;
	char		*name;
};

struct uidstore;

/* Is this string usable as a UID in the store? */
bool uid_valid(const char *uid, size_t len);

/* Load (or create) the store of `account` in `dir`. Read-only (for a
 * dry run): nothing is created or written; a missing store is empty. */
struct uidstore *uidstore_open(const char *dir, const char *account,
    bool readonly, struct err *e);
void uidstore_close(struct uidstore *s);
/* The slots insertions had to pass over so far (for the tests: the UIDs
 * servers make must spread over the table). */
uint64_t uidstore_probes(const struct uidstore *s);

/* Is the UID recorded? If so, when it was fetched and whether a rule
 * skipped it; and it is kept at the next compaction. */
bool uidstore_recall(struct uidstore *s, const char *uid, time_t *fetched,
    bool *skipped);
bool uidstore_known(const struct uidstore *s, const char *uid);
/* A recorded UID that begins with `prefix` but not with `but_not`
 * (an IMAP folder's keys under another UIDVALIDITY), or NULL. */
const char *uidstore_find_prefix(const struct uidstore *s,
    const char *prefix, const char *but_not);
/* Drop the UID at the next compaction (its message left the server). */
void uidstore_forget(struct uidstore *s, const char *uid);

/* Interrupted deliveries found at load time. */
size_t uidstore_npending(const struct uidstore *s);
const struct uid_pending *uidstore_pending(const struct uidstore *s,
    size_t i);

/* Queue a "+" (or "S") record and add the UID in memory, or queue a
 * "P" record. */
void uidstore_add(struct uidstore *s, const char *uid, time_t when,
    bool skipped);
void uidstore_journal(struct uidstore *s, const char *uid, time_t when,
    const char *dest, const char *name);
/* Partial delivery: a message that reached `dest` while another of its
 * destinations failed. Such records last until the UID is added. */
void uidstore_partial(struct uidstore *s, const char *uid, time_t when,
    const char *dest);
bool uidstore_delivered_to(const struct uidstore *s, const char *uid,
    const char *dest);
/* Keep the partial records of a UID still on the server. */
void uidstore_keep_partials(struct uidstore *s, const char *uid);
/* A message whose fetch broke the session ("F"); such records last
 * until the UID is added. */
void uidstore_troublesome(struct uidstore *s, const char *uid, time_t when);
bool uidstore_is_troublesome(const struct uidstore *s, const char *uid);

/* A set-aside record ("C" or "L"): what the message did, and when. */
struct uid_aside {
	char		 kind;		/* 'C' or 'L' */
	const char	*arg;		/* the plugin, or the limit in bytes */
	time_t		 when;
};

/* Queue a "C" or "L" record for UID (once per kind and argument). */
void uidstore_set_aside(struct uidstore *s, char kind, const char *uid,
    time_t when, const char *arg);
/* The i-th set-aside record of UID (i from 0); false past the last. */
bool uidstore_aside(const struct uidstore *s, const char *uid, size_t i,
    struct uid_aside *out);
/* Lift the set-aside records of UID, queueing an "R" record; returns how
 * many there were (0: nothing queued). */
size_t uidstore_release(struct uidstore *s, const char *uid, time_t when);
/* A set-aside record as the line the store holds, for a caller that
 * writes it itself (from a signal handler). Returns its length, 0 when
 * it does not fit in size. */
size_t uidstore_format_aside(char *buf, size_t size, char kind,
    const char *uid, time_t when, const char *arg);
/* The descriptor such a line may be appended to with one write(2), the
 * file's first line written; -1 for a read-only store (or on error, e
 * set). Valid until the next uidstore_compact or uidstore_close. */
int uidstore_signal_fd(struct uidstore *s, struct err *e);

/* Write queued records and fsync them. */
int uidstore_sync(struct uidstore *s, struct err *e);

/* Mark every entry to be dropped by the next compaction; the caller then
 * recalls those still on the server (uidstore_recall). */
void uidstore_unkeep_all(struct uidstore *s);
/* Rewrite the store with the kept entries only, crash-safely. Skipped
 * when nothing would change. */
int uidstore_compact(struct uidstore *s, struct err *e);

#endif
