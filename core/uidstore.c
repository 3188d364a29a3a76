#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "ascii.h"
#include "fsutil.h"
#include "strtab.h"
#include "uidstore.h"
#include "xmalloc.h"

#define STORE_MAGIC	"mailferry-uids 1"
/* The stdio buffer for reading and compacting a store. */
#define STORE_IO_BUF	(64 * 1024)

/* One recorded UID, eight bytes: its name in the string table, two
 * flags, and when it was fetched (seconds since 1970, to 2106). */
struct slot {
	uint32_t	ref;		/* (offset + 1) << 2 | flags; 0: free */
	uint32_t	fetched;
};

#define SLOT_KEEP	0x1		/* survives the next compaction */
#define SLOT_SKIPPED	0x2		/* a rule said: leave it */
#define SLOT_OFFSET(r)	((r >> 2) - 1)
/* 30 bits of offset: a gigabyte of UIDs, four million of the longest. */
#define SLOT_OFFSET_MAX	((UINT32_MAX >> 2) - 1)

/* What is known of a message not (yet) recorded as done: a "D", "F",
 * "C" or "L" line. */
struct mark {
	char		*uid;
	char		*arg;		/* D: destination, C: plugin, L: limit,
					   F: "" */
	time_t		 when;
	char		 kind;
	bool		 keep;
};

struct uidstore {
	char		*path;
	char		*dir;
	int		 fd;		/* the log, opened for appending */

	struct slot	*slots;		/* open addressing */
	size_t		 nslots, count;
	struct strtab	 names;
	size_t		 log_lines;	/* lines in the file now */
	bool		 changed;	/* compaction would change the file */

	struct uid_pending *pending;
	size_t		 npending, cappending;

	struct mark	*marks;		/* few: only after failures */
	size_t		 nmarks, capmarks;
	uint64_t	 probes;	/* slots passed by insertions */
	uint64_t	 seed;		/* of the hash, new each time */
	bool		 readonly;

	char		*queued;	/* records not yet written */
	size_t		 queued_len, queued_cap;
};

bool
uid_valid(const char *uid, size_t len)
{
	return len > 0 && len <= UID_MAX_LEN && ascii_visible(uid, len);
}

#define PRESIZE_MAX	(1u << 20)

/*
 * FNV-1a from a seed drawn for each store, then a final mix (xor-shift,
 * multiply, xor-shift) that brings FNV's well-mixed high bits down to
 * the low ones the table uses. The seed matters: compaction writes the
 * UIDs in the order of their slots, and inserting keys in the slot order
 * of the same hash makes linear probing cluster. A 10,000-UID store took
 * 1.6 million probes and 6 ms to load that way; with a new seed its
 * order means nothing, and a server cannot choose UIDs that collide.
 */
static uint64_t
hash_uid(const struct uidstore *s, const char *uid)
{
	uint64_t h = 1469598103934665603ULL ^ s->seed;

	for (; *uid != '\0'; uid++)
		h = (h ^ (unsigned char)*uid) * 1099511628211ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static const char *
slot_uid(const struct uidstore *s, const struct slot *sl)
{
	return s->names.buf + SLOT_OFFSET(sl->ref);
}

/* The slot of uid, or the free one where it goes; *probes (may be NULL)
 * counts the slots passed on the way. */
static struct slot *
slot_for(const struct uidstore *s, struct slot *slots, size_t nslots,
    const char *uid, uint64_t *probes)
{
	size_t i = (size_t)hash_uid(s, uid) & (nslots - 1);

	while (slots[i].ref != 0 && strcmp(slot_uid(s, &slots[i]), uid) != 0) {
		i = (i + 1) & (nslots - 1);
		if (probes != NULL)
			(*probes)++;
	}
	return &slots[i];
}

static void
grow_table(struct uidstore *s)
{
	size_t nslots = s->nslots ? s->nslots * 2 : 1024;
	struct slot *slots = xcalloc(nslots, sizeof *slots);

	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].ref != 0)
			*slot_for(s, slots, nslots, slot_uid(s,
			    &s->slots[i]), &s->probes) = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
}

