/*
 * dedup: drop a message already delivered within a window, across all
 * accounts (the consolidation case, where one message reaches several
 * mailboxes).
 *
 *   plugins = ( { name = "dedup"; options = { window_days = 30; }; } );
 *   rules = ( { name = "dedup"; plugin = "dedup"; }, ... );
 *
 * A message is known by its Message-ID together with its content: the
 * From, To, Cc, Date and Subject fields and the body (line ends taken
 * without CR). The trace fields that differ between two copies of one
 * message (Received, Return-Path, Delivered-To, ...) do not count, so the
 * copies match; but a message that only borrows another's Message-ID does
 * not, so nobody can get a genuine message dropped by sending a forgery
 * with its Message-ID first. Without a Message-ID, the content alone.
 *
 * A duplicate is skipped (left on the server) when the account keeps its
 * mail, and deleted from the server otherwise. A message is remembered
 * only once it is durably delivered, in STATE_DIR/dedup.db: one
 * "SHA256HEX EPOCH" line per message, appended with fsync under an flock,
 * so a crash can cost a duplicate but never a message. The file is
 * compacted (rewritten without expired lines, then renamed over) under the
 * same lock; whoever takes the lock checks it holds the file now at that
 * name, so nobody appends to a file another process has just replaced.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <mailferry/plugin.h>

#define KEY_HEX		64	/* sha256 in hex */
#define LINE_MAX_LEN	128
#define NOTED_TTL	3600	/* seconds a let-through key blocks copies */
#ifndef LOCK_WAIT_MS
#define LOCK_WAIT_MS	(30 * 1000)	/* for the file's lock */
#endif

struct entry {
	char	key[KEY_HEX + 1];
	time_t	when;
};

struct dedup {
	char		*path;
	pid_t		 pid;		/* the process that opened fd */
	struct entry	*noted;		/* keys passed this run, not yet */
	size_t		 nnoted, capnoted;	/* known delivered */
	int		 fd;
	dev_t		 dev;		/* the file fd is open on */
	ino_t		 ino;
	off_t		 offset;	/* read up to here */
	time_t		 window;	/* seconds */
	struct entry	*table;		/* open addressing */
	size_t		 nslots, count;
};

static const struct mf_host *host;

/*
 * A table of its own rather than the UID store's (core/uidstore.c): a
 * plugin sees only the plugin interface, never the program's internals,
 * and its keys are digests already, so this one needs no hash function.
 */
static uint64_t
slot_hash(const char *key)
{
	uint64_t h = 0;

	/* The key is already a uniform hash: its first 16 hex digits do. */
	for (int i = 0; i < 16; i++)
		h = h << 4 | (uint64_t)(key[i] <= '9' ? key[i] - '0' :
		    key[i] - 'a' + 10);
	return h;
}

static struct entry *
slot(struct dedup *d, const char *key)
{
	size_t i = (size_t)slot_hash(key) & (d->nslots - 1);

	while (d->table[i].key[0] != '\0' && strcmp(d->table[i].key, key) != 0)
		i = (i + 1) & (d->nslots - 1);
	return &d->table[i];
}

static int
remember(struct dedup *d, const char *key, time_t when)
{
	struct entry *e;

	if ((d->count + 1) * 10 >= d->nslots * 7) {
		size_t old = d->nslots;
		struct entry *t = d->table;

		d->nslots = old ? old * 2 : 4096;
		d->table = calloc(d->nslots, sizeof *d->table);
		if (d->table == NULL) {
			d->table = t;
			d->nslots = old;
			return -1;
		}
		d->count = 0;
		for (size_t i = 0; i < old; i++)
			if (t[i].key[0] != '\0')
				*slot(d, t[i].key) = t[i], d->count++;
		free(t);
	}
	e = slot(d, key);
	if (e->key[0] == '\0') {
		memcpy(e->key, key, KEY_HEX + 1);
		d->count++;
	}
	if (when > e->when)
		e->when = when;
	return 0;
}

static int
valid_key(const char *s)
{
	for (int i = 0; i < KEY_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return s[KEY_HEX] == ' ';
}

/* ---- the file ---------------------------------------------------------- */

/* Open the file at d->path for us: never through a planted link, and
 * only our own file that nobody else can write. */
static int
open_db(struct dedup *d)
{
	int fd = open(d->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	struct stat st;

	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	if (d->fd != -1)
		close(d->fd);
	d->fd = fd;
	d->pid = getpid();
	if (st.st_dev != d->dev || st.st_ino != d->ino) {
		d->dev = st.st_dev;
		d->ino = st.st_ino;
		d->offset = 0;		/* another file: read it all */
	}
	return 0;
}

/*
 * Our own descriptor for the file: mailferry forks a process per account
 * when fetching several at once, and a descriptor inherited from the
 * parent would share its flock with the other children.
 */
static int
own_descriptor(struct dedup *d)
{
	return d->pid == getpid() ? 0 : open_db(d);
}

static void
pause_ms(int ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000 },
	    NULL);
}

