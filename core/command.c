#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "clock.h"
#include "command.h"
#include "log.h"
#include "xmalloc.h"

extern char **environ;

#define PIPE_CHUNK	(64 * 1024)

char **
command_split(const char *line, const char **why)
{
	char **argv = NULL, *word = xmalloc(strlen(line) + 1);
	size_t argc = 0, cap = 0, w = 0;
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
			ARRAY_RESERVE(argv, argc, cap, 2);
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

static bool
executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

bool
command_exists(const char *argv0)
{
	const char *path = getenv("PATH"), *p, *end;
	char *candidate;
	bool found = false;

	if (strchr(argv0, '/') != NULL)
		return executable_file(argv0);
	/* posix_spawnp's search: without PATH, the system's default. */
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (p = path; !found; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		/* An empty entry is the current directory. */
		candidate = end == p ? xasprintf("./%s", argv0) :
		    xasprintf("%.*s/%s", (int)(end - p), p, argv0);
		found = executable_file(candidate);
		free(candidate);
		if (*end == '\0')
			break;
	}
	return found;
}

/* A child being run: its pid (also its process group) and our ends of
 * its pipes, -1 once closed. */
struct child {
	pid_t	 pid;
	int	 in, out, err;
};

/* What is read of a child's standard error: its start, kept for the
 * error message; the rest is read and dropped. */
struct err_capture {
	char	 buf[COMMAND_STDERR_KEEP];
	size_t	 len;
	bool	 more;
};

static void
close_fd(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

static int
make_pipe(int p[2], struct err *e)
{
	if (pipe2(p, O_CLOEXEC) == -1)
		return err_sys(e, ERR_TEMP, "pipe");
	return 0;
}

/* Wire 0, 1, 2 of the child: a pipe end, or /dev/null. */
static int
wire_fds(posix_spawn_file_actions_t *fa, const int inp[2],
    const int outp[2], const int errp[2])
{
	int rc = 0;

	if (inp[0] != -1)
		rc |= posix_spawn_file_actions_adddup2(fa, inp[0], 0);
	else
		rc |= posix_spawn_file_actions_addopen(fa, 0, "/dev/null",
		    O_RDONLY, 0);
	if (outp[1] != -1)
		rc |= posix_spawn_file_actions_adddup2(fa, outp[1], 1);
	else
		rc |= posix_spawn_file_actions_addopen(fa, 1, "/dev/null",
		    O_WRONLY, 0);
	rc |= posix_spawn_file_actions_adddup2(fa, errp[1], 2);
	return rc;
}

/*
 * Its own process group, so a timeout ends a wrapper script together
 * with everything it started; the signals we ignore or block back to
 * normal, as a program expects them.
 */
static int
spawn_attributes(posix_spawnattr_t *attr)
{
	sigset_t none, dfl;
	int rc = 0;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGUSR1);
	rc |= posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc |= posix_spawnattr_setpgroup(attr, 0);
	rc |= posix_spawnattr_setsigmask(attr, &none);
	rc |= posix_spawnattr_setsigdefault(attr, &dfl);
	return rc;
}

/*
 * Start argv with pipes for what the caller feeds and takes (the rest
 * /dev/null). A program that cannot be run is not an error here: it
 * gives the result a shell would, status 127 and a reason.
 */
static int
child_spawn(char *const argv[], bool feed, bool take, struct child *ch,
    struct command_result *res, struct err *e)
{
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int rc;

	*ch = (struct child){ .pid = -1, .in = -1, .out = -1, .err = -1 };
	if ((feed && make_pipe(inp, e) == -1) ||
	    (take && make_pipe(outp, e) == -1) || make_pipe(errp, e) == -1) {
		for (int i = 0; i < 2; i++) {
			close_fd(&inp[i]);
			close_fd(&outp[i]);
			close_fd(&errp[i]);
		}
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	rc = wire_fds(&fa, inp, outp, errp) | spawn_attributes(&attr);
	if (rc == 0)
		rc = posix_spawnp(&ch->pid, argv[0], &fa, &attr, argv,
		    environ);
	else
		rc = ENOMEM;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close_fd(&inp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[1]);
	ch->in = inp[1];
	ch->out = outp[0];
	ch->err = errp[0];
	if (rc != 0) {
		ch->pid = -1;
		res->exited = true;
		res->status = 127;
		snprintf(res->stderr_text, sizeof res->stderr_text,
		    "cannot run %s: %s", argv[0], strerror(rc));
		return 0;
	}
	for (int *fd = &ch->in; fd <= &ch->err; fd++)
		if (*fd != -1)
			fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

/* Standard input: write what is pending, asking `in` for more when all
 * of it is out; close the pipe at the end, or when the child stopped
 * reading. */
struct feeder {
	command_input	 fn;
	void		*arg;
	char		*buf;
	size_t		 len, off;
	bool		 done;
};

static int
pump_input(struct child *ch, struct feeder *fd_in, struct err *e)
{
	if (fd_in->off == fd_in->len && !fd_in->done) {
		fd_in->off = fd_in->len = 0;
		if (fd_in->fn(fd_in->arg, fd_in->buf, PIPE_CHUNK, &fd_in->len,
		    e) == -1)
			return -1;
		fd_in->done = fd_in->len == 0;
	}
	if (fd_in->off < fd_in->len) {
		ssize_t w = write(ch->in, fd_in->buf + fd_in->off,
		    fd_in->len - fd_in->off);

		if (w > 0)
			fd_in->off += (size_t)w;
		else if (w == -1 && errno != EAGAIN && errno != EINTR)
			fd_in->done = true, fd_in->off = fd_in->len; /* EPIPE */
	}
	if (fd_in->done && fd_in->off == fd_in->len)
		close_fd(&ch->in);
	return 0;
}

static void
capture(struct err_capture *cap, const char *data, size_t len)
{
	size_t room = sizeof cap->buf - cap->len;

	if (len > room) {
		cap->more = true;
		len = room;
	}
	memcpy(cap->buf + cap->len, data, len);
	cap->len += len;
}

/* Read what is there on *fd: to `out`, or captured. */
static int
pump_output(int *fd, char *buf, command_output out, void *out_arg,
    struct err_capture *cap, struct err *e)
{
	ssize_t r = read(*fd, buf, PIPE_CHUNK);

	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0) {
		close_fd(fd);
		return 0;
	}
	if (cap != NULL) {
		capture(cap, buf, (size_t)r);
		return 0;
	}
	return out(out_arg, buf, (size_t)r, e);
}

/*
 * Move data until the child has closed every pipe, or the deadline.
 * Returns 0 (res->timed_out says which), -1 when poll or a callback
 * failed.
 */
static int
child_pump(struct child *ch, int64_t deadline, struct feeder *fd_in,
    command_output out, void *out_arg, struct err_capture *cap,
    struct command_result *res, struct err *e)
{
	char *buf = xmalloc(PIPE_CHUNK);
	int rc = 0;

	while (rc == 0 && (ch->in != -1 || ch->out != -1 || ch->err != -1)) {
		struct pollfd pfd[3] = {
			{ ch->in, POLLOUT, 0 }, { ch->out, POLLIN, 0 },
			{ ch->err, POLLIN, 0 },
		};
		int64_t wait_ms = deadline - clock_ms();

		if (wait_ms <= 0) {
			res->timed_out = true;
			break;
		}
		/* poll skips the negative descriptors of closed pipes. */
		if (poll(pfd, 3, (int)wait_ms) == -1) {
			if (errno != EINTR)
				rc = err_sys(e, ERR_TEMP, "poll");
			continue;
		}
		if (pfd[0].revents != 0)
			rc = pump_input(ch, fd_in, e);
		if (rc == 0 && pfd[1].revents != 0)
			rc = pump_output(&ch->out, buf, out, out_arg, NULL, e);
		if (rc == 0 && pfd[2].revents != 0)
			rc = pump_output(&ch->err, buf, NULL, NULL, cap, e);
	}
	/* What passed through may have been a password. */
	explicit_bzero(buf, PIPE_CHUNK);
	free(buf);
	return rc;
}

/*
 * Wait for the child until the deadline, which holds after it closed its
 * pipes too: a child may close them and go on. Past the deadline (or
 * with kill set) its whole process group is killed.
 */
static void
child_reap(struct child *ch, int64_t deadline, bool kill_now,
    struct command_result *res)
{
	int status = 0, nap_ms = 1;
	pid_t got;

	for (;;) {
		if (kill_now || clock_ms() >= deadline) {
			if (!kill_now)
				res->timed_out = true;
			kill(-ch->pid, SIGKILL);
			while (waitpid(ch->pid, &status, 0) == -1 &&
			    errno == EINTR)
				;
			break;
		}
		got = waitpid(ch->pid, &status, WNOHANG);
		if (got == ch->pid || (got == -1 && errno != EINTR))
			break;
		if (got == 0) {
			/* It usually exits as it closes its pipes: a few
			 * short naps, then longer ones. */
			struct timespec ts = { 0, (long)nap_ms * 1000000 };

			nanosleep(&ts, NULL);
			if (nap_ms < 50)
				nap_ms *= 2;
		}
	}
	res->exited = !res->timed_out && !kill_now && WIFEXITED(status);
	res->status = res->exited ? WEXITSTATUS(status) : -1;
}

/*
 * What a program said on standard error, for an error line: one line,
 * each run of line ends shown as " / ", escaped, cut to fit with "..."
 * when there was more.
 */
static void
format_stderr(const struct err_capture *cap, char *dst, size_t size)
{
	char joined[3 * COMMAND_STDERR_KEEP];
	size_t j = 0, i = 0, len = cap->len, shown;

	while (len > 0 && strchr("\r\n \t", cap->buf[len - 1]) != NULL)
		len--;
	while (i < len) {
		if (cap->buf[i] == '\n' || cap->buf[i] == '\r') {
			while (i < len && (cap->buf[i] == '\n' ||
			    cap->buf[i] == '\r'))
				i++;
			memcpy(joined + j, " / ", 3);
			j += 3;
		} else
			joined[j++] = cap->buf[i++];
	}
	shown = log_escape(dst, size - 3, j > 0 ? joined : "", j);
	if (shown < j || cap->more)
		strcat(dst, "...");
}

int
command_run(char *const argv[], int timeout, command_input in, void *in_arg,
    command_output out, void *out_arg, struct command_result *res,
    struct err *e)
{
	int64_t deadline = clock_ms() + (int64_t)timeout * 1000;
	struct feeder feed = { .fn = in, .arg = in_arg, .done = in == NULL };
	struct err_capture *cap;
	struct child ch;
	int rc;

	memset(res, 0, sizeof *res);
	if (child_spawn(argv, in != NULL, out != NULL, &ch, res, e) == -1)
		return -1;
	if (ch.pid == -1)
		return 0;	/* could not be run: status 127 */
	cap = xcalloc(1, sizeof *cap);
	feed.buf = xmalloc(PIPE_CHUNK);
	rc = child_pump(&ch, deadline, &feed, out, out_arg, cap, res, e);
	child_reap(&ch, deadline, rc == -1 || res->timed_out, res);
	if (rc == 0)
		format_stderr(cap, res->stderr_text, sizeof res->stderr_text);
	close_fd(&ch.in);
	close_fd(&ch.out);
	close_fd(&ch.err);
	free(feed.buf);
	free(cap);
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

/* The first word of a shell line, to name the command in messages
 * without showing the rest (which may hold anything). */
static void
first_word(const char *line, char *buf, size_t size)
{
	size_t skip = strspn(line, " \t\n"), len = strcspn(line + skip,
	    " \t\n;|&<>()");

	if (len == 0)
		len = strcspn(line + skip, " \t\n");
	log_escape(buf, size, line + skip, len);
}

char *
command_first_line(const char *line, int timeout, const char *what,
    struct err *e)
{
	char *const argv[] = { "/bin/sh", "-c", (char *)line, NULL };
	struct first_line *fl = xcalloc(1, sizeof *fl);
	struct command_result res;
	char *result = NULL, name[64];

	first_word(line, name, sizeof name);
	if (command_run(argv, timeout, NULL, NULL, collect_first_line, fl,
	    &res, e) == -1) {
		err_prefix(e, "%s", what);
		goto done;
	}
	if (res.timed_out) {
		err_set(e, ERR_TEMP, "%s (%s) did not finish within %d s",
		    what, name, timeout);
		goto done;
	}
	if (!res.exited || res.status != 0) {
		err_set(e, ERR_TEMP, "%s (%s) failed with status %d%s%s", what,
		    name, res.status, res.stderr_text[0] ? ": " : "",
		    res.stderr_text);
		goto done;
	}
	fl->buf[fl->len] = '\0';
	fl->buf[strcspn(fl->buf, "\r\n")] = '\0';
	if (fl->buf[0] == '\0') {
		err_set(e, ERR_TEMP, "%s (%s) printed nothing%s%s", what, name,
		    res.stderr_text[0] ? ": " : "", res.stderr_text);
		goto done;
	}
	result = xstrdup(fl->buf);
done:
	explicit_bzero(fl, sizeof *fl);
	free(fl);
	return result;
}
