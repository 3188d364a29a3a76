/*
 * Maildir delivery (https://cr.yp.to/proto/maildir.html): each message is
 * written to tmp/ under a unique name, made durable, then moved to new/.
 * Messages are staged in tmp/ and moved in batches, so that one directory
 * fsync covers many messages; the caller journals the staged names in
 * between, which lets recover() tell after a crash which ones arrived.
 *
 * A batch's files are made durable together by one syncfs of the file
 * system (syncer.c), with passes started in the background as the batch
 * grows; a batch of a few files, or a file system syncfs cannot be
 * trusted on, gets an fdatasync per file instead.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "array.h"
#include "deliver.h"
#include "fsutil.h"
#include "syncer.h"
#include "xmalloc.h"

#define NAME_MAX_LEN	200
/*
 * Up to this many files, a batch is synced file by file: a syncfs writes
 * back whatever else is dirty on the file system too, which for a file
 * or two (a daemon's poll) costs more than it saves and makes other
 * programs' writes ours to wait for.
 */
#define SYNC_EACH_MAX	4
/* Staged bytes that start a background pass of the syncer. */
#define KICK_BYTES	(4 * 1024 * 1024)

struct staged {
	char	name[NAME_MAX_LEN];
	int	fd;		/* open until synced (the first few only) */
};

struct maildir {
	char		*tmp, *new, *cur;
	int		 tmpfd, newfd;
	struct staged	*staged;
	size_t		 nstaged, capstaged;
	struct syncer	*syncer;	/* NULL: fdatasync each file */
	off_t		 unkicked;	/* staged since the last pass began */
	unsigned	 seq;
	long		 pid;
	char		 host[64];
};

static const char *const maildir_keys[] = { "path", "received_header",
    NULL };