/*
 * Lock the file now at d->path (LOCK_SH or LOCK_EX), within a deadline.
 * A process compacting it renames a new file over it while holding the
 * lock of the old one: whoever gets a lock then checks it is on the file
 * still at the path, and otherwise moves to the new one.
 */
static int
lock_db(struct dedup *d, int how)
{
	int waited = 0, step = 10, moved = 0;
	struct stat now;

	if (own_descriptor(d) == -1)
		return -1;
	for (;;) {
		if (flock(d->fd, how | LOCK_NB) == 0) {
			if (stat(d->path, &now) == 0 && now.st_dev == d->dev &&
			    now.st_ino == d->ino)
				return 0;
			flock(d->fd, LOCK_UN);
			if (open_db(d) == -1)
				return -1;
			if (++moved < 100)
				continue;
		} else if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (waited >= LOCK_WAIT_MS) {
			errno = ETIMEDOUT;
			return -1;
		}
		pause_ms(step);
		waited += step;
		step = step * 2 > 500 ? 500 : step * 2;
	}
}

/* One line, without its newline: remembered if well formed. */
static int
load_line(struct dedup *d, char *line, size_t len)
{
	char *end;
	long long when;

	if (len <= KEY_HEX + 1 || !valid_key(line))
		return 0;
	line[len] = '\0';
	errno = 0;
	when = strtoll(line + KEY_HEX + 1, &end, 10);
	if (*end != '\0' || errno != 0 || when < 0 || line[KEY_HEX + 1] < '0' ||
	    line[KEY_HEX + 1] > '9')
		return 0;
	line[KEY_HEX] = '\0';
	return remember(d, line, (time_t)when);
}

/* Read lines appended since the last look (by any process); a torn last
 * line, from a crash mid-append, is ignored. Over-long lines too. */
static int
catch_up(struct dedup *d)
{
	char buf[64 * 1024], line[LINE_MAX_LEN + 1];
	size_t ll = 0;
	ssize_t n;

	while ((n = pread(d->fd, buf, sizeof buf, d->offset)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof line - 1)
					line[ll++] = buf[i];
				continue;
			}
			if (ll < LINE_MAX_LEN && load_line(d, line, ll) == -1)
				return -1;
			ll = 0;
		}
		/* Stop before a partial line; read it again next time. */
		d->offset += n - (ssize_t)ll;
		ll = 0;
		if ((size_t)n < sizeof buf)
			break;
	}
	return n < 0 ? -1 : 0;
}

/* ---- the plugin ------------------------------------------------------ */

static int
parse_options(const struct mf_host *h, const struct mf_options *options,
    long long *days, char *err, size_t errlen)
{
	for (size_t i = 0; i < h->opt_keys(options); i++)
		if (strcmp(h->opt_key(options, i), "window_days") != 0) {
			snprintf(err, errlen, "unknown option \"%s\" "
			    "(window_days)", h->opt_key(options, i));
			return -1;
		}
	if (h->opt_keys(options) > 0 &&
	    (h->opt_int(options, "window_days", days) != 0 || *days < 1 ||
	    *days > 36500)) {
		snprintf(err, errlen, "window_days must be a whole number of "
		    "days, at least 1");
		return -1;
	}
	return 0;
}

/* --check-config: the file, if there is one yet, must be one open_db()
 * accepts. Nothing is created. */
static int
check_db(const struct mf_host *h, char *err, size_t errlen)
{
	struct stat st;
	char path[4096];

	snprintf(path, sizeof path, "%s/dedup.db", h->state_dir());
	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s must be your own file, writable by "
		    "you only", path);
		return -1;
	}
	return 0;
}

