/*
 * mpop's configuration (mpop(1), "USAGE"): one "command [argument]" a
 * line, "#" comments; `defaults` sets what the following accounts start
 * with, `account NAME [: OTHER,...]` starts an account (taking the
 * defaults, then everything the OTHER accounts set). An argument may be
 * in double quotes. Each account becomes one mailferry account
 * (convert-mpop-map.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "convert-mpop.h"
#include "xmalloc.h"

#define MP_ACCOUNTS_MAX		CONV_ACCOUNTS_MAX

struct mparser {
	struct conv	*c;
	struct mp_account defaults;
	struct mp_account *accounts;	/* defined so far */
	size_t		 naccounts, capaccounts;
	struct mp_account *cur;		/* &defaults or the last account */
	bool		 seen_section;	/* defaults or account */
};

/* Blanks trimmed; then, if it starts and ends with a double quote,
 * those two removed (mpop knows no escapes). In place. */
char *
mp_trim(char *s)
{
	char *end;

	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	if (end - s >= 2 && s[0] == '"' && end[-1] == '"') {
		end[-1] = '\0';
		s++;
	}
	return s;
}

/* "command argument": split line in place. */
static void
split_line(char *line, char **cmd, char **arg)
{
	char *p = line + strspn(line, " \t");

	*cmd = p;
	p += strcspn(p, " \t\r");
	if (*p != '\0')
		*p++ = '\0';
	*arg = mp_trim(p);
}

static struct mp_account *
find_account(struct mparser *mp, const char *name)
{
	for (size_t i = 0; i < mp->naccounts; i++)
		if (strcmp(mp->accounts[i].name, name) == 0)
			return &mp->accounts[i];
	return NULL;
}

/* "account NAME [: A, B]". */
static int
account_line(struct mparser *mp, char *arg, const char *where,
    struct err *e)
{
	char *colon = strchr(arg, ':'), *name;
	struct mp_account *a;

	if (mp->naccounts == MP_ACCOUNTS_MAX)
		return err_set(e, ERR_DATA, "%s: more than %d accounts", where,
		    MP_ACCOUNTS_MAX);
	if (colon != NULL)
		*colon++ = '\0';
	name = mp_trim(arg);
	if (*name == '\0')
		return err_set(e, ERR_DATA, "%s: \"account\" without a name",
		    where);
	a = ARRAY_ADD(mp->accounts, mp->naccounts, mp->capaccounts);
	mp_account_copy(a, &mp->defaults);
	a->name = xstrdup(name);
	a->origin = xstrdup(where);
	for (char *tok = colon != NULL ? strtok(colon, ",") : NULL;
	    tok != NULL; tok = strtok(NULL, ",")) {
		struct mp_account *from = find_account(mp, tok = mp_trim(tok));

		if (from == NULL || from == a)
			conv_note(mp->c, NULL, "%s: account %s inherits from "
			    "\"%s\", which is not defined before it", where,
			    name, tok);
		else
			mp_account_inherit(a, from);
	}
	mp->cur = a;
	return 0;
}

static int
parse_line(struct mparser *mp, const char *path, char *line, int lineno,
    struct err *e)
{
	char where[512], *cmd, *arg;

	snprintf(where, sizeof where, "%s:%d", path, lineno);
	split_line(line, &cmd, &arg);
	if (*cmd == '\0' || *cmd == '#')
		return 0;
	if (!mp->seen_section && strcmp(cmd, "defaults") != 0 &&
	    strcmp(cmd, "account") != 0)
		return err_set(e, ERR_DATA, "%s: \"%s\" before any account or "
		    "defaults: not an mpop configuration", where, cmd);
	if (strcmp(cmd, "defaults") == 0) {
		mp->cur = &mp->defaults;
		mp->seen_section = true;
		return 0;
	}
	if (strcmp(cmd, "account") == 0) {
		mp->seen_section = true;
		return account_line(mp, arg, where, e);
	}
	/* Maybe a command of a newer mpop. */
	if (mp_command(mp->c, mp->cur, cmd, arg, where) == -1)
		conv_note(mp->c, NULL, "%s: \"%s\" is not an mpop command "
		    "known here: ignored", where, cmd);
	return 0;
}

static int
parse_text(struct mparser *mp, const char *path, char *text, size_t len,
    struct err *e)
{
	int lineno = 0;

	if (memchr(text, '\0', len) != NULL)
		return err_set(e, ERR_DATA, "%s: a NUL byte: not an mpop "
		    "configuration", path);
	for (char *line = text, *next; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (parse_line(mp, path, line, ++lineno, e) == -1)
			return -1;
	}
	return 0;
}

int
convert_mpoprc(struct conv *c, const char *text, size_t len, struct err *e)
{
	struct mparser mp = { .c = c };
	char *copy = xmalloc(len + 1);
	int rc;

	memcpy(copy, text, len);
	copy[len] = '\0';
	mp_account_init(&mp.defaults);
	mp.cur = &mp.defaults;
	rc = parse_text(&mp, c->path, copy, len, e);
	for (size_t i = 0; rc == 0 && i < mp.naccounts; i++)
		rc = mp_add_account(c, &mp.accounts[i], e);
	for (size_t i = 0; i < mp.naccounts; i++)
		mp_account_free(&mp.accounts[i]);
	free(mp.accounts);
	mp_account_free(&mp.defaults);
	free(copy);
	return rc;
}
