/*
 * Running external programs without a shell: a command line from the
 * configuration is split into words here (quotes and backslashes as in
 * sh, nothing expanded), and the program is executed directly, so no
 * message or server data is ever interpreted by a shell. The one
 * exception, command_first_line, runs a line the user wrote whole
 * (password_command) and passes it nothing from outside.
 */
#ifndef MF_COMMAND_H
#define MF_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Split `line` into a NULL-terminated argv; NULL and *why set when the
 * quoting is unbalanced or there is no word. */
char **command_split(const char *line, const char **why);
void command_free_argv(char **argv);

/* Could argv0 be started: an executable file at that path when it holds
 * a "/", else one in a directory of PATH (as posix_spawnp looks)? */
bool command_exists(const char *argv0);

/* Feeds the child's standard input: fill buf, return the byte count, 0
 * at the end, -1 on error (e set). */
typedef int (*command_input)(void *arg, char *buf, size_t size,
    size_t *len, struct err *e);
/* Takes the child's standard output. */
typedef int (*command_output)(void *arg, const char *data, size_t len,
    struct err *e);

/* How much of a program's standard error is kept for messages. */
#define COMMAND_STDERR_KEEP	400

struct command_result {
	bool	exited;		/* false: killed by a signal or timed out */
	int	status;		/* exit status when exited */
	bool	timed_out;
	/* The start of what it printed on standard error, ready for an
	 * error line: one line (line ends shown as " / "), escaped, with
	 * "..." when there was more. */
	char	stderr_text[512];
};

/*
 * Run argv (looked up in PATH, no shell) with its stdin fed by `in` (or
 * /dev/null when NULL) and its stdout passed to `out` (or /dev/null).
 * The timeout holds for the whole run, also after the program closed
 * its output: past it, the program's process group is killed. A program
 * that cannot be started exits 127, as from a shell, with the reason in
 * stderr_text. Returns -1 only when pipes could not be made or a
 * callback failed.
 */
int command_run(char *const argv[], int timeout, command_input in,
    void *in_arg, command_output out, void *out_arg,
    struct command_result *res, struct err *e);

/* Run a shell command line with /bin/sh -c (so that ~, pipes and
 * variables work, as for mpop's passwordeval) and return the first line
 * of its output (a password or token); the line is wiped from memory
 * when freed with freezero_str. Messages name the line's first word
 * only. */
char *command_first_line(const char *line, int timeout, const char *what,
    struct err *e);

#endif
