/* core/dotlock.c: the lock record, and when a lock left behind may cut
 * an mbox back. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
#include <cmocka.h>

#include "dotlock.h"
#include "log.h"
#include "xmalloc.h"

#define OLD_MAIL	"From a@b Mon Jan  1 00:00:00 2024\nSubject: old\n\nx\n\n"

struct fixture {
	char		*dir;
	char		*mbox;
	char		*lock;
	struct dotlock	 dl;
};

static int
setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct fixture *f = xcalloc(1, sizeof *f);

	f->dir = xasprintf("%s/test-dotlock.XXXXXX", base != NULL ? base :
	    "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->mbox = xasprintf("%s/mbox", f->dir);
	f->lock = xasprintf("%s/mbox.lock", f->dir);
	dotlock_init(&f->dl, f->mbox, 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	int rc = system(cmd);

	dotlock_free(&f->dl);
	free(cmd);
	free(f->mbox);
	free(f->lock);
	free(f->dir);
	free(f);
	return rc == 0 ? 0 : -1;
}

static void
put(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static size_t
get(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd != -1);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return (size_t)n;
}

static long
dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid != -1);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return (long)pid;
}

/* ---- the record ---- */

static void
test_record_round_trip(void **state)
{
	struct dotlock_record r = { .pid = 4711, .host = "mail.example",
	    .dev = 2049, .ino = 1234567, .offset = 0, .length = 99,
	    .last = 40 }, back;
	char buf[DOTLOCK_RECORD_MAX];
	size_t n;

	(void)state;
	n = dotlock_format(&r, buf, sizeof buf);
	assert_string_equal(buf,
	    "mailferry-dotlock 2 4711 mail.example 2049 1234567 0 99 40\n");
	assert_int_equal(dotlock_parse(buf, n, &back), 0);
	assert_int_equal(back.version, 2);
	assert_int_equal(back.pid, 4711);
	assert_string_equal(back.host, "mail.example");
	assert_int_equal(back.dev, 2049);
	assert_int_equal(back.ino, 1234567);
	assert_int_equal(back.offset, 0);
	assert_int_equal(back.length, 99);
	assert_int_equal(back.last, 40);
	r.offset = r.length = r.last = -1;
	n = dotlock_format(&r, buf, sizeof buf);
	assert_string_equal(buf,
	    "mailferry-dotlock 2 4711 mail.example 2049 1234567 - - -\n");
	assert_int_equal(dotlock_parse(buf, n, &back), 0);
	assert_int_equal(back.offset, -1);
	assert_int_equal(back.length, -1);
	assert_int_equal(back.last, -1);
	/* Version 1, as earlier releases wrote it: one append, at OFFSET. */
	assert_int_equal(dotlock_parse("mailferry-dotlock 1 4711 h 1 2 30 9\n",
	    36, &back), 0);
	assert_int_equal(back.version, 1);
	assert_int_equal(back.offset, 30);
	assert_int_equal(back.length, 9);
	assert_int_equal(back.last, 30);
	n = dotlock_format(&back, buf, sizeof buf);
	assert_string_equal(buf, "mailferry-dotlock 1 4711 h 1 2 30 9\n");
	/* Nothing that cannot be read back is written. */
	r.offset = 5;
	assert_int_equal(dotlock_format(&r, buf, sizeof buf), 0);
	r.length = 10;
	r.last = 4;
	assert_int_equal(dotlock_format(&r, buf, sizeof buf), 0);
	r.last = 16;
	assert_int_equal(dotlock_format(&r, buf, sizeof buf), 0);
	r.offset = r.length = r.last = -1;
	strcpy(r.host, "two words");
	assert_int_equal(dotlock_format(&r, buf, sizeof buf), 0);
}

