/*
 * Running programs: splitting a command line into words, feeding and
 * reading a child, its timeout (also once it closed its output), the
 * kill of its whole process group, and what it said on standard error
 * made fit for one error line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "command.h"

static void
check_split(const char *line, const char *const *expect)
{
	const char *why = NULL;
	char **argv = command_split(line, &why);
	size_t n = 0;

	assert_non_null(argv);
	for (; expect[n] != NULL; n++) {
		assert_non_null(argv[n]);
		assert_string_equal(argv[n], expect[n]);
	}
	assert_null(argv[n]);
	command_free_argv(argv);
}

static void
test_split_words(void **state)
{
	(void)state;
	check_split("a b\tc", (const char *const[]){ "a", "b", "c", NULL });
	check_split("  spamc -c  ", (const char *const[]){ "spamc", "-c",
	    NULL });
	check_split("'a b' \"c \\\"d\\\\\" e\\ f",
	    (const char *const[]){ "a b", "c \"d\\", "e f", NULL });
	check_split("''", (const char *const[]){ "", NULL });
	check_split("'$(x)' `y` ;z", (const char *const[]){ "$(x)", "`y`",
	    ";z", NULL });
}

static void
test_split_errors(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_null(command_split("a 'b", &why));
	assert_string_equal(why, "unbalanced quotes");
	assert_null(command_split("   ", &why));
	assert_string_equal(why, "no command");
	assert_null(command_split("\"", &why));
}

struct sink {
	char	*data;
	size_t	 len;
	int	 fail_after;	/* calls; 0: never fail */
	int	 calls;
};

static int
take(void *arg, const char *data, size_t len, struct err *e)
{
	struct sink *s = arg;

	if (s->fail_after > 0 && ++s->calls >= s->fail_after)
		return err_set(e, ERR_TEMP, "enough");
	s->data = realloc(s->data, s->len + len + 1);
	memcpy(s->data + s->len, data, len);
	s->len += len;
	s->data[s->len] = '\0';
	return 0;
}

struct source {
	size_t	left;
};

static int
give(void *arg, char *buf, size_t size, size_t *len, struct err *e)
{
	struct source *src = arg;

	(void)e;
	*len = src->left < size ? src->left : size;
	memset(buf, 'm', *len);
	src->left -= *len;
	return 0;
}

static int
run_sh(const char *script, int timeout, struct sink *out,
    struct command_result *res)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct err e;

	return command_run(argv, timeout, NULL, NULL, out != NULL ? take :
	    NULL, out, res, &e);
}

static void
test_run_status_and_output(void **state)
{
	struct command_result res;
	struct sink out = { 0 };

	(void)state;
	assert_int_equal(run_sh("echo hello; exit 3", 10, &out, &res), 0);
	assert_true(res.exited);
	assert_false(res.timed_out);
	assert_int_equal(res.status, 3);
	assert_string_equal(out.data, "hello\n");
	free(out.data);
}

/* More than a pipe holds, in and out at once. */
static void
test_run_feeds_and_reads(void **state)
{
	char *argv[] = { "cat", NULL };
	struct source src = { 3 * 1024 * 1024 };
	struct command_result res;
	struct sink out = { 0 };
	struct err e;

	(void)state;
	assert_int_equal(command_run(argv, 30, give, &src, take, &out, &res,
	    &e), 0);
	assert_true(res.exited);
	assert_int_equal(res.status, 0);
	assert_int_equal(out.len, 3 * 1024 * 1024);
	assert_int_equal(out.data[out.len - 1], 'm');
	free(out.data);
}

static void
test_run_timeout(void **state)
{
	struct command_result res;

	(void)state;
	assert_int_equal(run_sh("sleep 30", 1, NULL, &res), 0);
	assert_true(res.timed_out);
	assert_false(res.exited);
}

/* The child closes stdout and stderr and goes on: the timeout still
 * holds, and it is not taken for a success. */
static void
test_run_timeout_after_closing_output(void **state)
{
	struct command_result res;
	struct sink out = { 0 };

	(void)state;
	assert_int_equal(run_sh("exec >&- 2>&-; sleep 30", 1, &out, &res),
	    0);
	assert_true(res.timed_out);
	assert_false(res.exited);
	free(out.data);
}

/* A timeout kills what the program started too. */
static void
test_run_timeout_kills_the_group(void **state)
{
	char path[] = "/tmp/mf-test-command-XXXXXX", stat[64], line[256];
	struct command_result res;
	char script[200];
	FILE *fp;
	long pid;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd != -1);
	snprintf(script, sizeof script, "sleep 30 & echo $! > %s; wait",
	    path);
	assert_int_equal(run_sh(script, 1, NULL, &res), 0);
	assert_true(res.timed_out);
	fp = fdopen(fd, "r");
	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%ld", &pid), 1);
	fclose(fp);
	unlink(path);
	/* Gone, or a zombie waiting for init to reap it; a SIGKILL takes
	 * effect asynchronously, so give a loaded machine a few seconds. */
	snprintf(stat, sizeof stat, "/proc/%ld/stat", pid);
	for (int tries = 0; tries < 500; tries++) {
		fp = fopen(stat, "r");
		if (fp == NULL)
			return;
		assert_non_null(fgets(line, sizeof line, fp));
		fclose(fp);
		if (strstr(line, ") Z ") != NULL)
			return;
		usleep(10 * 1000);
	}
	fail_msg("the grandchild %ld outlived the timeout: %s", pid, line);
}

