/*
 * Set-aside messages: the "C", "L" and "R" records of the UID store
 * (written, reloaded, compacted, released, ended by a delivery, written
 * raw as from a signal handler) and what setaside_check makes of them
 * for an account.
 */
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

#include "config.h"
#include "config-rules.h"
#include "setaside.h"
#include "uidstore.h"

struct fixture {
	char		 dir[64];
	char		*path;
	struct rule	 rule;
	struct account	 account;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);

	snprintf(fx->dir, sizeof fx->dir, "/tmp/mf-setaside-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	assert_true(asprintf(&fx->path, "%s/work.uids", fx->dir) > 0);
	fx->rule.name = "scan";
	fx->rule.plugin_name = "scanner";
	fx->account.name = "work";
	fx->account.rules = &fx->rule;
	fx->account.nrules = 1;
	fx->account.max_size = 1000;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->path);
	rmdir(fx->dir);
	free(fx->path);
	free(fx);
	return 0;
}

static struct uidstore *
open_store(struct fixture *fx)
{
	struct err e;
	struct uidstore *s;

	err_clear(&e);
	s = uidstore_open(fx->dir, "work", false, &e);
	if (s == NULL)
		fail_msg("%s", e.msg);
	return s;
}

static void
sync_store(struct uidstore *s)
{
	struct err e;

	err_clear(&e);
	if (uidstore_sync(s, &e) == -1)
		fail_msg("%s", e.msg);
}

