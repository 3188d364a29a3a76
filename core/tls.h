/*
 * TLS client sessions with OpenSSL, behind a small interface. Verification
 * is on by default: the chain against the system store or a CA file, the
 * host name (or IP address) with OpenSSL's own matching, TLS 1.2 at least.
 * A pinned fingerprint (sha256 of the certificate or of its public key)
 * replaces chain and name checks with an exact match.
 */
#ifndef MF_TLS_H
#define MF_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct tls;

struct tls_options {
	const char	*host;		/* name or address to verify */
	const char	*ca_file;	/* NULL: the system store */
	const char	*fingerprint;	/* "sha256:AB:CD:...", or NULL */
	/* The protocol's port for TLS at once (995, 993, 465), named when
	 * the server answers in plain text; 0: POP3's and IMAP's; -1: no
	 * hint (TLS after STLS or STARTTLS, where the mode is right). */
	int		 implicit_port;
};

/* Outcomes of the non-blocking calls below. */
enum tls_io {
	TLS_IO_OK,
	TLS_IO_WANT_READ,
	TLS_IO_WANT_WRITE,
	TLS_IO_EOF,
	TLS_IO_ERROR,
};

/* Set up a client session on the connected, non-blocking socket fd. */
struct tls *tls_new(int fd, const struct tls_options *opt, struct err *e);
/* Drive the handshake; on TLS_IO_OK the peer is verified. On
 * TLS_IO_ERROR, e says why (a verification failure names the reason; a
 * server that answers in plain text, which tls setting to change). */
enum tls_io tls_handshake(struct tls *t, struct err *e);
enum tls_io tls_read(struct tls *t, void *buf, size_t len, size_t *got,
    struct err *e);
enum tls_io tls_write(struct tls *t, const void *buf, size_t len,
    size_t *put, struct err *e);
/* Bytes already received and decrypted, waiting for tls_read(). */
bool tls_pending(struct tls *t);
/* A one-line description of the session: protocol and cipher. */
const char *tls_describe(struct tls *t, char *buf, size_t bufsize);
/* Send close_notify (best effort) and free. */
void tls_free(struct tls *t);

/* A ClientHello as this client sends it, to ask a port whether it
 * speaks TLS; its length in buf, 0 when it cannot be made or does not
 * fit. */
size_t tls_client_hello(unsigned char *buf, size_t size);

/* Is s a well-formed "sha256:" fingerprint? For configuration checks. */
bool tls_fingerprint_valid(const char *s);

#endif
