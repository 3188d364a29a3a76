/*
 * One error style for the whole program: a function that can fail returns
 * -1 and fills a caller-provided struct err with a class (what kind of
 * failure, which decides the exit status) and a sentence naming where the
 * problem is. Classes map to sysexits in exactly one place, err_exitcode().
 */
#ifndef MF_ERR_H
#define MF_ERR_H

enum err_class {
	ERR_NONE = 0,
	ERR_TEMP,	/* worth retrying later: drop, timeout, [SYS/TEMP], lock */
	ERR_AUTH,	/* the server refused our credentials */
	ERR_UNAVAIL,	/* server unreachable or unverifiable; permanent refusal */
	ERR_CONFIG,	/* the configuration is wrong */
	ERR_USAGE,	/* the command line is wrong */
	ERR_DATA,	/* an input file is not a message (or not of its format) */
	ERR_NOINPUT,	/* an input file cannot be opened */
	ERR_IO,		/* an input file cannot be read */
	ERR_INTERNAL,	/* a bug or an impossible system state */
};

struct err {
	enum err_class	cls;
	char		msg[1024];
};

/* Set the error and return -1, so callers can `return err_set(...)`. */
int err_set(struct err *e, enum err_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like err_set, appending ": strerror(errno)". */
int err_sys(struct err *e, enum err_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Put context in front of an existing message: "CONTEXT: old message". */
void err_prefix(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);

/* The sysexits code of a class. */
int err_exitcode(enum err_class cls);

#endif
