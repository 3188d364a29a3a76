/*
 * mbox dotlocks (see dotlock.h for the record and when a left-over lock
 * is repaired). A lock is made whole in a file of our own, then linked
 * into place, so nobody ever sees an empty or half-written one; its
 * record is replaced by rename, never rewritten in place.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ascii.h"
#include "clock.h"
#include "dotlock.h"
#include "fsutil.h"
#include "lock.h"
#include "log.h"
#include "xmalloc.h"

#define MAGIC			"mailferry-dotlock"
#define NFIELDS_MAX		9	/* version 2; version 1 has 8 */
/* A dotlock older than this, whoever made it, is abandoned. */
#define STALE_LOCK_SECONDS	600
#define TEMP_SUFFIX		".mailferry"

enum look { LOOK_GONE, LOOK_BUSY };

/* ---- the record ------------------------------------------------------ */

/* A decimal number as we write it: no sign, no leading zero. */
static int
parse_number(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static bool
host_valid(const char *s, size_t len)
{
	return len > 0 && len <= DOTLOCK_HOST_MAX && ascii_visible(s, len);
}

/* Split "a b c\n" at single spaces into at most NFIELDS_MAX fields;
 * their number, or -1. */
static int
split_fields(const char *buf, size_t len, const char *f[], size_t flen[])
{
	size_t n = 0, start = 0;

	if (len == 0 || len > DOTLOCK_RECORD_MAX || buf[len - 1] != '\n')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n' && i != len - 1)
			return -1;
		if (buf[i] != ' ' && buf[i] != '\n')
			continue;
		if (n == NFIELDS_MAX || i == start)
			return -1;
		f[n] = buf + start;
		flen[n++] = i - start;
		start = i + 1;
	}
	return (int)n;
}

static bool
is_dash(const char *f, size_t flen)
{
	return flen == 1 && f[0] == '-';
}

/* OFFSET, LENGTH and (version 2) LAST: all numbers, with OFFSET <= LAST
 * <= OFFSET + LENGTH, or all "-". */
static int
parse_append(const char *f[], const size_t flen[], struct dotlock_record *r)
{
	uint64_t off, len, last;

	if (is_dash(f[6], flen[6]) && is_dash(f[7], flen[7]) &&
	    (r->version == 1 || is_dash(f[8], flen[8]))) {
		r->offset = r->length = r->last = -1;
		return 0;
	}
	if (parse_number(f[6], flen[6], INT64_MAX, &off) == -1 ||
	    parse_number(f[7], flen[7], INT64_MAX, &len) == -1 ||
	    off > (uint64_t)INT64_MAX - len)
		return -1;
	last = off;
	if (r->version == 2 && (parse_number(f[8], flen[8], INT64_MAX,
	    &last) == -1 || last < off || last > off + len))
		return -1;
	r->offset = (int64_t)off;
	r->length = (int64_t)len;
	r->last = (int64_t)last;
	return 0;
}

int
dotlock_parse(const char *buf, size_t len, struct dotlock_record *r)
{
	const char *f[NFIELDS_MAX];
	size_t flen[NFIELDS_MAX];
	uint64_t pid;
	int n = split_fields(buf, len, f, flen);

	if (n < 2 || flen[0] != sizeof MAGIC - 1 ||
	    memcmp(f[0], MAGIC, sizeof MAGIC - 1) != 0 || flen[1] != 1)
		return -1;
	if (f[1][0] == '1' && n == NFIELDS_MAX - 1)
		r->version = 1;
	else if (f[1][0] == '2' && n == NFIELDS_MAX)
		r->version = 2;
	else
		return -1;
	if (parse_number(f[2], flen[2], INT32_MAX, &pid) == -1 || pid == 0 ||
	    !host_valid(f[3], flen[3]) ||
	    parse_number(f[4], flen[4], UINT64_MAX, &r->dev) == -1 ||
	    parse_number(f[5], flen[5], UINT64_MAX, &r->ino) == -1 ||
	    parse_append(f, flen, r) == -1)
		return -1;
	r->pid = (long)pid;
	memcpy(r->host, f[3], flen[3]);
	r->host[flen[3]] = '\0';
	return 0;
}

