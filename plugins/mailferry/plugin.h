/*
 * mailferry filter plugins: the public ABI.
 *
 * This is the only header a plugin includes from mailferry. A plugin is a
 * shared object NAME.so in mailferry's plugin_dir exporting one symbol,
 * `mailferry_plugin`, a struct mf_plugin declared with MAILFERRY_PLUGIN().
 * mailferry refuses a plugin whose abi_major differs from its own, or
 * whose abi_minor is newer than its own. See mailferry-plugin(3).
 *
 * Calls into mailferry go through the struct mf_host given to init();
 * the handles (struct mf_message, struct mf_options) are opaque. Strings
 * returned by the host stay valid until the plugin's filter() returns.
 */
#ifndef MAILFERRY_PLUGIN_H
#define MAILFERRY_PLUGIN_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MAILFERRY_PLUGIN_ABI_MAJOR	1
#define MAILFERRY_PLUGIN_ABI_MINOR	1

/* What filter() decides about a message. */
enum mf_verdict {
	MF_CONTINUE = 0,	/* go on with the next rule */
	MF_DELIVER,		/* deliver now: to the destinations set with
				   set_destinations(), else the rule's
				   `deliver`, else the account's */
	MF_DELETE,		/* do not deliver; delete from the server */
	MF_SKIP,		/* do not deliver; leave it, remember it */
	MF_DEFER,		/* temporary trouble: leave it on the server,
				   unrecorded, and try again next run */
	MF_ERROR,		/* failure: treated as MF_DEFER and reported */
};

/* Log levels for mf_host.log. */
enum mf_log_level {
	MF_LOG_ERROR,
	MF_LOG_WARNING,
	MF_LOG_INFO,		/* shown with -v */
	MF_LOG_DEBUG,		/* shown with -vv */
};

/* Flags for mf_host.run_filter. */
#define MF_RUN_REPLACE	0x1	/* on exit 0, its output replaces the message */

struct mf_message;		/* the message being filtered */
struct mf_options;		/* an `options` or `args` group */

struct mf_host {
	unsigned	abi_major, abi_minor;

	/* ---- options and args (NULL handle: nothing configured) ---- */
	/* The string value of key, or NULL when absent or not a string. */
	const char	*(*opt_string)(const struct mf_options *o,
			    const char *key);
	/* 0 and *value set when key is an integer; -1 otherwise. */
	int		 (*opt_int)(const struct mf_options *o, const char *key,
			    long long *value);
	/* 0 and *value set (0 or 1) when key is a boolean; -1 otherwise. */
	int		 (*opt_bool)(const struct mf_options *o,
			    const char *key, int *value);
	/* A string or list of strings: number of strings, and each one. */
	size_t		 (*opt_count)(const struct mf_options *o,
			    const char *key);
	const char	*(*opt_item)(const struct mf_options *o,
			    const char *key, size_t i);
	/* A group of name = "string" pairs (e.g. headers to add). */
	const struct mf_options *(*opt_group)(const struct mf_options *o,
			    const char *key);
	size_t		 (*opt_group_size)(const struct mf_options *group);
	const char	*(*opt_group_name)(const struct mf_options *group,
			    size_t i);
	/* Every key in o, to let a plugin refuse keys it does not know. */
	size_t		 (*opt_keys)(const struct mf_options *o);
	const char	*(*opt_key)(const struct mf_options *o, size_t i);

