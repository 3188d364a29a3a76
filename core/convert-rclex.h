/*
 * The tokens of fetchmail's run control file (fetchmail(1), "Run Control
 * Syntax", and what fetchmail 6.4 itself accepts): words, numbers, and
 * strings in double or single quotes, each ending at the next quote of
 * its kind; fetchmail's escapes (\n \t \b \r, \ddd decimal, \0oo octal,
 * \xhh hex, a backslash before a line end joins the lines) apply to
 * strings and words alike. "#" at the start of a token begins a comment;
 * the punctuation , ; : is ignored; "=" is a token of its own (name
 * mappings).
 */
#ifndef MF_CONVERT_RCLEX_H
#define MF_CONVERT_RCLEX_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Tokens in one file, at most. */
#define RCLEX_TOKENS_MAX	200000

enum rctok_kind {
	RCTOK_WORD,		/* unquoted: may be a keyword */
	RCTOK_STRING,		/* quoted: always a value */
	RCTOK_NUMBER,
	RCTOK_EQUALS,
};

struct rctok {
	enum rctok_kind	 kind;
	char		*text;
	int		 line;
};

/* Split text into *toks (*ntoks of them). -1 (ERR_DATA, "PATH:LINE:
 * ...") on an unterminated string or too many tokens. */
int rclex(const char *path, const char *text, size_t len,
    struct rctok **toks, size_t *ntoks, struct err *e);
void rclex_free(struct rctok *toks, size_t ntoks);

#endif
