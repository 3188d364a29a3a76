/* Maildir delivery in a temporary directory: stage, sync, commit,
 * rollback and recover, as the fetch loop drives them. */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "deliver.h"
#include "unit.h"

struct fixture {
	char			*dir;
	char			*disk;	/* not on tmpfs, when a test needs one */
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
	f->be = deliver_backend("maildir");
	f->d.name = "inbox";
	if (asprintf(&f->d.path, "%s/Maildir", f->dir) < 0)
		abort();
	f->d.backend = f->be;
	msg_init(&f->m, f->dir);
	f->env.account = "acct";
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
	unit_rmtree(f->dir);
	unit_rmtree(f->disk);
	free(f);
	return 0;
}

static void
set_message(struct fixture *f, const char *text)
{
	struct err e;

	msg_reset(&f->m);
	assert_int_equal(msg_append(&f->m, text, strlen(text), &e), 0);
	msg_finish(&f->m);
}

/* Stage a message; returns its name (a copy). */
static char *
stage(struct fixture *f, const char *text)
{
	const char *name = NULL;
	struct err e;

	set_message(f, text);
	assert_int_equal(f->be->deliver(&f->d, &f->m, &f->env, &name, &e), 0);
	assert_non_null(name);
	return strdup(name);
}

/* How many entries dir/sub holds (besides . and ..). */
static int
count(struct fixture *f, const char *sub)
{
	char path[512];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "%s/%s", f->d.path, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static char *
content(struct fixture *f, const char *sub, const char *name)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s/%s", f->d.path, sub, name);
	return unit_slurp(path, NULL);
}

static void
test_check_and_prepare(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	struct err e;
	char path[512];

	/* check creates nothing. */
	assert_int_equal(f->be->check(&f->d, &e), 0);
	assert_int_equal(stat(f->d.path, &st), -1);
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", f->d.path,
		    (const char *[]){ "tmp", "new", "cur" }[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 077, 0);
	}
	/* A second prepare does nothing. */
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	assert_int_equal(f->be->check(&f->d, &e), 0);
}

static void
test_prepare_fails_on_a_file(void **state)
{
	struct fixture *f = *state;
	struct err e;

	free(unit_write(f->dir, "Maildir", "not a directory\n"));
	err_clear(&e);
	assert_int_equal(f->be->prepare(&f->d, &e), -1);
	/* The path; the destination's name is the caller's to add. */
	assert_non_null(strstr(e.msg, f->d.path));
	assert_null(strstr(e.msg, "inbox"));
	assert_null(f->d.state);
}

static void
test_stage_sync_commit(void **state)
{
	struct fixture *f = *state;
	char *a, *b, *text;
	struct err e;

	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	a = stage(f, "Subject: a\n\nA\n");
	b = stage(f, "Subject: b\n\nB\n");
	/* Staged: in tmp/, invisible to readers. */
	assert_int_equal(count(f, "tmp"), 2);
	assert_int_equal(count(f, "new"), 0);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(count(f, "new"), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "new"), 2);
	text = content(f, "new", a);
	assert_string_equal(text, "Subject: a\n\nA\n");
	free(text);
	text = content(f, "new", b);
	assert_string_equal(text, "Subject: b\n\nB\n");
	free(text);
	/* Nothing staged: commit and sync are no-ops. */
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	free(a);
	free(b);
}

