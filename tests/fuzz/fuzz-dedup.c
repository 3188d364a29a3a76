/*
 * The dedup plugin's database (STATE_DIR/dedup.db), as another process,
 * a crash or a disk error may leave it: read by the plugin's own code
 * (included here), never crashing, remembering only well-formed keys.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugins/dedup.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct dedup d = { .window = 86400 };
	size_t seen = 0;

	if (fd == -1)
		fd = memfd_create("dedup.db", MFD_CLOEXEC);
	if (fd == -1 || ftruncate(fd, 0) == -1 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	d.fd = fd;
	if (catch_up(&d) == -1)
		abort();
	/* All of it, up to a torn last line, was read. */
	if (d.offset > (off_t)size || (d.offset < (off_t)size &&
	    memchr(data + d.offset, '\n', size - (size_t)d.offset) != NULL))
		abort();
	for (size_t i = 0; i < d.nslots; i++) {
		if (d.table[i].key[0] == '\0')
			continue;
		seen++;
		if (strlen(d.table[i].key) != KEY_HEX || d.table[i].when < 0 ||
		    slot(&d, d.table[i].key) != &d.table[i])
			abort();
	}
	if (seen != d.count)
		abort();
	free(d.table);
	return 0;
}
