/*
 * The Received: trace field mailferry puts in front of a message it
 * forwards (RFC 5321 section 4.4, RFC 5322 section 3.6.7): where the
 * message was fetched from (server, account, UID), by whom, how, and
 * when. Folded to 78 columns; nothing in it can start a new line, and
 * what came from the server (the UID) appears only inside a comment,
 * escaped.
 */
#ifndef MF_RECEIVED_H
#define MF_RECEIVED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct received_info {
	const char	*account;
	const char	*server;	/* the account's, as configured */
	const char	*protocol;	/* "POP3", "POP3S", ... */
	const char	*uid;		/* NULL: none */
	time_t		 when;
};

/* The protocol as the "with" clause names it: TLS (implicit or STLS)
 * adds an S, as RFC 3848 does for ESMTP. */
const char *received_protocol(const char *base, bool tls);

/* "Received: ...\n", folded, with LF line ends; the caller frees it.
 * *len is its length. */
char *received_field(const struct received_info *ri, size_t *len);

#endif
