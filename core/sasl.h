/*
 * The SASL payloads POP3 (RFC 5034) and SMTP (RFC 4954) logins share.
 * A result that carries a secret is freed with freezero_str; buffers
 * used on the way are wiped here.
 */
#ifndef MF_SASL_H
#define MF_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Base64 of [data, data + len], NUL-terminated. */
char *sasl_base64(const void *data, size_t len);
/* The PLAIN response: base64 of "\0user\0secret". */
char *sasl_plain(const char *user, const char *secret);
/* The XOAUTH2 response: base64 of "user=USER^Aauth=Bearer TOKEN^A^A". */
char *sasl_xoauth2(const char *user, const char *token);
/* May credentials be sent to `label` now? Over TLS, or where the user
 * allowed plain text; else -1 (ERR_CONFIG) saying how to fix it. */
int sasl_may_send(const char *label, bool encrypted, bool allow_plaintext,
    struct err *e);

#endif
