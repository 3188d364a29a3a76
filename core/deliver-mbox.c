/*
 * mbox delivery, mboxrd flavour: a "From SENDER DATE" line, the message
 * with ^>*From lines quoted by one more ">", an empty line. The file is
 * locked the way mutt, procmail and MTAs lock it (a dotlock and an fcntl
 * lock).
 *
 * Messages are appended in batches: the locks are taken at a batch's
 * first message and held until it is committed, so that one fsync covers
 * the batch. Before each append, the dotlock records where the batch's
 * appends began, how long they are with this one, and where this one
 * begins (dotlock.h); a run killed before the commit leaves its lock,
 * and the next run proves the lock its own and cuts the whole batch off
 * before anyone may append. Everybody honouring dotlocks waits for that
 * (they treat a dotlock as stale only after minutes).
 *
 * A batch, and what a crash at each point leaves:
 *   take the locks; per message: note it in the dotlock, append
 *       -> the lock remains: the next run cuts the batch off; none of it
 *          was recorded, so all of it is still on the server
 *   sync: fsync the mbox
 *   (the caller journals each message's name: its place in the file and
 *   the SHA-256 of the bytes there)
 *       -> the same: recover() repairs the lock (cutting the batch off)
 *          before it looks, finds the journalled messages gone, and they
 *          are fetched again
 *   commit: release the locks, sync the directory (the dotlock's removal
 *   must not come back after a power failure)
 *   (the caller records the UIDs, then deletes them from the server)
 *       -> recover() finds each journalled message by its digest: it is
 *          delivered. One the file no longer holds there (an mbox edited
 *          or replaced meanwhile) is fetched again: a duplicate at worst.
 * Only the first note of a batch is synced: the others survive a killed
 * process; after a power failure the lock may be older than the file's
 * end, the repair then declines (with a warning), and the batch may be
 * duplicated, never lost.
 *
 * A batch of at least KICK_BYTES, once synced, leaves the page cache
 * (POSIX_FADV_DONTNEED), as a Maildir's files do (deliver-maildir.c says
 * why); a daemon's few messages stay cached for the reader.
 *
 * Where the directory allows no dotlock (a spool directory), nothing
 * would survive a crash to say what to cut: there each message is synced
 * and unlocked before the next, a batch of one.
 *
 * A plugin that crashes ends the process from a signal handler
 * (plugin-guard.c): open batches are then cut off and unlocked by it, so
 * the mbox is left as it was rather than locked until the next run.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "deliver.h"
#include "dotlock.h"
#include "fsutil.h"
#include "lock.h"
#include "log.h"
#include "mboxrd.h"
#include "plugin-guard.h"
#include "xmalloc.h"

#define WRITE_BUFFER		(256 * 1024)
/* mboxrd output is at most 6/5 of its input, plus 5. */
#define QUOTE_CHUNK		(WRITE_BUFFER / 2)
/* Appended bytes after which their writeback is started. */
#define KICK_BYTES		(4 * 1024 * 1024)
#define DIGEST_LEN		32
/* "DEV:INO:OFFSET:LENGTH:SHA256" */
#define NAME_LEN		(4 * 21 + 2 * DIGEST_LEN + 1)

struct mbox {
	struct dotlock	 dl;
	int		 timeout;
	char		*dir;		/* holding the mbox and its dotlock */
	char		*buf;		/* WRITE_BUFFER bytes */
	EVP_MD_CTX	*md;
	bool		 repaired;	/* recover() saw to a left-over lock */

	/* The batch: the mbox open and locked from its first append to
	 * its commit or rollback. */
	int		 fd;		/* -1: no batch */
	bool		 dotlocked;	/* else the fcntl lock alone */
	struct stat	 st;		/* the mbox when the batch began */
	off_t		 end;		/* where the next append goes */
	off_t		 kicked;	/* writeback started up to here */
	char		 name[NAME_LEN];
	struct mbox	*next_open;	/* the list of open batches */
};

/* Open batches with a dotlock, for the crash handler. */
static struct mbox *volatile open_batches;