/* The host part of a name, with "/" and ":" encoded as the spec says. */
static void
safe_hostname(char *out, size_t outsize)
{
	char host[256] = "localhost";
	size_t o = 0;

	gethostname(host, sizeof host - 1);
	for (const char *p = host; *p != '\0' && o + 5 < outsize; p++) {
		if (*p == '/')
			o += (size_t)snprintf(out + o, outsize - o, "\\057");
		else if (*p == ':')
			o += (size_t)snprintf(out + o, outsize - o, "\\072");
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

static int
open_dir(const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		err_sys(e, ERR_TEMP, "Maildir %s", path);
	return fd;
}

static void
maildir_free(struct maildir *md)
{
	if (md == NULL)
		return;
	syncer_free(md->syncer);
	if (md->tmpfd != -1)
		close(md->tmpfd);
	if (md->newfd != -1)
		close(md->newfd);
	free(md->staged);
	free(md->tmp);
	free(md->new);
	free(md->cur);
	free(md);
}

/*
 * Files a mailferry run staged in tmp/ and left there when it was killed
 * before journalling them: nothing names them anywhere, so they would
 * stay forever. Our names carry the writer's pid and host; a file of
 * this host whose writer is gone is removed. (Its message was never
 * recorded: it is still on the server.)
 */
static void
sweep_tmp(struct maildir *md)
{
	int fd = dup(md->tmpfd);
	DIR *dir = fd != -1 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (dir == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		long long sec;
		long usec, pid;
		unsigned q;
		int used = 0;

		if (sscanf(de->d_name, "%lld.M%6ldP%ldQ%u.%n", &sec, &usec,
		    &pid, &q, &used) != 4 || used == 0 ||
		    strcmp(de->d_name + used, md->host) != 0 || pid <= 0 ||
		    pid == md->pid)
			continue;
		if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
			unlinkat(md->tmpfd, de->d_name, 0);
	}
	closedir(dir);
}

static int
maildir_check(struct destination *d, struct err *e)
{
	static const char *const sub[] = { "tmp", "new", "cur" };

	if (check_creatable(d->path, true, e) == -1)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		char *p = xasprintf("%s/%s", d->path, sub[i]);
		int rc = access(d->path, F_OK) == 0 ?
		    check_creatable(p, true, e) : 0;

		free(p);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
maildir_prepare(struct destination *d, struct err *e)
{
	struct maildir *md;
	bool usable;

	if (d->state != NULL)
		return 0;
	md = xcalloc(1, sizeof *md);
	md->tmpfd = md->newfd = -1;
	md->tmp = xasprintf("%s/tmp", d->path);
	md->new = xasprintf("%s/new", d->path);
	md->cur = xasprintf("%s/cur", d->path);
	if (mkdir_p(md->tmp, 0700, e) == -1 || mkdir_p(md->new, 0700, e) == -1 ||
	    mkdir_p(md->cur, 0700, e) == -1)
		goto fail;
	if ((md->tmpfd = open_dir(md->tmp, e)) == -1 ||
	    (md->newfd = open_dir(md->new, e)) == -1)
		goto fail;
	if (access(md->tmp, W_OK) == -1 || access(md->new, W_OK) == -1) {
		err_sys(e, ERR_TEMP, "Maildir %s", d->path);
		goto fail;
	}
	md->syncer = syncer_new(md->tmp, &usable, e);
	if (md->syncer == NULL && usable)
		goto fail;
	safe_hostname(md->host, sizeof md->host);
	md->pid = (long)getpid();
	sweep_tmp(md);
	d->state = md;
	return 0;
fail:
	/* The caller names the destination. */
	maildir_free(md);
	return -1;
}

static int
write_to_fd(void *arg, const char *data, size_t len, struct err *e)
{
	if (write_full(*(int *)arg, data, len) == -1)
		return err_sys(e, ERR_TEMP, "writing");
	return 0;
}

/* Sync (optionally) and close a staged file that is still open; its
 * name stays staged. */
static int
finish_staged(struct destination *d, struct staged *st, bool sync,
    struct err *e)
{
	int rc;

	if (st->fd == -1)
		return 0;
	if (sync && fdatasync(st->fd) == -1) {
		err_sys(e, ERR_TEMP, "Maildir %s: cannot sync tmp/%s", d->path,
		    st->name);
		close(st->fd);
		st->fd = -1;
		return -1;
	}
	rc = close(st->fd);
	st->fd = -1;
	if (rc == -1)
		return err_sys(e, ERR_TEMP, "Maildir %s: cannot write tmp/%s",
		    d->path, st->name);
	return 0;
}

/*
 * A file written: on a file system without a syncer, it is made durable
 * now. Else the first few stay open, to be synced one by one if the
 * batch stays that small; past that, every file is closed (the syncer
 * covers them), and a background pass starts each time enough has been
 * staged.
 */
static int
after_write(struct destination *d, struct maildir *md, struct staged *st,
    off_t bytes, struct err *e)
{
	if (md->syncer == NULL)
		return finish_staged(d, st, true, e);
	if (md->nstaged == SYNC_EACH_MAX + 1) {
		for (size_t i = 0; i < md->nstaged; i++)
			if (finish_staged(d, &md->staged[i], false, e) == -1)
				return -1;
	} else if (md->nstaged > SYNC_EACH_MAX &&
	    finish_staged(d, st, false, e) == -1)
		return -1;
	md->unkicked += bytes;
	if (md->unkicked >= KICK_BYTES) {
		syncer_kick(md->syncer);
		md->unkicked = 0;
	}
	return 0;
}

static int
maildir_deliver(struct destination *d, struct msg *m,
    const struct envelope *env, const char **name, struct err *e)
{
	struct maildir *md = d->state;
	struct staged *st;
	struct timeval tv;
	const char *trace;
	size_t trace_len;
	int fd;

	ARRAY_RESERVE(md->staged, md->nstaged, md->capstaged, 1);
	st = &md->staged[md->nstaged];
	do {
		gettimeofday(&tv, NULL);
		snprintf(st->name, sizeof st->name, "%lld.M%06ldP%ldQ%u.%s",
		    (long long)tv.tv_sec, (long)tv.tv_usec, md->pid,
		    ++md->seq, md->host);
		fd = openat(md->tmpfd, st->name, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
	} while (fd == -1 && errno == EEXIST);
	st->fd = -1;
	if (fd == -1)
		return err_sys(e, ERR_TEMP, "Maildir %s: cannot create a file "
		    "in tmp/", d->path);
	trace = deliver_trace(d, env, &trace_len);
	if ((trace != NULL && write_to_fd(&fd, trace, trace_len, e) == -1) ||
	    msg_write(m, write_to_fd, &fd, e) == -1) {
		err_prefix(e, "Maildir %s", d->path);
		close(fd);
		unlinkat(md->tmpfd, st->name, 0);
		return DELIVER_DOWN;
	}
	st->fd = fd;
	md->nstaged++;
	*name = st->name;
	/* A file that could not be synced or closed may be any of the
	 * batch's. */
	if (after_write(d, md, st, msg_size(m) + (off_t)trace_len, e) == -1)
		return DELIVER_SPOILED;
	return 0;
}

static int
maildir_sync(struct destination *d, struct err *e)
{
	struct maildir *md = d->state;

	md->unkicked = 0;
	if (md->syncer != NULL && md->nstaged > SYNC_EACH_MAX) {
		if (syncer_wait(md->syncer, e) == -1) {
			err_prefix(e, "Maildir %s", d->path);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < md->nstaged; i++)
		if (finish_staged(d, &md->staged[i], true, e) == -1)
			return -1;
	return 0;
}

/* tmp/NAME to new/NAME, never replacing anything. */
static int
move_to_new(struct maildir *md, const char *name)
{
	if (renameat2(md->tmpfd, name, md->newfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without renameat2 flags: the spec's link+unlink. */
	if (linkat(md->tmpfd, name, md->newfd, name, 0) == -1)
		return -1;
	unlinkat(md->tmpfd, name, 0);
	return 0;
}

static int
maildir_commit(struct destination *d, struct err *e)
{
	struct maildir *md = d->state;

	if (md->nstaged == 0)
		return 0;
	for (size_t i = 0; i < md->nstaged; i++) {
		if (move_to_new(md, md->staged[i].name) == -1) {
			err_sys(e, ERR_TEMP, "Maildir %s: cannot move tmp/%s "
			    "to new/", d->path, md->staged[i].name);
			/* Those moved are delivered; the rest stay staged
			 * for rollback. */
			memmove(md->staged, md->staged + i,
			    (md->nstaged - i) * sizeof *md->staged);
			md->nstaged -= i;
			return -1;
		}
	}
	md->nstaged = 0;
	if (fsync(md->newfd) == -1)
		return err_sys(e, ERR_TEMP, "Maildir %s: cannot sync new/",
		    d->path);
	return 0;
}

static void
maildir_rollback(struct destination *d)
{
	struct maildir *md = d->state;

	if (md == NULL)
		return;
	for (size_t i = 0; i < md->nstaged; i++) {
		if (md->staged[i].fd != -1)
			close(md->staged[i].fd);
		unlinkat(md->tmpfd, md->staged[i].name, 0);
	}
	md->nstaged = 0;
	md->unkicked = 0;
}

/* Is there a cur/NAME or cur/NAME:flags? A reader may have moved it. */
static bool
in_cur(struct maildir *md, const char *name)
{
	DIR *dir = opendir(md->cur);
	struct dirent *de;
	size_t len = strlen(name);
	bool found = false;

	if (dir == NULL)
		return false;
	while (!found && (de = readdir(dir)) != NULL)
		found = strncmp(de->d_name, name, len) == 0 &&
		    (de->d_name[len] == '\0' || de->d_name[len] == ':');
	closedir(dir);
	return found;
}

static int
maildir_recover(struct destination *d, const char *name, bool *delivered,
    struct err *e)
{
	struct maildir *md = d->state;

	(void)e;
	if (strchr(name, '/') != NULL || name[0] == '.') {
		*delivered = false;
		return 0;
	}
	if (faccessat(md->newfd, name, F_OK, 0) == 0 || in_cur(md, name)) {
		*delivered = true;
		return 0;
	}
	/* Still in tmp/: the move never happened. Neither: something else
	 * removed it; fetching again risks a duplicate, never a loss. */
	unlinkat(md->tmpfd, name, 0);
	*delivered = false;
	return 0;
}

static void
maildir_finish(struct destination *d)
{
	maildir_rollback(d);
	maildir_free(d->state);
	d->state = NULL;
}

const struct dest_backend deliver_maildir = {
	.type = "maildir",
	.keys = maildir_keys,
	.batching = true,
	.check = maildir_check,
	.prepare = maildir_prepare,
	.deliver = maildir_deliver,
	.sync = maildir_sync,
	.commit = maildir_commit,
	.rollback = maildir_rollback,
	.recover = maildir_recover,
	.finish = maildir_finish,
};