static void
test_record_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"mailferry 4711 host 0\n",	/* the old format */
		"mailferry-dotlock 1 4711 h 1 2 0 9",		/* no newline */
		"mailferry-dotlock 1 4711 h 1 2 0 9\nx",
		"mailferry-dotlock 1 4711 h 1 2 0 9 \n",
		"mailferry-dotlock 1  4711 h 1 2 0 9\n",
		"mailferry-dotlock 2 4711 h 1 2 0 9\n",	/* no LAST */
		"mailferry-dotlock 1 4711 h 1 2 0 9 0\n",	/* v1 has none */
		"mailferry-dotlock 2 4711 h 1 2 5 9 4\n",	/* LAST < OFFSET */
		"mailferry-dotlock 2 4711 h 1 2 5 9 15\n",	/* past the end */
		"mailferry-dotlock 2 4711 h 1 2 - - 5\n",
		"mailferry-dotlock 2 4711 h 1 2 5 9 -\n",
		"mailferry-dotlock 2 4711 h 1 2 5 9 05\n",
		"mailferry-dotlock 3 4711 h 1 2 5 9 5\n",
		"mailferry-dotlock 22 4711 h 1 2 5 9 5\n",
		"mailferry-dotlocks 1 4711 h 1 2 0 9\n",
		"mailferry-dotlock 1 0 h 1 2 0 9\n",
		"mailferry-dotlock 1 -4711 h 1 2 0 9\n",
		"mailferry-dotlock 1 04711 h 1 2 0 9\n",
		"mailferry-dotlock 1 +4711 h 1 2 0 9\n",
		"mailferry-dotlock 1 2147483648 h 1 2 0 9\n",
		"mailferry-dotlock 1 4711 h 1 2 -1 9\n",
		"mailferry-dotlock 1 4711 h 1 2 0 -\n",
		"mailferry-dotlock 1 4711 h 1 2 - 9\n",
		"mailferry-dotlock 1 4711 h 1 2 9223372036854775807 1\n",
		"mailferry-dotlock 1 4711 h 18446744073709551616 2 0 9\n",
		"mailferry-dotlock 1 4711 h\x01 1 2 0 9\n",
		"mailferry-dotlock 1 4711 h 1 2 0 9 extra\n",
		"mailferry-dotlock 1 4711 h 1 2 0x10 9\n",
		/* Found by fuzz-dotlock: a newline is not a separator. */
		"mailferry-dotlock 1 4711 h 1 2\n- -\n",
	};
	struct dotlock_record r;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(dotlock_parse(bad[i], strlen(bad[i]), &r), -1);
	/* A NUL inside. */
	assert_int_equal(dotlock_parse("mailferry-dotlock 1 4711 h\0 1 2 0 9\n",
	    37, &r), -1);
}

/* ---- taking, releasing, repairing ---- */