/* From a signal handler: cut every open batch off and remove its lock
 * (ftruncate and unlink are async-signal-safe). */
static void
cut_open_batches(void)
{
	for (struct mbox *mb = open_batches; mb != NULL; mb = mb->next_open) {
		if (ftruncate(mb->fd, mb->st.st_size) == 0)
			unlink(mb->dl.path);
	}
}

static void
track_open(struct mbox *mb, bool open)
{
	struct mbox *volatile *p = &open_batches;

	if (open) {
		mb->next_open = open_batches;
		open_batches = mb;
		guard_set_cleanup(cut_open_batches);
		return;
	}
	while (*p != NULL && *p != mb)
		p = &(*p)->next_open;
	if (*p == mb)
		*p = mb->next_open;
}

static const char *const mbox_keys[] = { "path", "received_header",
    NULL };

static int
mbox_check(struct destination *d, struct err *e)
{
	return check_creatable(d->path, false, e);
}

static int
mbox_prepare(struct destination *d, struct err *e)
{
	struct mbox *mb;
	char *dir;
	int fd;

	if (d->state != NULL)
		return 0;
	dir = xstrdup(d->path);
	if (strrchr(dir, '/') != NULL) {
		*strrchr(dir, '/') = '\0';
		if (dir[0] == '\0')
			strcpy(dir, "/");
		else if (mkdir_p(dir, 0700, e) == -1) {
			free(dir);
			return -1;
		}
	} else
		strcpy(dir, ".");
	fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		free(dir);
		return err_sys(e, ERR_TEMP, "mbox %s", d->path);
	}
	close(fd);
	mb = xcalloc(1, sizeof *mb);
	dotlock_init(&mb->dl, d->path, d->timeout);
	mb->timeout = d->timeout;
	mb->dir = dir;
	mb->buf = xmalloc(WRITE_BUFFER);
	mb->md = EVP_MD_CTX_new();
	if (mb->md == NULL) {
		fprintf(stderr, "mailferry: out of memory\n");
		abort();
	}
	mb->fd = -1;
	d->state = mb;
	return 0;
}

struct writer {
	int		 fd;
	struct mboxrd	 q;
	char		*buf;
	size_t		 len;
	off_t		 written;
	EVP_MD_CTX	*md;
};

static int
flush_writer(struct writer *w, struct err *e)
{
	EVP_DigestUpdate(w->md, w->buf, w->len);
	if (w->len > 0 && write_full(w->fd, w->buf, w->len) == -1)
		return err_sys(e, ERR_TEMP, "writing");
	w->written += (off_t)w->len;
	w->len = 0;
	return 0;
}

static int
quote_into(void *arg, const char *data, size_t len, struct err *e)
{
	struct writer *w = arg;

	while (len > 0) {
		size_t take = len < QUOTE_CHUNK ? len : QUOTE_CHUNK;

		if (w->len + take + take / 5 + 5 > WRITE_BUFFER &&
		    flush_writer(w, e) == -1)
			return -1;
		w->len += mboxrd_run(&w->q, data, take, w->buf + w->len);
		data += take;
		len -= take;
	}
	return 0;
}

/* Counting what quote_into will write, into a scratch area. */
struct measure {
	struct mboxrd	 q;
	char		*scratch;	/* QUOTE_CHUNK * 6 / 5 + 5 bytes */
	off_t		 total;
};

static int
count_quoted(void *arg, const char *data, size_t len, struct err *e)
{
	struct measure *me = arg;

	(void)e;
	while (len > 0) {
		size_t take = len < QUOTE_CHUNK ? len : QUOTE_CHUNK;

		me->total += (off_t)mboxrd_run(&me->q, data, take, me->scratch);
		data += take;
		len -= take;
	}
	return 0;
}

/* The exact length of the append: the From line already in w->buf, the
 * trace field if any, the quoted message, its end. */
static int
append_length(struct msg *m, const char *trace, size_t trace_len,
    struct writer *w, off_t *length, struct err *e)
{
	struct measure me = { .q = MBOXRD_INIT, .scratch = w->buf + w->len };

