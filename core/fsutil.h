/* Small file-system helpers shared by the store and the back ends. */
#ifndef MF_FSUTIL_H
#define MF_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"

/* Create a directory and its missing parents with `mode`. */
int mkdir_p(const char *path, mode_t mode, struct err *e);
/* Could `path` be created (or written, if it exists) by this user? For
 * checks that must not change anything. */
int check_creatable(const char *path, bool want_dir, struct err *e);
/* Write everything or return -1 with errno set. */
int write_full(int fd, const void *buf, size_t len);
/* Make a directory's entries durable. */
int fsync_dir(const char *path, struct err *e);
/* "~/x", "$HOME/x" and "${HOME}/x" expanded; other strings copied. */
char *expand_path(const char *path);

/* A file name (no directory) made from a name from the configuration:
 * unusual characters %XX-escaped, so it is never a path or hidden. */
char *safe_file_name(const char *name);
/* `path` as written in `file`: a relative one is taken from the
 * directory holding `file`, and the result made absolute. */
char *path_beside(const char *file, const char *path);

/*
 * The trust rules. What mailferry reads its instructions from (the
 * configuration, included files, state_dir, plugin_dir, plugins) must not
 * be changeable by another user: owned by the user or root, and not
 * writable by group or others. The directory holding a file may also be
 * a root-owned sticky directory such as /tmp, where nobody can replace
 * another's file.
 */
enum trust {
	TRUST_OK,
	TRUST_OWNER,		/* owned by another user */
	TRUST_WRITABLE,		/* group- or world-writable */
};

/* The verdict on `st` for user `uid`; `holder`: st is the directory
 * holding a file, where a root-owned sticky directory is fine. */
enum trust trust_verdict(const struct stat *st, uid_t uid, bool holder);
/* Refuse (ERR_CONFIG, naming `what`, the path and the fix) a directory
 * another user could change. */
int trust_dir(const char *what, const char *path, struct err *e);
/* Refuse a file another user could change, or one in such a directory
 * (for a symbolic link, the link's directory and the target's). `st` is
 * the opened file's fstat. */
int trust_file(const char *what, const char *path, const struct stat *st,
    struct err *e);
/* Refuse a file that is not the user's own regular file, or that others
 * can write (state files: what they say is acted on). */
int trust_own_file(const char *what, const char *path, const struct stat *st,
    struct err *e);

#endif