static void
write_file(struct fixture *fx, const char *text)
{
	FILE *fp = fopen(fx->path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static bool
aside(struct fixture *fx, struct uidstore *s, const char *uid)
{
	char why[512];

	return setaside_check(s, &fx->account, uid, why, sizeof why);
}

static void
test_records_survive_a_reload(void **state)
{
	struct fixture *fx = *state;
	struct uidstore *s = open_store(fx);
	struct uid_aside m;
	char why[512];

	uidstore_set_aside(s, 'C', "u1", 100, "scanner");
	uidstore_set_aside(s, 'C', "u1", 101, "scanner");	/* once */
	uidstore_set_aside(s, 'L', "u2", 200, "1000");
	sync_store(s);
	uidstore_close(s);

	s = open_store(fx);
	assert_true(uidstore_aside(s, "u1", 0, &m));
	assert_int_equal(m.kind, 'C');
	assert_string_equal(m.arg, "scanner");
	assert_int_equal(m.when, 100);
	assert_false(uidstore_aside(s, "u1", 1, &m));
	assert_true(uidstore_aside(s, "u2", 0, &m));
	assert_int_equal(m.kind, 'L');
	assert_false(uidstore_known(s, "u1"));
	assert_true(setaside_check(s, &fx->account, "u1", why, sizeof why));
	assert_non_null(strstr(why, "plugin scanner crashed or hung on it"));
	assert_non_null(strstr(why, "mailferry -a work --release u1"));
	assert_true(setaside_check(s, &fx->account, "u2", why, sizeof why));
	assert_non_null(strstr(why, "larger than max_size (1000 bytes)"));
	assert_false(aside(fx, s, "u3"));
	uidstore_close(s);
}

static void
test_what_no_longer_counts(void **state)
{
	struct fixture *fx = *state;
	struct uidstore *s;

	write_file(fx, "mailferry-uids 1\nC u1 100 other-plugin\n"
	    "L u2 100 1000\nL u3 100 999\n");
	s = open_store(fx);
	/* No rule calls other-plugin. */
	assert_false(aside(fx, s, "u1"));
	/* max_size 1000: over 1000 still counts, over 999 no longer. */
	assert_true(aside(fx, s, "u2"));
	assert_false(aside(fx, s, "u3"));
	fx->account.max_size = 1001;
	assert_false(aside(fx, s, "u2"));
	uidstore_close(s);
}

static void
test_release(void **state)
{
	struct fixture *fx = *state;
	struct uidstore *s;

	write_file(fx, "mailferry-uids 1\nF u1 100\nC u1 100 scanner\n"
	    "L u1 100 1000\nC u2 100 scanner\n");
	s = open_store(fx);
	assert_int_equal(uidstore_release(s, "u1", 300), 2);
	assert_int_equal(uidstore_release(s, "u1", 300), 0);
	assert_int_equal(uidstore_release(s, "nothing", 300), 0);
	sync_store(s);
	uidstore_close(s);

	s = open_store(fx);
	assert_false(aside(fx, s, "u1"));
	/* A release lifts the set-aside records only. */
	assert_true(uidstore_is_troublesome(s, "u1"));
	assert_true(aside(fx, s, "u2"));
	uidstore_close(s);
}

static void
test_delivery_ends_the_records(void **state)
{
	struct fixture *fx = *state;
	struct uidstore *s;

	write_file(fx, "mailferry-uids 1\nC u1 100 scanner\n+ u1 200\n"
	    "C u2 100 scanner\n");
	s = open_store(fx);
	assert_false(aside(fx, s, "u1"));
	assert_true(aside(fx, s, "u2"));
	uidstore_add(s, "u2", 300, false);
	assert_false(aside(fx, s, "u2"));
	uidstore_close(s);
}

static void
test_compaction_keeps_those_still_there(void **state)
{
	struct fixture *fx = *state;
	struct uidstore *s;
	struct err e;

	write_file(fx, "mailferry-uids 1\nC here 100 scanner\nL here 100 5\n"
	    "C gone 100 scanner\n");
	s = open_store(fx);
	uidstore_unkeep_all(s);
	uidstore_keep_partials(s, "here");
	err_clear(&e);
	assert_int_equal(uidstore_compact(s, &e), 0);
	uidstore_close(s);

	s = open_store(fx);
	assert_true(aside(fx, s, "here"));
	assert_false(aside(fx, s, "gone"));
	uidstore_close(s);
}

/* As the plugin guard does: one write(2) on the descriptor, no sync. */
static void
test_raw_record_on_a_new_store(void **state)
{
	struct fixture *fx = *state;
	struct uidstore *s = open_store(fx);
	char line[300];
	size_t len;
	struct err e;
	int fd;

	err_clear(&e);
	fd = uidstore_signal_fd(s, &e);
	assert_true(fd != -1);
	len = uidstore_format_aside(line, sizeof line, 'C', "u1", 100,
	    "scanner");
	assert_string_equal(line, "C u1 100 scanner\n");
	assert_int_equal(write(fd, line, len), (ssize_t)len);
	uidstore_close(s);

	s = open_store(fx);
	assert_true(aside(fx, s, "u1"));
	uidstore_close(s);
	assert_int_equal(uidstore_format_aside(line, 8, 'C', "u1", 100,
	    "scanner"), 0);
}

static void
test_read_only_store_has_no_signal_fd(void **state)
{
	struct fixture *fx = *state;
	struct uidstore *s;
	struct err e;

	write_file(fx, "mailferry-uids 1\n");
	err_clear(&e);
	s = uidstore_open(fx->dir, "work", true, &e);
	assert_non_null(s);
	assert_int_equal(uidstore_signal_fd(s, &e), -1);
	assert_int_equal(e.cls, ERR_NONE);
	uidstore_close(s);
}

static void
test_malformed_records_are_corruption(void **state)
{
	static const char *const bad[] = {
		"C u1 100\n",			/* no plugin */
		"C u1 100 a b\n",
		"L u1 100\n",
		"L u1 100 many\n",		/* not a number */
		"L u1 100 -5\n",
		"R u1\n",
		"R u1 100 extra\n",
	};
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[128];
		struct err e;

		snprintf(text, sizeof text, "mailferry-uids 1\n%s", bad[i]);
		write_file(fx, text);
		err_clear(&e);
		assert_null(uidstore_open(fx->dir, "work", false, &e));
		assert_non_null(strstr(e.msg, "corrupt"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records_survive_a_reload,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_what_no_longer_counts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_ends_the_records,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_compaction_keeps_those_still_there, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_record_on_a_new_store,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_only_store_has_no_signal_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_malformed_records_are_corruption, setup, teardown),
	};

	return cmocka_run_group_tests_name("setaside", tests, NULL, NULL);
}
