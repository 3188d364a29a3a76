#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "strtab.h"
#include "xmalloc.h"

uint32_t
strtab_add(struct strtab *t, const char *s, size_t len)
{
	uint32_t off;

	/* Offsets are 32 bits; a caller bounds what it adds well below
	 * that (a million UIDs of at most 255 bytes). Checked before any
	 * sum, which a huge len would wrap around. */
	if (len >= STRTAB_NONE / 2 - t->len) {
		fprintf(stderr, "mailferry: string table overflow\n");
		abort();
	}
	ARRAY_RESERVE(t->buf, t->len, t->cap, len + 1);
	off = (uint32_t)t->len;
	memcpy(t->buf + t->len, s, len);
	t->buf[t->len + len] = '\0';
	t->len += len + 1;
	return off;
}

void
strtab_free(struct strtab *t)
{
	free(t->buf);
	memset(t, 0, sizeof *t);
}
