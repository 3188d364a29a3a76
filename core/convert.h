/*
 * --convert: reading another fetcher's configuration (fetchmail's run
 * control file, mpop's configuration) into a small model of mailferry's
 * accounts and destinations, and printing that as a mailferry.conf.
 *
 * The parsers (convert-fetchmail.c, convert-mpop.c) fill a struct conv;
 * every setting they cannot carry over becomes a note, printed as a "#"
 * comment at the account it belongs to (or at the top). Passwords are
 * never copied: the output has a commented-out password line to fill
 * in, so that it fails --check-config until then rather than at the
 * first login.
 */
#ifndef MF_CONVERT_H
#define MF_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "err.h"

/* Bounds on what is read: a larger file is not a configuration. */
#define CONV_FILE_MAX		(4 * 1024 * 1024)
#define CONV_ACCOUNTS_MAX	1000
#define CONV_NOTES_MAX		200	/* per account, and at the top */
#define CONV_LIST_MAX		100	/* names after one keyword */

enum conv_kind {
	CONV_SMTP,
	CONV_LMTP,
	CONV_MDA,
	CONV_MAILDIR,
	CONV_MBOX,
};

struct conv_dest {
	enum conv_kind	 kind;
	char		*path;		/* maildir, mbox */
	char		*command;	/* mda */
	char		*host;		/* smtp, lmtp (or socket) */
	int		 port;		/* 0: the default */
	char		*socket;	/* lmtp */
	char		*user;		/* smtp/lmtp AUTH */
	char		**to;		/* recipients; mda: %T */
	size_t		 nto, capto;
	int		 received_header;	/* -1: the type's default */
};

struct conv_account {
	char		*name;
	char		*origin;	/* "FILE:LINE" */
	bool		 disabled;	/* printed commented out */
	char		*why_disabled;

	char		*server;
	int		 port;		/* 0: the default for tls */
	enum tls_mode	 tls;
	bool		 plaintext;	/* allow_plaintext_auth */
	char		*tls_ca_file;
	char		*tls_fingerprint;	/* "sha256:..." */
	char		*user;
	bool		 had_password;	/* in the file: not copied */
	char		*password_command;
	const char	*auth;		/* NULL: auto */
	int		 keep;		/* -1: not said */
	int64_t		 max_size;
	int64_t		 kill_size;	/* a delete rule over this size */
	int		 fetch_limit;
	bool		 imap;		/* protocol = "imap" */
	char		**folders;	/* IMAP */
	size_t		 nfolders, capfolders;
	bool		 mark_seen;
	bool		 idle;		/* said so */
	char		*envelope;
	char		**local_domains;
	size_t		 nlocal_domains, caplocal_domains;

	bool		 has_dest;
	struct conv_dest dest;

	char		**notes;
	size_t		 nnotes, capnotes;
};

struct conv {
	const char	*format;	/* "fetchmailrc" or "mpoprc" */
	char		*path;
	int		 timeout;	/* 0: mailferry's default */
	struct conv_account *accounts;
	size_t		 naccounts, capaccounts;
	char		**notes;	/* about the whole file */
	size_t		 nnotes, capnotes;
};

void conv_init(struct conv *c, const char *format, const char *path);
void conv_free(struct conv *c);
struct conv_account *conv_add_account(struct conv *c, const char *origin,
    struct err *e);
/* A note for an account (or for the file when a is NULL); anything not
 * printable is shown as "?", so a note never ends its comment. */
void conv_note(struct conv *c, struct conv_account *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void conv_list_add(char ***list, size_t *n, size_t *cap, const char *s);
/* Replace *field with a copy of value. */
void conv_set(char **field, const char *value);

/*
 * A delivery command written for a shell (fetchmail and mpop run theirs
 * through /bin/sh): returned as it is when mailferry can split it into
 * words itself, else wrapped in /bin/sh -c with %F and %T passed as
 * arguments ("$1", "$2"), never pasted into the shell text. *uses_to
 * says whether %T appears.
 */
char *conv_mda_command(const char *cmd, bool *uses_to);
/* "sha256:AB:..." from a colon-separated hex fingerprint of 32 bytes;
 * NULL for any other length (MD5, SHA-1). */
char *conv_sha256_pin(const char *fingerprint);
/* The port an account connects to when none is given. */
int conv_default_port(const struct conv_account *a);
/* The name of the user running mailferry (whom fetchmail delivers to
 * by default). */
const char *conv_local_user(void);

/* The parsers: 0, or -1 (ERR_DATA with FILE:LINE) when text is not a
 * file of that kind at all. Unknown settings are notes, not errors. */
int convert_fetchmailrc(struct conv *c, const char *text, size_t len,
    struct err *e);
int convert_mpoprc(struct conv *c, const char *text, size_t len,
    struct err *e);

/* Print c as a mailferry.conf. */
void convert_emit(const struct conv *c, FILE *out);

/* --convert FORMAT FILE: the exit status. */
int convert_main(const char *format, const char *path);

#endif