	/* ---- the message ---- */
	const char	*(*account)(const struct mf_message *m);
	/* The account's `keep` setting: 1 messages stay on the server. */
	int		 (*account_keeps)(const struct mf_message *m);
	/* The POP3 UID, or NULL (none, or testing a file offline). */
	const char	*(*uid)(const struct mf_message *m);
	/* Size in bytes of the message as it stands. */
	off_t		 (*size)(const struct mf_message *m);
	/* Copy up to len bytes of the message as it stands (header changes
	 * included) from offset; returns the count, 0 at the end, -1 on
	 * error. */
	ssize_t		 (*read)(struct mf_message *m, void *buf, size_t len,
			    off_t offset);
	/* Header fields named `name` (case-insensitive): how many, and the
	 * i-th value, unfolded; decoded: RFC 2047 words turned to UTF-8. */
	size_t		 (*header_count)(struct mf_message *m,
			    const char *name);
	const char	*(*header_value)(struct mf_message *m,
			    const char *name, size_t i, int decoded);
	/* Changes, each returning 0 or -1 (invalid name or value, or a
	 * header too large to edit). A value may hold line breaks only as
	 * folding ("\n" followed by a space or tab). */
	int		 (*header_add)(struct mf_message *m, const char *name,
			    const char *value);
	int		 (*header_set)(struct mf_message *m, const char *name,
			    const char *value);
	int		 (*header_remove)(struct mf_message *m,
			    const char *name);
	/* Replace the whole message: begin, write its bytes (LF line
	 * ends), end with commit = 1 to use it or 0 to drop it. */
	int		 (*replace_begin)(struct mf_message *m);
	int		 (*replace_write)(struct mf_message *m,
			    const void *data, size_t len);
	int		 (*replace_end)(struct mf_message *m, int commit);
	/* Destinations for an MF_DELIVER verdict (names from the
	 * configuration's `destinations`). */
	int		 (*set_destinations)(struct mf_message *m,
			    const char *const *names, size_t n);
	/* Attach a short note (at most 1024 bytes) to the message; it is
	 * handed back to the plugin's delivered() once the message is
	 * durably delivered. */
	int		 (*set_note)(struct mf_message *m, const char *note);

	/* ---- services ---- */
	void		 (*log)(enum mf_log_level level, const char *fmt, ...)
			    __attribute__((format(printf, 2, 3)));
	/* mailferry's state directory, for a plugin's own files. */
	const char	*(*state_dir)(void);
	/* The configured network timeout, in seconds. */
	int		 (*timeout)(void);
	/* Split a command line into words as mailferry does (quotes,
	 * backslashes, no shell); free with free_argv. NULL when invalid. */
	char		**(*split_command)(const char *line);
	void		 (*free_argv)(char **argv);
	/*
	 * Run argv (no shell) with the message on its standard input, for at
	 * most timeout seconds. With MF_RUN_REPLACE its standard output
	 * replaces the message when it exits 0. Returns 0 and its exit
	 * status in *status, or -1 (could not run, killed, timed out) with
	 * the reason in err.
	 */
	int		 (*run_filter)(struct mf_message *m, char *const argv[],
			    int timeout, int flags, int *status, char *err,
			    size_t errlen);

	/* ---- since ABI 1.1 ---- */
	/*
	 * 1 when mailferry only checks the configuration (--check-config):
	 * init() and check_args() must then leave no trace (create no file
	 * or directory, change none, start no process, connect nowhere;
	 * state_dir may not exist yet), and fini() follows; filter() is
	 * never called. 0 otherwise. A plugin built for ABI 1.0 is loaded
	 * but not started when checking.
	 */
	int		 checking;
};

struct mf_plugin {
	unsigned	 abi_major, abi_minor;
	const char	*name;
	const char	*version;
	/*
	 * Called once at start with the plugin's `options` (may be NULL).
	 * Store per-plugin state in *state. Return 0, or -1 with a reason
	 * in err: mailferry then refuses the configuration.
	 */
	int		 (*init)(const struct mf_host *host,
			    const struct mf_options *options, void **state,
			    char *err, size_t errlen);
	/* Check a rule's `args` once at start; NULL to accept any. */
	int		 (*check_args)(void *state,
			    const struct mf_options *args, char *err,
			    size_t errlen);
	/* Called for each message a rule with this plugin matches. On
	 * MF_ERROR, say why in err. */
	enum mf_verdict	 (*filter)(void *state, struct mf_message *m,
			    const struct mf_options *args, char *err,
			    size_t errlen);
	/* Called with the note set during filter() once that message is
	 * durably delivered (to remember it, say); NULL if not needed. */
	void		 (*delivered)(void *state, const char *account,
			    const char *note);
	/* Called once at the end. */
	void		 (*fini)(void *state);
};

#define MAILFERRY_PLUGIN(...) \
	const struct mf_plugin mailferry_plugin = { \
		.abi_major = MAILFERRY_PLUGIN_ABI_MAJOR, \
		.abi_minor = MAILFERRY_PLUGIN_ABI_MINOR, \
		__VA_ARGS__ \
	}

#ifdef __cplusplus
}
#endif

#endif
