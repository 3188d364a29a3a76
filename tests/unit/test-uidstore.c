/* core/uidstore.c: loading, journal recovery, torn tails, compaction and
 * the refusal of a store that is not the user's own. */
#include <sys/stat.h>

#include <errno.h>
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

#include "uidstore.h"
#include "xmalloc.h"

struct fixture {
	char	*dir;
	char	*path;		/* DIR/acct.uids */
};

static int
setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct fixture *f = xcalloc(1, sizeof *f);

	f->dir = xasprintf("%s/test-uidstore.XXXXXX", base != NULL ? base :
	    "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->path = xasprintf("%s/acct.uids", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	int rc = system(cmd);

	free(cmd);
	free(f->path);
	free(f->dir);
	free(f);
	return rc == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *
read_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = xcalloc(1, 65536);

	assert_non_null(fp);
	assert_true(fread(buf, 1, 65535, fp) < 65535);
	fclose(fp);
	return buf;
}

static struct uidstore *
open_store(struct fixture *f, struct err *e)
{
	err_clear(e);
	return uidstore_open(f->dir, "acct", false, e);
}

static bool
recalled(struct uidstore *s, const char *uid, bool *skipped)
{
	time_t when;
	bool sk;

	return uidstore_recall(s, uid, &when, skipped != NULL ? skipped : &sk);
}

static void
test_new_store_round_trip(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	struct err e;
	bool skipped;
	char *text;

	s = open_store(f, &e);
	assert_non_null(s);
	assert_false(uidstore_known(s, "a"));
	uidstore_add(s, "a", 100, false);
	uidstore_add(s, "b", 200, true);
	assert_int_equal(uidstore_sync(s, &e), 0);
	uidstore_close(s);

	s = open_store(f, &e);
	assert_non_null(s);
	assert_true(recalled(s, "a", &skipped));
	assert_false(skipped);
	assert_true(recalled(s, "b", &skipped));
	assert_true(skipped);
	assert_false(uidstore_known(s, "c"));
	uidstore_close(s);
	text = read_file(f->path);
	assert_string_equal(text, "mailferry-uids 1\n+ a 100\nS b 200\n");
	free(text);
}

/*
 * UIDs as servers number them, differing only in their last characters
 * (Dovecot's POP3 UIDL, IMAP keys of consecutive UIDs): spread over the
 * table, so that insertions pass few other slots, whether the UIDs are
 * added or loaded from a compacted file, which lists them in the order
 * of their slots.
 */
static void
test_sequential_uids_spread(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	struct err e;
	char uid[64];

	s = open_store(f, &e);
	assert_non_null(s);
	/* In a scrambled order, as a mailbox's messages come. */
	for (unsigned i = 0; i < 20000; i++) {
		unsigned n = (i * 7919u) % 20000;

		snprintf(uid, sizeof uid, "6b10b74c%08x", n);
		uidstore_add(s, uid, 100, false);
		snprintf(uid, sizeof uid, "INBOX:1796257671:%u", n + 1);
		uidstore_add(s, uid, 100, false);
	}
	assert_true(uidstore_probes(s) < 4 * 40000);
	/* Written in the order of the slots. */
	assert_int_equal(uidstore_compact(s, &e), 0);
	uidstore_close(s);

	s = open_store(f, &e);
	assert_non_null(s);
	assert_true(uidstore_probes(s) < 2 * 40000);
	assert_true(recalled(s, "6b10b74c00004e1f", NULL));
	assert_true(recalled(s, "INBOX:1796257671:20000", NULL));
	assert_false(recalled(s, "INBOX:1796257671:20001", NULL));
	uidstore_close(s);
}

/* IMAP keys, FOLDER:UIDVALIDITY:UID, next to POP3 UIDs in a store of
 * the same format; a folder's keys under another UIDVALIDITY are
 * found by prefix (and those of a folder whose name only begins the
 * same are not). */
