/*
 * Where a message lives between the server and its destinations: in
 * memory while it is small, in an unlinked temporary file once it grows
 * past a limit, so memory never grows with message size.
 */
#ifndef MF_SPOOL_H
#define MF_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define SPOOL_MEMORY_MAX	(1024 * 1024)

struct spool {
	char	*dir;		/* where a large message spills */
	char	*mem;		/* the message, or the write-behind buffer */
	size_t	 memlen, memcap;
	int	 fd;		/* the spill file, -1 while in memory */
	off_t	 filelen;	/* bytes already in the spill file */
};

void spool_init(struct spool *s, const char *dir);
void spool_free(struct spool *s);
/* Forget the current message, keeping buffers for the next one. */
void spool_reset(struct spool *s);
int spool_append(struct spool *s, const void *data, size_t len,
    struct err *e);
/*
 * Appending without a copy: room at the end of the spool, to be written
 * in place, then added with spool_commit. *room is `want` (at most
 * SPOOL_MEMORY_MAX), or less, but at least 2, when what is in memory
 * would otherwise go to the spill file before it is full. NULL with e set
 * when making room needed the spill file and that failed.
 */
char *spool_reserve(struct spool *s, size_t want, size_t *room,
    struct err *e);
void spool_commit(struct spool *s, size_t len);
off_t spool_size(const struct spool *s);

/*
 * Pass bytes [off, spool_size) to fn in blocks; fn returns 0 or -1 (with
 * e set). Used to copy the message into its destinations.
 */
typedef int (*spool_writer)(void *arg, const char *data, size_t len,
    struct err *e);
int spool_stream(struct spool *s, off_t off, spool_writer fn, void *arg,
    struct err *e);

/* Copy up to len bytes from offset; returns the count (0 at the end) or
 * -1 with errno set. */
ssize_t spool_pread(struct spool *s, void *buf, size_t len, off_t offset);

/*
 * The message as one contiguous region, for regex matching over the
 * body: the memory buffer, or a read-only mapping of the spill file
 * (released with spool_unmap).
 */
int spool_map(struct spool *s, const char **data, size_t *len,
    struct err *e);
void spool_unmap(struct spool *s, const char *data, size_t len);

#endif