/* How many descriptors this process has open on files in Maildir/tmp. */
static int
open_in_tmp(struct fixture *f)
{
	char prefix[512], link[300], target[1024];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	snprintf(prefix, sizeof prefix, "%s/tmp/", f->d.path);
	while ((de = readdir(d)) != NULL) {
		ssize_t len;

		snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
		len = readlink(link, target, sizeof target - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strncmp(target, prefix, strlen(prefix)) == 0;
	}
	closedir(d);
	return n;
}

static void
test_small_batch_synced_file_by_file(void **state)
{
	struct fixture *f = *state;
	char *a, *b;
	struct err e;

	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	a = stage(f, "Subject: a\n\nA\n");
	b = stage(f, "Subject: b\n\nB\n");
	/* Kept open for their fdatasync: a syncfs would be dearer. */
	assert_int_equal(open_in_tmp(f), 2);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(open_in_tmp(f), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(count(f, "new"), 2);
	free(a);
	free(b);
}

/* The soft limit on descriptors, as a Maildir is prepared under it. */
static void
set_fd_limit(rlim_t soft)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = soft;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Stage message i of a numbered series; returns its name. */
static char *
stage_numbered(struct fixture *f, int i)
{
	char body[64];

	snprintf(body, sizeof body, "Subject: %d\n\n%d\n", i, i);
	return stage(f, body);
}

/* new/ holds numbered messages 0 to n-1 under names[]; frees the names. */
static void
check_numbered(struct fixture *f, char **names, int n)
{
	char body[64], *text;

	for (int i = 0; i < n; i++) {
		snprintf(body, sizeof body, "Subject: %d\n\n%d\n", i, i);
		text = content(f, "new", names[i]);
		assert_string_equal(text, body);
		free(text);
		free(names[i]);
	}
}

static void
test_large_batch_synced_together(void **state)
{
	struct fixture *f = *state;
	char *names[40];
	struct err e;

	/* A limit of 1,024 descriptors lets 256 files wait for the pass. */
	set_fd_limit(1024);
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	for (int i = 0; i < 40; i++) {
		names[i] = stage_numbered(f, i);
		/* Each file stays open until a pass covers it. */
		assert_int_equal(open_in_tmp(f), i + 1);
	}
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(open_in_tmp(f), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "new"), 40);
	check_numbered(f, names, 40);
	/* A rollback of a large batch leaves nothing either. */
	for (int i = 0; i < 10; i++)
		names[i] = stage(f, "X: y\n\n");
	f->be->rollback(&f->d);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "new"), 40);
	for (int i = 0; i < 10; i++)
		free(names[i]);
}

/* However large the batch, the files open at once stay under a quarter
 * of the descriptor limit. */
static void
test_open_files_bounded(void **state)
{
	struct fixture *f = *state;
	char *names[60];
	struct err e;

	set_fd_limit(160);
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	set_fd_limit(1024);
	for (int i = 0; i < 60; i++) {
		names[i] = stage_numbered(f, i);
		assert_int_equal(open_in_tmp(f), i < 40 ? i + 1 : 40);
	}
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(open_in_tmp(f), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(count(f, "new"), 60);
	check_numbered(f, names, 60);
}

/* With every Maildir's budget of open files spent, a small batch still
 * keeps its files open: they are synced one by one. */
static void
test_small_batch_open_when_the_budget_is_spent(void **state)
{
	struct fixture *f = *state;
	struct destination first;
	char *names[45], *a, *b;
	struct err e;

	set_fd_limit(160);	/* 40 files open in all */
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	for (int i = 0; i < 45; i++)
		names[i] = stage(f, "X: y\n\n");
	assert_int_equal(open_in_tmp(f), 40);
	first = f->d;
	f->d.state = NULL;
	assert_true(asprintf(&f->d.path, "%s/Second", f->dir) > 0);
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	a = stage(f, "Subject: a\n\nA\n");
	b = stage(f, "Subject: b\n\nB\n");
	assert_int_equal(open_in_tmp(f), 2);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(count(f, "new"), 2);
	f->be->finish(&f->d);
	free(f->d.path);
	f->d = first;
	set_fd_limit(1024);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(count(f, "new"), 45);
	for (int i = 0; i < 45; i++)
		free(names[i]);
	free(a);
	free(b);
}

/* Pages of new/NAME in the page cache. */
static size_t
resident_pages(struct fixture *f, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/new/%s", f->d.path, name);
	assert_int_equal(stat(path, &st), 0);
	return unit_resident_pages(path, 0, (size_t)st.st_size);
}

/* Once synced, the files of a large batch leave the page cache; a small
 * batch's stay, for the reader that comes next. */
static void
test_synced_pages_dropped(void **state)
{
	struct fixture *f = *state;
	char *text = malloc(64 * 1024 + 1), *names[8];
	struct err e;

	f->disk = unit_disk_tmpdir();
	free(f->d.path);
	assert_true(asprintf(&f->d.path, "%s/Maildir", f->disk) > 0);
	memcpy(text, "Subject: big\n\n", 14);
	memset(text + 14, 'x', 64 * 1024 - 14);
	text[64 * 1024 - 1] = '\n';
	text[64 * 1024] = '\0';
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	for (int i = 0; i < 8; i++)
		names[i] = stage(f, text);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(resident_pages(f, names[i]), 0);
		free(names[i]);
	}
	for (int i = 0; i < 2; i++)
		names[i] = stage(f, text);
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(resident_pages(f, names[i]), 16);
		free(names[i]);
	}
	free(text);
}

