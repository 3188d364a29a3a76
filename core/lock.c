#include <sys/file.h>

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

int
lock_account(const char *state_dir, const char *account, int wait,
    struct err *e)
{
	char *base = safe_file_name(account);
	char *path = xasprintf("%s/%s.lock", state_dir, base);
	int64_t give_up = clock_ms() + (int64_t)wait * 1000;
	int fd;

	free(base);
	if (mkdir_p(state_dir, 0700, e) == -1)
		goto fail;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		err_sys(e, ERR_TEMP, "cannot open lock file %s", path);
		goto fail;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			err_sys(e, ERR_TEMP, "cannot lock %s", path);
			close(fd);
			goto fail;
		}
		if (clock_ms() >= give_up) {
			err_set(e, ERR_TEMP, "account \"%s\" is being fetched by "
			    "another mailferry run (lock %s held for %d s); "
			    "try again later", account, path, wait);
			close(fd);
			goto fail;
		}
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	free(path);
	return fd;
fail:
	free(path);
	return -1;
}

void
unlock_account(int fd)
{
	if (fd != -1)
		close(fd);
}