static void
test_imap_keys_found_by_prefix(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	const char *old;
	struct err e;

	write_file(f->path, "mailferry-uids 1\n+ popuid-1 10\n"
	    "+ INBOX:7:1 20\n+ INBOX:7:2 20\n+ INBOXES:9:1 20\n"
	    "+ Lists/dev:3:5 30\n", 0600);
	s = open_store(f, &e);
	assert_non_null(s);
	assert_true(uidstore_known(s, "popuid-1"));
	assert_true(uidstore_known(s, "Lists/dev:3:5"));
	assert_null(uidstore_find_prefix(s, "INBOX:", "INBOX:7:"));
	old = uidstore_find_prefix(s, "INBOX:", "INBOX:8:");
	assert_non_null(old);
	assert_int_equal(strncmp(old, "INBOX:7:", 8), 0);
	assert_string_equal(uidstore_find_prefix(s, "Lists/dev:",
	    "Lists/dev:4:"), "Lists/dev:3:5");
	assert_null(uidstore_find_prefix(s, "Archive:", "Archive:1:"));
	uidstore_close(s);
}

static void
test_torn_tail_is_cut(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	struct err e;
	char *text;

	write_file(f->path, "mailferry-uids 1\n+ a 1\n+ b 2\n+ tor", 0600);
	s = open_store(f, &e);
	assert_non_null(s);
	assert_true(uidstore_known(s, "a"));
	assert_true(uidstore_known(s, "b"));
	assert_false(uidstore_known(s, "tor"));
	uidstore_add(s, "c", 3, false);
	assert_int_equal(uidstore_sync(s, &e), 0);
	uidstore_close(s);
	text = read_file(f->path);
	assert_string_equal(text, "mailferry-uids 1\n+ a 1\n+ b 2\n+ c 3\n");
	free(text);
}

static void
test_journal_recovery(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	const struct uid_pending *p;
	struct err e;

	write_file(f->path, "mailferry-uids 1\n"
	    "P x 10 inbox 10.M1P2.host\n"
	    "P y 11 inbox 11.M1P2.host\n"
	    "+ x 10\n", 0600);
	s = open_store(f, &e);
	assert_non_null(s);
	/* x was recorded after its journal line; y never was. */
	assert_int_equal(uidstore_npending(s), 1);
	p = uidstore_pending(s, 0);
	assert_string_equal(p->uid, "y");
	assert_int_equal(p->when, 11);
	assert_string_equal(p->dest, "inbox");
	assert_string_equal(p->name, "11.M1P2.host");
	assert_true(uidstore_known(s, "x"));
	assert_false(uidstore_known(s, "y"));
	uidstore_close(s);
}

static void
test_partial_and_troublesome(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	struct err e;

	s = open_store(f, &e);
	uidstore_partial(s, "p", 5, "smtp");
	uidstore_troublesome(s, "t", 6);
	assert_int_equal(uidstore_sync(s, &e), 0);
	uidstore_close(s);
	s = open_store(f, &e);
	assert_non_null(s);
	assert_true(uidstore_delivered_to(s, "p", "smtp"));
	assert_false(uidstore_delivered_to(s, "p", "inbox"));
	assert_true(uidstore_is_troublesome(s, "t"));
	/* Recorded as done: the partial record goes. */
	uidstore_add(s, "p", 7, false);
	assert_false(uidstore_delivered_to(s, "p", "smtp"));
	uidstore_close(s);
}

static void
test_corrupt_store_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	struct err e;

	write_file(f->path, "mailferry-uids 1\n+ a 1\n? b 2\n", 0600);
	s = open_store(f, &e);
	assert_null(s);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, "acct.uids:3"));
	write_file(f->path, "something else\n", 0600);
	s = open_store(f, &e);
	assert_null(s);
	assert_non_null(strstr(e.msg, "not a mailferry UID store"));
	/* A UID with a control character, a line too long. */
	write_file(f->path, "mailferry-uids 1\n+ a\x01 1\n", 0600);
	assert_null(open_store(f, &e));
	write_file(f->path, "mailferry-uids 1\n+ a 1 2 3 4 5\n", 0600);
	assert_null(open_store(f, &e));
	write_file(f->path, "mailferry-uids 1\n+ a -5\n", 0600);
	assert_null(open_store(f, &e));
}