static void
test_names_unique(void **state)
{
	struct fixture *f = *state;
	char *names[100];
	struct err e;

	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	for (int i = 0; i < 100; i++) {
		long long sec;
		long usec, pid;
		unsigned q;
		int used = 0;

		names[i] = stage(f, "X: y\n\n");
		/* time.MusecPpidQn.host: no "/" and no ":" in it. */
		assert_int_equal(sscanf(names[i], "%lld.M%6ldP%ldQ%u.%n", &sec,
		    &usec, &pid, &q, &used), 4);
		assert_true(used > 0);
		assert_int_equal(pid, (long)getpid());
		assert_null(strchr(names[i], '/'));
		assert_null(strchr(names[i], ':'));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(names[i], names[j]);
	}
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(count(f, "new"), 100);
	for (int i = 0; i < 100; i++)
		free(names[i]);
}

static void
test_rollback_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char *a, *b;

	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	/* Before the sync (files still open) and after it. */
	a = stage(f, "A: 1\n\n");
	f->be->rollback(&f->d);
	assert_int_equal(count(f, "tmp"), 0);
	b = stage(f, "B: 2\n\n");
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	f->be->rollback(&f->d);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "new"), 0);
	/* Then a commit has nothing left to move. */
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	assert_int_equal(count(f, "new"), 0);
	free(a);
	free(b);
}

static void
test_commit_never_replaces(void **state)
{
	struct fixture *f = *state;
	char *a, *b, *text, path[512];
	struct err e;

	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	a = stage(f, "A: 1\n\n");
	b = stage(f, "B: 2\n\n");
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	/* Someone else's message already has b's name in new/. */
	snprintf(path, sizeof path, "%s/new", f->d.path);
	free(unit_write(path, b, "theirs\n"));
	err_clear(&e);
	assert_int_equal(f->be->commit(&f->d, &e), -1);
	assert_non_null(strstr(e.msg, b));
	text = content(f, "new", b);
	assert_string_equal(text, "theirs\n");
	free(text);
	/* a went through; b stays staged until rolled back. */
	text = content(f, "new", a);
	assert_string_equal(text, "A: 1\n\n");
	free(text);
	assert_int_equal(count(f, "tmp"), 1);
	f->be->rollback(&f->d);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "new"), 2);
	free(a);
	free(b);
}

static void
test_recover(void **state)
{
	struct fixture *f = *state;
	char *a, *b, *c, from[512], to[512];
	bool delivered;
	struct err e;

	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	a = stage(f, "A: 1\n\n");
	b = stage(f, "B: 2\n\n");
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	assert_int_equal(f->be->commit(&f->d, &e), 0);
	/* A reader moved b to cur/ with flags. */
	snprintf(from, sizeof from, "%s/new/%s", f->d.path, b);
	snprintf(to, sizeof to, "%s/cur/%s:2,S", f->d.path, b);
	assert_int_equal(rename(from, to), 0);
	c = stage(f, "C: 3\n\n");
	assert_int_equal(f->be->sync(&f->d, &e), 0);
	/* A crash here: c was journalled but never moved. */
	assert_int_equal(f->be->recover(&f->d, a, &delivered, &e), 0);
	assert_true(delivered);
	assert_int_equal(f->be->recover(&f->d, b, &delivered, &e), 0);
	assert_true(delivered);
	assert_int_equal(f->be->recover(&f->d, c, &delivered, &e), 0);
	assert_false(delivered);
	/* The staged copy is gone: the message is fetched again. */
	assert_int_equal(count(f, "tmp"), 0);
	f->be->rollback(&f->d);
	free(a);
	free(b);
	free(c);
}

