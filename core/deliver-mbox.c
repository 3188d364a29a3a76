/*
 * mbox delivery, mboxrd flavour: a "From SENDER DATE" line, the message
 * with ^>*From lines quoted by one more ">", an empty line. The file is
 * locked the way mutt, procmail and MTAs lock it (a dotlock and an fcntl
 * lock), the append is fsync'd, and on failure the file is cut back to
 * its size before the append.
 *
 * A kill -9 in the middle of an append cannot cut the file back; but our
 * dotlock outlives us and records where the append began, so the next run
 * finds it, sees its writer is gone, cuts the partial message off, and
 * only then lets anyone append. Everybody honouring dotlocks waits for
 * that (they treat a dotlock as stale only after minutes).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "deliver.h"
#include "fsutil.h"
#include "log.h"
#include "mboxrd.h"
#include "xmalloc.h"

/* A dotlock older than this, whoever made it, is abandoned. */
#define STALE_LOCK_SECONDS	600
#define WRITE_BUFFER		(256 * 1024)
#define LOCK_MAGIC		"mailferry"

struct mbox {
	char		*lockpath;
	int		 timeout;
	char		 host[256];
	bool		 warned_dotlock;
};

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
		if (dir[0] != '\0' && mkdir_p(dir, 0700, e) == -1) {
			free(dir);
			return -1;
		}
	}
	free(dir);
	fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return err_sys(e, ERR_TEMP, "mbox %s", d->path);
	close(fd);
	mb = xcalloc(1, sizeof *mb);
	mb->lockpath = xasprintf("%s.lock", d->path);
	mb->timeout = d->timeout;
	gethostname(mb->host, sizeof mb->host - 1);
	d->state = mb;
	return 0;
}

/*
 * Our own dotlock left by a run that died: cut the mbox back to where
 * that run's append began. Returns true when the lock was ours and is
 * dealt with.
 */
static bool
repair_after_crash(struct destination *d, struct mbox *mb)
{
	char buf[512], host[256];
	long pid;
	long long offset;
	struct stat st;
	ssize_t n;
	int fd = open(mb->lockpath, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (sscanf(buf, LOCK_MAGIC " %ld %255s %lld", &pid, host,
	    &offset) != 3 || strcmp(host, mb->host) != 0 || pid <= 0 ||
	    offset < -1)
		return false;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return false;		/* its writer is alive */
	/* Offset -1: it died holding the lock, before appending. */
	if (offset >= 0 && stat(d->path, &st) == 0 && st.st_size > offset) {
		log_warn("mbox %s: a mailferry run (pid %ld) died while "
		    "appending; removing its partial message (%lld bytes)",
		    d->path, pid, (long long)(st.st_size - offset));
		if (truncate(d->path, offset) == -1)
			return false;
	}
	unlink(mb->lockpath);
	return true;
}

/* Write "mailferry PID HOST OFFSET" into path, durably. */
static int
write_record(const char *path, int flags, struct mbox *mb, long long offset)
{
	char rec[400];
	int n = snprintf(rec, sizeof rec, LOCK_MAGIC " %ld %s %lld\n",
	    (long)getpid(), mb->host, offset);
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0600);
	int rc;

	if (fd == -1)
		return -1;
	rc = write_full(fd, rec, (size_t)n) == 0 && fsync(fd) == 0 ? 0 : -1;
	close(fd);
	return rc;
}

/*
 * Take the dotlock. It is made whole, holding our pid (and offset -1:
 * nothing appended yet), in a file of our own, then linked into place, so
 * a crash never leaves an empty lock nobody can interpret.
 */
