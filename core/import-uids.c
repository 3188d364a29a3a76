/* Importing fetchmail's and mpop's UID lists (see import-uids.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fsutil.h"
#include "import-uids.h"
#include "lock.h"
#include "log.h"
#include "uidstore.h"
#include "xmalloc.h"

struct reader {
	FILE		*fp;
	const char	*path;
	char		 line[IMPORT_LINE_MAX + 1];
	size_t		 lineno;
};

/* The next line without its newline: 1, 0 at the end, -1 when it is
 * too long or holds a NUL (not a text file of ours). */
static int
next_line(struct reader *r, struct err *e)
{
	size_t len = 0;
	int c;

	while ((c = getc(r->fp)) != EOF && c != '\n') {
		if (c == '\0' || len == IMPORT_LINE_MAX)
			return err_set(e, ERR_DATA, "%s:%zu: %s", r->path,
			    r->lineno + 1, c == '\0' ? "a NUL byte: not a "
			    "text file" : "a line longer than 4096 bytes");
		r->line[len++] = (char)c;
	}
	if (ferror(r->fp))
		return err_sys(e, ERR_DATA, "%s", r->path);
	if (c == EOF && len == 0)
		return 0;
	r->line[len] = '\0';
	r->lineno++;
	return 1;
}

static void
note_other(struct import_stats *st, const char *user, const char *host)
{
	char pair[120];
	size_t used = strlen(st->others);

	snprintf(pair, sizeof pair, "%.50s@%.60s", user, host);
	if (strstr(st->others, pair) != NULL)
		return;
	if (used + strlen(pair) + 6 >= sizeof st->others) {
		if (strstr(st->others, ", ...") == NULL && used + 6 <
		    sizeof st->others)
			strcat(st->others, ", ...");
		return;
	}
	if (used > 0)
		strcat(st->others, ", ");
	strcat(st->others, pair);
}

static void
take(struct import_stats *st, const char *uid, import_uid_fn fn, void *arg)
{
	st->matched++;
	if (uid_valid(uid, strlen(uid)))
		fn(arg, uid);
	else
		st->unusable++;
}

/* "USER@HOST UID": split in place. */
static int
fetchids_line(struct reader *r, char **user, char **host, char **uid,
    struct err *e)
{
	char *p = r->line + strspn(r->line, " \t"), *at, *end;

	*user = p;
	p += strcspn(p, " \t");
	if (*p == '\0')
		goto bad;
	*p++ = '\0';
	*uid = p + strspn(p, " \t");
	end = *uid + strcspn(*uid, " \t");
	if (**uid == '\0' || end[strspn(end, " \t")] != '\0')
		goto bad;
	*end = '\0';
	at = strrchr(*user, '@');
	if (at == NULL || at == *user || at[1] == '\0')
		goto bad;
	*at = '\0';
	*host = at + 1;
	return 0;
bad:
	return err_set(e, ERR_DATA, "%s:%zu: not a fetchmail .fetchids line "
	    "(\"USER@HOST UID\")", r->path, r->lineno);
}

static int
parse_fetchids(struct reader *r, const char *user, const char *host,
    import_uid_fn fn, void *arg, struct import_stats *st, struct err *e)
{
	int rc;

	while ((rc = next_line(r, e)) == 1) {
		char *u = NULL, *h = NULL, *uid = NULL;

		if (r->line[strspn(r->line, " \t")] == '\0')
			continue;
		if (fetchids_line(r, &u, &h, &uid, e) == -1)
			return -1;
		if (strcasecmp(u, user) == 0 && strcasecmp(h, host) == 0)
			take(st, uid, fn, arg);
		else
			note_other(st, u, h);
	}
	return rc;
}

/* " COUNT HOST USER": the start of one account's list. */
static int
mpop_list_header(struct reader *r, long *count, char **host, char **user,
    struct err *e)
{
	char *p = r->line + 1, *end;

	errno = 0;
	if (r->line[0] != ' ' || *p < '1' || *p > '9')
		goto bad;
	*count = strtol(p, &end, 10);
	if (errno != 0 || *end != ' ' || *count > 10000000)
		goto bad;
	*host = end + 1;
	p = strchr(*host, ' ');
	if (p == NULL || p == *host)
		goto bad;
	*p = '\0';
	*user = p + 1;
	if (**user == '\0' || strchr(*user, ' ') != NULL)
		goto bad;
	return 0;
bad:
	return err_set(e, ERR_DATA, "%s:%zu: not an mpop UIDLs file (expected "
	    "\" COUNT HOST USER\" or a # comment)", r->path, r->lineno);
}