static void
test_stderr_is_one_escaped_line(void **state)
{
	struct command_result res;

	(void)state;
	assert_int_equal(run_sh("printf 'vault is locked\\ntry: pass "
	    "unlock\\r\\n\\n\\033[31mred\\302\\233x\\t\\n\\n' >&2; exit 1",
	    10, NULL, &res), 0);
	assert_int_equal(res.status, 1);
	assert_string_equal(res.stderr_text, "vault is locked / try: pass "
	    "unlock / \\x1b[31mred\\xc2\\x9bx");
}

static void
test_stderr_is_capped(void **state)
{
	struct command_result res;

	(void)state;
	assert_int_equal(run_sh("i=0; while [ $i -lt 2000 ]; do "
	    "echo \"line $i\" >&2; i=$((i+1)); done", 30, NULL, &res), 0);
	assert_true(res.exited);
	assert_int_equal(res.status, 0);
	assert_true(strlen(res.stderr_text) < sizeof res.stderr_text);
	assert_int_equal(strncmp(res.stderr_text, "line 0 / line 1 / ", 18),
	    0);
	assert_string_equal(res.stderr_text + strlen(res.stderr_text) - 3,
	    "...");
	assert_null(strchr(res.stderr_text, '\n'));
}

static void
test_not_found_is_127(void **state)
{
	char *argv[] = { "/nonexistent/helper", NULL };
	struct command_result res;
	struct err e;

	(void)state;
	assert_int_equal(command_run(argv, 5, NULL, NULL, NULL, NULL, &res,
	    &e), 0);
	assert_true(res.exited);
	assert_int_equal(res.status, 127);
	assert_string_equal(res.stderr_text, "cannot run /nonexistent/helper: "
	    "No such file or directory");
}

/* A callback that fails ends the run and the child. */
static void
test_output_callback_failure(void **state)
{
	struct command_result res;
	struct sink out = { .fail_after = 1 };

	(void)state;
	assert_int_equal(run_sh("while :; do echo y; done", 30, &out, &res),
	    -1);
	assert_false(res.exited);
}

static void
test_first_line(void **state)
{
	struct err e;
	char *s;

	(void)state;
	s = command_first_line("printf 'secret\\nsecond\\n'", 5, "pw", &e);
	assert_non_null(s);
	assert_string_equal(s, "secret");
	free(s);
	s = command_first_line("sh -c 'echo locked >&2; echo again >&2; "
	    "exit 2'", 5, "pw", &e);
	assert_null(s);
	assert_string_equal(e.msg, "pw (sh) failed with status 2: locked / "
	    "again");
	s = command_first_line("sh -c 'exec >&- 2>&-; sleep 30'", 1, "pw",
	    &e);
	assert_null(s);
	assert_string_equal(e.msg, "pw (sh) did not finish within 1 s");
}

/* The line goes to /bin/sh -c whole: pipes, ~, variables and quotes are
 * the shell's; messages name only the first word. */
static void
test_first_line_is_a_shell_line(void **state)
{
	const char *prefix = "pw (no-such-helper-xyz) failed with status 127: "
	    "/bin/sh: ";
	char *home = getenv("HOME"), *s, want[4096];
	struct err e;

	(void)state;
	s = command_first_line("printf 'b\\na\\n' | sort | tr a-z A-Z", 5,
	    "pw", &e);
	assert_non_null(s);
	assert_string_equal(s, "A");
	free(s);
	assert_non_null(home);
	snprintf(want, sizeof want, "%s/x %s", home, home);
	s = command_first_line("echo ~/x \"$HOME\"", 5, "pw", &e);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
	s = command_first_line("  no-such-helper-xyz show mail/work | head -1; "
	    "exit 127", 5, "pw", &e);
	assert_null(s);
	assert_int_equal(e.cls, ERR_TEMP);
	/* The rest is the shell's wording. */
	assert_int_equal(strncmp(e.msg, prefix, strlen(prefix)), 0);
	assert_non_null(strstr(e.msg, "no-such-helper-xyz: not found"));
	s = command_first_line("echo a >&2; echo b >&2; false", 5, "pw", &e);
	assert_null(s);
	assert_string_equal(e.msg, "pw (echo) failed with status 1: a / b");
	s = command_first_line("true", 5, "pw", &e);
	assert_null(s);
	assert_string_equal(e.msg, "pw (true) printed nothing");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_words),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_run_status_and_output),
		cmocka_unit_test(test_run_feeds_and_reads),
		cmocka_unit_test(test_run_timeout),
		cmocka_unit_test(test_run_timeout_after_closing_output),
		cmocka_unit_test(test_run_timeout_kills_the_group),
		cmocka_unit_test(test_stderr_is_one_escaped_line),
		cmocka_unit_test(test_stderr_is_capped),
		cmocka_unit_test(test_not_found_is_127),
		cmocka_unit_test(test_output_callback_failure),
		cmocka_unit_test(test_first_line),
		cmocka_unit_test(test_first_line_is_a_shell_line),
	};

	return cmocka_run_group_tests_name("command", tests, NULL, NULL);
}
