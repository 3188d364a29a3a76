#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "fsutil.h"
#include "spool.h"
#include "xmalloc.h"

#define SPOOL_READ_BLOCK	(256 * 1024)

void
spool_init(struct spool *s, const char *dir)
{
	memset(s, 0, sizeof *s);
	s->dir = xstrdup(dir);
	s->fd = -1;
}

void
spool_free(struct spool *s)
{
	spool_reset(s);
	free(s->mem);
	free(s->dir);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

void
spool_reset(struct spool *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	s->filelen = 0;
	s->memlen = 0;
}

off_t
spool_size(const struct spool *s)
{
	return s->filelen + (off_t)s->memlen;
}

static int
open_spill_file(struct spool *s, struct err *e)
{
	char *path;
	int fd;

	/* An anonymous file: nothing to clean up whatever happens. */
	fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1) {
		s->fd = fd;
		return 0;
	}
	path = xasprintf("%s/spool.XXXXXX", s->dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd == -1) {
		err_sys(e, ERR_TEMP, "cannot create a spool file in %s", s->dir);
		free(path);
		return -1;
	}
	unlink(path);
	free(path);
	s->fd = fd;
	return 0;
}

static int
write_all(int fd, const char *p, size_t len, const char *what, struct err *e)
{
	if (write_full(fd, p, len) == -1)
		return err_sys(e, ERR_TEMP, "%s", what);
	return 0;
}

/* Move the memory buffer into the spill file. */
static int
spill(struct spool *s, struct err *e)
{
	if (s->fd == -1 && open_spill_file(s, e) == -1)
		return -1;
	if (write_all(s->fd, s->mem, s->memlen, "writing the spool file",
	    e) == -1)
		return -1;
	s->filelen += (off_t)s->memlen;
	s->memlen = 0;
	return 0;
}

int
spool_append(struct spool *s, const void *data, size_t len, struct err *e)
{
	if (len == 0)
		return 0;	/* and no memcpy onto a buffer not yet made */
	if (s->memlen + len > SPOOL_MEMORY_MAX) {
		if (spill(s, e) == -1)
			return -1;
		if (len > SPOOL_MEMORY_MAX) {
			if (write_all(s->fd, data, len,
			    "writing the spool file", e) == -1)
				return -1;
			s->filelen += (off_t)len;
			return 0;
		}
	}
	/* Never past SPOOL_MEMORY_MAX, a power of two (checked above). */
	ARRAY_RESERVE(s->mem, s->memlen, s->memcap, len);
	memcpy(s->mem + s->memlen, data, len);
	s->memlen += len;
	return 0;
}

char *
spool_reserve(struct spool *s, size_t want, size_t *room, struct err *e)
{
	if (want < 2 || want > SPOOL_MEMORY_MAX) {
		err_set(e, ERR_INTERNAL, "spool: %zu bytes reserved", want);
		return NULL;
	}
	*room = want;
	if (s->memlen + want > SPOOL_MEMORY_MAX) {
		/* Fill memory up before spilling, as spool_append does. */
		if (SPOOL_MEMORY_MAX - s->memlen >= 2)
			*room = SPOOL_MEMORY_MAX - s->memlen;
		else if (spill(s, e) == -1)
			return NULL;
	}
	/* At most up to SPOOL_MEMORY_MAX, as in spool_append. */
	ARRAY_RESERVE(s->mem, s->memlen, s->memcap, *room);
	return s->mem + s->memlen;
}

void
spool_commit(struct spool *s, size_t len)
{
	s->memlen += len;
}

int
spool_stream(struct spool *s, off_t off, spool_writer fn, void *arg,
    struct err *e)
{
	char *block;
	off_t pos;

	if (s->fd == -1)
		return off < (off_t)s->memlen ? fn(arg, s->mem + off,
		    s->memlen - (size_t)off, e) : 0;
	if (s->memlen > 0 && spill(s, e) == -1)
		return -1;
	block = xmalloc(SPOOL_READ_BLOCK);
	for (pos = off; pos < s->filelen;) {
		size_t want = (size_t)(s->filelen - pos) < SPOOL_READ_BLOCK ?
		    (size_t)(s->filelen - pos) : SPOOL_READ_BLOCK;
		ssize_t n = pread(s->fd, block, want, pos);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			err_sys(e, ERR_TEMP, "reading the spool file");
			goto fail;
		}
		if (fn(arg, block, (size_t)n, e) == -1)
			goto fail;
		pos += n;
	}
	free(block);
	return 0;
fail:
	free(block);
	return -1;
}

ssize_t
spool_pread(struct spool *s, void *buf, size_t len, off_t offset)
{
	off_t size = spool_size(s);
	size_t done = 0;

	if (offset >= size)
		return 0;
	if ((off_t)len > size - offset)
		len = (size_t)(size - offset);
	/* The file holds [0, filelen); memory holds what follows. */
	while (done < len && offset + (off_t)done < s->filelen) {
		size_t want = len - done;
		ssize_t n;

		if ((off_t)want > s->filelen - offset - (off_t)done)
			want = (size_t)(s->filelen - offset - (off_t)done);
		n = pread(s->fd, (char *)buf + done, want,
		    offset + (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	if (done < len) {
		size_t memoff = (size_t)(offset + (off_t)done - s->filelen);

		memcpy((char *)buf + done, s->mem + memoff, len - done);
		done = len;
	}
	return (ssize_t)done;
}

int
spool_map(struct spool *s, const char **data, size_t *len, struct err *e)
{
	void *p;

	if (s->fd == -1) {
		*data = s->mem != NULL ? s->mem : "";
		*len = s->memlen;
		return 0;
	}
	if (s->memlen > 0 && spill(s, e) == -1)
		return -1;
	p = mmap(NULL, (size_t)s->filelen, PROT_READ, MAP_PRIVATE, s->fd, 0);
	if (p == MAP_FAILED)
		return err_sys(e, ERR_TEMP, "mapping the spool file");
	*data = p;
	*len = (size_t)s->filelen;
	return 0;
}

void
spool_unmap(struct spool *s, const char *data, size_t len)
{
	if (s->fd != -1 && len > 0)
		munmap((void *)data, len);
}
