#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap-utf7.h"
#include "xmalloc.h"

/* Base64 with "," in place of "/" (RFC 3501 section 5.1.3). */
static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64_value(char c)
{
	const char *p = c != '\0' ? strchr(b64, c) : NULL;

	return p != NULL ? (int)(p - b64) : -1;
}

static bool
direct(uint32_t cp)
{
	return cp >= 0x20 && cp <= 0x7e;
}

/* One code point from UTF-8 at *pp; -1 when malformed (overlong forms,
 * surrogates and values past U+10FFFF included). */
static int64_t
utf8_next(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint32_t cp, min;
	int extra;

	if (p[0] < 0x80)
		extra = 0, cp = p[0], min = 0;
	else if ((p[0] & 0xe0) == 0xc0)
		extra = 1, cp = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		extra = 2, cp = p[0] & 0x0f, min = 0x800;
	else if ((p[0] & 0xf8) == 0xf0)
		extra = 3, cp = p[0] & 0x07, min = 0x10000;
	else
		return -1;
	for (int i = 1; i <= extra; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*pp = p + extra + 1;
	return cp;
}

static size_t
utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Bits waiting to become base64 digits. */
struct bits {
	uint32_t	 acc;
	int		 n;
};

static size_t
put_unit(char *out, struct bits *b, uint32_t unit)
{
	size_t o = 0;

	b->acc = b->acc << 16 | unit;
	b->n += 16;
	while (b->n >= 6) {
		b->n -= 6;
		out[o++] = b64[b->acc >> b->n & 0x3f];
	}
	return o;
}

char *
imap_utf7_encode(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	/* Worst case: each byte a 2-byte character, a shift of its own. */
	char *out = xmalloc(5 * strlen(s) + 1);
	struct bits b = { 0, 0 };
	bool shifted = false;
	size_t o = 0;

	while (*p != '\0') {
		int64_t cp = utf8_next(&p);

		if (cp < 0) {
			free(out);
			return NULL;
		}
		if (direct((uint32_t)cp) && shifted) {
			if (b.n > 0)
				out[o++] = b64[b.acc << (6 - b.n) & 0x3f];
			out[o++] = '-';
			shifted = false;
			b.n = 0;
		}
		if (direct((uint32_t)cp)) {
			out[o++] = (char)cp;
			if (cp == '&')
				out[o++] = '-';
			continue;
		}
		if (!shifted)
			out[o++] = '&', shifted = true;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			o += put_unit(out + o, &b, 0xd800 | (uint32_t)(cp >> 10));
			o += put_unit(out + o, &b, 0xdc00 | (uint32_t)(cp & 0x3ff));
		} else
			o += put_unit(out + o, &b, (uint32_t)cp);
	}
	if (shifted) {
		if (b.n > 0)
			out[o++] = b64[b.acc << (6 - b.n) & 0x3f];
		out[o++] = '-';
	}
	out[o] = '\0';
	return out;
}

/* Decode one "&...-" run (p after the "&", end at the "-") into out. */
static int
decode_run(const char *p, const char *end, char *out, size_t *olen)
{
	struct bits b = { 0, 0 };
	uint32_t high = 0;
	size_t o = 0;

	for (; p < end; p++) {
		int v = b64_value(*p);
		uint32_t unit;

		if (v < 0)
			return -1;
		b.acc = (b.acc << 6 | (uint32_t)v) & 0xffffff;
		if ((b.n += 6) < 16)
			continue;
		b.n -= 16;
		unit = b.acc >> b.n & 0xffff;
		if (high != 0) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return -1;
			o += utf8_put(out + o, 0x10000 + ((high - 0xd800) << 10 |
			    (unit - 0xdc00)));
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff)
			high = unit;
		else if (unit >= 0xdc00 && unit <= 0xdfff)
			return -1;
		else if (direct(unit))
			return -1;	/* must have been written directly */
		else
			o += utf8_put(out + o, unit);
	}
	/* Leftover bits are padding: fewer than 6, all zero. */
	if (high != 0 || b.n >= 6 || (b.acc & ((1u << b.n) - 1)) != 0)
		return -1;
	*olen = o;
	return 0;
}

char *
imap_utf7_decode(const char *s)
{
	char *out = xmalloc(2 * strlen(s) + 1);
	size_t o = 0;

	for (const char *p = s; *p != '\0'; p++) {
		const char *end;
		size_t n;

		if (!direct((unsigned char)*p))
			goto bad;
		if (*p != '&') {
			out[o++] = *p;
			continue;
		}
		if ((end = strchr(p, '-')) == NULL)
			goto bad;
		if (end == p + 1)
			out[o++] = '&';
		else if (decode_run(p + 1, end, out + o, &n) == -1)
			goto bad;
		else
			o += n;
		p = end;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

char *
imap_mailbox_wire(const char *name, bool utf8)
{
	bool ascii = true;
	char *conv;

	for (const char *p = name; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = false;
	if (utf8 && ascii && strchr(name, '&') != NULL &&
	    (conv = imap_utf7_decode(name)) != NULL)
		return conv;
	if (!utf8 && !ascii && (conv = imap_utf7_encode(name)) != NULL)
		return conv;
	return xstrdup(name);
}