uint64_t
uidstore_probes(const struct uidstore *s)
{
	return s->probes;
}

static struct slot *
find(const struct uidstore *s, const char *uid)
{
	struct slot *sl;

	if (s->nslots == 0)
		return NULL;
	sl = slot_for(s, s->slots, s->nslots, uid, NULL);
	return sl->ref != 0 ? sl : NULL;
}

static void
insert(struct uidstore *s, const char *uid, time_t when, bool skipped)
{
	struct slot *sl;

	/* Linear probing stays short up to 80 % full. */
	if ((s->count + 1) * 10 >= s->nslots * 8)
		grow_table(s);
	sl = slot_for(s, s->slots, s->nslots, uid, &s->probes);
	if (sl->ref == 0) {
		uint32_t off = strtab_add(&s->names, uid, strlen(uid));

		if (off >= SLOT_OFFSET_MAX) {
			fprintf(stderr, "mailferry: %s: too many UIDs\n",
			    s->path);
			abort();
		}
		sl->ref = (off + 1) << 2;
		s->count++;
	}
	sl->ref = (sl->ref & ~3u) | SLOT_KEEP | (skipped ? SLOT_SKIPPED : 0);
	sl->fetched = when < 0 ? 0 : when > (time_t)UINT32_MAX ? UINT32_MAX :
	    (uint32_t)when;
}

bool
uidstore_recall(struct uidstore *s, const char *uid, time_t *fetched,
    bool *skipped)
{
	struct slot *sl = find(s, uid);

	if (sl == NULL)
		return false;
	sl->ref |= SLOT_KEEP;
	*fetched = (time_t)sl->fetched;
	*skipped = sl->ref & SLOT_SKIPPED;
	return true;
}

bool
uidstore_known(const struct uidstore *s, const char *uid)
{
	return find(s, uid) != NULL;
}

const char *
uidstore_find_prefix(const struct uidstore *s, const char *prefix,
    const char *but_not)
{
	size_t plen = strlen(prefix), blen = strlen(but_not);

	for (size_t i = 0; i < s->nslots; i++) {
		const char *uid;

		if (s->slots[i].ref == 0)
			continue;
		uid = slot_uid(s, &s->slots[i]);
		if (strncmp(uid, prefix, plen) == 0 &&
		    strncmp(uid, but_not, blen) != 0)
			return uid;
	}
	return NULL;
}

void
uidstore_forget(struct uidstore *s, const char *uid)
{
	struct slot *sl = find(s, uid);

	if (sl != NULL)
		sl->ref &= ~(uint32_t)SLOT_KEEP;
}

static void
pending_add(struct uidstore *s, const char *uid, time_t when,
    const char *dest, const char *name)
{
	struct uid_pending *p;

	p = ARRAY_ADD(s->pending, s->npending, s->cappending);
	p->uid = xstrdup(uid);
	p->when = when;
	p->dest = xstrdup(dest);
	p->name = xstrdup(name);
}

static void
pending_drop(struct uidstore *s, const char *uid)
{
	for (size_t i = 0; i < s->npending;) {
		if (strcmp(s->pending[i].uid, uid) == 0) {
			free(s->pending[i].uid);
			free(s->pending[i].dest);
			free(s->pending[i].name);
			s->pending[i] = s->pending[--s->npending];
		} else
			i++;
	}
}

size_t
uidstore_npending(const struct uidstore *s)
{
	return s->npending;
}

const struct uid_pending *
uidstore_pending(const struct uidstore *s, size_t i)
{
	return &s->pending[i];
}

/* The mark of that kind, UID and argument (NULL: any argument). */
static const struct mark *
mark_find(const struct uidstore *s, char kind, const char *uid,
    const char *arg)
{
	for (size_t i = 0; i < s->nmarks; i++)
		if (s->marks[i].kind == kind &&
		    strcmp(s->marks[i].uid, uid) == 0 &&
		    (arg == NULL || strcmp(s->marks[i].arg, arg) == 0))
			return &s->marks[i];
	return NULL;
}

