/*
 * Writing JSON text (RFC 8259): strings escaped so that any byte string,
 * a server's error text included, becomes a valid JSON string of valid
 * UTF-8 that cannot steer a terminal.
 */
#ifndef MF_JSON_H
#define MF_JSON_H

#include <stddef.h>

/*
 * Copy src (srclen bytes) into dst (size dstsize, always NUL-terminated)
 * as the inside of a JSON string, without the quotes: '"', '\' and
 * control characters (C0, DEL, C1) escaped, bytes that are not UTF-8
 * replaced by \ufffd. Stops before an escape or character that would not
 * fit whole. Returns the length written.
 */
size_t json_escape(char *dst, size_t dstsize, const char *src,
    size_t srclen);

#endif
