/*
 * Strings kept back to back in one buffer and named by their offset:
 * four bytes a reference and no allocation per string, for the tens of
 * thousands of UIDs a big mailbox has.
 */
#ifndef MF_STRTAB_H
#define MF_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#define STRTAB_NONE	UINT32_MAX

struct strtab {
	char	*buf;
	size_t	 len, cap;
};

/* Add [s, s + len) and a NUL; returns its offset. */
uint32_t strtab_add(struct strtab *t, const char *s, size_t len);
void strtab_free(struct strtab *t);

static inline const char *
strtab_get(const struct strtab *t, uint32_t off)
{
	return off == STRTAB_NONE ? NULL : t->buf + off;
}

#endif
