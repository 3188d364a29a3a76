/*
 * Running external programs without a shell: a command line from the
 * configuration is split into words here (quotes and backslashes as in
 * sh, nothing expanded), and the program is executed directly, so no
 * message or server data is ever interpreted by a shell.
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

/* Feeds the child's standard input: fill buf, return the byte count, 0
 * at the end, -1 on error (e set). */
typedef int (*command_input)(void *arg, char *buf, size_t size,
    size_t *len, struct err *e);
/* Takes the child's standard output. */
typedef int (*command_output)(void *arg, const char *data, size_t len,
    struct err *e);

struct command_result {
	bool	exited;		/* false: killed by a signal or timed out */
	int	status;		/* exit status when exited */
	bool	timed_out;
	char	stderr_text[512];	/* the start of what it printed there */
};

/*
 * Run argv with its stdin fed by `in` (or /dev/null when NULL) and its
 * stdout passed to `out` (or /dev/null), killing it after timeout
 * seconds. Returns -1 only when it could not be run or a callback failed.
 */
int command_run(char *const argv[], int timeout, command_input in,
    void *in_arg, command_output out, void *out_arg,
    struct command_result *res, struct err *e);

/* Run a command and return the first line of its output (a password or
 * token); the line is wiped from memory when freed with freezero_str. */
char *command_first_line(const char *line, int timeout, const char *what,
    struct err *e);

#endif
