/*
 * A minimal MDA for `make bench`, for fetchers that have no Maildir
 * delivery of their own (fetchmail): the message on standard input is
 * written to MAILDIR/tmp, synced, and moved into MAILDIR/new.
 *
 *   mda MAILDIR
 *
 * Exits 0 once delivered, 75 (temporary failure) on any error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static char buf[256 * 1024];
	char tmp[4096], new[4096], name[256];
	struct timeval tv;
	int fd;
	ssize_t r;

	if (argc != 2) {
		fprintf(stderr, "usage: mda MAILDIR\n");
		return 64;
	}
	gettimeofday(&tv, NULL);
	snprintf(name, sizeof name, "%ld.M%06ldP%d.mfbench", (long)tv.tv_sec,
	    (long)tv.tv_usec, (int)getpid());
	snprintf(tmp, sizeof tmp, "%s/tmp/%s", argv[1], name);
	snprintf(new, sizeof new, "%s/new/%s", argv[1], name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1) {
		fprintf(stderr, "mda: %s: %s\n", tmp, strerror(errno));
		return 75;
	}
	while ((r = read(0, buf, sizeof buf)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		for (ssize_t off = 0; off < r;) {
			ssize_t w = write(fd, buf + off, (size_t)(r - off));
			if (w == -1) {
				if (errno == EINTR)
					continue;
				goto fail;
			}
			off += w;
		}
	}
	if (fsync(fd) == -1 || close(fd) == -1)
		goto fail;
	if (link(tmp, new) == -1)
		goto fail;
	unlink(tmp);
	return 0;
fail:
	fprintf(stderr, "mda: %s: %s\n", tmp, strerror(errno));
	unlink(tmp);
	return 75;
}