	if (trace != NULL)
		(void)count_quoted(&me, trace, trace_len, e);
	if (msg_write(m, count_quoted, &me, e) == -1)
		return -1;
	me.total += (off_t)mboxrd_finish(&me.q, me.scratch);
	*length = (off_t)w->len + me.total;
	return 0;
}

/* The whole append, after the From line in w->buf (not synced). */
static int
append(struct msg *m, const char *trace, size_t trace_len, struct writer *w,
    struct err *e)
{
	if ((trace != NULL && quote_into(w, trace, trace_len, e) == -1) ||
	    msg_write(m, quote_into, w, e) == -1)
		return -1;
	if (w->len + 8 > WRITE_BUFFER && flush_writer(w, e) == -1)
		return -1;
	w->len += mboxrd_finish(&w->q, w->buf + w->len);
	return flush_writer(w, e);
}

/* Open and fcntl-lock the mbox; its size and identity in *st. */
static int
open_locked(struct destination *d, struct mbox *mb, struct stat *st,
    struct err *e)
{
	struct backoff b;
	int fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600);

	if (fd == -1)
		return err_sys(e, ERR_TEMP, "mbox %s", d->path);
	backoff_start(&b, mb->timeout);
	if (lock_fcntl(fd, &b) == -1) {
		if (errno == EAGAIN)
			err_set(e, ERR_TEMP, "mbox %s: locked by another "
			    "program for %d s", d->path, mb->timeout);
		else
			err_sys(e, ERR_TEMP, "mbox %s: fcntl lock", d->path);
	} else if (fstat(fd, st) == -1)
		err_sys(e, ERR_TEMP, "mbox %s", d->path);
	else
		return fd;
	close(fd);
	return -1;
}

/* Take both locks for a new batch. */
static int
begin_batch(struct destination *d, struct mbox *mb, struct err *e)
{
	int dotlocked = dotlock_take(&mb->dl, e);

	if (dotlocked == -1)
		return -1;
	mb->dotlocked = dotlocked == 0;
	mb->fd = open_locked(d, mb, &mb->st, e);
	if (mb->fd == -1) {
		dotlock_release(&mb->dl);
		return -1;
	}
	mb->end = mb->kicked = mb->st.st_size;
	if (mb->dotlocked)
		track_open(mb, true);
	return 0;
}

/* Release the locks: the fcntl one by closing, then the dotlock. */
static int
end_batch(struct destination *d, struct mbox *mb, struct err *e)
{
	int rc;

	if (mb->dotlocked)
		track_open(mb, false);
	rc = close(mb->fd);

	mb->fd = -1;
	dotlock_release(&mb->dl);
	if (rc == -1)
		return err_sys(e, ERR_TEMP, "mbox %s: cannot write", d->path);
	return 0;
}

