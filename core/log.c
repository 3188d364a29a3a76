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
/* log_keep_first_error(): where the first error line goes. */
static char *first_error;
static size_t first_error_size;

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
log_keep_first_error(char *buf, size_t size)
{
	first_error = buf;
	first_error_size = size;
	if (buf != NULL && size > 0)
		buf[0] = '\0';
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

/*
 * The length of the valid UTF-8 sequence at s (2 to 4 bytes; no overlong
 * forms, surrogates or code points past U+10FFFF), or 0.
 */
static size_t
utf8_length(const unsigned char *s, size_t len)
{
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;	/* past U+10FFFF */
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * How many bytes at s may be shown as they are: printable ASCII, or a
 * whole UTF-8 character that is not a C1 control (U+0080 to U+009F,
 * which terminals obey as they do C0). 0: show s[0] escaped, as every
 * control byte, raw C1 byte and byte that is not UTF-8 is.
 */
static size_t
printable_length(const unsigned char *s, size_t len)
{
	size_t n;

	if (s[0] < 0x80)
		return s[0] >= 0x20 && s[0] != 0x7f;
	n = utf8_length(s, len);
	if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return 0;
	return n;
}

size_t
log_escape(char *dst, size_t dstsize, const char *src, size_t srclen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0;

	if (dstsize == 0)
		return 0;
	while (i < srclen) {
		size_t n = printable_length(s + i, srclen - i);

		if (n > 0) {
			/* A character is copied whole or not at all. */
			if (o + n >= dstsize)
				break;
			memcpy(dst + o, s + i, n);
			o += n;
			i += n;
		} else {
			if (o + 4 >= dstsize)
				break;
			snprintf(dst + o, dstsize - o, "\\x%02x", s[i]);
			o += 4;
			i++;
		}
	}
	dst[o] = '\0';
	return i;
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
		if (write(trace_fd, traced, (size_t)n) == -1) {
			/* A test aid: a line it misses is no error. */
		}
	}
	if (priority == LOG_ERR && first_error != NULL &&
	    first_error_size > 0 && first_error[0] == '\0')
		log_escape(first_error, first_error_size, raw, len);
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
LOG_FUNCTION(log_error_more, LOG_QUIET, STDERR_FILENO, LOG_ERR, "")
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
