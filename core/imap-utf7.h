/*
 * Mailbox names (RFC 3501 section 5.1.3, RFC 9051 section 5.1): an
 * IMAP4rev1 server names folders in modified UTF-7 ("Entw&APw-rfe"), a
 * server in IMAP4rev2 or UTF8=ACCEPT mode in UTF-8 ("Entwürfe"). A folder
 * name from the configuration may be written either way; it is sent in
 * the form the session needs, so it names the same folder on both.
 */
#ifndef MF_IMAP_UTF7_H
#define MF_IMAP_UTF7_H

#include <stdbool.h>

/* UTF-8 to modified UTF-7; NULL when s is not valid UTF-8. */
char *imap_utf7_encode(const char *s);
/* Modified UTF-7 to UTF-8; NULL when s is not valid modified UTF-7. */
char *imap_utf7_decode(const char *s);
/* The name to send for `name`: for a UTF-8 session (utf8), a valid
 * modified UTF-7 name decoded; otherwise a UTF-8 name encoded. Anything
 * else is sent as it is. */
char *imap_mailbox_wire(const char *name, bool utf8);

#endif
