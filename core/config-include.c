#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-include.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

/* A configuration file larger than this is surely not one. */
#define CONFIG_SIZE_MAX		(16 * 1024 * 1024)
/* Deeper than this, includes are surely a loop. */
#define INCLUDE_DEPTH_MAX	16

static void
put(struct config_text *ct, const char *s, size_t n)
{
	if (ct->len + n + 1 > ct->cap) {
		char *bigger;

		while (ct->len + n + 1 > ct->cap)
			ct->cap = ct->cap ? ct->cap * 2 : 4096;
		/* Moved by hand: the old copy may hold passwords. */
		bigger = xmalloc(ct->cap);
		if (ct->text != NULL) {
			memcpy(bigger, ct->text, ct->len + 1);
			explicit_bzero(ct->text, ct->len);
			free(ct->text);
		}
		ct->text = bigger;
	}
	memcpy(ct->text + ct->len, s, n);
	ct->len += n;
	ct->text[ct->len] = '\0';
}

/* Start a new line of text, written at file:line. */
static void
new_line(struct config_text *ct, const char *file, int line)
{
	if (ct->nmap > 0)
		put(ct, "\n", 1);
	else
		ct->nmap = 1;		/* lines count from 1 */
	ct->map = xreallocarray(ct->map, ct->nmap + 1, sizeof *ct->map);
	ct->map[ct->nmap++] = (struct source){ file, line };
}

static const char *
intern(struct config_text *ct, const char *name)
{
	ct->files = xreallocarray(ct->files, ct->nfiles + 1,
	    sizeof *ct->files);
	ct->files[ct->nfiles] = xstrdup(name);
	return ct->files[ct->nfiles++];
}

/* The whole text of a file no other user can change; NULL with e set. */
static char *
read_trusted(const char *path, const char *what, size_t *len, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd == -1) {
		err_sys(e, ERR_CONFIG, "cannot read %s %s", what, path);
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_SIZE_MAX) {
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		err_sys(e, ERR_CONFIG, "cannot read %s %s", what, path);
		close(fd);
		return NULL;
	}
	if (trust_file(what, path, &st, e) == -1) {
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	*len = 0;
	while (*len < (size_t)st.st_size && (n = read(fd, buf + *len,
	    (size_t)st.st_size - *len)) != 0) {
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
    const char *from, int from_line, int depth);

/*
 * At text[i] == "@include": inline the named file. Returns the number of
 * bytes of the directive, or 0 when it is not one (libconfig will then
 * complain about it).
 */
static size_t
include(struct config_text *ct, const char *text, size_t len, size_t i,
    const char *file, int line, int depth, int *errors)
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
	*errors += add_file(ct, path, file, line, depth + 1);
	/* Back to the including file, on a line of its own. */
	new_line(ct, file, line);
	free(name);
	free(expanded);
	free(dir);
	free(path);
	return j + 1 - i;
}

/* Copy one file's text, inlining its includes; returns the errors. */
static int
add_file(struct config_text *ct, const char *path, const char *from,
    int from_line, int depth)
{
	enum { NORMAL, STRING, LINE_COMMENT, BLOCK_COMMENT } st = NORMAL;
	const char *file;
	size_t len;
	char *text;
	int line = 1, errors = 0;
	struct err e;

	if (depth > INCLUDE_DEPTH_MAX) {
		log_error_at(from, from_line, "includes nested too deep (does "
		    "%s include itself?)", path);
		return 1;
	}
	text = read_trusted(path, from != NULL ? "included file" :
	    "configuration", &len, &e);
	if (text == NULL) {
		if (from != NULL)
			log_error_at(from, from_line, "%s", e.msg);
		else
			log_error("%s", e.msg);
		return 1;
	}
	if (memchr(text, '\0', len) != NULL) {
		log_error_at(path, 0, "not a text file");
		free(text);
		return 1;
	}
	file = intern(ct, path);
	new_line(ct, file, 1);
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		size_t used;

		if (st == NORMAL && c == '@' && strncmp(text + i, "@include",
		    8) == 0) {
			new_line(ct, file, line);
			used = include(ct, text, len, i, file, line, depth,
			    &errors);
			if (used > 0) {
				i += used - 1;
				continue;
			}
		}
		if (c == '\n') {
			if (st == LINE_COMMENT)
				st = NORMAL;
			new_line(ct, file, ++line);
			continue;
		}
		put(ct, &c, 1);
		switch (st) {
		case NORMAL:
			if (c == '"')
				st = STRING;
			else if (c == '#' || (c == '/' && i + 1 < len &&
			    text[i + 1] == '/'))
				st = LINE_COMMENT;
			else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
				put(ct, &text[++i], 1);
				st = BLOCK_COMMENT;
			}
			break;
		case STRING:
			if (c == '\\' && i + 1 < len && text[i + 1] != '\n')
				put(ct, &text[++i], 1);
			else if (c == '"')
				st = NORMAL;
			break;
		case LINE_COMMENT:
			break;
		case BLOCK_COMMENT:
			if (c == '*' && i + 1 < len && text[i + 1] == '/') {
				put(ct, &text[++i], 1);
				st = NORMAL;
			}
			break;
		}
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
	errors = add_file(ct, path, NULL, 0, 0);
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
