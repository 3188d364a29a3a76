/* JSON strings: see json.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

/* The length of the UTF-8 sequence at s (at most n bytes), and its code
 * point in *cp; 0 when it is not valid UTF-8 (overlong, a surrogate,
 * past U+10FFFF, cut short). */
static size_t
utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* The escape of code point c, or NULL when it goes as it is. */
static const char *
escape_of(uint32_t c, char *buf, size_t size)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	}
	/* C0, DEL, C1; and the two line separators JavaScript once
	 * choked on. */
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 ||
	    c == 0x2029) {
		snprintf(buf, size, "\\u%04x", (unsigned)(c & 0xffff));
		return buf;
	}
	return NULL;
}

size_t
json_escape(char *dst, size_t dstsize, const char *src, size_t srclen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0;
	char ebuf[16];

	if (dstsize == 0)
		return 0;
	while (i < srclen) {
		uint32_t c;
		size_t n = utf8_char(s + i, srclen - i, &c);
		const char *esc = n == 0 ? "\\ufffd" :
		    escape_of(c, ebuf, sizeof ebuf);
		size_t len = esc != NULL ? strlen(esc) : n;

		if (o + len >= dstsize)
			break;
		memcpy(dst + o, esc != NULL ? esc : (const char *)s + i, len);
		o += len;
		i += n == 0 ? 1 : n;
	}
	dst[o] = '\0';
	return o;
}