static void
mark_add(struct uidstore *s, char kind, const char *uid, time_t when,
    const char *arg)
{
	if (mark_find(s, kind, uid, arg) != NULL)
		return;
	*ARRAY_ADD(s->marks, s->nmarks, s->capmarks) = (struct mark){
	    .uid = xstrdup(uid), .arg = xstrdup(arg), .when = when,
	    .kind = kind, .keep = true };
}

/* Drop the marks of UID of the kinds in `kinds`; returns how many. */
static size_t
marks_drop(struct uidstore *s, const char *uid, const char *kinds)
{
	size_t dropped = 0;

	for (size_t i = 0; i < s->nmarks;) {
		if (strcmp(s->marks[i].uid, uid) == 0 &&
		    strchr(kinds, s->marks[i].kind) != NULL) {
			free(s->marks[i].uid);
			free(s->marks[i].arg);
			s->marks[i] = s->marks[--s->nmarks];
			s->changed = true;
			dropped++;
		} else
			i++;
	}
	return dropped;
}

/* A UID now recorded as done needs no marks. */
#define ALL_MARKS	"DFCL"
/* What a release lifts. */
#define ASIDE_MARKS	"CL"

bool
uidstore_delivered_to(const struct uidstore *s, const char *uid,
    const char *dest)
{
	return mark_find(s, 'D', uid, dest) != NULL;
}

void
uidstore_keep_partials(struct uidstore *s, const char *uid)
{
	for (size_t i = 0; i < s->nmarks; i++)
		if (strcmp(s->marks[i].uid, uid) == 0)
			s->marks[i].keep = true;
}

bool
uidstore_aside(const struct uidstore *s, const char *uid, size_t i,
    struct uid_aside *out)
{
	for (size_t k = 0; k < s->nmarks; k++) {
		const struct mark *m = &s->marks[k];

		if (strchr(ASIDE_MARKS, m->kind) == NULL ||
		    strcmp(m->uid, uid) != 0 || i-- > 0)
			continue;
		*out = (struct uid_aside){ .kind = m->kind, .arg = m->arg,
		    .when = m->when };
		return true;
	}
	return false;
}

static int
parse_time(const char *s, time_t *t)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		return -1;
	*t = (time_t)v;
	return 0;
}

/* One log line, without its newline. */
static int
load_line(struct uidstore *s, char *line)
{
	char *field[5], *save = NULL;
	int n = 0;
	time_t when, limit;

	for (char *tok = strtok_r(line, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if (n == 5)
			return -1;
		field[n++] = tok;
	}
	if (n < 3 || strlen(field[0]) != 1 ||
	    !uid_valid(field[1], strlen(field[1])) ||
	    parse_time(field[2], &when) == -1)
		return -1;
	switch (field[0][0]) {
	case '+':
	case 'S':
		if (n != 3)
			return -1;
		pending_drop(s, field[1]);
		marks_drop(s, field[1], ALL_MARKS);
		insert(s, field[1], when, field[0][0] == 'S');
		return 0;
	case 'D':
	case 'C':
		if (n != 4)
			return -1;
		mark_add(s, field[0][0], field[1], when, field[3]);
		return 0;
	case 'L':
		if (n != 4 || parse_time(field[3], &limit) == -1)
			return -1;
		mark_add(s, 'L', field[1], when, field[3]);
		return 0;
	case 'F':
		if (n != 3)
			return -1;
		mark_add(s, 'F', field[1], when, "");
		return 0;
	case 'R':
		if (n != 3)
			return -1;
		marks_drop(s, field[1], ASIDE_MARKS);
		return 0;
	case 'P':
		if (n != 5)
			return -1;
		pending_add(s, field[1], when, field[3], field[4]);
		return 0;
	}
	return -1;
}

static int
load(struct uidstore *s, FILE *fp, struct err *e)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	size_t lineno = 0;
	int rc = 0;

	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (line[len - 1] != '\n')
			break;		/* torn by a crash: never acknowledged */
		line[len - 1] = '\0';
		if (lineno == 1) {
			if (strcmp(line, STORE_MAGIC) != 0) {
				rc = err_set(e, ERR_TEMP, "%s: not a mailferry "
				    "UID store", s->path);
				break;
			}
			continue;
		}
		if (load_line(s, line) == -1) {
			rc = err_set(e, ERR_TEMP, "%s:%zu: the UID store is "
			    "corrupt (move it away to fetch every message "
			    "again)", s->path, lineno);
			break;
		}
	}
	if (rc == 0 && ferror(fp))
		rc = err_sys(e, ERR_TEMP, "reading %s", s->path);
	free(line);
	s->log_lines = lineno;
	return rc;
}

