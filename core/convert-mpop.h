/*
 * Inside the mpop converter: the settings of one account (or of
 * `defaults`) as written, and what turns them into a mailferry account.
 */
#ifndef MF_CONVERT_MPOP_H
#define MF_CONVERT_MPOP_H

#include <stdbool.h>
#include <stdint.h>

#include "convert.h"

#define MP_UNSET	(-2)	/* a number or switch not given */
#define MP_OFF		(-1)	/* killsize/skipsize off */

enum mp_delivery {
	MP_DELIVERY_NONE,
	MP_DELIVERY_MDA,
	MP_DELIVERY_MAILDIR,
	MP_DELIVERY_MBOX,
	MP_DELIVERY_EXCHANGE,
};

enum mp_string {
	MP_HOST, MP_USER, MP_PASSWORDEVAL, MP_AUTH, MP_TLS_TRUST_FILE,
	MP_TLS_FINGERPRINT, MP_DELIVERY_ARG, MP_UIDLS_FILE, MP_NSTRINGS,
};

enum mp_number {
	MP_DELIVERY,		/* enum mp_delivery */
	MP_PORT, MP_TIMEOUT, MP_PASSWORD, MP_TLS, MP_TLS_STARTTLS,
	MP_TLS_CERTCHECK, MP_KEEP, MP_RECEIVED_HEADER, MP_ONLY_NEW,
	MP_KILLSIZE, MP_SKIPSIZE, MP_NNUMBERS,
};

/* Strings NULL and numbers MP_UNSET when not given. */
struct mp_account {
	char		*name;
	char		*origin;
	char		*s[MP_NSTRINGS];
	int64_t		 v[MP_NNUMBERS];
	char		**notes;	/* commands not carried over */
	size_t		 nnotes, capnotes;
};

/* An argument as mpop reads it: trimmed, and one pair of double
 * quotes around it removed (in place). */
char *mp_trim(char *s);

void mp_account_init(struct mp_account *a);
void mp_account_free(struct mp_account *a);
/* dst (uninitialised) becomes a copy of src, without name and origin. */
void mp_account_copy(struct mp_account *dst, const struct mp_account *src);
/* Everything src sets, set in dst too (account NAME : SRC). */
void mp_account_inherit(struct mp_account *dst,
    const struct mp_account *src);
/* One command of a; -1 when cmd is not an mpop command at all. */
int mp_command(struct conv *c, struct mp_account *a, const char *cmd,
    const char *arg, const char *where);
/* The mailferry account of a. */
int mp_add_account(struct conv *c, const struct mp_account *a,
    struct err *e);

#endif
