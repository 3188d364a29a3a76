/*
 * Loading a UID store: any file content (a torn tail, garbage, journal
 * lines without their end) is loaded or refused with an error, never a
 * crash; what loads can be compacted and loads again the same.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uidstore.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dir, *path;

static void
cleanup(void)
{
	char *tmp = xasprintf("%s.new", path);

	unlink(tmp);
	unlink(path);
	rmdir(dir);
	free(tmp);
}

static void
prepare(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	dir = xasprintf("%s/fuzz-uidstore.XXXXXX", base);
	if (mkdtemp(dir) == NULL)
		abort();
	path = xasprintf("%s/fuzz.uids", dir);
	atexit(cleanup);
}

static void
put(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uidstore *s;
	struct err e;
	size_t pending;

	if (dir == NULL)
		prepare();
	put(data, size);
	err_clear(&e);
	s = uidstore_open(dir, "fuzz", false, &e);
	if (s == NULL) {
		if (e.cls == ERR_NONE || e.msg[0] == '\0')
			abort();
		return 0;
	}
	pending = uidstore_npending(s);
	for (size_t i = 0; i < pending; i++) {
		const struct uid_pending *p = uidstore_pending(s, i);

		if (!uid_valid(p->uid, strlen(p->uid)))
			abort();
	}
	/* Everything kept: a rewrite must load back. */
	uidstore_add(s, "fuzz-added", 1, false);
	if (uidstore_sync(s, &e) == -1 || uidstore_compact(s, &e) == -1)
		abort();
	uidstore_close(s);
	s = uidstore_open(dir, "fuzz", false, &e);
	if (s == NULL || !uidstore_known(s, "fuzz-added"))
		abort();
	uidstore_close(s);
	unlink(path);
	return 0;
}
