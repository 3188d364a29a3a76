/*
 * --convert: the model both parsers fill, the helpers they share, and
 * the command itself (see convert.h). Printing is in convert-emit.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "array.h"
#include "command.h"
#include "convert.h"
#include "log.h"
#include "xmalloc.h"

void
conv_init(struct conv *c, const char *format, const char *path)
{
	memset(c, 0, sizeof *c);
	c->format = format;
	c->path = xstrdup(path);
}

static void
free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void
free_account(struct conv_account *a)
{
	free(a->name);
	free(a->origin);
	free(a->why_disabled);
	free(a->server);
	free(a->tls_ca_file);
	free(a->tls_fingerprint);
	free(a->user);
	free(a->password_command);
	free(a->envelope);
	free_list(a->folders, a->nfolders);
	free_list(a->local_domains, a->nlocal_domains);
	free(a->dest.path);
	free(a->dest.command);
	free(a->dest.host);
	free(a->dest.socket);
	free(a->dest.user);
	free_list(a->dest.to, a->dest.nto);
	free_list(a->notes, a->nnotes);
}

int
conv_default_port(const struct conv_account *a)
{
	if (a->imap)
		return a->tls == TLS_MODE_IMPLICIT ? 993 : 143;
	return a->tls == TLS_MODE_IMPLICIT ? 995 : 110;
}

void
conv_free(struct conv *c)
{
	for (size_t i = 0; i < c->naccounts; i++)
		free_account(&c->accounts[i]);
	free(c->accounts);
	free_list(c->notes, c->nnotes);
	free(c->path);
}

struct conv_account *
conv_add_account(struct conv *c, const char *origin, struct err *e)
{
	struct conv_account *a;

	if (c->naccounts == CONV_ACCOUNTS_MAX) {
		err_set(e, ERR_DATA, "%s: more than %d accounts", origin,
		    CONV_ACCOUNTS_MAX);
		return NULL;
	}
	a = ARRAY_ADD(c->accounts, c->naccounts, c->capaccounts);
	memset(a, 0, sizeof *a);
	a->origin = xstrdup(origin);
	a->tls = TLS_MODE_IMPLICIT;
	a->keep = -1;
	a->dest.received_header = -1;
	return a;
}

void
conv_list_add(char ***list, size_t *n, size_t *cap, const char *s)
{
	if (*n >= CONV_LIST_MAX)
		return;
	*ARRAY_ADD(*list, *n, *cap) = xstrdup(s);
}

void
conv_set(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

void
conv_note(struct conv *c, struct conv_account *a, const char *fmt, ...)
{
	char ***list = a != NULL ? &a->notes : &c->notes;
	size_t *n = a != NULL ? &a->nnotes : &c->nnotes;
	size_t *cap = a != NULL ? &a->capnotes : &c->capnotes;
	va_list ap;
	char *text;

	if (*n >= CONV_NOTES_MAX)
		return;
	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	for (char *p = text; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i], text) == 0) {
			free(text);
			return;
		}
	*ARRAY_ADD(*list, *n, *cap) = text;
}

const char *
conv_local_user(void)
{
	struct passwd *pw = getpwuid(getuid());

	return pw != NULL ? pw->pw_name : "root";
}

static int
hexval(char c)
{
	return OPENSSL_hexchar2int((unsigned char)c);
}

char *
conv_sha256_pin(const char *fp)
{
	char out[7 + 32 * 3];
	size_t o = 0, bytes = 0;

	memcpy(out, "sha256:", 7);
	o = 7;
	if (strncasecmp(fp, "sha256:", 7) == 0)
		fp += 7;
	while (*fp != '\0') {
		if (bytes == 32 || hexval(fp[0]) < 0 || hexval(fp[1]) < 0 ||
		    (fp[2] != ':' && fp[2] != '\0'))
			return NULL;
		if (bytes > 0)
			out[o++] = ':';
		out[o++] = (char)(fp[0] >= 'a' ? fp[0] - 32 : fp[0]);
		out[o++] = (char)(fp[1] >= 'a' ? fp[1] - 32 : fp[1]);
		bytes++;
		fp += fp[2] == ':' ? 3 : 2;
	}
	if (bytes != 32)
		return NULL;
	out[o] = '\0';
	return xstrdup(out);
}

/* Characters that make a command line mean more than words to a shell. */
#define SHELL_SPECIAL	"|&;<>()$`*?[]{}~#!\n"

/* Does the command need a shell, or can mailferry split it into words
 * and substitute %F and %T (whole words only) itself? */