static void
test_take_and_release(void **state)
{
	struct fixture *f = *state;
	struct dotlock_record r;
	struct stat st;
	char buf[DOTLOCK_RECORD_MAX + 1], *cmd;
	struct err e;
	size_t n;

	put(f->mbox, OLD_MAIL, strlen(OLD_MAIL));
	assert_int_equal(stat(f->mbox, &st), 0);
	err_clear(&e);
	assert_int_equal(dotlock_take(&f->dl, &e), 0);
	n = get(f->lock, buf, sizeof buf);
	assert_int_equal(dotlock_parse(buf, n, &r), 0);
	assert_int_equal(r.pid, (long)getpid());
	assert_int_equal(r.ino, (uint64_t)st.st_ino);
	assert_int_equal(r.offset, -1);
	assert_int_equal(dotlock_note_append(&f->dl, st.st_dev, st.st_ino,
	    st.st_size, 77, st.st_size, true, &e), 0);
	n = get(f->lock, buf, sizeof buf);
	assert_int_equal(dotlock_parse(buf, n, &r), 0);
	assert_int_equal(r.offset, st.st_size);
	assert_int_equal(r.length, 77);
	assert_int_equal(r.last, st.st_size);
	/* The next append of the batch: the same start, a longer length. */
	assert_int_equal(dotlock_note_append(&f->dl, st.st_dev, st.st_ino,
	    st.st_size, 100, st.st_size + 77, false, &e), 0);
	n = get(f->lock, buf, sizeof buf);
	assert_int_equal(dotlock_parse(buf, n, &r), 0);
	assert_int_equal(r.offset, st.st_size);
	assert_int_equal(r.length, 100);
	assert_int_equal(r.last, st.st_size + 77);
	dotlock_release(&f->dl);
	assert_int_equal(access(f->lock, F_OK), -1);
	/* No temporary file is left beside it. */
	cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq 1", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* A lock left by a dead run of ours, with appends that began at
 * `offset` and were to be `length` bytes long, the last at `last`. */
static void
plant_batch(struct fixture *f, int64_t offset, int64_t length, int64_t last)
{
	struct dotlock_record r = { .pid = dead_pid(), .offset = offset,
	    .length = length, .last = last };
	char buf[DOTLOCK_RECORD_MAX];
	struct stat st;
	size_t n;

	assert_int_equal(stat(f->mbox, &st), 0);
	strcpy(r.host, f->dl.host);
	r.dev = (uint64_t)st.st_dev;
	r.ino = (uint64_t)st.st_ino;
	n = dotlock_format(&r, buf, sizeof buf);
	assert_true(n > 0);
	put(f->lock, buf, n);
}

static void
plant_ours(struct fixture *f, int64_t offset, int64_t length)
{
	plant_batch(f, offset, length, offset);
}

static void
take_after_batch(struct fixture *f, const char *mbox, int64_t offset,
    int64_t length, int64_t last, const char *expect)
{
	char buf[4096];
	struct err e;

	put(f->mbox, mbox, strlen(mbox));
	plant_batch(f, offset, length, last);
	err_clear(&e);
	assert_int_equal(dotlock_take(&f->dl, &e), 0);
	dotlock_release(&f->dl);
	get(f->mbox, buf, sizeof buf);
	assert_string_equal(buf, expect);
}

static void
take_after_crash(struct fixture *f, const char *mbox, size_t len,
    int64_t offset, int64_t length, const char *expect)
{
	char buf[4096];
	struct err e;

	put(f->mbox, mbox, len);
	plant_ours(f, offset, length);
	err_clear(&e);
	assert_int_equal(dotlock_take(&f->dl, &e), 0);
	dotlock_release(&f->dl);
	get(f->mbox, buf, sizeof buf);
	assert_string_equal(buf, expect);
}

static void
test_repair_cuts_our_partial_append(void **state)
{
	struct fixture *f = *state;
	const char *partial = OLD_MAIL "From me@x Tue Jan  2 00:00:00 2024\n"
	    "Subject: new\n\npart of the bo";

	log_setup(LOG_QUIET, false);
	take_after_crash(f, partial, strlen(partial), strlen(OLD_MAIL), 200,
	    OLD_MAIL);
	/* Died before appending anything. */
	take_after_crash(f, OLD_MAIL, strlen(OLD_MAIL), -1, -1, OLD_MAIL);
	/* Died after the whole append: not recorded, so cut too. */
	take_after_crash(f, partial, strlen(partial), strlen(OLD_MAIL),
	    (int64_t)(strlen(partial) - strlen(OLD_MAIL)), OLD_MAIL);
}

static void
test_repair_leaves_what_is_not_ours(void **state)
{
	struct fixture *f = *state;
	const char *partial = OLD_MAIL "From me@x Tue Jan  2 00:00:00 2024\n"
	    "Subject: new\n\npart of the bo";
	const char *followed = OLD_MAIL "From me@x Tue Jan  2 00:00:00 2024\n"
	    "Subject: new\n\npart\nFrom other@y Tue Jan  2 00:00:01 2024\n"
	    "Subject: theirs\n\n";

	log_setup(LOG_QUIET, false);
	/* Grown past the recorded length: someone appended after. */
	take_after_crash(f, partial, strlen(partial), strlen(OLD_MAIL), 10,
	    partial);
	/* Another program's message after our partial one. */
	take_after_crash(f, followed, strlen(followed), strlen(OLD_MAIL),
	    1000, followed);
	/* What is at the offset is not a From line. */
	take_after_crash(f, OLD_MAIL, strlen(OLD_MAIL), 3, 1000, OLD_MAIL);
	/* A forged offset of 0 with a record for the whole file. */
	take_after_crash(f, followed, strlen(followed), 0, 10000, followed);
}

#define NEW_1	"From me@x Tue Jan  2 00:00:00 2024\nSubject: one\n\n1\n\n"
#define NEW_2	"From me@x Tue Jan  2 00:00:00 2024\nSubject: two\n\n2\n\n"
#define NEW_3	"From me@x Tue Jan  2 00:00:00 2024\nSubject: three\n\nthr"

static void
test_repair_cuts_a_whole_batch(void **state)
{
	struct fixture *f = *state;
	const int64_t o = strlen(OLD_MAIL), l1 = strlen(NEW_1),
	    l2 = strlen(NEW_2);

	log_setup(LOG_QUIET, false);
	/* Killed in the third append of a batch: the two complete ones go
	 * too (never recorded, so still on the server). */
	take_after_batch(f, OLD_MAIL NEW_1 NEW_2 NEW_3, o, l1 + l2 + 100,
	    o + l1 + l2, OLD_MAIL);
	/* Killed between appends, or after the last one. */
	take_after_batch(f, OLD_MAIL NEW_1 NEW_2, o, l1 + l2, o + l1, OLD_MAIL);
	take_after_batch(f, OLD_MAIL NEW_1 NEW_2, o, l1 + l2 + 50, o + l1 + l2,
	    OLD_MAIL);
	/* A record of version 1 (an earlier release) still repairs. */
	put(f->mbox, OLD_MAIL NEW_3, strlen(OLD_MAIL NEW_3));
	put(f->lock, "", 0);
	{
		char rec[400];
		struct stat st;
		struct err e;
		char buf[4096];

		assert_int_equal(stat(f->mbox, &st), 0);
		snprintf(rec, sizeof rec, "mailferry-dotlock 1 %ld %s %ju %ju "
		    "%jd 100\n", dead_pid(), f->dl.host, (uintmax_t)st.st_dev,
		    (uintmax_t)st.st_ino, (intmax_t)o);
		put(f->lock, rec, strlen(rec));
		err_clear(&e);
		assert_int_equal(dotlock_take(&f->dl, &e), 0);
		dotlock_release(&f->dl);
		get(f->mbox, buf, sizeof buf);
		assert_string_equal(buf, OLD_MAIL);
	}
}

static void
test_repair_leaves_a_batch_it_cannot_prove(void **state)
{
	struct fixture *f = *state;
	const int64_t o = strlen(OLD_MAIL), l1 = strlen(NEW_1),
	    l2 = strlen(NEW_2);
	const char *theirs = OLD_MAIL NEW_1 NEW_2 NEW_3;

	log_setup(LOG_QUIET, false);
	/* Another program's message after our last one (LAST). */
	take_after_batch(f, theirs, o, 10000, o + l1, theirs);
	/* Shorter than LAST: the file changed since. */
	take_after_batch(f, OLD_MAIL NEW_1, o, l1 + l2 + 10, o + l1 + l2,
	    OLD_MAIL NEW_1);
	/* No "From " at OFFSET. */
	take_after_batch(f, OLD_MAIL NEW_1 NEW_2, o + 1, l1 + l2 - 1, o + l1,
	    OLD_MAIL NEW_1 NEW_2);
	/* Grown past OFFSET + LENGTH. */
	take_after_batch(f, OLD_MAIL NEW_1 NEW_2, o, l1 + l2 - 1, o + l1,
	    OLD_MAIL NEW_1 NEW_2);
}

static void
test_abandoned_lock_stays(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	struct err e;

	put(f->mbox, OLD_MAIL, strlen(OLD_MAIL));
	assert_int_equal(stat(f->mbox, &st), 0);
	err_clear(&e);
	assert_int_equal(dotlock_take(&f->dl, &e), 0);
	assert_int_equal(dotlock_note_append(&f->dl, st.st_dev, st.st_ino,
	    st.st_size, 10, st.st_size, true, &e), 0);
	/* An append that could not be cut back: the record stays for the
	 * next run, even when the lock is freed. */
	dotlock_abandon(&f->dl);
	dotlock_release(&f->dl);
	assert_int_equal(access(f->lock, F_OK), 0);
}

static void
test_repair_needs_the_same_file(void **state)
{
	struct fixture *f = *state;
	const char *partial = OLD_MAIL "From me@x Tue Jan  2 00:00:00 2024\n";
	char *other = xasprintf("%s/other", f->dir);
	char buf[4096];
	struct err e;

	log_setup(LOG_QUIET, false);
	put(f->mbox, partial, strlen(partial));
	plant_ours(f, strlen(OLD_MAIL), 1000);
	/* The mbox is replaced by another file of the same name. */
	put(other, partial, strlen(partial));
	assert_int_equal(rename(other, f->mbox), 0);
	err_clear(&e);
	assert_int_equal(dotlock_take(&f->dl, &e), 0);
	dotlock_release(&f->dl);
	get(f->mbox, buf, sizeof buf);
	assert_string_equal(buf, partial);
	free(other);
}

static void
test_live_lock_times_out(void **state)
{
	struct fixture *f = *state;
	struct dotlock_record r = { .pid = (long)getppid(), .offset = 0,
	    .length = 1 };
	char buf[DOTLOCK_RECORD_MAX];
	struct stat st;
	struct err e;
	size_t n;

	put(f->mbox, OLD_MAIL, strlen(OLD_MAIL));
	assert_int_equal(stat(f->mbox, &st), 0);
	strcpy(r.host, f->dl.host);
	r.dev = (uint64_t)st.st_dev;
	r.ino = (uint64_t)st.st_ino;
	n = dotlock_format(&r, buf, sizeof buf);
	put(f->lock, buf, n);
	err_clear(&e);
	assert_int_equal(dotlock_take(&f->dl, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, f->lock));
	assert_int_equal(access(f->lock, F_OK), 0);
	get(f->mbox, buf, sizeof buf);
	assert_string_equal(buf, OLD_MAIL);
}

static void
test_stale_foreign_lock_is_removed(void **state)
{
	struct fixture *f = *state;
	struct utimbuf old = { time(NULL) - 3600, time(NULL) - 3600 };
	char buf[4096];
	struct err e;

	log_setup(LOG_QUIET, false);
	put(f->mbox, OLD_MAIL, strlen(OLD_MAIL));
	put(f->lock, "12345\n", 6);
	assert_int_equal(utime(f->lock, &old), 0);
	err_clear(&e);
	assert_int_equal(dotlock_take(&f->dl, &e), 0);
	dotlock_release(&f->dl);
	get(f->mbox, buf, sizeof buf);
	assert_string_equal(buf, OLD_MAIL);
}

/* A fresh lock of another program, whatever it holds, is waited for. */
static void
test_fresh_foreign_lock_is_waited_for(void **state)
{
	struct fixture *f = *state;
	struct err e;

	put(f->mbox, OLD_MAIL, strlen(OLD_MAIL));
	put(f->lock, "", 0);
	err_clear(&e);
	assert_int_equal(dotlock_take(&f->dl, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_int_equal(access(f->lock, F_OK), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_rejects),
		cmocka_unit_test_setup_teardown(test_take_and_release, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_repair_cuts_our_partial_append, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_repair_leaves_what_is_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_repair_needs_the_same_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_cuts_a_whole_batch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_repair_leaves_a_batch_it_cannot_prove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_lock_stays,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_lock_times_out, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_stale_foreign_lock_is_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fresh_foreign_lock_is_waited_for, setup, teardown),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
