/*
 * The plugin guard: a crash or a hang while armed writes the prepared
 * record and message and ends the process with 70; disarmed, nothing is
 * left behind. Each case runs in a child process.
 */
#include <sys/wait.h>

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "plugin-guard.h"

#define RECORD	"C uid-7 1700000000 scanner\n"

struct outcome {
	int	 status;		/* exit status, -1: killed */
	char	 record[256];		/* what reached the record file */
	char	 err[1024];		/* what reached stderr */
};

static void
slurp(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

static int
temp_fd(void)
{
	char path[] = "/tmp/mf-guard-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd != -1);
	unlink(path);
	return fd;
}

/* Run fn in a child with the guard armed for 1 s (fd: a temp file). */
static void
run(void (*fn)(void), struct outcome *o)
{
	int rec = temp_fd(), err = temp_fd(), status;
	pid_t pid = fork();

	assert_true(pid != -1);
	if (pid == 0) {
		struct guard_call c = { .fd = rec, .record = RECORD,
		    .recordlen = strlen(RECORD), .account = "work",
		    .plugin = "scanner", .uid = "uid-7", .seconds = 1 };

		dup2(err, STDERR_FILENO);
		guard_arm(&c);
		fn();
		guard_disarm();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	o->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	slurp(rec, o->record, sizeof o->record);
	slurp(err, o->err, sizeof o->err);
}

static void
segv(void)
{
	raise(SIGSEGV);
}

static void
hang(void)
{
	for (;;)
		pause();
}

static void
fine(void)
{
}

static void
paused_wait(void)
{
	struct timespec ts = { 1, 500 * 1000 * 1000 };

	/* As if running a filter program that bounds its own time. */
	guard_pause();
	while (nanosleep(&ts, &ts) == -1)
		;
	guard_resume();
}

static void
test_crash_writes_record_and_exits_70(void **state)
{
	struct outcome o;

	(void)state;
	run(segv, &o);
	assert_int_equal(o.status, 70);
	assert_string_equal(o.record, RECORD);
	assert_non_null(strstr(o.err, "mailferry: work: plugin scanner "
	    "crashed (SIGSEGV) on the message with UID uid-7: it is set "
	    "aside"));
	assert_non_null(strstr(o.err, "mailferry -a work --release uid-7"));
}

static void
test_abort(void **state)
{
	struct outcome o;

	(void)state;
	run(abort, &o);
	assert_int_equal(o.status, 70);
	assert_string_equal(o.record, RECORD);
	assert_non_null(strstr(o.err, "plugin scanner aborted (SIGABRT)"));
}

static void
test_hang(void **state)
{
	struct outcome o;

	(void)state;
	run(hang, &o);
	assert_int_equal(o.status, 70);
	assert_string_equal(o.record, RECORD);
	assert_non_null(strstr(o.err, "plugin scanner did not return within "
	    "1 s on the message with UID uid-7"));
}

static void
test_returning_leaves_no_trace(void **state)
{
	struct outcome o;

	(void)state;
	run(fine, &o);
	assert_int_equal(o.status, 0);
	assert_string_equal(o.record, "");
	assert_string_equal(o.err, "");
}

static void
test_paused_time_does_not_count(void **state)
{
	struct outcome o;

	(void)state;
	run(paused_wait, &o);
	assert_int_equal(o.status, 0);
	assert_string_equal(o.record, "");
}

static void
raise_segv(void)
{
	raise(SIGSEGV);
}

/* Not NULL, which a sanitizer would catch first; never mapped. Volatile,
 * so that the compiler cannot see the address. */
static volatile uintptr_t unmapped = 64;

static void
fault(void)
{
	*(volatile int *)unmapped = 1;
}

/* After the call, a crash (sent, or a fault) is what it would have been
 * without the guard; a late alarm is nobody's. */
static void
crash_after_disarm(void (*crash)(void))
{
	int rec = temp_fd(), status;
	char record[64];
	pid_t pid = fork();

	assert_true(pid != -1);
	if (pid == 0) {
		struct guard_call c = { .fd = rec, .record = RECORD,
		    .recordlen = strlen(RECORD), .plugin = "p", .uid = "u",
		    .seconds = 5 };

		signal(SIGSEGV, SIG_DFL);
		guard_arm(&c);
		guard_disarm();
		/* Not armed: pausing and resuming start no clock. */
		guard_pause();
		guard_resume();
		raise(SIGALRM);
		crash();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	slurp(rec, record, sizeof record);
	assert_string_equal(record, "");
}

static void
test_after_disarm_as_if_not_there(void **state)
{
	(void)state;
	crash_after_disarm(raise_segv);
	crash_after_disarm(fault);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_writes_record_and_exits_70),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_hang),
		cmocka_unit_test(test_returning_leaves_no_trace),
		cmocka_unit_test(test_paused_time_does_not_count),
		cmocka_unit_test(test_after_disarm_as_if_not_there),
	};

	return cmocka_run_group_tests_name("plugin-guard", tests, NULL, NULL);
}