static int
parse_mpop(struct reader *r, const char *user, const char *host,
    import_uid_fn fn, void *arg, struct import_stats *st, struct err *e)
{
	long left = 0;
	bool ours = false;
	int rc;

	while ((rc = next_line(r, e)) == 1) {
		char *h = NULL, *u = NULL;

		if (r->line[0] == '#')
			continue;
		if (left > 0) {
			if (r->line[0] == ' ' || r->line[0] == '\0')
				return err_set(e, ERR_DATA, "%s:%zu: not an mpop "
				    "UIDLs file (%ld UIDs missing in a list)",
				    r->path, r->lineno, left);
			if (ours)
				take(st, r->line, fn, arg);
			left--;
			continue;
		}
		if (mpop_list_header(r, &left, &h, &u, e) == -1)
			return -1;
		ours = strcasecmp(h, host) == 0 && strcmp(u, user) == 0;
		if (!ours)
			note_other(st, u, h);
	}
	if (rc == 0 && left > 0)
		return err_set(e, ERR_DATA, "%s: not an mpop UIDLs file (it ends "
		    "%ld UIDs short of a list)", r->path, left);
	return rc;
}

int
import_parse(enum import_format fmt, FILE *fp, const char *path,
    const char *user, const char *host, import_uid_fn fn, void *arg,
    struct import_stats *st, struct err *e)
{
	struct reader *r = xcalloc(1, sizeof *r);
	int rc;

	memset(st, 0, sizeof *st);
	r->fp = fp;
	r->path = path;
	if (fmt == IMPORT_FETCHMAIL)
		rc = parse_fetchids(r, user, host, fn, arg, st, e);
	else
		rc = parse_mpop(r, user, host, fn, arg, st, e);
	st->lines = r->lineno;
	free(r);
	return rc == -1 ? -1 : 0;
}

int
import_spec(const char *spec, enum import_format *fmt, const char **file,
    struct err *e)
{
	if (strncmp(spec, "fetchmail:", 10) == 0) {
		*fmt = IMPORT_FETCHMAIL;
		*file = spec + 10;
	} else if (strncmp(spec, "mpop:", 5) == 0) {
		*fmt = IMPORT_MPOP;
		*file = spec + 5;
	} else
		return err_set(e, ERR_USAGE, "--import-uids takes fetchmail:FILE "
		    "or mpop:FILE, not \"%s\"", spec);
	if (**file == '\0')
		return err_set(e, ERR_USAGE, "--import-uids %s: no file name",
		    spec);
	return 0;
}

struct recorder {
	struct uidstore	*store;
	time_t		 now;
	size_t		 added, known;
};

static void
record(void *arg, const char *uid)
{
	struct recorder *rec = arg;

	if (uidstore_known(rec->store, uid)) {
		rec->known++;
		return;
	}
	uidstore_add(rec->store, uid, rec->now, false);
	rec->added++;
}

static int
read_file(struct account *a, enum import_format fmt, const char *file,
    struct recorder *rec, struct err *e)
{
	struct import_stats st;
	FILE *fp = fopen(file, "r");
	int rc;

	if (fp == NULL)
		return err_sys(e, ERR_NOINPUT, "cannot read %s", file);
	rc = import_parse(fmt, fp, file, a->user, a->server, record, rec, &st,
	    e);
	fclose(fp);
	if (rc == -1)
		return -1;
	if (st.matched == 0)
		return err_set(e, ERR_DATA, "%s lists no UIDs for user %s at %s "
		    "(%s%s); nothing imported", file, a->user, a->server,
		    st.others[0] != '\0' ? "it has " : "it is empty",
		    st.others);
	if (st.unusable > 0)
		log_warn("%s: %zu of the UIDs in %s are not usable as UIDs "
		    "(empty, too long or not printable ASCII); those messages "
		    "are treated as new", a->name, st.unusable, file);
	return 0;
}

int
import_uids(struct config *cfg, struct account *a, const char *spec,
    struct err *e)
{
	struct recorder rec = { .now = time(NULL) };
	enum import_format fmt;
	const char *given;
	char *file;
	int lock_fd, rc = -1;

	if (import_spec(spec, &fmt, &given, e) == -1)
		return -1;
	lock_fd = lock_account(cfg->state_dir, a->name, cfg->timeout, e);
	if (lock_fd == -1)
		return -1;
	/* "fetchmail:~/.fetchids": no shell expands a ~ after a colon. */
	file = expand_path(given);
	rec.store = uidstore_open(cfg->state_dir, a->name, false, e);
	if (rec.store == NULL)
		goto out;
	/* Records are only queued until the sync: a file found wrong
	 * halfway leaves the store as it was. */
	if (read_file(a, fmt, file, &rec, e) == -1 ||
	    uidstore_sync(rec.store, e) == -1)
		goto out;
	printf("%s: %zu UIDs imported from %s (%s format)%s", a->name,
	    rec.added, file, fmt == IMPORT_FETCHMAIL ? "fetchmail" : "mpop",
	    rec.known > 0 ? "" : "\n");
	if (rec.known > 0)
		printf(", %zu already known\n", rec.known);
	rc = 0;
out:
	if (rc == -1)
		err_prefix(e, "%s: --import-uids", a->name);
	uidstore_close(rec.store);
	unlock_account(lock_fd);
	free(file);
	return rc;
}