static bool
needs_shell(const char *cmd)
{
	const char *why;
	char **argv;
	bool shell = false;

	for (const char *p = cmd; *p != '\0'; p++)
		if (strchr(SHELL_SPECIAL, *p) != NULL)
			return true;
	argv = command_split(cmd, &why);
	if (argv == NULL)
		return true;
	/* VAR=value before the command. */
	shell = strchr(argv[0], '=') != NULL;
	for (char **a = argv; *a != NULL; a++)
		if ((strstr(*a, "%T") != NULL || strstr(*a, "%F") != NULL) &&
		    strcmp(*a, "%T") != 0 && strcmp(*a, "%F") != 0)
			shell = true;
	command_free_argv(argv);
	return shell;
}

/* "%T" (or '%T', "%T" quoted) in a shell text becomes "$N". */
static void
append_placeholder(char **s, size_t *len, size_t *cap, const char *text)
{
	size_t tl = strlen(text);

	ARRAY_RESERVE(*s, *len, *cap, tl + 1);
	memcpy(*s + *len, text, tl + 1);
	*len += tl;
}

static char *
shell_script(const char *cmd, const char **order, size_t *norder)
{
	size_t len = 0, cap = strlen(cmd) * 2 + 16;
	char *s = xmalloc(cap), piece[2] = "";

	s[0] = '\0';
	*norder = 0;
	for (const char *p = cmd; *p != '\0'; p++) {
		bool quoted = (*p == '\'' || *p == '"') && p[1] == '%' &&
		    (p[2] == 'T' || p[2] == 'F') && p[3] == *p;
		const char *q = quoted ? p + 1 : p;
		size_t slot;

		if (q[0] != '%' || (q[1] != 'T' && q[1] != 'F')) {
			piece[0] = *p;
			append_placeholder(&s, &len, &cap, piece);
			continue;
		}
		for (slot = 0; slot < *norder; slot++)
			if (order[slot][1] == q[1])
				break;
		if (slot == *norder)
			order[(*norder)++] = q[1] == 'T' ? "%T" : "%F";
		append_placeholder(&s, &len, &cap, slot == 0 ? "\"$1\"" :
		    "\"$2\"");
		p = quoted ? p + 3 : p + 1;
	}
	return s;
}

char *
conv_mda_command(const char *cmd, bool *uses_to)
{
	const char *order[2];
	size_t norder;
	char *script, *quoted, *out;
	size_t o = 0;

	*uses_to = strstr(cmd, "%T") != NULL;
	if (!needs_shell(cmd))
		return xstrdup(cmd);
	script = shell_script(cmd, order, &norder);
	/* Into single quotes for mailferry's splitting: ' as '\''. */
	quoted = xmalloc(strlen(script) * 4 + 3);
	quoted[o++] = '\'';
	for (const char *p = script; *p != '\0'; p++) {
		if (*p == '\'') {
			memcpy(quoted + o, "'\\''", 4);
			o += 4;
		} else
			quoted[o++] = *p;
	}
	quoted[o++] = '\'';
	quoted[o] = '\0';
	out = xasprintf("/bin/sh -c %s sh%s%s%s%s", quoted,
	    norder > 0 ? " " : "", norder > 0 ? order[0] : "",
	    norder > 1 ? " " : "", norder > 1 ? order[1] : "");
	free(script);
	free(quoted);
	return out;
}

/* The whole file, bounded; NULL with e set. */
static char *
read_whole(const char *path, size_t *len, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd == -1) {
		err_sys(e, ERR_NOINPUT, "cannot read %s", path);
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONV_FILE_MAX) {
		err_set(e, ERR_DATA, "%s: not a regular file of at most %d "
		    "bytes", path, CONV_FILE_MAX);
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		err_sys(e, ERR_DATA, "reading %s", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

int
convert_main(const char *format, const char *path)
{
	struct conv c;
	struct err e;
	size_t len;
	char *text;
	int rc;

	err_clear(&e);
	if (strcmp(format, "fetchmailrc") != 0 && strcmp(format, "mpoprc")
	    != 0) {
		log_error("--convert takes fetchmailrc or mpoprc, not \"%s\"",
		    format);
		return err_exitcode(ERR_USAGE);
	}
	text = read_whole(path, &len, &e);
	if (text == NULL) {
		log_error("%s", e.msg);
		return err_exitcode(e.cls);
	}
	conv_init(&c, format, path);
	rc = strcmp(format, "fetchmailrc") == 0 ?
	    convert_fetchmailrc(&c, text, len, &e) :
	    convert_mpoprc(&c, text, len, &e);
	free(text);
	if (rc == 0)
		convert_emit(&c, stdout);
	else
		log_error("%s", e.msg);
	conv_free(&c);
	if (rc == 0 && fflush(stdout) == EOF) {
		log_error("writing the configuration: %s", strerror(errno));
		return err_exitcode(ERR_TEMP);
	}
	return err_exitcode(rc == 0 ? ERR_NONE : e.cls);
}
