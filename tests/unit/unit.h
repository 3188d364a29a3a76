/*
 * Helpers shared by the unit tests: a private temporary directory that
 * is removed afterwards, files written into it, and standard error
 * captured (errors about configuration files are printed, not
 * returned). Include after <cmocka.h>.
 */
#ifndef MF_UNIT_H
#define MF_UNIT_H

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A new directory, mode 0700, under $TMPDIR or /tmp. */
static inline char *
unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (base == NULL || base[0] != '/')
		base = "/tmp";
	if (asprintf(&dir, "%s/mf-unit-XXXXXX", base) < 0)
		abort();
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		abort();
	}
	return dir;
}

static inline int
unit_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* Remove dir and everything under it, then free the name. */
static inline void
unit_rmtree(char *dir)
{
	if (dir == NULL)
		return;
	chmod(dir, 0700);
	nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/*
 * unit_tmpdir() on a file system with a page cache of its own: on tmpfs
 * the pages are the files and cannot be dropped, so there the new
 * directory is made in the current one.
 */
static inline char *
unit_disk_tmpdir(void)
{
	char *dir = unit_tmpdir(), rel[] = "mf-unit-XXXXXX";
	struct statfs sfs;

	if (statfs(dir, &sfs) == -1 || sfs.f_type != TMPFS_MAGIC)
		return dir;
	unit_rmtree(dir);
	if (mkdtemp(rel) == NULL || (dir = realpath(rel, NULL)) == NULL) {
		perror(rel);
		abort();
	}
	return dir;
}

/* How many pages of path's bytes from off (page-aligned), len long, are
 * in the page cache. */
static inline size_t
unit_resident_pages(const char *path, off_t off, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = (len + (size_t)page - 1) / (size_t)page, n = 0;
	unsigned char *vec = calloc(pages ? pages : 1, 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *map;

	if (vec == NULL || fd == -1)
		abort();
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
	if (map == MAP_FAILED || mincore(map, len, vec) == -1)
		abort();
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	munmap(map, len);
	close(fd);
	free(vec);
	return n;
}

/* Write text to dir/name (mode 0600); returns the path (free it). */
static inline char *
unit_write(const char *dir, const char *name, const char *text)
{
	char *path;
	int fd;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) !=
	    (ssize_t)strlen(text) || close(fd) == -1) {
		perror(path);
		abort();
	}
	return path;
}

/* The whole content of a file, NUL-terminated (NULL if unreadable). */
static inline char *
unit_slurp(const char *path, size_t *lenp)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (fp == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len - 1, fp);
		len += n;
	} while (n > 0);
	fclose(fp);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

/* Standard error redirected to a file until unit_capture_end(). */
struct unit_capture {
	int	 saved;
	char	*path;
};

static inline void
unit_capture_start(struct unit_capture *c, const char *dir)
{
	int fd;

	if (asprintf(&c->path, "%s/stderr.XXXXXX", dir) < 0)
		abort();
	fd = mkstemp(c->path);
	c->saved = dup(STDERR_FILENO);
	if (fd == -1 || c->saved == -1 || dup2(fd, STDERR_FILENO) == -1)
		abort();
	close(fd);
}

/* What was written to standard error since unit_capture_start (free
 * it); standard error is restored. */
static inline char *
unit_capture_end(struct unit_capture *c)
{
	char *text;

	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	text = unit_slurp(c->path, NULL);
	unlink(c->path);
	free(c->path);
	if (text == NULL)
		abort();
	return text;
}

/* Run fn(arg) in a child; true if it died of SIGABRT (the way the
 * allocation wrappers end the program). */
static inline int
unit_aborts(void (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid == -1)
		abort();
	if (pid == 0) {
		/* The child's message is expected: keep the output clean. */
		int null = open("/dev/null", O_WRONLY);

		if (null != -1)
			dup2(null, STDERR_FILENO);
		fn(arg);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) == -1)
		abort();
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

#endif
