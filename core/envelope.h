/* The envelope sender of a fetched message, for mbox "From " lines, SMTP
 * MAIL FROM and a delivery program's %F, and the substitution of %F and
 * %T into a delivery program's words. */
#ifndef MF_ENVELOPE_H
#define MF_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "msg.h"

/*
 * The address from Return-Path, else Sender, else From; "" for a null
 * sender (Return-Path: <>). An address that is not plain printable ASCII
 * without spaces, or longer than 254 bytes, counts as none. Returns a
 * string the caller frees, or NULL when there is no usable address.
 */
char *envelope_sender(struct msg *m);

/* Can s[0..len) go into an envelope (MAIL FROM, RCPT TO, %F) as it is:
 * at most 254 bytes of printable ASCII, no space, no angle bracket? */
bool envelope_address_plain(const char *s, size_t len);

/*
 * The argv of a delivery program: `words` with each word that is exactly
 * %F replaced by `sender` and each %T by `recipient`. Nothing a message
 * says may become an option of the program: NULL, with *refused set to
 * the value, when a substitution would make a word beginning with "-".
 * Free the array (not its strings) with free().
 */
char **envelope_argv(char *const *words, const char *sender,
    const char *recipient, const char **refused);

#endif
