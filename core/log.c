#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	4096

static int verbosity = LOG_NORMAL;
static bool to_syslog;
static void (*before_write)(void);
/* MAILFERRY_TRACE_FILE: every line, at -vv level, also appended there. */
static int trace_fd = -1;

void
log_setup(int level, bool use_syslog)
{
	const char *trace = getenv("MAILFERRY_TRACE_FILE");

	verbosity = level;
	if (use_syslog && !to_syslog)
		openlog("mailferry", LOG_PID, LOG_MAIL);
	to_syslog = use_syslog;
	if (trace != NULL && trace[0] != '\0' && trace_fd == -1)
		trace_fd = open(trace, O_WRONLY | O_APPEND | O_CREAT |
		    O_CLOEXEC, 0600);
}

int
log_verbosity(void)
{
	return verbosity;
}

bool
log_enabled(int level)
{
	return verbosity >= level || trace_fd != -1;
}

bool
log_tracing(void)
{
	return log_enabled(LOG_TRACE);
}

void
log_set_before_write(void (*fn)(void))
{
	before_write = fn;
}

void
log_size(unsigned long long n, char *buf, size_t size)
{
	if (n < 1000 * 1000)
		snprintf(buf, size, "%.1f KB", (double)n / 1e3);
	else if (n < 1000ULL * 1000 * 1000)
		snprintf(buf, size, "%.1f MB", (double)n / 1e6);
	else
		snprintf(buf, size, "%.2f GB", (double)n / 1e9);
}

void
log_escape(char *dst, size_t dstsize, const char *src, size_t srclen)
{
	size_t o = 0;

	if (dstsize == 0)
		return;
	for (size_t i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c != 0x7f) {
			if (o + 1 >= dstsize)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= dstsize)
				break;
			snprintf(dst + o, dstsize - o, "\\x%02x", c);
			o += 4;
		}
	}
	dst[o] = '\0';
}

/*
 * Write one line: tty_prefix only on stderr/stdout (syslog names the
 * program itself), text_prefix in both.
 */
static void
emit(bool shown, int fd, int priority, const char *tty_prefix,
    const char *text_prefix, const char *fmt, va_list ap)
{
	char raw[LOG_LINE_MAX], line[LOG_LINE_MAX + 2];
	size_t len;
	int n;

	n = snprintf(raw, sizeof raw, "%s", text_prefix);
	if (n < 0 || (size_t)n >= sizeof raw)
		return;
	len = (size_t)n;
	n = vsnprintf(raw + len, sizeof raw - len, fmt, ap);
	if (n < 0)
		return;
	len += (size_t)n;
	if (len >= sizeof raw)
		len = sizeof raw - 1;
	if (trace_fd != -1) {
		char traced[LOG_LINE_MAX + 32];

		n = snprintf(traced, sizeof traced, "mailferry[%ld]: ",
		    (long)getpid());
		log_escape(traced + n, sizeof traced - (size_t)n - 1, raw, len);
		n = (int)strlen(traced);
		traced[n++] = '\n';
		(void)write(trace_fd, traced, (size_t)n);
	}
	if (!shown)
		return;
	if (to_syslog) {
		log_escape(line, sizeof line, raw, len);
		syslog(priority, "%s", line);
		return;
	}
	n = snprintf(line, sizeof line, "%s", tty_prefix);
	log_escape(line + n, sizeof line - (size_t)n - 1, raw, len);
	len = strlen(line);
	line[len++] = '\n';
	if (before_write != NULL)
		before_write();
	while (len > 0) {
		ssize_t w = write(fd, line, len);

		if (w <= 0)
			return;
		/* A short write on a pipe: finish the line. */
		memmove(line, line + w, len - (size_t)w);
		len -= (size_t)w;
	}
}

#define LOG_FUNCTION(name, minimum, fd, priority, prefix)		\
	void								\
	name(const char *fmt, ...)					\
	{								\
		va_list ap;						\
									\
		if (verbosity < (minimum) && trace_fd == -1)		\
			return;						\
		va_start(ap, fmt);					\
		emit(verbosity >= (minimum), (fd), (priority), (prefix),\
		    "", fmt, ap);					\
		va_end(ap);						\
	}

LOG_FUNCTION(log_error, LOG_QUIET, STDERR_FILENO, LOG_ERR, "mailferry: ")
LOG_FUNCTION(log_warn, LOG_NORMAL, STDERR_FILENO, LOG_WARNING,
    "mailferry: warning: ")
LOG_FUNCTION(log_warn_always, LOG_QUIET, STDERR_FILENO, LOG_WARNING,
    "mailferry: warning: ")
LOG_FUNCTION(log_info, LOG_NORMAL, STDERR_FILENO, LOG_INFO, "mailferry: ")
LOG_FUNCTION(log_verbose, LOG_VERBOSE, STDERR_FILENO, LOG_INFO, "mailferry: ")
LOG_FUNCTION(log_trace, LOG_TRACE, STDERR_FILENO, LOG_DEBUG, "mailferry: ")
LOG_FUNCTION(log_summary, LOG_NORMAL, STDOUT_FILENO, LOG_NOTICE, "")

void
log_error_at(const char *file, int line, const char *fmt, ...)
{
	char prefix[1024];
	va_list ap;

	if (line > 0)
		snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
	else
		snprintf(prefix, sizeof prefix, "%s: ", file);
	va_start(ap, fmt);
	emit(true, STDERR_FILENO, LOG_ERR, "", prefix, fmt, ap);
	va_end(ap);
}
