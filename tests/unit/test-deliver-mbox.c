/* mbox delivery in a temporary directory, as the fetch loop drives it: a
 * batch appended under one lock, synced, committed or rolled back; the
 * journal names it gives; recovery after a crash in each phase. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "deliver.h"
#include "dotlock.h"
#include "log.h"
#include "unit.h"

#define OLD_MAIL	"From a@b Mon Jan  1 00:00:00 2024\nSubject: old\n\nx\n\n"

struct fixture {
	char			*dir;
	char			*disk;	/* not on tmpfs, when a test needs one */
	char			*lock;
	struct destination	 d;
	const struct dest_backend *be;
	struct msg		 m;
	struct envelope		 env;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	f->dir = unit_tmpdir();
	f->be = deliver_backend("mbox");
	f->d.name = "box";
	f->d.timeout = 2;
	if (asprintf(&f->d.path, "%s/mail/box", f->dir) < 0 ||
	    asprintf(&f->lock, "%s.lock", f->d.path) < 0)
		abort();
	f->d.backend = f->be;
	msg_init(&f->m, f->dir);
	f->env.account = "acct";
	f->env.sender = "me@example.org";
	f->env.received = 1700000000;
	log_setup(LOG_QUIET, false);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->d.state != NULL)
		f->be->finish(&f->d);
	msg_free(&f->m);
	free(f->d.path);
	free(f->lock);
	unit_rmtree(f->dir);
	unit_rmtree(f->disk);
	free(f);
	return 0;
}

/* Append a message to the batch; returns its journal name (a copy). */
static char *
stage(struct fixture *f, const char *text)
{
	const char *name = NULL;
	struct err e;

	msg_reset(&f->m);
	assert_int_equal(msg_append(&f->m, text, strlen(text), &e), 0);
	msg_finish(&f->m);
	err_clear(&e);
	assert_int_equal(f->be->deliver(&f->d, &f->m, &f->env, &name, &e), 0);
	assert_non_null(name);
	return strdup(name);
}

static char *
mbox_text(struct fixture *f)
{
	char *text = unit_slurp(f->d.path, NULL);

	assert_non_null(text);
	return text;
}

static void
start_with(struct fixture *f, const char *text)
{
	struct err e;

	err_clear(&e);
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	free(unit_write(f->dir, "mail/box", text));
}

