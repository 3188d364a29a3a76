/*
 * --import-uids: taking over the record of what another fetcher has
 * already fetched, so that switching to mailferry in keep mode does not
 * download a whole mailbox again. Two formats:
 *
 * - fetchmail's .fetchids: one "USER@HOST UID" line per message, for
 *   every account fetchmail polls (USER may itself hold an "@": the host
 *   is after the last one); user and host compared without case, as
 *   fetchmail does.
 * - mpop's UIDLs file: "#" comment lines, then for each account a line
 *   " COUNT HOST USER" (starting with a space) followed by COUNT lines
 *   of one UID each; the host compared without case, the user exactly.
 *
 * Only the entries for the account's user and server are taken; the
 * file is read whole and checked before anything is recorded.
 */
#ifndef MF_IMPORT_UIDS_H
#define MF_IMPORT_UIDS_H

#include <stdio.h>

#include "config.h"
#include "err.h"

/* A line longer than this is not one of those files. */
#define IMPORT_LINE_MAX		4096

enum import_format {
	IMPORT_FETCHMAIL,
	IMPORT_MPOP,
};

struct import_stats {
	size_t		 matched;	/* UIDs listed for user@host */
	size_t		 unusable;	/* of those, not usable as UIDs */
	size_t		 lines;
	/* Up to a few other USER@HOST the file lists, for a message when
	 * none matched. */
	char		 others[200];
};

typedef void (*import_uid_fn)(void *arg, const char *uid);

/*
 * Read fp (named path in messages) as a file of that format and call fn
 * for each usable UID listed for user at host. -1 with ERR_DATA and
 * "PATH:LINE: why" when the file is not of that format.
 */
int import_parse(enum import_format fmt, FILE *fp, const char *path,
    const char *user, const char *host, import_uid_fn fn, void *arg,
    struct import_stats *st, struct err *e);

/* "fetchmail:FILE" or "mpop:FILE": the format; *file points into spec.
 * -1 (ERR_USAGE) for anything else. */
int import_spec(const char *spec, enum import_format *fmt,
    const char **file, struct err *e);

/*
 * The whole job: lock the account, read the file, record its UIDs for
 * the account as fetched now, and print how many on stdout. A file
 * listing nothing for the account is an error (ERR_DATA), as is one not
 * of that format; nothing is recorded then.
 */
int import_uids(struct config *cfg, struct account *a, const char *spec,
    struct err *e);

#endif