/* Is the append part of a record one that can be written? */
static bool
append_valid(const struct dotlock_record *r, int version)
{
	if (r->offset < 0)
		return r->length < 0 && (version == 1 || r->last < 0);
	if (r->length < 0 || r->offset > INT64_MAX - r->length)
		return false;
	return version == 1 || (r->last >= r->offset &&
	    r->last <= r->offset + r->length);
}

size_t
dotlock_format(const struct dotlock_record *r, char *buf, size_t size)
{
	char off[24] = "-", len[24] = "-", last[26] = " -";
	int version = r->version == 1 ? 1 : 2, n;

	if (r->pid <= 0 || r->pid > INT32_MAX ||
	    !host_valid(r->host, strlen(r->host)) || !append_valid(r, version))
		return 0;
	if (r->offset >= 0) {
		snprintf(off, sizeof off, "%" PRId64, r->offset);
		snprintf(len, sizeof len, "%" PRId64, r->length);
		snprintf(last, sizeof last, " %" PRId64, r->last);
	}
	if (version == 1)
		last[0] = '\0';
	n = snprintf(buf, size, MAGIC " %d %ld %s %" PRIu64 " %" PRIu64
	    " %s %s%s\n", version, r->pid, r->host, r->dev, r->ino, off, len,
	    last);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* ---- files ----------------------------------------------------------- */

/* The record in a new file beside the lock (synced when `durable`); its
 * name, or NULL with errno set. */
static char *
write_temp(const struct dotlock *dl, const struct dotlock_record *r,
    bool durable)
{
	char rec[DOTLOCK_RECORD_MAX];
	size_t n = dotlock_format(r, rec, sizeof rec);
	char *tmp = xasprintf("%s.XXXXXX" TEMP_SUFFIX, dl->path);
	int fd = n > 0 ? mkostemps(tmp, sizeof TEMP_SUFFIX - 1, O_CLOEXEC) :
	    (errno = EINVAL, -1);
	int saved;

	if (fd != -1 && write_full(fd, rec, n) == 0 &&
	    (!durable || fsync(fd) == 0) && close(fd) == 0)
		return tmp;
	saved = errno;
	if (fd != -1) {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	errno = saved;
	return NULL;
}

/* Remove the lock, if it is still the file `st` describes. */
static int
remove_same(const char *path, const struct stat *st)
{
	struct stat now;

	if (lstat(path, &now) == -1)
		return errno == ENOENT ? 0 : -1;
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return 0;		/* replaced meanwhile: look again */
	return unlink(path) == -1 && errno != ENOENT ? -1 : 0;
}

static bool
writer_gone(long pid)
{
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/* ---- repairing after a crash ------------------------------------------ */

/* Does [offset, size) look like the start of one append of ours? It
 * begins with "From ", and no line after that begins with "From " (we
 * quote those), so no other program's message follows it. */
static bool
only_our_append(int fd, off_t offset, off_t size)
{
	static const char sep[] = "\nFrom ";
	char buf[64 * 1024];
	size_t keep = 0;
	off_t at = offset;

	while (at < size) {
		size_t want = sizeof buf - keep;
		ssize_t n = pread(fd, buf + keep, want, at);

		if (n <= 0)
			return false;
		if (at == offset && memcmp(buf, "From ", (size_t)n < 5 ?
		    (size_t)n : 5) != 0)
			return false;
		at += n;
		n += (ssize_t)keep;
		if (memmem(buf, (size_t)n, sep, sizeof sep - 1) != NULL)
			return false;
		keep = (size_t)n < sizeof sep - 2 ? (size_t)n : sizeof sep - 2;
		memmove(buf, buf + n - (ssize_t)keep, keep);
	}
	return true;
}

/* Does the file from r->offset on hold nothing but the dead run's
 * appends? Those before LAST were complete (each begins with "From ");
 * the one at LAST holds no other message's "From " line. */
static bool
only_our_appends(int fd, const struct dotlock_record *r, off_t size)
{
	char from[5];

	if (size - r->offset > r->length || size < r->last)
		return false;
	if (r->last > r->offset && (pread(fd, from, sizeof from, r->offset) !=
	    (ssize_t)sizeof from || memcmp(from, "From ", sizeof from) != 0))
		return false;
	return only_our_append(fd, r->last, size);
}

/* Cut the appends of a dead run of ours off, when the file proves to
 * hold nothing after them. */
static void
cut_partial(const struct dotlock *dl, int fd, const struct dotlock_record *r)
{
	struct stat st;

	if (fstat(fd, &st) == -1 || st.st_size <= r->offset)
		return;			/* nothing of it is left */
	if (!only_our_appends(fd, r, st.st_size)) {
		log_warn("mbox %s: a mailferry run (pid %ld) died while "
		    "appending at byte %" PRId64 ", but the file has changed "
		    "since; leaving it as it is (check its end by hand)",
		    dl->mbox, r->pid, r->offset);
		return;
	}
	log_warn("mbox %s: a mailferry run (pid %ld) died while appending; "
	    "removing what it had not finished (%lld bytes)", dl->mbox, r->pid,
	    (long long)(st.st_size - r->offset));
	if (ftruncate(fd, r->offset) == -1 || fsync(fd) == -1)
		log_error("mbox %s: cannot cut the partial message off: %s",
		    dl->mbox, strerror(errno));
}

/*
 * Our dead run's lock: under the mbox's fcntl lock (so two runs never
 * repair at once, and fcntl-only writers stay out), check the lock is
 * still that one, cut its partial message off, remove it.
 */
static enum look
repair(struct dotlock *dl, const struct dotlock_record *r,
    const struct stat *lockst, struct backoff *b)
{
	int fd = open(dl->mbox, O_RDWR | O_CLOEXEC);
	struct stat st, now;
	enum look rc = LOOK_GONE;

	if (fd == -1) {
		snprintf(dl->why, sizeof dl->why, "cannot open the mbox to "
		    "repair it: %s", strerror(errno));
		return LOOK_BUSY;
	}
	if (fstat(fd, &st) == -1 || (uint64_t)st.st_dev != r->dev ||
	    (uint64_t)st.st_ino != r->ino) {
		/* A lock for a file no longer there: nothing to cut. */
	} else if (lock_fcntl(fd, b) == -1) {
		snprintf(dl->why, sizeof dl->why, "the mbox is locked (fcntl)");
		rc = LOOK_BUSY;
	} else if (lstat(dl->path, &now) == -1 ||
	    now.st_ino != lockst->st_ino || now.st_dev != lockst->st_dev) {
		close(fd);
		return LOOK_GONE;	/* changed meanwhile: look again */
	} else if (r->offset >= 0)
		cut_partial(dl, fd, r);
	if (rc == LOOK_GONE && remove_same(dl->path, lockst) == -1) {
		snprintf(dl->why, sizeof dl->why, "cannot remove it: %s",
		    strerror(errno));
		rc = LOOK_BUSY;
	}
	close(fd);		/* releases the fcntl lock */
	return rc;
}

/* Somebody else's lock: removed (mbox untouched) once it is stale. */
static enum look
stale_or_busy(struct dotlock *dl, const struct stat *st)
{
	time_t age = time(NULL) - st->st_mtime;

	if (age <= STALE_LOCK_SECONDS)
		return LOOK_BUSY;
	if (remove_same(dl->path, st) == -1) {
		snprintf(dl->why, sizeof dl->why, "it is stale (%lld s old) but "
		    "cannot be removed: %s", (long long)age, strerror(errno));
		return LOOK_BUSY;
	}
	log_warn("mbox %s: removed stale lock %s (%lld s old)", dl->mbox,
	    dl->path, (long long)age);
	return LOOK_GONE;
}

/* The lock exists: is it a dead run of ours to repair, a stale one to
 * remove, or a live one to wait for? */
static enum look
look_at_lock(struct dotlock *dl, struct backoff *b)
{
	char buf[DOTLOCK_RECORD_MAX];
	struct dotlock_record r;
	struct stat st;
	ssize_t n = -1;
	int fd = open(dl->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);

	if (fd == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		if (lstat(dl->path, &st) == -1)
			return errno == ENOENT ? LOOK_GONE : LOOK_BUSY;
		return stale_or_busy(dl, &st);
	}
	if (S_ISREG(st.st_mode))
		n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0 || dotlock_parse(buf, (size_t)n, &r) == -1 ||
	    strcmp(r.host, dl->host) != 0 || !writer_gone(r.pid))
		return stale_or_busy(dl, &st);
	if (st.st_uid != geteuid()) {
		snprintf(dl->why, sizeof dl->why, "it names process %ld, which "
		    "is gone, but it is not ours (uid %lu): not repaired",
		    r.pid, (unsigned long)st.st_uid);
		return stale_or_busy(dl, &st);
	}
	return repair(dl, &r, &st, b);
}

/* ---- taking and releasing ----------------------------------------------- */

void
dotlock_init(struct dotlock *dl, const char *mbox, int timeout)
{
	memset(dl, 0, sizeof *dl);
	dl->mbox = xstrdup(mbox);
	dl->path = xasprintf("%s.lock", mbox);
	dl->timeout = timeout;
	if (gethostname(dl->host, sizeof dl->host - 1) == -1)
		dl->host[0] = '\0';
	for (char *p = dl->host; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			*p = '_';
	if (dl->host[0] == '\0')
		strcpy(dl->host, "localhost");
}

void
dotlock_free(struct dotlock *dl)
{
	dotlock_release(dl);
	free(dl->path);
	free(dl->mbox);
	dl->path = dl->mbox = NULL;
}

/* Our lock, made whole before it is put in place. NULL: *cannot when
 * we may not create files beside the mbox, else an error in e. */
static char *
prepare_ours(struct dotlock *dl, bool *cannot, struct err *e)
{
	struct stat st;
	struct dotlock_record r = { .version = 2, .pid = (long)getpid(),
	    .offset = -1, .length = -1, .last = -1 };
	char *mine;

	*cannot = false;
	if (stat(dl->mbox, &st) == -1) {
		err_sys(e, ERR_TEMP, "mbox %s", dl->mbox);
		return NULL;
	}
	memcpy(r.host, dl->host, sizeof r.host);
	r.dev = (uint64_t)st.st_dev;
	r.ino = (uint64_t)st.st_ino;
	mine = write_temp(dl, &r, true);
	if (mine != NULL)
		return mine;
	if (errno == EACCES || errno == EROFS || errno == EPERM) {
		/* A spool directory: the fcntl lock alone protects us. */
		if (!dl->warned)
			log_warn("mbox %s: cannot create %s (%s); using fcntl "
			    "locking only", dl->mbox, dl->path, strerror(errno));
		dl->warned = true;
		*cannot = true;
	} else
		err_sys(e, ERR_TEMP, "mbox %s: cannot create a lock beside it",
		    dl->mbox);
	return NULL;
}

int
dotlock_take(struct dotlock *dl, struct err *e)
{
	struct backoff b;
	bool cannot;
	char *mine = prepare_ours(dl, &cannot, e);
	int rc;

	if (mine == NULL)
		return cannot ? 1 : -1;
	dl->why[0] = '\0';
	backoff_start(&b, dl->timeout);
	while ((rc = link(mine, dl->path)) == -1) {
		if (errno != EEXIST) {
			err_sys(e, ERR_TEMP, "mbox %s: %s", dl->mbox, dl->path);
			break;
		}
		if (look_at_lock(dl, &b) == LOOK_GONE && clock_ms() < b.deadline)
			continue;
		if (!backoff_wait(&b)) {
			err_set(e, ERR_TEMP, "mbox %s: locked by another program "
			    "(%s) for %d s%s%s", dl->mbox, dl->path, dl->timeout,
			    dl->why[0] != '\0' ? "; " : "", dl->why);
			break;
		}
	}
	unlink(mine);
	free(mine);
	dl->held = rc == 0;
	return rc == 0 ? 0 : -1;
}

int
dotlock_note_append(struct dotlock *dl, dev_t dev, ino_t ino, off_t offset,
    off_t length, off_t last, bool durable, struct err *e)
{
	struct dotlock_record r = { .version = 2, .pid = (long)getpid(),
	    .dev = (uint64_t)dev, .ino = (uint64_t)ino,
	    .offset = (int64_t)offset, .length = (int64_t)length,
	    .last = (int64_t)last };
	char *tmp;

	memcpy(r.host, dl->host, sizeof r.host);
	tmp = write_temp(dl, &r, durable);
	if (tmp == NULL || rename(tmp, dl->path) == -1) {
		err_sys(e, ERR_TEMP, "mbox %s: %s", dl->mbox, dl->path);
		if (tmp != NULL)
			unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

void
dotlock_release(struct dotlock *dl)
{
	if (dl->held)
		unlink(dl->path);
	dl->held = false;
}

void
dotlock_abandon(struct dotlock *dl)
{
	dl->held = false;
}
