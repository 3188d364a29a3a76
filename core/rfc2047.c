#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "array.h"
#include "rfc2047.h"
#include "xmalloc.h"

/* Longer than RFC 2047's 75, as many mailers ignore that limit. */
#define WORD_MAX	4096
#define CHARSET_MAX	64

struct outbuf {
	char	*p;
	size_t	 len, cap;
};

static void
out_append(struct outbuf *o, const char *data, size_t len)
{
	array_append_text(&o->p, &o->len, &o->cap, data, len, false);
}

static int
hexval(char c)
{
	return OPENSSL_hexchar2int((unsigned char)c);
}

#define BASE64_DIGITS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789+/"

/*
 * B: base64, decoded by OpenSSL. Padding ends the data and may be
 * missing; a lone last digit holds no whole byte and is dropped. Any
 * other character makes the word not base64.
 */
static bool
decode_b(const char *in, size_t len, char *out, size_t *outlen)
{
	const char *eq = memchr(in, '=', len);
	size_t n = eq != NULL ? (size_t)(eq - in) : len, whole, tail;
	unsigned char last[3];
	char quad[5] = "====";
	int got;

	for (size_t i = 0; i < n; i++)
		if (in[i] == '\0' || strchr(BASE64_DIGITS, in[i]) == NULL)
			return false;
	tail = n % 4;
	whole = n - tail;
	got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in,
	    (int)whole);
	if (got < 0)
		return false;
	*outlen = (size_t)got;
	if (tail >= 2) {
		memcpy(quad, in + whole, tail);
		if (EVP_DecodeBlock(last, (unsigned char *)quad, 4) != 3)
			return false;
		memcpy(out + *outlen, last, tail - 1);
		*outlen += tail - 1;
	}
	return true;
}

/* Q: "_" a space, "=XX" a byte, anything else itself. */
static bool
decode_q(const char *in, size_t len, char *out, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '_')
			out[o++] = ' ';
		else if (in[i] == '=' && i + 2 < len &&
		    hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
			out[o++] = (char)(hexval(in[i + 1]) << 4 |
			    hexval(in[i + 2]));
			i += 2;
		} else
			out[o++] = in[i];
	}
	*outlen = o;
	return true;
}

/* Decode the encoded text into bytes (at most len bytes). */
static bool
decode_text(char encoding, const char *in, size_t len, char *out,
    size_t *outlen)
{
	if (encoding == 'Q' || encoding == 'q')
		return decode_q(in, len, out, outlen);
	return decode_b(in, len, out, outlen);
}

/* A few open converters, since a message tends to use one charset. */
static struct {
	bool	used;
	char	name[CHARSET_MAX];
	iconv_t	cd;
} cache[4];
static unsigned cache_next;

static iconv_t
converter(const char *charset)
{
	iconv_t cd;
	unsigned slot;

	for (unsigned i = 0; i < 4; i++)
		if (cache[i].used && strcasecmp(cache[i].name, charset) == 0) {
			iconv(cache[i].cd, NULL, NULL, NULL, NULL);
			return cache[i].cd;
		}
	cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return cd;
	slot = cache_next++ % 4;
	if (cache[slot].used)
		iconv_close(cache[slot].cd);
	snprintf(cache[slot].name, sizeof cache[slot].name, "%s", charset);
	cache[slot].cd = cd;
	cache[slot].used = true;
	return cd;
}

static bool
is_utf8_name(const char *charset)
{
	return strcasecmp(charset, "UTF-8") == 0 ||
	    strcasecmp(charset, "UTF8") == 0 ||
	    strcasecmp(charset, "US-ASCII") == 0;
}

/* Append bytes in `charset` to o as UTF-8; false if the charset is
 * unknown. Undecodable bytes become U+FFFD. */
static bool
append_converted(struct outbuf *o, const char *charset, char *in, size_t len)
{
	iconv_t cd;
	char buf[512];

	if (is_utf8_name(charset)) {
		out_append(o, in, len);
		return true;
	}
	cd = converter(charset);
	if (cd == (iconv_t)-1)
		return false;
	while (len > 0) {
		char *op = buf;
		size_t room = sizeof buf;
		size_t rc = iconv(cd, &in, &len, &op, &room);

		out_append(o, buf, (size_t)(op - buf));
		if (rc == (size_t)-1 && errno != E2BIG) {
			/* EILSEQ or EINVAL: replace one byte, go on. */
			out_append(o, "\xef\xbf\xbd", 3);
			in++;
			len--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	return true;
}

/*
 * Try to decode the encoded-word starting at in[0] ("=?"); on success
 * append it to o and return its length in the input, else 0.
 */
static size_t
decode_word(struct outbuf *o, const char *in, size_t len)
{
	char charset[CHARSET_MAX], *bytes;
	const char *q1, *q2, *end, *text;
	size_t cslen, textlen, nbytes;
	char encoding;
	bool ok;

	if (len < 8 || in[0] != '=' || in[1] != '?')
		return 0;
	if (len > WORD_MAX)
		len = WORD_MAX;
	q1 = memchr(in + 2, '?', len - 2);
	if (q1 == NULL || q1 + 3 >= in + len || q1[2] != '?')
		return 0;
	encoding = q1[1];
	if (strchr("BbQq", encoding) == NULL)
		return 0;
	text = q1 + 3;
	q2 = memchr(text, '?', (size_t)(in + len - text));
	if (q2 == NULL || q2 + 1 >= in + len || q2[1] != '=')
		return 0;
	end = q2 + 2;
	for (const char *p = text; p < q2; p++)
		if (*p == ' ' || *p == '\t')
			return 0;
	cslen = (size_t)(q1 - (in + 2));
	if (cslen == 0 || cslen >= sizeof charset)
		return 0;
	/* A charset is a token (RFC 2047 section 2); anything else, a NUL
	 * byte above all, would reach iconv_open with another meaning. */
	for (size_t k = 0; k < cslen; k++) {
		char c = in[2 + k];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-_.:+*", c) != NULL) ||
		    c == '\0')
			return 0;
	}
	memcpy(charset, in + 2, cslen);
	charset[cslen] = '\0';
	charset[strcspn(charset, "*")] = '\0';	/* RFC 2231 language */
	if (charset[0] == '\0')
		return 0;
	textlen = (size_t)(q2 - text);
	bytes = xmalloc(textlen + 1);
	ok = decode_text(encoding, text, textlen, bytes, &nbytes) &&
	    append_converted(o, charset, bytes, nbytes);
	free(bytes);
	return ok ? (size_t)(end - in) : 0;
}

char *
rfc2047_decode(const char *in, size_t len, size_t *outlen)
{
	struct outbuf o = { 0 };
	size_t i = 0, after_word = 0;
	bool last_was_word = false, only_space_since = false;

	out_append(&o, "", 0);
	while (i < len) {
		if (in[i] == '=' && i + 1 < len && in[i + 1] == '?') {
			size_t mark = o.len, used;

			/* Adjacent words: the space between them goes. */
			if (last_was_word && only_space_since)
				o.len = after_word;
			used = decode_word(&o, in + i, len - i);
			if (used > 0) {
				i += used;
				after_word = o.len;
				last_was_word = true;
				only_space_since = true;
				continue;
			}
			o.len = mark;
			o.p[o.len] = '\0';
		}
		if (in[i] != ' ' && in[i] != '\t')
			only_space_since = false;
		out_append(&o, in + i, 1);
		i++;
	}
	*outlen = o.len;
	return o.p;
}
