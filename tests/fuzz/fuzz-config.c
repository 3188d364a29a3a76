/*
 * Reading a configuration: @include inlining and its line map, the
 * libconfig parse, and every check config_load makes. The input is
 * written to mailferry.conf in a private directory (the part after a
 * NUL byte, if any, to inc.conf beside it, for @include to find), after
 * a first line pointing state_dir and plugin_dir into that directory,
 * so that nothing outside it is created or loaded. Nothing may crash,
 * hang or grow without bound.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sanitizers report through this, when they are linked in. */
void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

/* libconfig 1.5 leaks the buffer of a string left open at the end of
 * the text (strbuf_append in its scanner); not ours to fix. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static char dir[64], conf[128], inc[128], header[512];
static int null_fd = -1, saved_stderr = -1;

static void
put(const char *path, const char *head, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd == -1 || write(fd, head, strlen(head)) != (ssize_t)strlen(head) ||
	    write(fd, data, size) != (ssize_t)size || close(fd) == -1)
		abort();
}

static int
remove_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void
cleanup(void)
{
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/fuzz-config-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(conf, sizeof conf, "%s/mailferry.conf", dir);
	snprintf(inc, sizeof inc, "%s/inc.conf", dir);
	snprintf(header, sizeof header, "state_dir = \"%s/state\"; "
	    "plugin_dir = \"%s/plugins\";\n", dir, dir);
	/* ~ and $HOME in the input stay in the directory too. */
	setenv("HOME", dir, 1);
	log_setup(LOG_QUIET, false);
	/* Every mistake is printed: keep that quiet, but not a crash
	 * report. */
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	saved_stderr = dup(STDERR_FILENO);
	if (null_fd == -1 || saved_stderr == -1)
		abort();
	if (__sanitizer_set_report_fd != NULL)
		__sanitizer_set_report_fd((void *)(intptr_t)saved_stderr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t main_len = nul != NULL ? (size_t)(nul - data) : size;

	if (size > 1024 * 1024)
		return 0;
	if (null_fd == -1)
		setup();
	put(conf, header, data, main_len);
	if (nul != NULL)
		put(inc, "", nul + 1, size - main_len - 1);
	else
		unlink(inc);
	dup2(null_fd, STDERR_FILENO);
	config_free(config_load(conf));
	dup2(saved_stderr, STDERR_FILENO);
	return 0;
}
