/* The Received: field of a forwarded message (see received.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "received.h"
#include "xmalloc.h"

#ifndef MAILFERRY_VERSION
#define MAILFERRY_VERSION "dev"
#endif

#define FOLD_AT		78
#define NAME_SHOWN_MAX	100	/* characters of an account name */

const char *
received_protocol(const char *base, bool tls)
{
	static char buf[16];

	if (!tls)
		return base;
	snprintf(buf, sizeof buf, "%sS", base);
	return buf;
}

static bool
only(const char *s, const char *set)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (strchr(set, *s) == NULL)
			return false;
	return true;
}

#define DOMAIN_CHARS	"abcdefghijklmnopqrstuvwxyz" \
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"

/* The server as an Extended-Domain: a name, an address literal, or
 * "unknown" for anything that is neither. */
static void
domain_of(const char *server, char *buf, size_t size)
{
	if (strlen(server) > 253)
		snprintf(buf, size, "unknown");
	else if (only(server, "0123456789."))
		snprintf(buf, size, "[%s]", server);
	else if (strchr(server, ':') != NULL &&
	    only(server, "0123456789abcdefABCDEF:."))
		snprintf(buf, size, "[IPv6:%s]", server);
	else if (only(server, DOMAIN_CHARS))
		snprintf(buf, size, "%s", server);
	else
		snprintf(buf, size, "unknown");
}

static void
our_name(char *buf, size_t size)
{
	if (gethostname(buf, size - 1) == -1)
		buf[0] = '\0';
	buf[size - 1] = '\0';
	if (!only(buf, DOMAIN_CHARS))
		snprintf(buf, size, "localhost");
}

/* Text for the inside of a comment: ( ) \ and " quoted, anything that is
 * not printable ASCII shown as "?", so it can neither end the comment
 * nor the line. dst has room for 2 * max + 1. */
static void
comment_text(char *dst, const char *src, size_t max)
{
	size_t n = 0;

	for (; *src != '\0' && n < max; src++, n++) {
		unsigned char c = (unsigned char)*src;

		if (c < 0x20 || c > 0x7e)
			c = '?';
		else if (c == '(' || c == ')' || c == '\\' || c == '"')
			*dst++ = '\\';
		*dst++ = (char)c;
	}
	*dst = '\0';
}

/* Fold `line` (words separated by single spaces) before a space
 * wherever the line would pass FOLD_AT columns; a word longer than that
 * stays whole. */
static char *
fold(const char *line, size_t *len)
{
	char *out = xmalloc(2 * strlen(line) + 2), *o = out;
	size_t col = 0;

	while (*line != '\0') {
		size_t wlen = strcspn(line + 1, " ") + 1;

		if (col > 0 && *line == ' ' && col + wlen > FOLD_AT) {
			*o++ = '\n';
			col = 0;
		}
		memcpy(o, line, wlen);
		o += wlen;
		col += wlen;
		line += wlen;
	}
	*o++ = '\n';
	*o = '\0';
	*len = (size_t)(o - out);
	return out;
}

char *
received_field(const struct received_info *ri, size_t *len)
{
	char server[300], host[256], date[64], account[2 * NAME_SHOWN_MAX + 1];
	char uid[2 * 255 + 1] = "", *line, *out;
	struct tm tm;

	domain_of(ri->server, server, sizeof server);
	our_name(host, sizeof host);
	comment_text(account, ri->account, NAME_SHOWN_MAX);
	if (ri->uid != NULL)
		comment_text(uid, ri->uid, 255);
	if (localtime_r(&ri->when, &tm) == NULL ||
	    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(date, sizeof date, "Thu, 01 Jan 1970 00:00:00 +0000");
	line = xasprintf("Received: from %s (account \"%s\"%s%s) by %s "
	    "(mailferry %s) with %s; %s", server, account,
	    ri->uid != NULL ? ", UID " : "", uid, host, MAILFERRY_VERSION,
	    ri->protocol, date);
	out = fold(line, len);
	free(line);
	return out;
}
