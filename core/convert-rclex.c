/* The tokens of a fetchmail run control file (see convert-rclex.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "array.h"
#include "convert-rclex.h"
#include "xmalloc.h"

struct lexer {
	const char	*path;
	const char	*p, *end;
	int		 line;
	struct rctok	*toks;
	size_t		 n, cap;
};

static int
push(struct lexer *lx, enum rctok_kind kind, char *text, int line,
    struct err *e)
{
	if (lx->n == RCLEX_TOKENS_MAX) {
		free(text);
		return err_set(e, ERR_DATA, "%s:%d: more than %d words: not a "
		    "run control file", lx->path, line, RCLEX_TOKENS_MAX);
	}
	*ARRAY_ADD(lx->toks, lx->n, lx->cap) = (struct rctok){ .kind = kind,
	    .text = text, .line = line };
	return 0;
}

static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
xdigit(char c)
{
	return OPENSSL_hexchar2int((unsigned char)c);
}

/*
 * fetchmail's escapes, applied to a word or to the inside of a quoted
 * string: \n \t \b \r, \xhh, \0oo (three digits with the 0), \ddd
 * decimal, a backslash before a line end joins the lines, any other
 * character stands for itself. src[0..len) into dst; a NUL becomes "?".
 */
static void
unescape(const char *src, size_t len, char *dst)
{
	const char *end = src + len;
	size_t o = 0;

	while (src < end) {
		int c = (unsigned char)*src++, n = 0;

		if (c == '\\' && src < end && (digit(*src) || *src == 'x' ||
		    *src == 'X')) {
			c = 0;
			if (*src == 'x' || *src == 'X')
				for (src++; src < end && n < 2 &&
				    xdigit(*src) >= 0; n++)
					c = c * 16 + xdigit(*src++);
			else if (*src == '0')
				for (; src < end && n < 3 && *src >= '0' &&
				    *src <= '7'; n++)
					c = c * 8 + (*src++ - '0');
			else
				for (; src < end && n < 3 && digit(*src); n++)
					c = c * 10 + (*src++ - '0');
		} else if (c == '\\' && src < end) {
			c = (unsigned char)*src++;
			if (c == '\n')
				continue;
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'b' ? '\b' :
			    c == 'r' ? '\r' : c;
		}
		dst[o++] = (c & 0xff) == 0 ? '?' : (char)c;
	}
	dst[o] = '\0';
}

/* A quoted string ends at the next quote of its kind: fetchmail knows
 * no escaped quote. */
static int
quoted(struct lexer *lx, struct err *e)
{
	char q = *lx->p++, *buf;
	const char *start = lx->p, *close;
	int line = lx->line;

	close = memchr(start, q, (size_t)(lx->end - start));
	if (close == NULL)
		return err_set(e, ERR_DATA, "%s:%d: a string that never ends",
		    lx->path, line);
	for (const char *p = start; p < close; p++)
		lx->line += *p == '\n';
	buf = xmalloc((size_t)(close - start) + 1);
	unescape(start, (size_t)(close - start), buf);
	lx->p = close + 1;
	return push(lx, RCTOK_STRING, buf, line, e);
}

#define BREAKS	" \t\r\n,;:="

static int
word(struct lexer *lx, struct err *e)
{
	const char *start = lx->p;
	bool number = true;
	char *buf;

	while (lx->p < lx->end && strchr(BREAKS, *lx->p) == NULL &&
	    *lx->p != '\0') {
		if (!digit(*lx->p) && !(lx->p == start && *lx->p == '-'))
			number = false;
		lx->p++;
	}
	if (lx->p == start) {
		/* A NUL: not text. */
		return err_set(e, ERR_DATA, "%s:%d: a NUL byte: not a run "
		    "control file", lx->path, lx->line);
	}
	if (lx->p - start == 1 && *start == '-')
		number = false;
	buf = xmalloc((size_t)(lx->p - start) + 1);
	unescape(start, (size_t)(lx->p - start), buf);
	return push(lx, number ? RCTOK_NUMBER : RCTOK_WORD, buf, lx->line, e);
}

int
rclex(const char *path, const char *text, size_t len, struct rctok **toks,
    size_t *ntoks, struct err *e)
{
	struct lexer lx = { .path = path, .p = text, .end = text + len,
	    .line = 1 };
	int rc = 0;

	while (rc == 0 && lx.p < lx.end) {
		char c = *lx.p;

		if (c == '\n') {
			lx.line++;
			lx.p++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == ',' ||
		    c == ';' || c == ':')
			lx.p++;
		else if (c == '\\' && lx.p + 1 < lx.end && lx.p[1] == '\n')
			lx.p++;		/* a joined line */
		else if (c == '#') {
			while (lx.p < lx.end && *lx.p != '\n')
				lx.p++;
		} else if (c == '"' || c == '\'')
			rc = quoted(&lx, e);
		else if (c == '=') {
			lx.p++;
			rc = push(&lx, RCTOK_EQUALS, xstrdup("="), lx.line, e);
		} else
			rc = word(&lx, e);
	}
	if (rc == -1) {
		rclex_free(lx.toks, lx.n);
		return -1;
	}
	*toks = lx.toks;
	*ntoks = lx.n;
	return 0;
}

void
rclex_free(struct rctok *toks, size_t ntoks)
{
	for (size_t i = 0; i < ntoks; i++)
		free(toks[i].text);
	free(toks);
}
