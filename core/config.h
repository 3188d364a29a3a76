/*
 * The configuration, read with libconfig and checked completely before
 * anything connects: unknown keys, wrong types and undefined names are
 * reported as "FILE:LINE: what is wrong". It is plain data: reading it
 * loads no plugin and creates nothing; setup.c gets a run ready.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config-include.h"
#include "tls.h"

struct dest_backend;
struct plugin_conf;
struct rule;

/* max_size when none is given (or 0): bytes of one message. */
#define MAX_SIZE_DEFAULT	((int64_t)256 * 1024 * 1024)
/* CPU seconds the rules may spend matching one message, by default. */
#define RULES_CPU_LIMIT_DEFAULT	10

enum tls_mode {
	TLS_MODE_IMPLICIT,
	TLS_MODE_STARTTLS,
	TLS_MODE_NONE,
};

enum auth_method {
	AUTH_AUTO,
	AUTH_USER,		/* POP3 USER/PASS; IMAP LOGIN */
	AUTH_APOP,		/* POP3 only */
	AUTH_PLAIN,
	AUTH_LOGIN,		/* SASL LOGIN */
	AUTH_XOAUTH2,
	AUTH_OAUTHBEARER,	/* IMAP only */
};

enum protocol {
	PROTO_POP3,
	PROTO_IMAP,
};

/* IMAP folders of one account, at most. */
#define FOLDERS_MAX		1000


struct destination {
	char		*name;
	struct source	 src;
	const struct dest_backend *backend;

	char		*path;		/* maildir, mbox */
	char		*host;		/* smtp, lmtp */
	int		 port;
	char		*socket;	/* lmtp */
	enum tls_mode	 tls;
	char		*tls_ca_file;
	char		*tls_fingerprint;
	bool		 allow_plaintext_auth;
	char		**to;
	size_t		 nto;
	char		*from;
	char		*user;
	char		*password;
	char		*password_command;
	char		*command;	/* mda */
	int		 timeout;	/* seconds, for any wait */
	bool		 received_header;	/* prepend a Received: field */

	void		*state;		/* the back end's, during a run */
};

struct account {
	char		*name;
	struct source	 src;

	enum protocol	 protocol;
	char		*server;
	int		 port;
	enum tls_mode	 tls;
	bool		 allow_plaintext_auth;
	char		*tls_ca_file;
	char		*tls_fingerprint;
	char		*user;
	char		*password;
	char		*password_command;
	enum auth_method auth;
	bool		 keep;
	int		 keep_days;
	int64_t		 max_size;	/* bytes; never 0 */
	int		 fetch_limit;	/* new messages per run, 0: all */
	char		*envelope;	/* multidrop: the recipient header */
	char		**local_domains;
	size_t		 nlocal_domains;
	/* IMAP (config-imap.c) */
	char		**folders;	/* at least one: INBOX by default */
	size_t		 nfolders;
	bool		 mark_seen;	/* \Seen once delivered */
	char		*move_to;	/* NULL: none */
	bool		 idle;		/* daemon mode: wait in IDLE */

	struct destination **deliver;
	size_t		 ndeliver;

	struct rule	*rules;
	size_t		 nrules;
};

struct config {
	char		*path;
	config_t	 lc;		/* kept: plugins read their options */
	struct config_text text;	/* includes inlined, line map */

	char		*state_dir;
	struct source	 state_dir_src;	/* where it is set, if it is */
	char		*plugin_dir;
	int		 timeout;
	int		 parallel;
	int		 rules_cpu_limit;	/* seconds a message's rules
						 * may match for */

	struct destination *dests;
	size_t		 ndests;
	struct account	*accounts;
	size_t		 naccounts;
	struct plugin_conf *plugins;	/* the `plugins` list */
	size_t		 nplugins;
};

/* $XDG_CONFIG_HOME/mailferry/mailferry.conf (or under ~/.config). */
char *config_xdg_path(void);
/* The default configuration file: that one if it exists, else
 * ~/.mailferry.conf. */
char *config_default_path(void);

/* Read and check `path`. Every problem is printed as FILE:LINE: ...;
 * returns NULL when there was any. Changes nothing on disk. */
struct config *config_load(const char *path);
void config_free(struct config *cfg);

struct account *config_account(struct config *cfg, const char *name);
struct destination *config_destination(struct config *cfg, const char *name);

const char *tls_mode_name(enum tls_mode mode);
const char *protocol_name(enum protocol p);

#endif