/* The journal name's parts; its digest checked against the file. */
static void
check_name(struct fixture *f, const char *name, off_t off, off_t len)
{
	unsigned char md[32];
	unsigned int n;
	char hex[65], *text = mbox_text(f);
	uintmax_t dev, ino;
	intmax_t o, l;
	struct stat st;
	int used = 0;

	assert_int_equal(stat(f->d.path, &st), 0);
	assert_int_equal(sscanf(name, "%ju:%ju:%jd:%jd:%64s%n", &dev, &ino, &o,
	    &l, hex, &used), 5);
	assert_int_equal(name[used], '\0');
	assert_int_equal(dev, (uintmax_t)st.st_dev);
	assert_int_equal(ino, (uintmax_t)st.st_ino);
	assert_int_equal(o, off);
	assert_int_equal(l, len);
	EVP_Digest(text + off, (size_t)len, md, &n, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(name + used - 64, hex);
	free(text);
}

static void
test_batch_under_one_lock(void **state)
{
	struct fixture *f = *state;
	char *a, *b, *text, buf[DOTLOCK_RECORD_MAX + 1];
	struct dotlock_record r;
	const size_t o = strlen(OLD_MAIL);
	size_t n, la;
	struct err e;

	start_with(f, OLD_MAIL);
	a = stage(f, "Subject: a\n\nFrom here\n");
	text = mbox_text(f);
	la = strlen(text) - o;
	free(text);
	b = stage(f, "Subject: b\n\nB\n");
	/* Locked for the whole batch; the lock says where the batch
	 * began, how long it is, and where its last append began. */
	n = strlen(text = unit_slurp(f->lock, NULL));
	memcpy(buf, text, n);
	free(text);
	assert_int_equal(dotlock_parse(buf, n, &r), 0);
	assert_int_equal(r.pid, (long)getpid());
	assert_int_equal(r.offset, (int64_t)o);
	assert_int_equal(r.last, (int64_t)(o + la));
	text = mbox_text(f);
	assert_int_equal(r.length, (int64_t)(strlen(text) - o));
	free(text);
	err_clear(&e);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(access(f->lock, F_OK), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(access(f->lock, F_OK), -1);
	text = mbox_text(f);
	assert_string_equal(text, OLD_MAIL
	    "From me@example.org Tue Nov 14 22:13:20 2023\n"
	    "Subject: a\n\n>From here\n\n"
	    "From me@example.org Tue Nov 14 22:13:20 2023\n"
	    "Subject: b\n\nB\n\n");
	check_name(f, a, (off_t)o, (off_t)la);
	check_name(f, b, (off_t)(o + la), (off_t)(strlen(text) - o - la));
	free(text);
	/* Nothing staged: sync and commit do nothing. */
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	free(a);
	free(b);
}

static void
test_rollback_cuts_the_batch(void **state)
{
	struct fixture *f = *state;
	char *a, *b, *text;
	struct err e;

	start_with(f, OLD_MAIL);
	a = stage(f, "Subject: a\n\nA\n");
	b = stage(f, "Subject: b\n\nB\n");
	err_clear(&e);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	f->be->rollback(&f->d);
	text = mbox_text(f);
	assert_string_equal(text, OLD_MAIL);
	free(text);
	assert_int_equal(access(f->lock, F_OK), -1);
	/* A batch left open is rolled back at the end of the run too. */
	free(stage(f, "Subject: c\n\nC\n"));
	f->be->finish(&f->d);
	text = mbox_text(f);
	assert_string_equal(text, OLD_MAIL);
	free(text);
	assert_int_equal(access(f->lock, F_OK), -1);
	free(a);
	free(b);
}

static void
test_recover_by_digest(void **state)
{
	struct fixture *f = *state;
	char *a, *b, *text, *bad;
	bool delivered;
	struct err e;

	start_with(f, OLD_MAIL);
	a = stage(f, "Subject: a\n\nA\n");
	b = stage(f, "Subject: b\n\nB\n");
	err_clear(&e);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(f->be->recover(&f->d, a, &delivered, &e), 0);
	assert_true(delivered);
	assert_int_equal(f->be->recover(&f->d, b, &delivered, &e), 0);
	assert_true(delivered);
	/* Someone changed a's bytes: not the message journalled. */
	text = mbox_text(f);
	text[strlen(OLD_MAIL) + 10] ^= 1;
	free(unit_write(f->dir, "mail/box", text));
	free(text);
	assert_int_equal(f->be->recover(&f->d, a, &delivered, &e), 0);
	assert_false(delivered);
	/* Names that do not parse, or point past the end. */
	static const char *const odd[] = { "", "x", "1:2:3:4", "1:2:3:4:zz",
	    "../../etc/passwd", ("1:2:-3:4:"
	    "0000000000000000000000000000000000000000000000000000000000000000") };
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		delivered = true;
		assert_int_equal(f->be->recover(&f->d, odd[i], &delivered,
		    &e), 0);
		assert_false(delivered);
	}
	/* The right digest at another offset, or for another file. */
	{
		uintmax_t dev, ino;
		intmax_t off, len;
		char hex[65];

		assert_int_equal(sscanf(b, "%ju:%ju:%jd:%jd:%64s", &dev, &ino,
		    &off, &len, hex), 5);
		assert_true(asprintf(&bad, "%ju:%ju:%jd:%jd:%s", dev, ino,
		    off - 1, len, hex) > 0);
		assert_int_equal(f->be->recover(&f->d, bad, &delivered, &e), 0);
		assert_false(delivered);
		free(bad);
		assert_true(asprintf(&bad, "%ju:%ju:%jd:%jd:%s", dev, ino + 1,
		    off, len, hex) > 0);
		assert_int_equal(f->be->recover(&f->d, bad, &delivered, &e), 0);
		assert_false(delivered);
		free(bad);
		assert_true(asprintf(&bad, "%ju:%ju:%jd:%jd:%s", dev, ino,
		    off, len, hex) > 0);
		assert_int_equal(f->be->recover(&f->d, bad, &delivered, &e), 0);
		assert_true(delivered);
		free(bad);
	}
	free(a);
	free(b);
}

/*
 * A run killed after its batch was synced and journalled, before the
 * commit: its lock is left. Recovery cuts the batch off before it looks,
 * so the journalled messages are found gone and fetched again (no
 * duplicate), and the lock is gone.
 */
static void
test_recover_after_a_crash_before_commit(void **state)
{
	struct fixture *f = *state;
	char names[2][200], *text;
	bool delivered;
	struct err e;
	int fds[2], status;
	pid_t pid;

	start_with(f, OLD_MAIL);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		char *a = stage(f, "Subject: a\n\nA\n");
		char *b = stage(f, "Subject: b\n\nB\n");

		err_clear(&e);
		if (f->be->sync(&f->d, &e) == -1)
			_exit(1);
		dprintf(fds[1], "%s\n%s\n", a, b);
		_exit(0);		/* as if killed: no commit */
	}
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		FILE *fp = fdopen(fds[0], "r");

		assert_non_null(fgets(names[0], sizeof names[0], fp));
		assert_non_null(fgets(names[1], sizeof names[1], fp));
		fclose(fp);
	}
	names[0][strcspn(names[0], "\n")] = '\0';
	names[1][strcspn(names[1], "\n")] = '\0';
	assert_int_equal(access(f->lock, F_OK), 0);
	/* A new run: destination state of its own. */
	f->be->finish(&f->d);
	err_clear(&e);
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	for (int i = 0; i < 2; i++) {
		delivered = true;
		assert_int_equal(f->be->recover(&f->d, names[i], &delivered,
		    &e), 0);
		assert_false(delivered);
	}
	text = mbox_text(f);
	assert_string_equal(text, OLD_MAIL);
	free(text);
	assert_int_equal(access(f->lock, F_OK), -1);
}

