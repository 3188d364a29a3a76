#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "lock.h"
#include "xmalloc.h"

#define BACKOFF_FIRST_MS	10
#define BACKOFF_MAX_MS		500

void
backoff_start(struct backoff *b, int seconds)
{
	b->deadline = clock_ms() + (int64_t)seconds * 1000;
	b->delay_ms = BACKOFF_FIRST_MS;
}

bool
backoff_wait(struct backoff *b)
{
	int64_t left = b->deadline - clock_ms();
	int64_t ms = b->delay_ms < left ? b->delay_ms : left;

	if (left <= 0)
		return false;
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 },
	    NULL);
	if (b->delay_ms < BACKOFF_MAX_MS)
		b->delay_ms = b->delay_ms * 2 < BACKOFF_MAX_MS ?
		    b->delay_ms * 2 : BACKOFF_MAX_MS;
	return true;
}

int
lock_fcntl(int fd, struct backoff *b)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	while (fcntl(fd, F_SETLK, &fl) == -1) {
		if (errno != EACCES && errno != EAGAIN && errno != EINTR)
			return -1;
		if (!backoff_wait(b)) {
			errno = EAGAIN;
			return -1;
		}
	}
	return 0;
}

/* The lock file: ours, never a link planted to make us open another. */
static int
open_lock(const char *path, struct err *e)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;

	if (fd == -1)
		return err_sys(e, errno == ELOOP ? ERR_CONFIG : ERR_TEMP,
		    "cannot open lock file %s", path);
	if (fstat(fd, &st) == -1) {
		err_sys(e, ERR_TEMP, "%s", path);
		close(fd);
		return -1;
	}
	if (trust_own_file("lock file", path, &st, e) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
lock_account(const char *state_dir, const char *account, int wait,
    struct err *e)
{
	char *base = safe_file_name(account);
	char *path = xasprintf("%s/%s.lock", state_dir, base);
	struct backoff b;
	int fd = -1;

	free(base);
	backoff_start(&b, wait);
	if (mkdir_p(state_dir, 0700, e) == -1 ||
	    (fd = open_lock(path, e)) == -1)
		goto done;
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			err_sys(e, ERR_TEMP, "cannot lock %s", path);
		else if (!backoff_wait(&b))
			err_set(e, ERR_TEMP, "account \"%s\" is being fetched "
			    "by another mailferry run (lock %s held for %d s); "
			    "try again later", account, path, wait);
		else
			continue;
		close(fd);
		fd = -1;
		break;
	}
done:
	free(path);
	return fd;
}

void
unlock_account(int fd)
{
	if (fd != -1)
		close(fd);
}