static int
dotlock(struct destination *d, struct mbox *mb, struct err *e)
{
	int64_t give_up = clock_ms() + (int64_t)mb->timeout * 1000;
	char *mine = xasprintf("%s.%ld.mailferry", mb->lockpath,
	    (long)getpid());
	struct stat st;
	int rc = 0;

	unlink(mine);
	if (write_record(mine, O_CREAT | O_EXCL, mb, -1) == -1) {
		if (errno == EACCES || errno == EROFS) {
			/* No right to create it next to the mbox (a spool
			 * directory): the fcntl lock alone protects us. */
			if (!mb->warned_dotlock)
				log_warn("mbox %s: cannot create %s (%s); "
				    "using fcntl locking only", d->path,
				    mb->lockpath, strerror(errno));
			mb->warned_dotlock = true;
			free(mine);
			return 1;
		}
		rc = err_sys(e, ERR_TEMP, "mbox %s: %s", d->path, mine);
		goto done;
	}
	while (link(mine, mb->lockpath) == -1) {
		if (errno != EEXIST) {
			rc = err_sys(e, ERR_TEMP, "mbox %s: %s", d->path,
			    mb->lockpath);
			goto done;
		}
		if (repair_after_crash(d, mb))
			continue;
		if (stat(mb->lockpath, &st) == 0 &&
		    time(NULL) - st.st_mtime > STALE_LOCK_SECONDS) {
			log_warn("mbox %s: removing stale lock %s", d->path,
			    mb->lockpath);
			unlink(mb->lockpath);
			continue;
		}
		if (clock_ms() >= give_up) {
			rc = err_set(e, ERR_TEMP, "mbox %s: locked by another "
			    "program (%s) for %d s", d->path, mb->lockpath,
			    mb->timeout);
			goto done;
		}
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
done:
	unlink(mine);
	free(mine);
	return rc;
}

/*
 * Record in our lock where the append begins: durable before the append
 * starts, or a crash could leave a partial message with no record of
 * where it began; and replaced whole (rename), never truncated, so the
 * lock is never seen empty.
 */
static int
write_lock_record(struct mbox *mb, off_t offset)
{
	char *mine = xasprintf("%s.%ld.mailferry", mb->lockpath,
	    (long)getpid());
	int rc = write_record(mine, O_CREAT | O_TRUNC, mb, (long long)offset);

	if (rc == 0 && rename(mine, mb->lockpath) == -1)
		rc = -1;
	if (rc == -1)
		unlink(mine);
	free(mine);
	return rc;
}

static int
fcntl_lock(int fd, int timeout, struct err *e, const char *path)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int64_t give_up = clock_ms() + (int64_t)timeout * 1000;

	while (fcntl(fd, F_SETLK, &fl) == -1) {
		if (errno != EACCES && errno != EAGAIN && errno != EINTR)
			return err_sys(e, ERR_TEMP, "mbox %s: fcntl lock", path);
		if (clock_ms() >= give_up)
			return err_set(e, ERR_TEMP, "mbox %s: locked by another "
			    "program for %d s", path, timeout);
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
	return 0;
}

struct writer {
	int		 fd;
	struct mboxrd	 q;
	char		*buf;
	size_t		 len;
};

static int
flush_writer(struct writer *w, struct err *e)
{
	if (w->len > 0 && write_full(w->fd, w->buf, w->len) == -1)
		return err_sys(e, ERR_TEMP, "writing");
	w->len = 0;
	return 0;
}

static int
quote_into(void *arg, const char *data, size_t len, struct err *e)
{
	struct writer *w = arg;

	while (len > 0) {
		/* mboxrd output is at most 6/5 of its input, plus 5. */
		size_t take = len < WRITE_BUFFER / 2 ? len : WRITE_BUFFER / 2;

		if (w->len + take + take / 5 + 5 > WRITE_BUFFER &&
		    flush_writer(w, e) == -1)
			return -1;
		w->len += mboxrd_run(&w->q, data, take, w->buf + w->len);
		data += take;
		len -= take;
	}
	return 0;
}

static int
mbox_deliver(struct destination *d, struct msg *m, const struct envelope *env,
    const char **name, struct err *e)
{
	struct mbox *mb = d->state;
	struct writer w = { .fd = -1, .q = MBOXRD_INIT };
	const char *sender = env->sender != NULL && env->sender[0] != '\0' ?
	    env->sender : "MAILER-DAEMON";
	int dotlocked, rc = DELIVER_DOWN;
	const char *trace;
	size_t trace_len;
	struct stat st;
	off_t start = -1;

	(void)name;
	dotlocked = dotlock(d, mb, e);
	if (dotlocked == -1)
		return DELIVER_DOWN;
	w.fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (w.fd == -1) {
		err_sys(e, ERR_TEMP, "mbox %s", d->path);
		goto unlock;
	}
	if (fcntl_lock(w.fd, mb->timeout, e, d->path) == -1 ||
	    fstat(w.fd, &st) == -1)
		goto unlock;
	start = st.st_size;
	if (dotlocked == 0 && write_lock_record(mb, start) == -1) {
		err_sys(e, ERR_TEMP, "mbox %s: %s", d->path, mb->lockpath);
		goto unlock;
	}
	w.buf = xmalloc(WRITE_BUFFER);
	w.len = mboxrd_from_line(sender, env->received, w.buf, WRITE_BUFFER);
	trace = deliver_trace(d, env, &trace_len);
	if ((trace != NULL && quote_into(&w, trace, trace_len, e) == -1) ||
	    msg_write(m, quote_into, &w, e) == -1)
		goto fail;
	if (w.len + 8 > WRITE_BUFFER && flush_writer(&w, e) == -1)
		goto fail;
	w.len += mboxrd_finish(&w.q, w.buf + w.len);
	if (flush_writer(&w, e) == -1 || fsync(w.fd) == -1) {
		if (e->cls == ERR_NONE)
			err_sys(e, ERR_TEMP, "syncing");
		goto fail;
	}
	rc = 0;
	goto unlock;
fail:
	err_prefix(e, "mbox %s", d->path);
	/* Leave the file as it was. */
	if (ftruncate(w.fd, start) == -1 || fsync(w.fd) == -1)
		log_error("mbox %s: cannot cut back a failed append to %lld "
		    "bytes: %s", d->path, (long long)start, strerror(errno));
unlock:
	free(w.buf);
	if (w.fd != -1)
		close(w.fd);		/* releases the fcntl lock */
	if (dotlocked == 0)
		unlink(mb->lockpath);
	return rc;
}

static void
mbox_finish(struct destination *d)
{
	struct mbox *mb = d->state;

	if (mb == NULL)
		return;
	free(mb->lockpath);
	free(mb);
	d->state = NULL;
}

const struct dest_backend deliver_mbox = {
	.type = "mbox",
	.keys = mbox_keys,
	.batching = false,
	.check = mbox_check,
	.prepare = mbox_prepare,
	.deliver = mbox_deliver,
	.finish = mbox_finish,
};