static void
test_compaction_keeps_only_kept(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	struct err e;
	time_t when;
	bool skipped;
	char *text;

	s = open_store(f, &e);
	for (int i = 0; i < 5; i++) {
		char uid[8];

		snprintf(uid, sizeof uid, "u%d", i);
		uidstore_add(s, uid, 100 + i, false);
	}
	assert_int_equal(uidstore_sync(s, &e), 0);
	/* Only u1 and u3 are still on the server. */
	uidstore_unkeep_all(s);
	assert_true(uidstore_recall(s, "u1", &when, &skipped));
	assert_true(uidstore_recall(s, "u3", &when, &skipped));
	assert_int_equal(uidstore_compact(s, &e), 0);
	/* Appends go to the new file. */
	uidstore_add(s, "u9", 109, false);
	assert_int_equal(uidstore_sync(s, &e), 0);
	uidstore_close(s);
	text = read_file(f->path);
	assert_non_null(strstr(text, "+ u1 101\n"));
	assert_non_null(strstr(text, "+ u3 103\n"));
	assert_non_null(strstr(text, "+ u9 109\n"));
	assert_null(strstr(text, "u0"));
	assert_null(strstr(text, "u2"));
	assert_null(strstr(text, "u4"));
	free(text);
	text = xasprintf("%s.new", f->path);
	assert_int_equal(access(text, F_OK), -1);
	free(text);
}

/* A link planted where the compacted store is written. */
static void
test_compaction_does_not_follow_planted_link(void **state)
{
	struct fixture *f = *state;
	char *victim = xasprintf("%s/precious", f->dir);
	char *tmp = xasprintf("%s.new", f->path);
	struct uidstore *s;
	struct err e;
	char *text;

	write_file(victim, "precious\n", 0600);
	s = open_store(f, &e);
	uidstore_add(s, "a", 1, false);
	uidstore_add(s, "b", 2, false);
	assert_int_equal(uidstore_sync(s, &e), 0);
	assert_int_equal(symlink(victim, tmp), 0);
	uidstore_unkeep_all(s);
	assert_int_equal(uidstore_compact(s, &e), 0);
	uidstore_close(s);
	text = read_file(victim);
	assert_string_equal(text, "precious\n");
	free(text);
	text = read_file(f->path);
	assert_string_equal(text, "mailferry-uids 1\n");
	free(text);
	free(victim);
	free(tmp);
}

static void
test_store_not_our_own_is_refused(void **state)
{
	struct fixture *f = *state;
	char *elsewhere = xasprintf("%s/elsewhere", f->dir);
	struct uidstore *s;
	struct err e;

	/* Writable by others: they decide what keep = false deletes. */
	write_file(f->path, "mailferry-uids 1\n+ a 1\n", 0622);
	s = open_store(f, &e);
	assert_null(s);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(e.msg, f->path));
	assert_non_null(strstr(e.msg, "chmod go-w"));
	/* Also in a dry run. */
	err_clear(&e);
	assert_null(uidstore_open(f->dir, "acct", true, &e));
	assert_int_equal(e.cls, ERR_CONFIG);
	/* A symbolic link is not followed. */
	assert_int_equal(unlink(f->path), 0);
	write_file(elsewhere, "mailferry-uids 1\n+ a 1\n", 0600);
	assert_int_equal(symlink(elsewhere, f->path), 0);
	s = open_store(f, &e);
	assert_null(s);
	assert_non_null(strstr(e.msg, "symbolic link"));
	free(elsewhere);
}

static void
test_readonly_missing_store(void **state)
{
	struct fixture *f = *state;
	struct uidstore *s;
	struct err e;

	err_clear(&e);
	s = uidstore_open(f->dir, "acct", true, &e);
	assert_non_null(s);
	assert_false(uidstore_known(s, "a"));
	uidstore_close(s);
	assert_int_equal(access(f->path, F_OK), -1);
}

static void
test_uid_valid(void **state)
{
	char big[UID_MAX_LEN + 2];

	(void)state;
	assert_true(uid_valid("abc", 3));
	assert_false(uid_valid("", 0));
	assert_false(uid_valid("a b", 3));
	assert_false(uid_valid("a\x7f", 2));
	memset(big, 'x', sizeof big);
	assert_true(uid_valid(big, UID_MAX_LEN));
	assert_false(uid_valid(big, UID_MAX_LEN + 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_store_round_trip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_keys_found_by_prefix,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequential_uids_spread,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_journal_recovery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_partial_and_troublesome,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_store_is_an_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction_keeps_only_kept,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_compaction_does_not_follow_planted_link, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_store_not_our_own_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_missing_store,
		    setup, teardown),
		cmocka_unit_test(test_uid_valid),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
