/* The syncer: which file systems get one, passes asked for in the
 * background and waited for, errors kept, a thread that takes no
 * signal. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "syncer.h"
#include "unit.h"

static int
setup(void **state)
{
	*state = unit_tmpdir();
	return 0;
}

static int
teardown(void **state)
{
	unit_rmtree(*state);
	return 0;
}

/* How many threads this process has. */
static int
threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Whether the thread count comes to n within two seconds: a joined
 * thread may still be listed for a moment while the kernel reaps it. */
static bool
threads_become(int n)
{
	for (int i = 0; i < 2000; i++) {
		if (threads() == n)
			return true;
		usleep(1000);
	}
	return false;
}

static void
test_usable_file_systems(void **state)
{
	struct syncer *s;
	bool usable;
	struct err e;

	/* The test directory is on a local disk or a tmpfs. */
	err_clear(&e);
	s = syncer_new(*state, &usable, &e);
	assert_non_null(s);
	assert_true(usable);
	syncer_free(s);
	/* /proc is no file system to sync: each file gets an fdatasync. */
	err_clear(&e);
	assert_null(syncer_new("/proc", &usable, &e));
	assert_false(usable);
	assert_int_equal(e.cls, ERR_NONE);
	/* A directory that cannot be opened is an error. */
	assert_null(syncer_new("/nonexistent/mailferry", &usable, &e));
	assert_true(usable);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, "/nonexistent/mailferry"));
}

static void
test_kick_and_wait(void **state)
{
	int before = threads();
	struct syncer *s;
	bool usable;
	struct err e;

	err_clear(&e);
	s = syncer_new(*state, &usable, &e);
	assert_non_null(s);
	/* No thread until one is needed. */
	assert_int_equal(threads(), before);
	for (int i = 0; i < 20; i++) {
		char name[32];

		snprintf(name, sizeof name, "f%d", i);
		free(unit_write(*state, name, "data\n"));
		syncer_kick(s);
		if (i % 5 == 4)
			assert_int_equal(syncer_wait(s, &e), 0);
	}
	assert_int_equal(threads(), before + 1);
	assert_int_equal(syncer_wait(s, &e), 0);
	assert_int_equal(syncer_wait(s, &e), 0);
	/* Freed with a pass asked for: it ends, the thread with it. */
	syncer_kick(s);
	syncer_free(s);
	assert_true(threads_become(before));
	/* Never used: nothing to stop. */
	s = syncer_new(*state, &usable, &e);
	assert_non_null(s);
	syncer_free(s);
}

/* Whether thread tid of this process blocks signal sig. */
static bool
blocks(const char *tid, int sig)
{
	char path[64], *status, *blk;
	unsigned long long mask;

	snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
	status = unit_slurp(path, NULL);
	assert_non_null(status);
	blk = strstr(status, "\nSigBlk:");
	assert_non_null(blk);
	mask = strtoull(blk + 8, NULL, 16);
	free(status);
	return (mask >> (sig - 1)) & 1;
}

static void
test_thread_takes_no_signal(void **state)
{
	struct syncer *s;
	struct dirent *de;
	bool usable, found = false;
	struct err e;
	char self[32];
	DIR *d;

	err_clear(&e);
	s = syncer_new(*state, &usable, &e);
	assert_non_null(s);
	syncer_kick(s);
	snprintf(self, sizeof self, "%ld", (long)getpid());
	d = opendir("/proc/self/task");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, self) == 0)
			continue;
		/* The plugin guard's alarm and faults, and the stop
		 * signals, all go to the main thread. */
		assert_true(blocks(de->d_name, SIGALRM));
		assert_true(blocks(de->d_name, SIGTERM));
		assert_true(blocks(de->d_name, SIGINT));
		found = true;
	}
	closedir(d);
	assert_true(found);
	assert_false(blocks(self, SIGALRM));
	syncer_free(s);
}

/* The descriptor the syncer opened on dir (the newest one to it). */
static int
syncer_fd(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char link[300], target[PATH_MAX];
		ssize_t n;

		snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, dir) == 0 && atoi(de->d_name) > found)
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

static void
test_errors_are_kept(void **state)
{
	struct syncer *s;
	bool usable;
	struct err e;
	int fd;

	err_clear(&e);
	s = syncer_new(*state, &usable, &e);
	assert_non_null(s);
	assert_int_equal(syncer_wait(s, &e), 0);
	/* Make its passes fail: syncfs on a closed descriptor. */
	fd = syncer_fd(*state);
	assert_true(fd > 2);
	assert_int_equal(close(fd), 0);
	syncer_kick(s);
	assert_int_equal(syncer_wait(s, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, *state));
	assert_non_null(strstr(e.msg, strerror(EBADF)));
	/* A failed pass fails every later wait: what it should have
	 * written may be lost. */
	err_clear(&e);
	assert_int_equal(syncer_wait(s, &e), -1);
	assert_non_null(strstr(e.msg, strerror(EBADF)));
	/* Nor is anything durable through it any more. */
	assert_int_equal(syncer_durable_through(s), 0);
	syncer_free(s);
}

/* A ticket is reached by the pass that covers the writes before it,
 * not by an earlier one. */
static void
test_tickets(void **state)
{
	struct syncer *s;
	uint64_t t1, t2;
	bool usable;
	struct err e;

	err_clear(&e);
	s = syncer_new(*state, &usable, &e);
	assert_non_null(s);
	assert_int_equal(syncer_durable_through(s), 0);
	t1 = syncer_ticket(s);
	assert_true(t1 > 0);
	/* Until a pass is asked for, later writes share the ticket. */
	assert_int_equal(syncer_ticket(s), t1);
	assert_int_equal(syncer_wait(s, &e), 0);
	assert_true(syncer_durable_through(s) >= t1);
	t2 = syncer_ticket(s);
	assert_true(t2 > syncer_durable_through(s));
	syncer_kick(s);
	assert_int_equal(syncer_wait(s, &e), 0);
	assert_true(syncer_durable_through(s) >= t2);
	syncer_free(s);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_usable_file_systems),
		T(test_kick_and_wait),
		T(test_thread_takes_no_signal),
		T(test_errors_are_kept),
		T(test_tickets),
	};
#undef T

	return cmocka_run_group_tests_name("syncer", tests, NULL, NULL);
}
