/*
 * Logging. Errors, warnings and detail go to stderr (or syslog, facility
 * mail); the per-account summary goes to stdout. Every line is written
 * with a single write(2), so accounts fetched in parallel never interleave
 * mid-line, and control characters (which a server could send to play
 * with a terminal) and bytes that are not UTF-8 are shown escaped.
 */
#ifndef MF_LOG_H
#define MF_LOG_H

#include <stdbool.h>
#include <stdarg.h>

enum log_verbosity {
	LOG_QUIET = -1,		/* -q: errors only */
	LOG_NORMAL = 0,		/* warnings and summaries */
	LOG_VERBOSE = 1,	/* -v: one line per message */
	LOG_TRACE = 2,		/* -vv: the protocol dialogue */
};

/* MAILFERRY_TRACE_FILE in the environment names a file that receives
 * every line at -vv level, whatever the verbosity (a debugging aid). */
void log_setup(int verbosity, bool use_syslog);
/* Would a line at this level be written anywhere? (To skip the work of
 * preparing one that would not.) */
bool log_enabled(int level);
bool log_tracing(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning shown even under -q: for what a cron job must not miss. */
void log_warn_always(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Detail shown unless -q (on stderr, like every line but the summary). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An error about a file, as "FILE:LINE: message" (line 0: no line). */
void log_error_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A line that goes on with the error just written (a line quoted from a
 * file, a caret under it): on stderr, without prefix. */
void log_error_more(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* The summary line of an account, on stdout. */
void log_summary(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A hook the progress display uses to erase itself before a log line is
 * written to the terminal; NULL to remove. */
void log_set_before_write(void (*fn)(void));

/* Keep the first error line written from now on in buf (escaped, as
 * shown, without the program's name); NULL: stop keeping. */
void log_keep_first_error(char *buf, size_t size);

/* A byte count for people: "12.3 KB", "1.4 MB", "2.05 GB". */
void log_size(unsigned long long n, char *buf, size_t size);

/* Copy src to dst (size dstsize, always NUL-terminated) for showing
 * text that came from a server or a message: control characters (C0, DEL
 * and C1, raw or UTF-8 encoded) and bytes that are not UTF-8 become
 * "\xNN", so what is shown is valid UTF-8 that cannot steer a terminal.
 * Stops before a character that would not fit whole; returns how many
 * bytes of src were shown. */
size_t log_escape(char *dst, size_t dstsize, const char *src,
    size_t srclen);

#endif
