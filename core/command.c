#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"
#include "xmalloc.h"

#define PIPE_CHUNK	(64 * 1024)

char **
command_split(const char *line, const char **why)
{
	char **argv = NULL, *word = xmalloc(strlen(line) + 1);
	size_t argc = 0, w = 0;
	bool in_word = false;
	char quote = 0;

	for (const char *p = line;; p++) {
		char c = *p;

		if (c == '\0') {
			if (quote != 0) {
				*why = "unbalanced quotes";
				goto fail;
			}
		} else if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else
				word[w++] = c;
			continue;
		} else if (quote == '"') {
			if (c == '"')
				quote = 0;
			else if (c == '\\' && (p[1] == '"' || p[1] == '\\'))
				word[w++] = *++p;
			else
				word[w++] = c;
			continue;
		} else if (c == '\'' || c == '"') {
			quote = c;
			in_word = true;
			continue;
		} else if (c == '\\' && p[1] != '\0') {
			word[w++] = *++p;
			in_word = true;
			continue;
		} else if (c != ' ' && c != '\t' && c != '\n') {
			word[w++] = c;
			in_word = true;
			continue;
		}
		/* Whitespace or the end: close the word. */
		if (in_word) {
			argv = xreallocarray(argv, argc + 2, sizeof *argv);
			argv[argc++] = xstrndup(word, w);
			argv[argc] = NULL;
			w = 0;
			in_word = false;
		}
		if (c == '\0')
			break;
	}
	free(word);
	if (argc == 0) {
		*why = "no command";
		command_free_argv(argv);
		return NULL;
	}
	return argv;
fail:
	free(word);
	command_free_argv(argv);
	return NULL;
}

void
command_free_argv(char **argv)
{
	if (argv == NULL)
		return;
	for (char **a = argv; *a != NULL; a++)
		free(*a);
	free(argv);
}

