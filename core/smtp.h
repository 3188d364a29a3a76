/*
 * SMTP (RFC 5321) and LMTP (RFC 2033) client for delivery: one connection
 * reused for every message of a run, EHLO/LHLO, STARTTLS (RFC 3207,
 * verified like POP3), AUTH PLAIN/LOGIN (RFC 4954), PIPELINING of MAIL
 * and RCPT (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152).
 *
 * Replies map to error classes: 4xx is ERR_TEMP (try again next run),
 * 5xx ERR_UNAVAIL (permanent), a refused login ERR_AUTH.
 */
#ifndef MF_SMTP_H
#define MF_SMTP_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "msg.h"

struct smtp;

/* Connect to the destination's server and get ready for transactions. */
struct smtp *smtp_open(const struct destination *d, bool lmtp,
    struct err *e);
/*
 * Send one message from `sender` ("" for the null sender) to every
 * recipient in `to`, with `trace` (a Received: field, or NULL) in front
 * of it. 0 when every recipient accepted it after the data. On -1,
 * *connection_lost says whether the session is gone.
 */
int smtp_send(struct smtp *s, const char *sender, char *const *to,
    size_t nto, const char *trace, size_t trace_len, struct msg *m,
    bool *connection_lost, struct err *e);
/* QUIT (best effort) and close. */
void smtp_close(struct smtp *s);

#endif