/*
 * A crash in the middle of an append can leave a last line without its
 * newline. It was never acknowledged (the fsync did not return), so it is
 * cut off before anything is appended after it.
 */
static int
cut_torn_tail(int fd, off_t size, off_t *newsize)
{
	char buf[512];
	off_t end = size;

	*newsize = size;
	while (end > 0) {
		size_t want = end < (off_t)sizeof buf ? (size_t)end : sizeof buf;
		ssize_t n = pread(fd, buf, want, end - (off_t)want);

		if (n != (ssize_t)want)
			return -1;
		for (ssize_t i = n - 1; i >= 0; i--) {
			if (buf[i] == '\n') {
				off_t keep = end - (off_t)want + i + 1;

				if (keep == size)
					return 0;
				*newsize = keep;
				return ftruncate(fd, keep);
			}
		}
		end -= (off_t)want;
	}
	*newsize = 0;
	return ftruncate(fd, 0);
}

struct uidstore *
uidstore_open(const char *dir, const char *account, bool readonly,
    struct err *e)
{
	struct uidstore *s = xcalloc(1, sizeof *s);
	char *base = safe_file_name(account);
	FILE *fp;
	struct stat st;

	s->fd = -1;
	s->readonly = readonly;
	if (getrandom(&s->seed, sizeof s->seed, GRND_NONBLOCK) !=
	    (ssize_t)sizeof s->seed)
		s->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	s->dir = xstrdup(dir);
	s->path = xasprintf("%s/%s.uids", dir, base);
	free(base);
	grow_table(s);
	if (readonly) {
		s->fd = open(s->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (s->fd == -1 && errno == ENOENT)
			return s;
	} else if (mkdir_p(dir, 0700, e) == -1)
		goto fail;
	else
		s->fd = open(s->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (s->fd == -1) {
		if (errno == ELOOP)
			err_set(e, ERR_CONFIG, "UID store %s is a symbolic "
			    "link; refusing to follow it", s->path);
		else
			err_sys(e, ERR_TEMP, "cannot open %s", s->path);
		goto fail;
	}
	if (fstat(s->fd, &st) == -1) {
		err_sys(e, ERR_TEMP, "%s", s->path);
		goto fail;
	}
	/* Whoever can write it decides what is deleted with keep = false. */
	if (trust_own_file("UID store", s->path, &st, e) == -1)
		goto fail;
	if (!readonly && cut_torn_tail(s->fd, st.st_size, &st.st_size) == -1) {
		err_sys(e, ERR_TEMP, "%s", s->path);
		goto fail;
	}
	if (st.st_size == 0) {
		/* New: the header line is written with the first records. */
		s->changed = true;
		return s;
	}
	/* Room for about as many UIDs as the file has lines (a record is
	 * seldom shorter than 32 bytes), so that loading does not rehash;
	 * past PRESIZE_MAX slots, the table grows as it fills. */
	while ((size_t)(st.st_size / 32) * 10 >= s->nslots * 8 &&
	    s->nslots < PRESIZE_MAX)
		grow_table(s);
	fp = fdopen(dup(s->fd), "r");
	if (fp == NULL) {
		err_sys(e, ERR_TEMP, "%s", s->path);
		goto fail;
	}
	/* A store of 10,000 UIDs is some 300 KB: read it in a few calls,
	 * not stdio's default 4 KB each. */
	setvbuf(fp, NULL, _IOFBF, STORE_IO_BUF);
	if (load(s, fp, e) == -1) {
		fclose(fp);
		goto fail;
	}
	fclose(fp);
	if (s->npending > 0)
		s->changed = true;
	return s;
fail:
	uidstore_close(s);
	return NULL;
}

void
uidstore_close(struct uidstore *s)
{
	if (s == NULL)
		return;
	if (s->fd != -1)
		close(s->fd);
	strtab_free(&s->names);
	for (size_t i = 0; i < s->npending; i++) {
		free(s->pending[i].uid);
		free(s->pending[i].dest);
		free(s->pending[i].name);
	}
	free(s->pending);
	for (size_t i = 0; i < s->nmarks; i++) {
		free(s->marks[i].uid);
		free(s->marks[i].arg);
	}
	free(s->marks);
	free(s->slots);
	free(s->queued);
	free(s->path);
	free(s->dir);
	free(s);
}

static void
queue_record(struct uidstore *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
queue_record(struct uidstore *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		/* Only plain strings and numbers are formatted here. */
		fprintf(stderr, "mailferry: %s: cannot format a record\n",
		    s->path);
		abort();
	}
	ARRAY_RESERVE(s->queued, s->queued_len, s->queued_cap, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s->queued + s->queued_len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->queued_len += (size_t)n;
	s->log_lines++;
}

void
uidstore_add(struct uidstore *s, const char *uid, time_t when, bool skipped)
{
	if (s->log_lines == 0)
		queue_record(s, "%s\n", STORE_MAGIC);
	queue_record(s, "%c %s %jd\n", skipped ? 'S' : '+', uid,
	    (intmax_t)when);
	marks_drop(s, uid, ALL_MARKS);
	insert(s, uid, when, skipped);
}

void
uidstore_troublesome(struct uidstore *s, const char *uid, time_t when)
{
	if (uidstore_is_troublesome(s, uid))
		return;
	if (s->log_lines == 0)
		queue_record(s, "%s\n", STORE_MAGIC);
	queue_record(s, "F %s %jd\n", uid, (intmax_t)when);
	mark_add(s, 'F', uid, when, "");
}

bool
uidstore_is_troublesome(const struct uidstore *s, const char *uid)
{
	return mark_find(s, 'F', uid, NULL) != NULL;
}

size_t
uidstore_format_aside(char *buf, size_t size, char kind, const char *uid,
    time_t when, const char *arg)
{
	int n = snprintf(buf, size, "%c %s %jd %s\n", kind, uid,
	    (intmax_t)when, arg);

	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

void
uidstore_set_aside(struct uidstore *s, char kind, const char *uid,
    time_t when, const char *arg)
{
	char line[UID_MAX_LEN + 128];

	if (mark_find(s, kind, uid, arg) != NULL ||
	    uidstore_format_aside(line, sizeof line, kind, uid, when, arg) == 0)
		return;
	if (s->log_lines == 0)
		queue_record(s, "%s\n", STORE_MAGIC);
	queue_record(s, "%s", line);
	mark_add(s, kind, uid, when, arg);
}

size_t
uidstore_release(struct uidstore *s, const char *uid, time_t when)
{
	size_t n = marks_drop(s, uid, ASIDE_MARKS);

	if (n > 0)
		queue_record(s, "R %s %jd\n", uid, (intmax_t)when);
	return n;
}

int
uidstore_signal_fd(struct uidstore *s, struct err *e)
{
	if (s->readonly)
		return -1;
	if (s->log_lines == 0)
		queue_record(s, "%s\n", STORE_MAGIC);
	if (uidstore_sync(s, e) == -1)
		return -1;
	return s->fd;
}

void
uidstore_partial(struct uidstore *s, const char *uid, time_t when,
    const char *dest)
{
	if (s->log_lines == 0)
		queue_record(s, "%s\n", STORE_MAGIC);
	queue_record(s, "D %s %jd %s\n", uid, (intmax_t)when, dest);
	mark_add(s, 'D', uid, when, dest);
}

void
uidstore_journal(struct uidstore *s, const char *uid, time_t when,
    const char *dest, const char *name)
{
	if (s->log_lines == 0)
		queue_record(s, "%s\n", STORE_MAGIC);
	queue_record(s, "P %s %jd %s %s\n", uid, (intmax_t)when, dest, name);
	s->changed = true;
}

int
uidstore_sync(struct uidstore *s, struct err *e)
{
	off_t before;

	if (s->queued_len == 0)
		return 0;
	before = lseek(s->fd, 0, SEEK_END);
	if (before == -1 || write_full(s->fd, s->queued, s->queued_len) == -1 ||
	    fsync(s->fd) == -1) {
		int saved = errno;

		/* A partial write must not leave a torn line for the next
		 * records to follow: cut the file back. */
		if (before != -1 && ftruncate(s->fd, before) == -1) {
			/* Nothing better to do: the error below stops the
			 * run, and a torn last line is cut off on reading. */
		}
		errno = saved;
		s->queued_len = 0;
		return err_sys(e, ERR_TEMP, "cannot record UIDs in %s",
		    s->path);
	}
	s->queued_len = 0;
	return 0;
}

void
uidstore_unkeep_all(struct uidstore *s)
{
	for (size_t i = 0; i < s->nslots; i++)
		s->slots[i].ref &= ~(uint32_t)SLOT_KEEP;
	for (size_t i = 0; i < s->nmarks; i++)
		s->marks[i].keep = false;
}

/*
 * A file of our own to write the compacted store into: a leftover of a
 * crashed run is removed, never written through (it could be a link to
 * anything).
 */
static int
create_new(const char *tmp, struct err *e)
{
	int fd;

	if (unlink(tmp) == -1 && errno != ENOENT)
		return err_sys(e, ERR_TEMP, "cannot remove %s", tmp);
	fd = open(tmp, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return err_sys(e, ERR_TEMP, "cannot create %s", tmp);
	return fd;
}

/* The kept entries, into fd. */
static int
write_kept(const struct uidstore *s, int fd)
{
	FILE *fp;
	int dupfd = dup(fd);

	if (dupfd == -1 || (fp = fdopen(dupfd, "w")) == NULL) {
		if (dupfd != -1)
			close(dupfd);
		return -1;
	}
	setvbuf(fp, NULL, _IOFBF, STORE_IO_BUF);
	fprintf(fp, "%s\n", STORE_MAGIC);
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].ref & SLOT_KEEP)
			fprintf(fp, "%c %s %jd\n",
			    (s->slots[i].ref & SLOT_SKIPPED) ? 'S' : '+',
			    slot_uid(s, &s->slots[i]),
			    (intmax_t)s->slots[i].fetched);
	for (size_t i = 0; i < s->nmarks; i++) {
		const struct mark *m = &s->marks[i];

		if (m->keep)
			fprintf(fp, "%c %s %jd%s%s\n", m->kind, m->uid,
			    (intmax_t)m->when, m->arg[0] != '\0' ? " " : "",
			    m->arg);
	}
	return fclose(fp) == EOF ? -1 : 0;
}

int
uidstore_compact(struct uidstore *s, struct err *e)
{
	char *tmp;
	int fd;
	size_t kept = 0;

	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].ref & SLOT_KEEP)
			kept++;
	for (size_t i = 0; i < s->nmarks; i++)
		if (!s->marks[i].keep)
			s->changed = true;
	/* Rewrite when UIDs are to be forgotten, a crash left journal
	 * lines, or the log has grown well past its live contents. */
	if (!s->changed && kept == s->count && s->log_lines <= 2 * kept + 64)
		return 0;
	if (uidstore_sync(s, e) == -1)
		return -1;
	tmp = xasprintf("%s.new", s->path);
	fd = create_new(tmp, e);
	if (fd == -1) {
		free(tmp);
		return -1;
	}
	if (write_kept(s, fd) == -1 || fsync(fd) == -1) {
		err_sys(e, ERR_TEMP, "cannot write %s", tmp);
		goto fail;
	}
	if (rename(tmp, s->path) == -1) {
		err_sys(e, ERR_TEMP, "cannot replace %s", s->path);
		goto fail;
	}
	free(tmp);
	/* Continue appending to the new file. */
	close(s->fd);
	s->fd = fd;
	if (fsync_dir(s->dir, e) == -1)
		return -1;
	s->log_lines = kept + 1;
	s->changed = false;
	return 0;
fail:
	close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}
