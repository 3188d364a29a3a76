/* The SASL payloads POP3 (RFC 5034) and SMTP (RFC 4954) logins share. */
#ifndef MF_SASL_H
#define MF_SASL_H

#include <stddef.h>

/* Base64 of [data, data + len], NUL-terminated; free with freezero_str
 * when it carries a secret. */
char *sasl_base64(const void *data, size_t len);
/* The PLAIN response: base64 of "\0user\0secret". */
char *sasl_plain(const char *user, const char *secret);

#endif
