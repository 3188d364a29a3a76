#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "config-include.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

/* A configuration file larger than this is surely not one. */
#define CONFIG_SIZE_MAX		(16 * 1024 * 1024)
/* Deeper than this, or more files than this, is surely a mistake. */
#define INCLUDE_DEPTH_MAX	16
#define INCLUDE_FILES_MAX	10000

/* The files being included, innermost first, to refuse a cycle. */
struct include_chain {
	dev_t				 dev;
	ino_t				 ino;
	const struct include_chain	*up;
};

static void
put(struct config_text *ct, const char *s, size_t n)
{
	/* The text may hold passwords. */
	array_append_text(&ct->text, &ct->len, &ct->cap, s, n, true);
}

/* Start a new line of text, written at file:line. */
static void
new_line(struct config_text *ct, const char *file, int line)
{
	if (ct->nmap > 0)
		put(ct, "\n", 1);
	else
		ct->nmap = 1;		/* lines count from 1 */
	*ARRAY_ADD(ct->map, ct->nmap, ct->capmap) =
	    (struct source){ file, line };
}

static const char *
intern(struct config_text *ct, const char *name)
{
	char *copy = xstrdup(name);

	*ARRAY_ADD(ct->files, ct->nfiles, ct->capfiles) = copy;
	return copy;
}

/*
 * The whole text of a file no other user can change, and its status;
 * NULL with e set. Opened non-blocking, so that naming a FIFO cannot hang
 * the open; anything but a regular file is refused.
 */
static char *
read_trusted(const char *path, const char *what, size_t *len,
    struct stat *st, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf;
	ssize_t n;

	if (fd == -1) {
		err_sys(e, ERR_CONFIG, "cannot read %s %s", what, path);
		return NULL;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode) ||
	    st->st_size > CONFIG_SIZE_MAX) {
		errno = S_ISREG(st->st_mode) ? EFBIG : EINVAL;
		err_sys(e, ERR_CONFIG, "cannot read %s %s", what, path);
		close(fd);
		return NULL;
	}
	if (trust_file(what, path, st, e) == -1) {
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st->st_size + 1);
	*len = 0;
	while (*len < (size_t)st->st_size && (n = read(fd, buf + *len,
	    (size_t)st->st_size - *len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_sys(e, ERR_CONFIG, "cannot read %s %s", what, path);
			free(buf);
			close(fd);
			return NULL;
		}
		*len += (size_t)n;
	}
	buf[*len] = '\0';
	close(fd);
	return buf;
}

static int add_file(struct config_text *ct, const char *path,
    const char *from, int from_line, const struct include_chain *up,
    int depth);

/*
 * At text[i] == "@include": inline the named file. Returns the number of
 * bytes of the directive, or 0 when it is not one (libconfig will then
 * complain about it).
 */
static size_t
include(struct config_text *ct, const char *text, size_t len, size_t i,
    const char *file, int line, const struct include_chain *chain,
    int depth, int *errors)
{
	size_t j = i + 8, start;
	char *name, *expanded, *dir, *path;

	while (j < len && (text[j] == ' ' || text[j] == '\t'))
		j++;
	if (j >= len || text[j] != '"')
		return 0;
	start = ++j;
	while (j < len && text[j] != '"' && text[j] != '\n')
		j++;
	if (j >= len || text[j] != '"')
		return 0;
	name = xstrndup(text + start, j - start);
	expanded = expand_path(name);
	dir = xstrdup(file);
	path = expanded[0] == '/' ? xstrdup(expanded) :
	    xasprintf("%s/%s", dirname(dir), expanded);
	*errors += add_file(ct, path, file, line, chain, depth + 1);
	/* Back to the including file, on a line of its own. */
	new_line(ct, file, line);
	free(name);
	free(expanded);
	free(dir);
	free(path);
	return j + 1 - i;
}

/* Can `path`, just read, be inlined here? Reports why not. */
static bool
may_include(const struct config_text *ct, const char *path,
    const struct stat *sb, size_t len, const char *from, int from_line,
    const struct include_chain *up)
{
	for (; up != NULL; up = up->up)
		if (up->dev == sb->st_dev && up->ino == sb->st_ino) {
			log_error_at(from, from_line, "%s includes itself "
			    "(through this @include)", path);
			return false;
		}
	if (ct->nfiles >= INCLUDE_FILES_MAX || ct->len + len >
	    CONFIG_SIZE_MAX) {
		log_error_at(from, from_line, "too much included (at most %d "
		    "files and %d MB in all)", INCLUDE_FILES_MAX,
		    CONFIG_SIZE_MAX >> 20);
		return false;
	}
	return true;
}

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '*' || c == '.';
}

