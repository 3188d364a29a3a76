#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-syntax.h"
#include "log.h"
#include "xmalloc.h"

/* Bounds on the search for the column, which parses the text once per
 * token tried. */
#define TRIALS_MAX	32
#define TRIAL_TEXT_MAX	(2 * 1024 * 1024)
/* What is shown of a long line. */
#define SHOWN_MAX	300

/* Where line n (1-based) of text starts, or NULL past the end. */
static const char *
line_start(const char *text, int n)
{
	const char *p = text;

	while (--n > 0 && p != NULL)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	return p != NULL && *p != '\0' ? p : NULL;
}

/* The end of the token at p (p on no blank), within the line: a string,
 * a word, or one character. NULL at a comment, which ends the tokens. */
static const char *
token_end(const char *p)
{
	if (*p == '#' || (p[0] == '/' && (p[1] == '/' || p[1] == '*')))
		return NULL;
	if (*p == '"') {
		for (p++; *p != '\0' && *p != '\n' && *p != '"'; p++)
			if (*p == '\\' && p[1] != '\0' && p[1] != '\n')
				p++;
		return *p == '"' ? p + 1 : p;
	}
	if (strchr("{}()[]=:;,", *p) != NULL)
		return p + 1;
	while (*p != '\0' && strchr(" \t\r\n{}()[]=:;,\"#", *p) == NULL)
		p++;
	return p;
}

/* Does libconfig refuse text[0, len) on line `line`, rather than at its
 * end (on the line after, where the cut puts it)? */
static bool
refused_on(const char *text, size_t len, int line)
{
	char *cut = xmalloc(len + 2);
	config_t lc;
	bool refused;

	memcpy(cut, text, len);
	memcpy(cut + len, "\n", 2);
	config_init(&lc);
	refused = config_read_string(&lc, cut) != CONFIG_TRUE &&
	    config_error_line(&lc) == line;
	config_destroy(&lc);
	explicit_bzero(cut, len);
	free(cut);
	return refused;
}

/* The first token of the line that the parser cannot take; without
 * one, the end of the line's tokens (something is missing there). */
static const char *
refused_token(const char *text, const char *start, int line)
{
	const char *p = start, *end, *last = start;
	int trials = 0;

	if ((size_t)(start - text) > TRIAL_TEXT_MAX)
		return NULL;
	for (;;) {
		p += strspn(p, " \t\r");
		if (*p == '\0' || *p == '\n' || (end = token_end(p)) == NULL ||
		    trials++ == TRIALS_MAX)
			return last;
		if (refused_on(text, (size_t)(end - text), line))
			return p;
		last = p = end;
	}
}

/* What a walk through the text finds that libconfig does not say. */
struct scan {
	const char	*unclosed;	/* opened and never closed */
	const char	*split_quote;	/* the first string holding a line
					 * end, if it starts before the limit:
					 * a quote forgotten makes the rest
					 * of the text inside out */
	bool		 split_closed;	/* ... and is closed at all */
};

/* The end of the string whose quote is at p (its closing quote, or the
 * end of the text). */