/* Once synced, a large batch leaves the page cache, but for the page
 * the next append goes on; a small batch stays. */
static void
test_synced_pages_dropped(void **state)
{
	struct fixture *f = *state;
	size_t size = 64 * 1024, n = 80;	/* 5 MB: past KICK_BYTES */
	char *text = malloc(size + 1), *name;
	size_t first_pages;
	struct stat st;
	struct err e;

	f->disk = unit_disk_tmpdir();
	free(f->d.path);
	free(f->lock);
	assert_true(asprintf(&f->d.path, "%s/box", f->disk) > 0);
	assert_true(asprintf(&f->lock, "%s.lock", f->d.path) > 0);
	memcpy(text, "Subject: big\n\n", 14);
	memset(text + 14, 'x', size - 14);
	text[size - 1] = '\n';
	text[size] = '\0';
	err_clear(&e);
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	for (size_t i = 0; i < 2; i++)
		free(stage(f, text));
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(stat(f->d.path, &st), 0);
	first_pages = ((size_t)st.st_size + 4095) / 4096;
	assert_int_equal(unit_resident_pages(f->d.path, 0, (size_t)st.st_size),
	    first_pages);
	for (size_t i = 0; i < n; i++)
		free(stage(f, text));
	name = stage(f, "Subject: last\n\nshort\n");
	free(name);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(stat(f->d.path, &st), 0);
	/* The first batch's pages were kept (its last one holds the second
	 * batch's start); the second batch's all went but its last one. */
	assert_int_equal(unit_resident_pages(f->d.path, 0, (size_t)st.st_size),
	    first_pages + 1);
	free(text);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_batch_under_one_lock),
		T(test_rollback_cuts_the_batch),
		T(test_recover_by_digest),
		T(test_recover_after_a_crash_before_commit),
		T(test_synced_pages_dropped),
	};
#undef T

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests_name("deliver-mbox", tests, NULL, NULL);
}