static int
digit_value(char c, bool hex)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (hex && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (hex && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * libconfig 1.5 keeps only the low 32 bits of a longer integer written
 * without an L; later versions make it 64-bit by themselves, as
 * mailferry.conf(5) promises. At text[i], a digit: copy the integer
 * starting there with an L if it needs one, and return its length; 0
 * when it is not the start of an integer (part of a name or a float).
 */
static size_t
put_integer(struct config_text *ct, const char *text, size_t len, size_t i)
{
	bool hex = false, big = false;
	uint64_t v = 0;
	size_t j = i;
	int d;

	if (i > 0 && (is_name_char(text[i - 1]) || ((text[i - 1] == '-' ||
	    text[i - 1] == '+') && i > 1 && is_name_char(text[i - 2]))))
		return 0;
	if (text[i] == '0' && i + 2 < len && (text[i + 1] == 'x' ||
	    text[i + 1] == 'X') && digit_value(text[i + 2], true) >= 0) {
		hex = true;
		j += 2;
	}
	for (; j < len && (d = digit_value(text[j], hex)) >= 0; j++) {
		big |= v > (INT32_MAX - (uint64_t)d) / (hex ? 16 : 10);
		v = big ? v : v * (hex ? 16 : 10) + (uint64_t)d;
	}
	if (j < len && (text[j] == 'L' || (!hex && (text[j] == '.' ||
	    text[j] == 'e' || text[j] == 'E'))))
		return 0;
	put(ct, text + i, j - i);
	if (big)
		put(ct, "L", 1);
	return j - i;
}

/* Read a file to inline (the configuration itself when from is NULL);
 * NULL, reported, when it cannot be. */
static char *
read_include(struct config_text *ct, const char *path, const char *from,
    int from_line, const struct include_chain *up, int depth, size_t *len,
    struct stat *sb)
{
	char *text;
	struct err e;

	if (depth > INCLUDE_DEPTH_MAX) {
		log_error_at(from, from_line, "includes nested too deep "
		    "(more than %d levels) at %s", INCLUDE_DEPTH_MAX, path);
		return NULL;
	}
	text = read_trusted(path, from != NULL ? "included file" :
	    "configuration", len, sb, &e);
	if (text == NULL) {
		if (from != NULL)
			log_error_at(from, from_line, "%s", e.msg);
		else
			log_error("%s", e.msg);
		return NULL;
	}
	if (memchr(text, '\0', *len) != NULL) {
		log_error_at(path, 0, "not a text file");
		free(text);
		return NULL;
	}
	if (!may_include(ct, path, sb, *len, from, from_line, up)) {
		free(text);
		return NULL;
	}
	return text;
}

/* Copy one file's text, inlining its includes; returns the errors. */
/* Where libconfig will see strings and comments: "@include" and numbers
 * count only outside them. */
enum lex { LEX_NORMAL, LEX_STRING, LEX_LINE_COMMENT, LEX_BLOCK_COMMENT };

/* The state after text[*i], which is copied already; the second
 * character of a two-character token is copied too, and *i moved past
 * it. */
static enum lex
lex_after(struct config_text *ct, const char *text, size_t len, size_t *i,
    enum lex st)
{
	char c = text[*i], next = *i + 1 < len ? text[*i + 1] : '\0';

	switch (st) {
	case LEX_NORMAL:
		if (c == '"')
			return LEX_STRING;
		if (c == '#' || (c == '/' && next == '/'))
			return LEX_LINE_COMMENT;
		if (c == '/' && next == '*') {
			put(ct, &text[++*i], 1);
			return LEX_BLOCK_COMMENT;
		}
		return LEX_NORMAL;
	case LEX_STRING:
		if (c == '\\' && *i + 1 < len && next != '\n')
			put(ct, &text[++*i], 1);
		else if (c == '"')
			return LEX_NORMAL;
		return LEX_STRING;
	case LEX_LINE_COMMENT:
		return LEX_LINE_COMMENT;
	case LEX_BLOCK_COMMENT:
		if (c == '*' && next == '/') {
			put(ct, &text[++*i], 1);
			return LEX_NORMAL;
		}
		return LEX_BLOCK_COMMENT;
	}
	return st;
}

static int
add_file(struct config_text *ct, const char *path, const char *from,
    int from_line, const struct include_chain *up, int depth)
{
	enum lex st = LEX_NORMAL;
	struct include_chain chain = { .up = up };
	const char *file;
	struct stat sb;
	size_t len;
	char *text;
	int line = 1, errors = 0;

	text = read_include(ct, path, from, from_line, up, depth, &len, &sb);
	if (text == NULL)
		return 1;
	chain.dev = sb.st_dev;
	chain.ino = sb.st_ino;
	file = intern(ct, path);
	new_line(ct, file, 1);
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		size_t used;

		if (st == LEX_NORMAL && c == '@' &&
		    strncmp(text + i, "@include", 8) == 0) {
			new_line(ct, file, line);
			used = include(ct, text, len, i, file, line, &chain,
			    depth, &errors);
			if (used > 0) {
				i += used - 1;
				continue;
			}
		}
		if (st == LEX_NORMAL && c >= '0' && c <= '9' &&
		    (used = put_integer(ct, text, len, i)) > 0) {
			i += used - 1;
			continue;
		}
		if (c == '\n') {
			if (st == LEX_LINE_COMMENT)
				st = LEX_NORMAL;
			new_line(ct, file, ++line);
			continue;
		}
		put(ct, &c, 1);
		st = lex_after(ct, text, len, &i, st);
	}
	/* It may hold passwords. */
	explicit_bzero(text, len);
	free(text);
	return errors;
}

int
config_text_read(struct config_text *ct, const char *path)
{
	int errors;

	memset(ct, 0, sizeof *ct);
	errors = add_file(ct, path, NULL, 0, NULL, 0);
	if (ct->text == NULL)
		put(ct, "", 0);		/* an empty file is an empty text */
	return errors;
}

void
config_text_free(struct config_text *ct)
{
	for (size_t i = 0; i < ct->nfiles; i++)
		free(ct->files[i]);
	free(ct->files);
	free(ct->map);
	if (ct->text != NULL)
		explicit_bzero(ct->text, ct->len);
	free(ct->text);
	memset(ct, 0, sizeof *ct);
}

struct source
config_text_source(const struct config_text *ct, int line)
{
	if (line > 0 && (size_t)line < ct->nmap)
		return ct->map[line];
	return (struct source){ ct->nfiles > 0 ? ct->files[0] : "?", line };
}
