/*
 * Bytes that are printable ASCII other than space: what a POP3 UID, the
 * host name in a lock file or an envelope address may be made of before
 * mailferry writes it anywhere.
 */
#ifndef MF_ASCII_H
#define MF_ASCII_H

#include <stdbool.h>
#include <stddef.h>

static inline bool
ascii_visible(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

#endif
