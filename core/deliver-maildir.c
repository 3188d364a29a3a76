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
 *
 * Each file stays open until a pass has made it durable; its pages are
 * then dropped from the page cache (POSIX_FADV_DONTNEED) and it is
 * closed. A bulk fetch thus keeps a few MB of page cache instead of the
 * whole download: it pushes no other program's data out of memory, and
 * the kernel hands the same pages back for the next files instead of
 * taking new ones (on a virtual machine, the first touch of a page is
 * expensive: writing 10,000 files of 28 KB the way a fetch does, syncfs
 * and renames included, cost 0.66 s of system time with the pages kept
 * and 0.31 s with them dropped). Batches of a few files (a daemon's
 * poll) keep theirs, for the reader that comes next.
 */
#include <sys/resource.h>
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
/*
 * Files kept open, waiting for a pass, at most, by all the Maildirs of
 * the process together: this many, and a quarter of the descriptor
 * limit, so that the rest of the program fits under the usual 1,024.
 * Past it, a file is closed once written and its pages are left to the
 * kernel.
 */
#define KEEP_OPEN_MAX	256
#define KEEP_OPEN_MIN	(SYNC_EACH_MAX + 4)

static size_t kept_open;	/* by every Maildir */

struct staged {
	char		name[NAME_MAX_LEN];
	int		fd;	/* open until known durable, or -1 */
	uint64_t	ticket;	/* the syncer pass that covers it */
};

struct maildir {
	char		*tmp, *new, *cur;
	int		 tmpfd, newfd;
	struct staged	*staged;
	size_t		 nstaged, capstaged;
	size_t		 first_open;	/* staged before it: all closed */
	size_t		 nopen;		/* of kept_open */
	size_t		 open_max;	/* of kept_open */
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

static size_t
keep_open_max(void)
{
	struct rlimit rl;
	size_t n = KEEP_OPEN_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < n)
		n = (size_t)(rl.rlim_cur / 4);
	return n < KEEP_OPEN_MIN ? KEEP_OPEN_MIN : n;
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
	md->open_max = keep_open_max();
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

/* How a staged file is closed. */
enum finish {
	FINISH_CLOSE,	/* its pages left to the kernel */
	FINISH_SYNC,	/* made durable first, by an fdatasync */
	FINISH_DROP,	/* known durable: its pages dropped first */
};

/* Close a staged file that is still open; its name stays staged. */
static int
finish_staged(struct destination *d, struct maildir *md, struct staged *st,
    enum finish how, struct err *e)
{
	int rc;

	if (st->fd == -1)
		return 0;
	if (how == FINISH_SYNC && fdatasync(st->fd) == -1) {
		err_sys(e, ERR_TEMP, "Maildir %s: cannot sync tmp/%s", d->path,
		    st->name);
		close(st->fd);
		st->fd = -1;
		md->nopen--;
		kept_open--;
		return -1;
	}
	/* Clean pages only: a hint, whose failure loses nothing. */
	if (how == FINISH_DROP)
		(void)posix_fadvise(st->fd, 0, 0, POSIX_FADV_DONTNEED);
	rc = close(st->fd);
	st->fd = -1;
	md->nopen--;
	kept_open--;
	if (rc == -1)
		return err_sys(e, ERR_TEMP, "Maildir %s: cannot write tmp/%s",
		    d->path, st->name);
	return 0;
}

/* Close, pages dropped, the staged files a finished pass made durable:
 * tickets grow along the batch, so they are the oldest open ones. */
static int
release_durable(struct destination *d, struct maildir *md, struct err *e)
{
	uint64_t durable = syncer_durable_through(md->syncer);

	for (; md->first_open < md->nstaged; md->first_open++) {
		struct staged *st = &md->staged[md->first_open];

		if (st->fd == -1)
			continue;
		if (st->ticket > durable)
			break;
		if (finish_staged(d, md, st, FINISH_DROP, e) == -1)
			return -1;
	}
	return 0;
}

/*
 * A file written: on a file system without a syncer, it is made durable
 * now. Else it stays open for the pass that will cover it (a pass starts
 * in the background each time enough has been staged), unless too many
 * are open already; and those that earlier passes covered are closed.
 */
static int
after_write(struct destination *d, struct maildir *md, struct staged *st,
    off_t bytes, struct err *e)
{
	if (md->syncer == NULL)
		return finish_staged(d, md, st, FINISH_SYNC, e);
	st->ticket = syncer_ticket(md->syncer);
	md->unkicked += bytes;
	if (md->unkicked >= KICK_BYTES) {
		syncer_kick(md->syncer);
		md->unkicked = 0;
	}
	if (release_durable(d, md, e) == -1)
		return -1;
	/* Never one of a batch's first few: they may get an fdatasync. */
	if (md->nstaged > SYNC_EACH_MAX && kept_open > md->open_max)
		return finish_staged(d, md, st, FINISH_CLOSE, e);
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
	md->nopen++;
	kept_open++;
	md->nstaged++;
	*name = st->name;
	/* A file that could not be synced or closed may be any of the
	 * batch's. */
	if (after_write(d, md, st, msg_size(m) + (off_t)trace_len, e) == -1)
		return DELIVER_SPOILED;
	return 0;
}

/* Every staged file durable, and closed. */
static int
maildir_sync(struct destination *d, struct err *e)
{
	struct maildir *md = d->state;
	enum finish how = FINISH_DROP;

	md->unkicked = 0;
	if (md->syncer != NULL && md->nstaged > SYNC_EACH_MAX) {
		if (syncer_wait(md->syncer, e) == -1) {
			err_prefix(e, "Maildir %s", d->path);
			return -1;
		}
	} else {
		/* A few files: all still open (after_write never closes
		 * them early), unless a pass already covered them. */
		how = FINISH_SYNC;
	}
	for (size_t i = md->first_open; i < md->nstaged; i++)
		if (finish_staged(d, md, &md->staged[i], how, e) == -1)
			return -1;
	md->first_open = md->nstaged;
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
			md->first_open = 0;
			return -1;
		}
	}
	md->nstaged = md->first_open = 0;
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
	kept_open -= md->nopen;
	md->nstaged = md->first_open = md->nopen = 0;
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