static int
init(const struct mf_host *h, const struct mf_options *options, void **state,
    char *err, size_t errlen)
{
	struct dedup *d;
	long long days = 30;

	host = h;
	if (parse_options(h, options, &days, err, errlen) == -1)
		return -1;
	if (h->checking)
		return check_db(h, err, errlen);
	d = calloc(1, sizeof *d);
	if (d == NULL || asprintf(&d->path, "%s/dedup.db",
	    h->state_dir()) == -1) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->fd = -1;
	d->window = (time_t)days * 86400;
	if (open_db(d) == -1) {
		snprintf(err, errlen, "cannot open %s: %s%s", d->path,
		    strerror(errno), errno == EPERM ? " (it must be your own "
		    "file, writable by you only)" : "");
		free(d->path);
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static void
hex(const unsigned char *md, char *out)
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The body (what follows the first empty line), CRs dropped, into ctx. */
static int
digest_body(struct mf_message *m, EVP_MD_CTX *ctx)
{
	unsigned char buf[64 * 1024];
	int in_body = 0, nl = 1;
	off_t off = 0;
	ssize_t n;

	while ((n = host->read(m, buf, sizeof buf, off)) > 0) {
		size_t o = 0;

		off += n;
		for (ssize_t i = 0; i < n; i++) {
			if (!in_body) {
				in_body = buf[i] == '\n' && nl;
				if (buf[i] != '\r')
					nl = buf[i] == '\n';
				continue;
			}
			if (buf[i] != '\r')
				buf[o++] = buf[i];
		}
		if (o > 0 && EVP_DigestUpdate(ctx, buf, o) != 1)
			return -1;
	}
	return n < 0 ? -1 : 0;
}

/* The content: originator fields and body, not the trace fields. */
static int
content_digest(struct mf_message *m, unsigned char md[32])
{
	static const char *const fields[] = {
		"From", "To", "Cc", "Date", "Subject"
	};
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen;
	int rc = -1;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	for (size_t i = 0; i < 5; i++) {
		const char *v = host->header_value(m, fields[i], 0, 0);

		EVP_DigestUpdate(ctx, v != NULL ? v : "", v != NULL ?
		    strlen(v) + 1 : 1);
	}
	if (digest_body(m, ctx) == 0 && EVP_DigestFinal_ex(ctx, md,
	    &mdlen) == 1)
		rc = 0;
done:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* The key of the message: sha256 of its Message-ID (when it has one)
 * and its content digest. */
static int
message_key(struct mf_message *m, char key[KEY_HEX + 1])
{
	unsigned char content[32], md[32];
	const char *id;
	EVP_MD_CTX *ctx;
	unsigned int mdlen;
	int rc = -1;

	if (content_digest(m, content) == -1 ||
	    (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	id = host->header_value(m, "Message-ID", 0, 0);
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	if (id != NULL && strspn(id, " \t") != strlen(id)) {
		EVP_DigestUpdate(ctx, "id+content:", 11);
		EVP_DigestUpdate(ctx, id, strlen(id) + 1);
	} else
		EVP_DigestUpdate(ctx, "content:", 8);
	EVP_DigestUpdate(ctx, content, sizeof content);
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) == 1) {
		hex(md, key);
		rc = 0;
	}
done:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * A message let through earlier in this run is only remembered in the
 * file once its delivery is durable, in a batch; until then a second
 * copy in the same run must count as a duplicate too. (If the first copy
 * then fails to be delivered, it stays on the server and comes back.)
 */
static int
noted(struct dedup *d, const char *key)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < d->nnoted;) {
		/* A copy let through long ago and never delivered (deleted
		 * by a later rule, deferred) must not hold back a retry. */
		if (now - d->noted[i].when > NOTED_TTL) {
			d->noted[i] = d->noted[--d->nnoted];
			continue;
		}
		if (strcmp(d->noted[i].key, key) == 0)
			return 1;
		i++;
	}
	return 0;
}

static void
forget_noted(struct dedup *d, const char *key)
{
	for (size_t i = 0; i < d->nnoted; i++)
		if (strcmp(d->noted[i].key, key) == 0) {
			d->noted[i] = d->noted[--d->nnoted];
			return;
		}
}

static int
note(struct dedup *d, const char *key)
{
	if (d->nnoted == d->capnoted) {
		size_t cap = d->capnoted ? d->capnoted * 2 : 64;
		struct entry *n = realloc(d->noted, cap * sizeof *n);

		if (n == NULL)
			return -1;
		d->noted = n;
		d->capnoted = cap;
	}
	memcpy(d->noted[d->nnoted].key, key, KEY_HEX + 1);
	d->noted[d->nnoted++].when = time(NULL);
	return 0;
}

/* Is key known as delivered within the window? Its entry, or NULL. */
static struct entry *
delivered_before(struct dedup *d, const char *key)
{
	struct entry *e = d->nslots > 0 ? slot(d, key) : NULL;

	if (e != NULL && (e->key[0] == '\0' || time(NULL) - e->when >=
	    d->window))
		e = NULL;
	return e;
}

static enum mf_verdict
filter(void *state, struct mf_message *m, const struct mf_options *args,
    char *err, size_t errlen)
{
	struct dedup *d = state;
	char key[KEY_HEX + 1];
	struct entry *e;
	int rc;

	(void)args;
	if (message_key(m, key) == -1) {
		snprintf(err, errlen, "cannot compute the message's key");
		return MF_ERROR;
	}
	if (lock_db(d, LOCK_SH) == -1) {
		snprintf(err, errlen, "cannot lock %s: %s", d->path,
		    strerror(errno));
		return MF_ERROR;
	}
	rc = catch_up(d);
	flock(d->fd, LOCK_UN);
	if (rc == -1) {
		snprintf(err, errlen, "cannot read %s: %s", d->path,
		    strerror(errno));
		return MF_ERROR;
	}
	e = delivered_before(d, key);
	if (e != NULL || noted(d, key)) {
		if (e != NULL)
			host->log(MF_LOG_INFO, "%s: duplicate (same Message-ID "
			    "and content) of a message delivered %lld s ago; %s",
			    host->account(m), (long long)(time(NULL) - e->when),
			    host->account_keeps(m) ? "skipped" : "deleted");
		else
			host->log(MF_LOG_INFO, "%s: duplicate of a message "
			    "fetched earlier in this run; %s", host->account(m),
			    host->account_keeps(m) ? "skipped" : "deleted");
		return host->account_keeps(m) ? MF_SKIP : MF_DELETE;
	}
	if (host->set_note(m, key) != 0 || note(d, key) == -1) {
		snprintf(err, errlen, "cannot attach a note");
		return MF_ERROR;
	}
	return MF_CONTINUE;
}

static void
delivered(void *state, const char *account, const char *note)
{
	struct dedup *d = state;
	char line[LINE_MAX_LEN];
	time_t now = time(NULL);
	int n;

	(void)account;
	if (strlen(note) != KEY_HEX)
		return;
	n = snprintf(line, sizeof line, "%s %lld\n", note, (long long)now);
	if (lock_db(d, LOCK_EX) == -1) {
		host->log(MF_LOG_WARNING, "cannot lock %s: %s", d->path,
		    strerror(errno));
		return;
	}
	catch_up(d);
	if (write(d->fd, line, (size_t)n) != n || fsync(d->fd) != 0)
		host->log(MF_LOG_WARNING, "cannot record in %s: %s", d->path,
		    strerror(errno));
	else
		d->offset += n;
	flock(d->fd, LOCK_UN);
	remember(d, note, now);
	forget_noted(d, note);
}

/* Write the live entries into a new file; its descriptor, or -1. */
static int
write_live(struct dedup *d, const char *tmp, time_t now)
{
	FILE *fp;
	int fd, ok;

	/* A leftover is removed, never written through. */
	if (unlink(tmp) == -1 && errno != ENOENT)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	fp = fdopen(fd, "w");
	if (fp == NULL) {
		close(fd);
		return -1;
	}
	for (size_t i = 0; i < d->nslots; i++)
		if (d->table[i].key[0] != '\0' &&
		    now - d->table[i].when < d->window)
			fprintf(fp, "%s %lld\n", d->table[i].key,
			    (long long)d->table[i].when);
	ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0;
	return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Rewrite the file without the entries older than the window; called
 * with the lock held. */
static void
compact(struct dedup *d)
{
	time_t now = time(NULL);
	size_t live = 0;
	char *tmp;

	for (size_t i = 0; i < d->nslots; i++)
		live += d->table[i].key[0] != '\0' &&
		    now - d->table[i].when < d->window;
	if (live * 2 + 1000 > d->count)
		return;
	if (asprintf(&tmp, "%s.new", d->path) == -1)
		return;
	if (write_live(d, tmp, now) == -1 || rename(tmp, d->path) == -1) {
		host->log(MF_LOG_WARNING, "cannot compact %s: %s", d->path,
		    strerror(errno));
		unlink(tmp);
	}
	free(tmp);
}

static void
fini(void *state)
{
	struct dedup *d = state;

	if (d == NULL)
		return;		/* only checked */
	if (lock_db(d, LOCK_EX) == 0) {
		if (catch_up(d) == 0)
			compact(d);
		flock(d->fd, LOCK_UN);
	}
	if (d->fd != -1)
		close(d->fd);
	free(d->noted);
	free(d->table);
	free(d->path);
	free(d);
}

MAILFERRY_PLUGIN(
	.name = "dedup",
	.version = "1.1",
	.init = init,
	.filter = filter,
	.delivered = delivered,
	.fini = fini,
);
