/* Errors: messages kept whole or cut safely, context in front, and the
 * one mapping from classes to exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <sysexits.h>
#include <cmocka.h>

#include "err.h"

static void
test_set(void **state)
{
	struct err e;

	(void)state;
	assert_int_equal(err_set(&e, ERR_TEMP, "a%sc %d", "b", 42), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_string_equal(e.msg, "abc 42");
	err_clear(&e);
	assert_int_equal(e.cls, ERR_NONE);
	assert_string_equal(e.msg, "");
}

static void
test_sys_appends_strerror(void **state)
{
	struct err e;

	(void)state;
	errno = ENOENT;
	assert_int_equal(err_sys(&e, ERR_CONFIG, "reading %s", "x.conf"), -1);
	assert_string_equal(e.msg, "reading x.conf: No such file or directory");
	assert_int_equal(e.cls, ERR_CONFIG);
	/* errno is still the caller's to use. */
	assert_int_equal(errno, ENOENT);
}

static void
test_long_messages_cut(void **state)
{
	char big[3000];
	struct err e;

	(void)state;
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	err_set(&e, ERR_DATA, "%s", big);
	assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
	errno = EIO;
	err_sys(&e, ERR_DATA, "%s", big);
	assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
}

static void
test_prefix(void **state)
{
	char big[3000];
	struct err e;

	(void)state;
	err_set(&e, ERR_AUTH, "refused");
	err_prefix(&e, "account \"%s\"", "a");
	err_prefix(&e, "run");
	assert_string_equal(e.msg, "run: account \"a\": refused");
	assert_int_equal(e.cls, ERR_AUTH);
	/* A full message loses its end, never the context. */
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	err_set(&e, ERR_TEMP, "%s", big);
	err_prefix(&e, "ctx");
	assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
	assert_memory_equal(e.msg, "ctx: yyy", 8);
	/* A huge context still leaves a terminated message. */
	err_set(&e, ERR_TEMP, "end");
	err_prefix(&e, "%s", big);
	assert_true(strlen(e.msg) <= sizeof e.msg - 1);
	assert_int_equal(e.msg[0], 'y');
	/* An empty message. */
	err_clear(&e);
	err_prefix(&e, "where");
	assert_string_equal(e.msg, "where: ");
}

static void
test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(err_exitcode(ERR_NONE), EX_OK);
	assert_int_equal(err_exitcode(ERR_TEMP), EX_TEMPFAIL);
	assert_int_equal(err_exitcode(ERR_AUTH), EX_NOPERM);
	assert_int_equal(err_exitcode(ERR_UNAVAIL), EX_UNAVAILABLE);
	assert_int_equal(err_exitcode(ERR_CONFIG), EX_CONFIG);
	assert_int_equal(err_exitcode(ERR_USAGE), EX_USAGE);
	assert_int_equal(err_exitcode(ERR_DATA), EX_DATAERR);
	assert_int_equal(err_exitcode(ERR_NOINPUT), EX_NOINPUT);
	assert_int_equal(err_exitcode(ERR_IO), EX_IOERR);
	assert_int_equal(err_exitcode(ERR_INTERNAL), EX_SOFTWARE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_sys_appends_strerror),
		cmocka_unit_test(test_long_messages_cut),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_exit_codes),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