/* The journal name of the append [end, end + length) just made. */
static void
set_name(struct mbox *mb, off_t length)
{
	unsigned char digest[DIGEST_LEN];
	char hex[2 * DIGEST_LEN + 1];
	unsigned int n = 0;

	EVP_DigestFinal_ex(mb->md, digest, &n);
	for (unsigned int i = 0; i < n && i < DIGEST_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	snprintf(mb->name, sizeof mb->name, "%ju:%ju:%jd:%jd:%s",
	    (uintmax_t)mb->st.st_dev, (uintmax_t)mb->st.st_ino,
	    (intmax_t)mb->end, (intmax_t)length, hex);
}

/* Note the append in the dotlock (synced for a batch's first), then
 * make it. */
static int
append_noted(struct mbox *mb, struct msg *m, const char *trace,
    size_t trace_len, struct writer *w, struct err *e)
{
	off_t length, start = mb->st.st_size;

	if (append_length(m, trace, trace_len, w, &length, e) == -1)
		return -1;
	if (mb->dotlocked && dotlock_note_append(&mb->dl, mb->st.st_dev,
	    mb->st.st_ino, start, mb->end + length - start, mb->end,
	    mb->end == start, e) == -1)
		return -1;
	EVP_DigestInit_ex(mb->md, EVP_sha256(), NULL);
	if (append(m, trace, trace_len, w, e) == -1)
		return -1;
	if (w->written != length)
		return err_set(e, ERR_INTERNAL, "appended %lld bytes instead of "
		    "the %lld announced in the lock", (long long)w->written,
		    (long long)length);
	set_name(mb, length);
	mb->end += length;
	return 0;
}

static int
mbox_deliver(struct destination *d, struct msg *m, const struct envelope *env,
    const char **name, struct err *e)
{
	struct mbox *mb = d->state;
	const char *sender = env->sender != NULL && env->sender[0] != '\0' ?
	    env->sender : "MAILER-DAEMON";
	struct writer w = { .q = MBOXRD_INIT, .buf = mb->buf, .md = mb->md };
	const char *trace;
	size_t trace_len;
	off_t start;

	if (mb->fd == -1 && begin_batch(d, mb, e) == -1)
		return DELIVER_DOWN;
	start = mb->end;
	w.fd = mb->fd;
	w.len = mboxrd_from_line(sender, env->received, w.buf, WRITE_BUFFER);
	trace = deliver_trace(d, env, &trace_len);
	if (append_noted(mb, m, trace, trace_len, &w, e) == -1)
		goto fail;
	if (!mb->dotlocked) {
		/* Nothing would tell what to cut after a crash. */
		if (fsync(mb->fd) == -1) {
			err_sys(e, ERR_TEMP, "syncing");
			goto fail;
		}
		if (end_batch(d, mb, e) == -1)
			goto fail;
	} else if (mb->end - mb->kicked >= KICK_BYTES) {
		/* Start writing back now, so the batch's fsync has less to
		 * wait for; a hint only. */
		(void)sync_file_range(mb->fd, mb->kicked, mb->end - mb->kicked,
		    SYNC_FILE_RANGE_WRITE);
		mb->kicked = mb->end;
	}
	*name = mb->name;
	return 0;
fail:
	/* Cut this message off, so that the batch staged before it can
	 * still be committed; if that fails, the batch goes with it. */
	err_prefix(e, "mbox %s", d->path);
	if (mb->fd != -1) {
		if (ftruncate(mb->fd, start) == -1)
			return DELIVER_SPOILED;
		mb->end = start;
	}
	return DELIVER_DOWN;
}

/* Without a dotlock each message is synced and unlocked as it is
 * appended: the caller records it at once. */
static bool
mbox_unbatched(const struct destination *d)
{
	const struct mbox *mb = d->state;

	return mb != NULL && mb->fd == -1;
}

/* The whole pages a large synced batch appended, out of the page cache;
 * the page the next append goes on stays. A hint: it cannot fail. */
static void
drop_synced(struct mbox *mb)
{
	off_t page = (off_t)sysconf(_SC_PAGESIZE);
	off_t from = mb->st.st_size, to = mb->end;

	if (to - from < KICK_BYTES || page <= 0)
		return;
	from = (from + page - 1) / page * page;
	to = to / page * page;
	(void)posix_fadvise(mb->fd, from, to - from, POSIX_FADV_DONTNEED);
}

static int
mbox_sync(struct destination *d, struct err *e)
{
	struct mbox *mb = d->state;

	if (mb->fd == -1)
		return 0;
	if (fsync(mb->fd) == -1)
		return err_sys(e, ERR_TEMP, "mbox %s: cannot sync", d->path);
	drop_synced(mb);
	return 0;
}

static int
mbox_commit(struct destination *d, struct err *e)
{
	struct mbox *mb = d->state;

	if (mb->fd == -1)
		return 0;
	if (end_batch(d, mb, e) == -1 || fsync_dir(mb->dir, e) == -1) {
		err_prefix(e, "mbox %s", d->path);
		return -1;
	}
	return 0;
}

/* Cut the batch off and unlock; a cut that fails is left to the next
 * run, which finds the dotlock and cuts. */
static void
mbox_rollback(struct destination *d)
{
	struct mbox *mb = d->state;
	struct err e;

	if (mb == NULL || mb->fd == -1)
		return;
	if (mb->end > mb->st.st_size && (ftruncate(mb->fd,
	    mb->st.st_size) == -1 || fsync(mb->fd) == -1)) {
		log_error("mbox %s: cannot cut back a failed batch to %lld "
		    "bytes: %s", d->path, (long long)mb->st.st_size,
		    strerror(errno));
		if (mb->dotlocked)
			dotlock_abandon(&mb->dl);
	}
	err_clear(&e);
	if (end_batch(d, mb, &e) == -1)
		log_error("%s", e.msg);
}

/* Does the mbox hold the append a journal name describes? */
static bool
holds(struct mbox *mb, int fd, uintmax_t dev, uintmax_t ino, off_t off,
    off_t len, const char *hex)
{
	unsigned char digest[DIGEST_LEN];
	char got[2 * DIGEST_LEN + 1];
	unsigned int n = 0;
	struct stat st;

	if (fstat(fd, &st) == -1 || (uintmax_t)st.st_dev != dev ||
	    (uintmax_t)st.st_ino != ino || st.st_size < off ||
	    st.st_size - off < len)
		return false;
	EVP_DigestInit_ex(mb->md, EVP_sha256(), NULL);
	for (off_t at = off; at < off + len;) {
		size_t want = off + len - at < WRITE_BUFFER ?
		    (size_t)(off + len - at) : WRITE_BUFFER;
		ssize_t r = pread(fd, mb->buf, want, at);

		if (r <= 0)
			return false;
		EVP_DigestUpdate(mb->md, mb->buf, (size_t)r);
		at += r;
	}
	EVP_DigestFinal_ex(mb->md, digest, &n);
	for (unsigned int i = 0; i < n && i < DIGEST_LEN; i++)
		snprintf(got + 2 * i, 3, "%02x", digest[i]);
	return strcmp(got, hex) == 0;
}

static int
mbox_recover(struct destination *d, const char *name, bool *delivered,
    struct err *e)
{
	struct mbox *mb = d->state;
	uintmax_t dev, ino;
	intmax_t off, len;
	char hex[2 * DIGEST_LEN + 1];
	int used = 0, fd, rc;

	*delivered = false;
	/* A batch a crash left uncommitted is cut off first. */
	if (!mb->repaired) {
		if ((rc = dotlock_take(&mb->dl, e)) == -1)
			return -1;
		if (rc == 0)
			dotlock_release(&mb->dl);
		mb->repaired = true;
	}
	if (sscanf(name, "%ju:%ju:%jd:%jd:%64[0-9a-f]%n", &dev, &ino, &off,
	    &len, hex, &used) != 5 || name[used] != '\0' ||
	    strlen(hex) != 2 * DIGEST_LEN || off < 0 || len <= 0)
		return 0;
	fd = open(d->path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : err_sys(e, ERR_TEMP, "mbox %s",
		    d->path);
	*delivered = holds(mb, fd, dev, ino, (off_t)off, (off_t)len, hex);
	close(fd);
	return 0;
}

static void
mbox_finish(struct destination *d)
{
	struct mbox *mb = d->state;

	if (mb == NULL)
		return;
	mbox_rollback(d);
	dotlock_free(&mb->dl);
	EVP_MD_CTX_free(mb->md);
	free(mb->buf);
	free(mb->dir);
	free(mb);
	d->state = NULL;
}

const struct dest_backend deliver_mbox = {
	.type = "mbox",
	.keys = mbox_keys,
	.batching = true,
	.check = mbox_check,
	.prepare = mbox_prepare,
	.deliver = mbox_deliver,
	.unbatched = mbox_unbatched,
	.sync = mbox_sync,
	.commit = mbox_commit,
	.rollback = mbox_rollback,
	.recover = mbox_recover,
	.finish = mbox_finish,
};
