/*
 * Inside the fetchmail converter: the options of one layer (the
 * `defaults` entry, a poll entry, or a user description), as written,
 * and what turns the layers of one user into an account.
 */
#ifndef MF_CONVERT_FETCHMAIL_H
#define MF_CONVERT_FETCHMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "convert.h"

enum fm_list {
	FM_LOCALDOMAINS,
	FM_AKA,
	FM_SMTPHOST,
	FM_FOLDER,
	FM_NLISTS,
};

/* Strings NULL, numbers and flags -1 when not given in this layer. */
struct fm_layer {
	int		 line;
	char		*pollname;	/* poll entries */
	bool		 skip;

	char		*via, *proto, *service, *auth;
	int64_t		 timeout;
	char		*envelope;
	int64_t		 envelope_skip;
	int		 no_envelope;
	char		**lists[FM_NLISTS];
	size_t		 nlists[FM_NLISTS];
	size_t		 caplists[FM_NLISTS];

	char		*remote;
	char		**locals;	/* the "is" names */
	size_t		 nlocals, caplocals;
	bool		 locals_set, star, mapped;

	int		 password;
	int		 ssl;
	char		*sslproto;	/* "" is a value: no TLS */
	int		 sslcertck;
	char		*sslcertfile, *sslcertpath, *sslfingerprint;
	char		*mda;
	int		 lmtp;
	char		*smtpaddress, *smtpname, *bsmtp;
	int		 keep, fetchall, flush, limitflush, idle;
	int64_t		 limit, fetchlimit;
	char		*esmtpname;
	int		 esmtppassword;

	char		**notes;
	size_t		 nnotes, capnotes;
};

/* `set` statements that matter for the accounts. */
struct fm_global {
	char		*postmaster;
};

void fm_layer_init(struct fm_layer *l);
void fm_layer_free(struct fm_layer *l);

/* A `set` statement: notes, or a value kept in g. */
void fm_global_set(struct conv *c, struct fm_global *g, const char *name,
    const char *value, int line);
/* The account of user u (NULL: none was described) of poll entry
 * `entry`, under defaults. -1 (e set) when there are too many. */
int fm_add_account(struct conv *c, const struct fm_global *g,
    const struct fm_layer *defaults, const struct fm_layer *entry,
    const struct fm_layer *u, struct err *e);

#endif
