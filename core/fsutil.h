/* Small file-system helpers shared by the store and the back ends. */
#ifndef MF_FSUTIL_H
#define MF_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
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

#endif
