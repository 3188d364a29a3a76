/*
 * RFC 2047 encoded-words in header values ("=?UTF-8?B?...?=") decoded to
 * UTF-8, with the charset converted by iconv. Whitespace between two
 * adjacent encoded-words is dropped as the RFC says; a word that does not
 * decode (unknown charset, bad encoding) is kept as it was written.
 */
#ifndef MF_RFC2047_H
#define MF_RFC2047_H

#include <stddef.h>

/* Decode [in, in + len); returns a NUL-terminated string the caller
 * frees, its length in *outlen. */
char *rfc2047_decode(const char *in, size_t len, size_t *outlen);

#endif
