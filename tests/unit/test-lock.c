/* core/lock.c: the account lock and the backoff every lock wait uses. */
#include <sys/file.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "clock.h"
#include "lock.h"
#include "xmalloc.h"

static int
setup(void **state)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/test-lock.XXXXXX", base != NULL ? base :
	    "/tmp");

	if (mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", (char *)*state);
	int rc = system(cmd);

	free(cmd);
	free(*state);
	return rc == 0 ? 0 : -1;
}

static void
test_lock_and_release(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/work.lock", dir);
	struct stat st;
	struct err e;
	int fd, again;

	err_clear(&e);
	fd = lock_account(dir, "work", 0, &e);
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A second run (another open file description) must wait, then
	 * give up naming the lock. */
	again = lock_account(dir, "work", 0, &e);
	assert_int_equal(again, -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "\"work\""));
	unlock_account(fd);
	err_clear(&e);
	again = lock_account(dir, "work", 0, &e);
	assert_true(again >= 0);
	unlock_account(again);
	free(path);
}

static void
test_lock_name_is_safe(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/%%2E.%%2Fx.lock", dir);
	struct err e;
	int fd;

	err_clear(&e);
	fd = lock_account(dir, "../x", 0, &e);
	assert_true(fd >= 0);
	assert_int_equal(access(path, F_OK), 0);
	unlock_account(fd);
	free(path);
}

static void
test_planted_link_is_refused(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/work.lock", dir);
	char *target = xasprintf("%s/precious", dir);
	struct stat st;
	struct err e;

	assert_int_equal(symlink(target, path), 0);
	err_clear(&e);
	assert_int_equal(lock_account(dir, "work", 0, &e), -1);
	assert_non_null(strstr(e.msg, path));
	/* Nothing was created through the link. */
	assert_int_equal(lstat(target, &st), -1);
	free(path);
	free(target);
}

static void
test_lock_others_can_write_is_refused(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/work.lock", dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	struct err e;

	assert_true(fd != -1);
	assert_int_equal(fchmod(fd, 0666), 0);
	close(fd);
	err_clear(&e);
	assert_int_equal(lock_account(dir, "work", 0, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "chmod go-w"));
	free(path);
}

/* Waiting a second costs a handful of wake-ups (not a busy loop) and
 * never ends early. */
static void
test_backoff(void **state)
{
	struct backoff b;
	int64_t start = clock_ms(), took;
	int tries = 0;

	(void)state;
	backoff_start(&b, 1);
	while (backoff_wait(&b))
		tries++;
	took = clock_ms() - start;
	assert_true(took >= 1000);
	assert_true(tries >= 4);
	assert_true(tries <= 12);
	/* Past the deadline it stays past. */
	assert_false(backoff_wait(&b));
	/* No time at all. */
	backoff_start(&b, 0);
	assert_false(backoff_wait(&b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lock_and_release, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lock_name_is_safe, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_planted_link_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_lock_others_can_write_is_refused, setup, teardown),
		cmocka_unit_test(test_backoff),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