static void
test_recover_odd_names(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
		"", ".", "..", "../new", "x/y", "nothing-here", ".hidden",
	};
	char path[512];
	bool delivered;
	struct err e;

	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	/* A journal names what mailferry wrote, but never trust it to
	 * reach outside the Maildir. */
	free(unit_write(f->dir, "outside", "x\n"));
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		delivered = true;
		assert_int_equal(f->be->recover(&f->d, names[i], &delivered,
		    &e), 0);
		assert_false(delivered);
	}
	snprintf(path, sizeof path, "%s/outside", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	/* A prefix of a name in cur/ is not that name. */
	snprintf(path, sizeof path, "%s/cur", f->d.path);
	free(unit_write(path, "123.M1P2Q3.hostx:2,S", "x\n"));
	assert_int_equal(f->be->recover(&f->d, "123.M1P2Q3.host",
	    &delivered, &e), 0);
	assert_false(delivered);
}

/* A pid that no process has (one that just exited). */
static long
dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	assert_true(pid > 0);
	waitpid(pid, NULL, 0);
	return (long)pid;
}

static void
test_prepare_sweeps_dead_writers(void **state)
{
	struct fixture *f = *state;
	char *a, *host, tmp[512], name[512], path[1100];
	struct err e;
	long dead = dead_pid();

	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	a = stage(f, "A: 1\n\n");
	host = strchr(strchr(a, 'Q'), '.') + 1;
	snprintf(tmp, sizeof tmp, "%s/tmp", f->d.path);
	/* Left by a killed run of this host: removed. */
	snprintf(name, sizeof name, "1.M000001P%ldQ1.%s", dead, host);
	free(unit_write(tmp, name, "dead\n"));
	/* A live writer, another host, another program: kept. */
	snprintf(name, sizeof name, "1.M000001P1Q1.%s", host);
	free(unit_write(tmp, name, "live\n"));
	snprintf(name, sizeof name, "1.M000001P%ldQ1.%s-other", dead, host);
	free(unit_write(tmp, name, "other host\n"));
	free(unit_write(tmp, "1234.other-mda.tmp", "other\n"));
	f->be->finish(&f->d);
	assert_null(f->d.state);
	/* finish rolled back a; the next run's prepare sweeps. */
	assert_int_equal(count(f, "tmp"), 4);
	assert_int_equal(f->be->prepare(&f->d, &e), 0);
	assert_int_equal(count(f, "tmp"), 3);
	snprintf(path, sizeof path, "%s/1.M000001P%ldQ1.%s", tmp, dead, host);
	assert_int_equal(access(path, F_OK), -1);
	free(a);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_check_and_prepare),
		T(test_prepare_fails_on_a_file),
		T(test_stage_sync_commit),
		T(test_small_batch_synced_file_by_file),
		T(test_large_batch_synced_together),
		T(test_open_files_bounded),
		T(test_small_batch_open_when_the_budget_is_spent),
		T(test_synced_pages_dropped),
		T(test_names_unique),
		T(test_rollback_leaves_nothing),
		T(test_commit_never_replaces),
		T(test_recover),
		T(test_recover_odd_names),
		T(test_prepare_sweeps_dead_writers),
	};
#undef T

	return cmocka_run_group_tests_name("deliver-maildir", tests, NULL,
	    NULL);
}
