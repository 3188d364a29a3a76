/*
 * Replies of an SMTP (RFC 5321 section 4.2) or LMTP server: one or more
 * lines "CODE-text" ending with "CODE text", all with the same code,
 * read through the connection's bounded line reader. The reply to
 * EHLO/LHLO also names the server's extensions, one a line after the
 * first.
 */
#ifndef MF_SMTP_REPLY_H
#define MF_SMTP_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "err.h"

#define SMTP_EXT_PIPELINING	0x01
#define SMTP_EXT_SIZE		0x02
#define SMTP_EXT_8BITMIME	0x04
#define SMTP_EXT_STARTTLS	0x08
#define SMTP_EXT_AUTH		0x10

/* Longest reply line, and most lines in one reply, we accept. */
#define SMTP_LINE_MAX		4096
#define SMTP_LINES_MAX		1000

struct smtp_reply {
	int	code;		/* 200 to 599 */
	char	text[512];	/* the first line, escaped for messages */
};

/* What the server said it supports. */
struct smtp_ext {
	unsigned	 flags;		/* SMTP_EXT_* */
	int64_t		 max_size;	/* SIZE's limit; 0: none given */
	char		*auth;		/* AUTH's mechanisms, or NULL */
};

/*
 * Send what is queued on c, then read one reply. With ext (for the reply
 * to EHLO/LHLO), everything known about the server's extensions is
 * replaced by what this reply lists: nothing unless its code is 250,
 * and nothing said before STARTTLS counts after it. A line that is not
 * a reply line, a code changing within the reply, or a reply longer
 * than SMTP_LINES_MAX lines is an error (ERR_TEMP); `proto` ("SMTP",
 * "LMTP") names the protocol in messages.
 */
int smtp_read_reply(struct conn *c, const char *proto, struct smtp_reply *r,
    struct smtp_ext *ext, struct err *e);
/* Does the server offer the AUTH mechanism `mech` (case-insensitive)? */
bool smtp_ext_offers(const struct smtp_ext *ext, const char *mech);
/* Forget the extensions (after STARTTLS, RFC 3207 section 4.2). */
void smtp_ext_clear(struct smtp_ext *ext);

#endif