static const char *
string_end(const char *p)
{
	for (p++; *p != '\0' && *p != '"'; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	return p;
}

static void
scan_text(const char *text, const char *limit, struct scan *sc)
{
	const char *stack[64], *p, *q;
	size_t depth = 0, cap = sizeof stack / sizeof *stack;

	*sc = (struct scan){ NULL, NULL, false };
	for (p = text; *p != '\0'; p++) {
		if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			p += strcspn(p, "\n") - 1;
		else if (p[0] == '/' && p[1] == '*') {
			if ((q = strstr(p + 2, "*/")) == NULL)
				break;	/* libconfig takes it to the end */
			p = q + 1;
		} else if (*p == '"') {
			q = string_end(p);
			if (p < limit && sc->split_quote == NULL &&
			    memchr(p, '\n', (size_t)(q - p)) != NULL) {
				sc->split_quote = p;
				sc->split_closed = *q != '\0';
			}
			if (*q == '\0') {
				sc->unclosed = p;
				return;
			}
			p = q;
		} else if (strchr("{([", *p) != NULL) {
			if (depth < cap)
				stack[depth] = p;
			depth++;
		} else if (strchr("})]", *p) != NULL && depth > 0)
			depth--;
	}
	if (depth > 0)
		sc->unclosed = stack[depth <= cap ? depth - 1 : cap - 1];
}

/* Just after the last character of the text that is not blank or in a
 * comment, or NULL. */
static const char *
last_token_end(const char *text)
{
	const char *last = NULL, *p = text;

	while (*p != '\0') {
		if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			p += strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*') {
			/* An unclosed comment runs to the end, as in
			 * libconfig. */
			if ((p = strstr(p + 2, "*/")) == NULL)
				break;
			p += 2;
		} else if (*p == '"') {
			/* Not trusting unclosed(): a string may end the text. */
			for (p++; *p != '"' && *p != '\0'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			last = *p == '\0' ? p : ++p;
		} else if (strchr(" \t\r\n", *p) != NULL)
			p++;
		else
			last = ++p;
	}
	return last;
}

/* Stars for the contents of the strings of a line that sets a
 * password (not password_command). */
static void
mask_password(char *line)
{
	char *p = line;
	bool in_string = false, secret = false;

	while ((p = strcasestr(p, "password")) != NULL) {
		p += strlen("password");
		if (p[strspn(p, " \t")] == '=' || p[strspn(p, " \t")] == ':')
			secret = true;
	}
	for (p = line; secret && *p != '\0'; p++) {
		if (*p == '"')
			in_string = !in_string;
		else if (in_string) {
			if (*p == '\\' && p[1] != '\0')
				*p++ = '*';
			*p = '*';
		}
	}
}

/* The line at start, and a caret under `at` (NULL: none). */
static void
show_line(const char *start, const char *at)
{
	size_t len = strcspn(start, "\n"), col, w = 0;
	char *line, shown[4 * SHOWN_MAX + 8], pad[4 * SHOWN_MAX + 8];

	if (len > SHOWN_MAX)
		len = SHOWN_MAX;
	line = xstrndup(start, len);
	mask_password(line);
	log_escape(shown, sizeof shown, line, len);
	log_error_more("  %s%s", shown, len < strcspn(start, "\n") ? "..." :
	    "");
	col = at != NULL ? (size_t)(at - start) : len + 1;
	if (col <= len) {
		/* The caret goes under the same character of the escaped
		 * line: count its characters, not its bytes. */
		log_escape(pad, sizeof pad, line, col);
		for (const unsigned char *c = (unsigned char *)pad; *c; c++)
			if ((*c & 0xc0) != 0x80)
				pad[w++] = ' ';
		pad[w] = '\0';
		log_error_more("  %s^", pad);
	}
	explicit_bzero(line, len);
	free(line);
}

/* The line of text p is on, as the file and line it was written on. */
static struct source
source_of(const struct config_text *ct, const char *text, const char *p)
{
	int line = 1;

	for (const char *c = text; c < p; c++)
		line += *c == '\n';
	return config_text_source(ct, line);
}

static const char *
start_of_line(const char *text, const char *p)
{
	while (p > text && p[-1] != '\n')
		p--;
	return p;
}

/* libconfig's line is not where the mistake is: say where it is, and
 * where libconfig gave up. */
static void
report_elsewhere(const struct config_text *ct, const config_t *lc,
    const char *text, const char *at, bool at_end, const char *what)
{
	struct source found = config_text_source(ct, config_error_line(lc));
	struct source src = source_of(ct, text, at);
	char where[64] = "the end";

	if (at_end)
		;
	else if (strcmp(src.file, found.file) == 0)
		snprintf(where, sizeof where, "line %d", found.line);
	else
		snprintf(where, sizeof where, "another file");
	log_error_at(src.file, src.line, "%s (met at %s): %s",
	    config_error_text(lc), where, what);
	show_line(start_of_line(text, at), at);
}

void
config_report_syntax(const struct config_text *ct, const config_t *lc)
{
	int line = config_error_line(lc);
	const char *text = ct->text != NULL ? ct->text : "", *start, *end;
	struct source src = config_text_source(ct, line);
	struct scan sc;

	bool blank;

	start = line > 0 ? line_start(text, line) : NULL;
	end = start != NULL ? start + strcspn(start, "\n") : text +
	    strlen(text);
	blank = start == NULL || start[strspn(start, " \t\r")] == '\n' ||
	    start[strspn(start, " \t\r")] == '\0';
	scan_text(text, end, &sc);
	/* A string running over a line end is legal, but mostly a quote
	 * forgotten: libconfig then stumbles lines further on. */
	if (sc.split_quote != NULL)
		report_elsewhere(ct, lc, text, sc.split_quote, blank,
		    sc.split_closed ? "this quote is not closed on its line" :
		    "this quote is never closed");
	else if (!blank) {
		log_error_at(src.file, src.line, "%s", config_error_text(lc));
		show_line(start, refused_token(text, start, line));
	} else if (sc.unclosed != NULL)
		/* At the end: what was opened and never closed, or else what
		 * ends the last line that says something. */
		report_elsewhere(ct, lc, text, sc.unclosed, true,
		    *sc.unclosed == '"' ? "this quote is never closed" :
		    "this bracket is never closed");
	else if ((end = last_token_end(text)) != NULL)
		report_elsewhere(ct, lc, text, end - 1, true,
		    "something is missing after this");
	else
		log_error_at(src.file, src.line, "%s", config_error_text(lc));
}
