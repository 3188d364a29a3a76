/*
 * mbox delivery, mboxrd flavour: a "From SENDER DATE" line, the message
 * with ^>*From lines quoted by one more ">", an empty line. The file is
 * locked the way mutt, procmail and MTAs lock it (a dotlock and an fcntl
 * lock), the append is fsync'd, and on failure the file is cut back to
 * its size before the append.
 *
 * A kill -9 in the middle of an append cannot cut the file back; but our
 * dotlock outlives us and records where the append began and how long it
 * was to be, so the next run finds it, proves it ours, cuts the partial
 * message off, and only then lets anyone append (dotlock.c). Everybody
 * honouring dotlocks waits for that (they treat a dotlock as stale only
 * after minutes).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver.h"
#include "dotlock.h"
#include "fsutil.h"
#include "lock.h"
#include "log.h"
#include "mboxrd.h"
#include "xmalloc.h"

#define WRITE_BUFFER		(256 * 1024)
/* mboxrd output is at most 6/5 of its input, plus 5. */
#define QUOTE_CHUNK		(WRITE_BUFFER / 2)

struct mbox {
	struct dotlock	 dl;
	int		 timeout;
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
	dotlock_init(&mb->dl, d->path, d->timeout);
	mb->timeout = d->timeout;
	d->state = mb;
	return 0;
}

struct writer {
	int		 fd;
	struct mboxrd	 q;
	char		*buf;
	size_t		 len;
	off_t		 written;
};

static int
flush_writer(struct writer *w, struct err *e)
{
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

/* The whole append, after the From line in w->buf. */
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
	if (flush_writer(w, e) == -1 || fsync(w->fd) == -1) {
		if (e->cls == ERR_NONE)
			err_sys(e, ERR_TEMP, "syncing");
		return -1;
	}
	return 0;
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
	off_t length;

	(void)name;
	dotlocked = dotlock_take(&mb->dl, e);
	if (dotlocked == -1)
		return DELIVER_DOWN;
	w.fd = open_locked(d, mb, &st, e);
	if (w.fd == -1)
		goto unlock;
	w.buf = xmalloc(WRITE_BUFFER);
	w.len = mboxrd_from_line(sender, env->received, w.buf, WRITE_BUFFER);
	trace = deliver_trace(d, env, &trace_len);
	if (append_length(m, trace, trace_len, &w, &length, e) == -1)
		goto unlock;
	if (dotlocked == 0 && dotlock_note_append(&mb->dl, st.st_dev,
	    st.st_ino, st.st_size, length, e) == -1)
		goto unlock;
	if (append(m, trace, trace_len, &w, e) == -1)
		goto fail;
	if (w.written != length) {
		err_set(e, ERR_INTERNAL, "appended %lld bytes instead of the "
		    "%lld announced in the lock", (long long)w.written,
		    (long long)length);
		goto fail;
	}
	rc = 0;
	goto unlock;
fail:
	err_prefix(e, "mbox %s", d->path);
	/* Leave the file as it was. */
	if (ftruncate(w.fd, st.st_size) == -1 || fsync(w.fd) == -1)
		log_error("mbox %s: cannot cut back a failed append to %lld "
		    "bytes: %s", d->path, (long long)st.st_size,
		    strerror(errno));
unlock:
	free(w.buf);
	if (w.fd != -1)
		close(w.fd);		/* releases the fcntl lock */
	if (dotlocked == 0)
		dotlock_release(&mb->dl);
	return rc;
}

static void
mbox_finish(struct destination *d)
{
	struct mbox *mb = d->state;

	if (mb == NULL)
		return;
	dotlock_free(&mb->dl);
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
