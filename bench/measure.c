/*
 * Run a command and measure it, for `make bench`.
 *
 *   measure RESULT_FILE TIMEOUT_SECONDS COMMAND [ARG...]
 *
 * Forks (from this small process, so that the child's peak RSS starts
 * small: a child forked from a big Python process would report the
 * parent's pages), runs COMMAND in a process group of its own, waits for it
 * with wait4, and writes one line to RESULT_FILE:
 *
 *   WALL_SECONDS USER_SECONDS SYSTEM_SECONDS MAXRSS_KB EXIT TIMED_OUT
 *
 * WALL from just before fork to the return of wait4 (CLOCK_MONOTONIC);
 * the times and MAXRSS are wait4's: the command and the descendants it
 * waited for (MAXRSS the largest of them). EXIT is the exit status, or 128
 * plus the signal. After TIMEOUT_SECONDS the group is killed (TIMED_OUT
 * 1). Anything left in the group afterwards is killed too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;
static pid_t child;

static void
on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	kill(-child, SIGKILL);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct rusage ru;
	struct sigaction sa = { .sa_handler = on_alarm };
	int status, code;
	double t0, wall;
	FILE *out;

	if (argc < 4) {
		fprintf(stderr, "usage: measure RESULT_FILE TIMEOUT COMMAND...\n");
		return 64;
	}
	sigaction(SIGALRM, &sa, NULL);
	t0 = now();
	child = fork();
	if (child == -1) {
		perror("measure: fork");
		return 71;
	}
	if (child == 0) {
		setpgid(0, 0);
		execvp(argv[3], argv + 3);
		perror(argv[3]);
		_exit(127);
	}
	setpgid(child, child);		/* no race with the child's own call */
	alarm((unsigned)atoi(argv[2]));
	while (wait4(child, &status, 0, &ru) == -1)
		if (errno != EINTR) {
			perror("measure: wait4");
			return 71;
		}
	wall = now() - t0;
	alarm(0);
	kill(-child, SIGKILL);
	code = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
	if ((out = fopen(argv[1], "w")) == NULL) {
		perror(argv[1]);
		return 71;
	}
	fprintf(out, "%.6f %.6f %.6f %ld %d %d\n", wall,
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
	    ru.ru_maxrss, code, (int)timed_out);
	fclose(out);
	return 0;
}