static void
set_nonblocking(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* In the child: wire the pipes to 0, 1, 2 and exec. */
static void __attribute__((noreturn))
child(char *const argv[], int in_fd, int out_fd, int err_fd)
{
	int devnull = open("/dev/null", O_RDWR);

	/* Its own process group, so a timeout can end a wrapper script
	 * together with everything it started. */
	setpgid(0, 0);
	dup2(in_fd != -1 ? in_fd : devnull, STDIN_FILENO);
	dup2(out_fd != -1 ? out_fd : devnull, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	dprintf(STDERR_FILENO, "cannot run %s: %s", argv[0], strerror(errno));
	_exit(127);
}

int
command_run(char *const argv[], int timeout, command_input in, void *in_arg,
    command_output out, void *out_arg, struct command_result *res,
    struct err *e)
{
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	char *buf = xmalloc(PIPE_CHUNK), *pending = NULL;
	size_t pending_len = 0, pending_off = 0, errlen = 0;
	int64_t deadline = clock_ms() + (int64_t)timeout * 1000;
	bool in_done = in == NULL, failed = false;
	int status = 0, rc = -1;
	pid_t pid;

	memset(res, 0, sizeof *res);
	if ((in != NULL && pipe2(inp, O_CLOEXEC) == -1) ||
	    (out != NULL && pipe2(outp, O_CLOEXEC) == -1) ||
	    pipe2(errp, O_CLOEXEC) == -1) {
		err_sys(e, ERR_TEMP, "pipe");
		goto done;
	}
	pid = fork();
	if (pid == -1) {
		err_sys(e, ERR_TEMP, "fork");
		goto done;
	}
	if (pid == 0)
		child(argv, inp[0], outp[1], errp[1]);
	setpgid(pid, pid);	/* also here: no race with the child */
	close(inp[0]), inp[0] = -1;
	close(outp[1]), outp[1] = -1;
	close(errp[1]), errp[1] = -1;
	if (inp[1] != -1)
		set_nonblocking(inp[1]);
	if (outp[0] != -1)
		set_nonblocking(outp[0]);
	set_nonblocking(errp[0]);
	pending = xmalloc(PIPE_CHUNK);

	while (outp[0] != -1 || errp[0] != -1 || inp[1] != -1) {
		struct pollfd pfd[3];
		int n = 0, wait_ms = (int)(deadline - clock_ms());

		if (wait_ms <= 0) {
			res->timed_out = true;
			break;
		}
		if (inp[1] != -1)
			pfd[n++] = (struct pollfd){ inp[1], POLLOUT, 0 };
		if (outp[0] != -1)
			pfd[n++] = (struct pollfd){ outp[0], POLLIN, 0 };
		if (errp[0] != -1)
			pfd[n++] = (struct pollfd){ errp[0], POLLIN, 0 };
		if (poll(pfd, (nfds_t)n, wait_ms) == -1) {
			if (errno == EINTR)
				continue;
			err_sys(e, ERR_TEMP, "poll");
			failed = true;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == inp[1]) {
				if (pending_off == pending_len && !in_done) {
					pending_off = pending_len = 0;
					if (in(in_arg, pending, PIPE_CHUNK,
					    &pending_len, e) == -1) {
						failed = true;
						break;
					}
					in_done = pending_len == 0;
				}
				if (pending_off < pending_len) {
					ssize_t w = write(inp[1], pending +
					    pending_off, pending_len -
					    pending_off);

					if (w > 0)
						pending_off += (size_t)w;
					else if (w == -1 && errno != EAGAIN &&
					    errno != EINTR)
						in_done = true, pending_off =
						    pending_len;	/* EPIPE */
				}
				if (in_done && pending_off == pending_len) {
					close(inp[1]);
					inp[1] = -1;
				}
			} else {
				int fd = pfd[i].fd;
				ssize_t r = read(fd, buf, PIPE_CHUNK);

				if (r == -1 && (errno == EAGAIN ||
				    errno == EINTR))
					continue;
				if (r <= 0) {
					close(fd);
					if (fd == outp[0])
						outp[0] = -1;
					else
						errp[0] = -1;
					continue;
				}
				if (fd == outp[0]) {
					if (out(out_arg, buf, (size_t)r, e) ==
					    -1) {
						failed = true;
						break;
					}
				} else if (errlen + 1 <
				    sizeof res->stderr_text) {
					size_t take = (size_t)r;

					if (take > sizeof res->stderr_text -
					    errlen - 1)
						take = sizeof res->stderr_text -
						    errlen - 1;
					memcpy(res->stderr_text + errlen, buf,
					    take);
					errlen += take;
					res->stderr_text[errlen] = '\0';
				}
			}
		}
		if (failed)
			break;
	}
	if (res->timed_out || failed)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (failed)
		goto done;
	res->exited = !res->timed_out && WIFEXITED(status);
	res->status = res->exited ? WEXITSTATUS(status) : -1;
	/* Trim a final newline from what it said on stderr. */
	while (errlen > 0 && (res->stderr_text[errlen - 1] == '\n' ||
	    res->stderr_text[errlen - 1] == '\r'))
		res->stderr_text[--errlen] = '\0';
	rc = 0;
done:
	for (int i = 0; i < 2; i++) {
		if (inp[i] != -1)
			close(inp[i]);
		if (outp[i] != -1)
			close(outp[i]);
		if (errp[i] != -1)
			close(errp[i]);
	}
	/* It held the output: a password_command's password. */
	explicit_bzero(buf, PIPE_CHUNK);
	free(buf);
	free(pending);
	return rc;
}

struct first_line {
	char	buf[4096];
	size_t	len;
};

static int
collect_first_line(void *arg, const char *data, size_t len, struct err *e)
{
	struct first_line *fl = arg;
	size_t room = sizeof fl->buf - 1 - fl->len;

	(void)e;
	if (len > room)
		len = room;
	memcpy(fl->buf + fl->len, data, len);
	fl->len += len;
	return 0;
}

char *
command_first_line(const char *line, int timeout, const char *what,
    struct err *e)
{
	struct first_line *fl = xcalloc(1, sizeof *fl);
	struct command_result res;
	const char *why;
	char **argv = command_split(line, &why);
	char *result = NULL;

	if (argv == NULL) {
		err_set(e, ERR_CONFIG, "%s: %s", what, why);
		goto done;
	}
	if (command_run(argv, timeout, NULL, NULL, collect_first_line, fl,
	    &res, e) == -1) {
		err_prefix(e, "%s", what);
		goto done;
	}
	if (res.timed_out) {
		err_set(e, ERR_TEMP, "%s (%s) did not finish within %d s",
		    what, argv[0], timeout);
		goto done;
	}
	if (!res.exited || res.status != 0) {
		err_set(e, ERR_TEMP, "%s (%s) failed with status %d%s%s", what,
		    argv[0], res.status, res.stderr_text[0] ? ": " : "",
		    res.stderr_text);
		goto done;
	}
	fl->buf[fl->len] = '\0';
	fl->buf[strcspn(fl->buf, "\r\n")] = '\0';
	if (fl->buf[0] == '\0') {
		err_set(e, ERR_TEMP, "%s (%s) printed nothing", what, argv[0]);
		goto done;
	}
	result = xstrdup(fl->buf);
done:
	command_free_argv(argv);
	explicit_bzero(fl, sizeof *fl);
	free(fl);
	return result;
}
