#include <arpa/inet.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "xmalloc.h"

#define SHA256_LEN	32
/*
 * Records are read ahead into a buffer this large, and SSL_read takes
 * every complete one in it: a server that sends small records (Dovecot
 * sends about 4 KB each) then costs one recv per buffer, not a recv for
 * each record's header and another for its body. Fetching 286 MB over
 * POP3S took 146,000 reads without; system CPU fell by half with.
 */
#define TLS_READ_AHEAD	(128 * 1024)

struct tls {
	SSL_CTX		*ctx;
	SSL		*ssl;
	char		*host;
	int		 implicit_port;
	bool		 pinned;
	unsigned char	 pin[SHA256_LEN];
	/* The end (an error, or close_notify) met while taking records
	 * read ahead: the next read reports it. */
	enum tls_io	 later;
	struct err	 later_err;
};

/*
 * TLS 1.3 suites in order of preference: AES-GCM where the CPU has AES
 * and carry-less multiply instructions, ChaCha20-Poly1305 first where it
 * has not (in software it is several times faster than AES, and free of
 * table lookups). OpenSSL's own order puts AES-256-GCM first on any CPU.
 * On an AMD EPYC (AES-NI, AVX-512) OpenSSL 3.0 decrypts 16 KB records at
 * about 3 GB/s with either; AES-128 has fewer rounds than AES-256 for
 * the same 128-bit security against any known attack on TLS.
 */
static const char *
tls13_suites(void)
{
	static const char aes_first[] = "TLS_AES_128_GCM_SHA256:"
	    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
	static const char chacha_first[] = "TLS_CHACHA20_POLY1305_SHA256:"
	    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";

#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul"))
		return aes_first;
#elif defined(__aarch64__)
	if ((getauxval(AT_HWCAP) & (HWCAP_AES | HWCAP_PMULL)) ==
	    (HWCAP_AES | HWCAP_PMULL))
		return aes_first;
#endif
	return chacha_first;
}

/* Parse "sha256:" and 64 hex digits, colons allowed between bytes. */
static bool
parse_fingerprint(const char *s, unsigned char out[SHA256_LEN])
{
	size_t n = 0;

	if (strncasecmp(s, "sha256:", 7) != 0)
		return false;
	for (s += 7; *s != '\0'; s++) {
		int hi, lo;

		if (*s == ':')
			continue;
		hi = OPENSSL_hexchar2int((unsigned char)s[0]);
		lo = s[1] != '\0' ? OPENSSL_hexchar2int((unsigned char)s[1]) :
		    -1;
		if (hi < 0 || lo < 0 || n == SHA256_LEN)
			return false;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s++;
	}
	return n == SHA256_LEN;
}

bool
tls_fingerprint_valid(const char *s)
{
	unsigned char dummy[SHA256_LEN];

	return parse_fingerprint(s, dummy);
}

/* "sha256:AB:CD:...", as --check-config and errors show a pin. */
static void
format_fingerprint(const unsigned char *md, char *buf, size_t bufsize)
{
	snprintf(buf, bufsize, "sha256:");
	if (bufsize < 8 || OPENSSL_buf2hexstr_ex(buf + 7, bufsize - 7, NULL,
	    md, SHA256_LEN, ':') != 1)
		buf[bufsize > 7 ? 7 : 0] = '\0';
}

/* The most recent OpenSSL error as text, or a fallback. */
static const char *
openssl_reason(char *buf, size_t bufsize, const char *fallback)
{
	unsigned long code = ERR_peek_last_error();

	if (code == 0)
		return fallback;
	ERR_error_string_n(code, buf, bufsize);
	ERR_clear_error();
	return buf;
}

struct tls *
tls_new(int fd, const struct tls_options *opt, struct err *e)
{
	struct tls *t = xcalloc(1, sizeof *t);
	char reason[256];
	unsigned char addr[16];
	bool is_ip;

	t->host = xstrdup(opt->host);
	t->implicit_port = opt->implicit_port;
	if (opt->fingerprint != NULL) {
		if (!parse_fingerprint(opt->fingerprint, t->pin)) {
			err_set(e, ERR_CONFIG, "invalid tls_fingerprint");
			goto fail;
		}
		t->pinned = true;
	}
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL) {
		err_set(e, ERR_INTERNAL, "TLS setup: %s",
		    openssl_reason(reason, sizeof reason, "SSL_CTX_new"));
		goto fail;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_read_ahead(t->ctx, 1);
	SSL_CTX_set_default_read_buffer_len(t->ctx, TLS_READ_AHEAD);
	if (SSL_CTX_set_ciphersuites(t->ctx, tls13_suites()) != 1) {
		err_set(e, ERR_INTERNAL, "TLS setup: %s",
		    openssl_reason(reason, sizeof reason, "cipher suites"));
		goto fail;
	}
	if (opt->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(t->ctx, opt->ca_file,
		    NULL) != 1) {
			err_set(e, ERR_CONFIG, "cannot load tls_ca_file %s: %s",
			    opt->ca_file, openssl_reason(reason, sizeof reason,
			    "unreadable"));
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		err_set(e, ERR_INTERNAL, "cannot load the system CA store");
		goto fail;
	}
	/* With a pin the handshake must not stop at chain errors: the pin is
	 * checked once it completes, and decides alone. */
	SSL_CTX_set_verify(t->ctx, t->pinned ? SSL_VERIFY_NONE :
	    SSL_VERIFY_PEER, NULL);

	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
		err_set(e, ERR_INTERNAL, "TLS setup: %s",
		    openssl_reason(reason, sizeof reason, "SSL_new"));
		goto fail;
	}
	is_ip = inet_pton(AF_INET, opt->host, addr) == 1 ||
	    inet_pton(AF_INET6, opt->host, addr) == 1;
	if (is_ip) {
		X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);

		if (X509_VERIFY_PARAM_set1_ip_asc(param, opt->host) != 1) {
			err_set(e, ERR_INTERNAL, "TLS: bad address %s",
			    opt->host);
			goto fail;
		}
	} else {
		SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(t->ssl, opt->host) != 1 ||
		    SSL_set_tlsext_host_name(t->ssl, opt->host) != 1) {
			err_set(e, ERR_INTERNAL, "TLS: bad host name %s",
			    opt->host);
			goto fail;
		}
	}
	return t;
fail:
	tls_free(t);
	return NULL;
}

size_t
tls_client_hello(unsigned char *buf, size_t size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	size_t len = 0;
	char *data;
	long n;

	/* Memory BIOs: the hello is written there, and no answer can come
	 * in, so nothing depends on the peer's speed. */
	if (ssl != NULL && rb != NULL && wb != NULL) {
		SSL_set_min_proto_version(ssl, TLS1_2_VERSION);
		SSL_set_bio(ssl, rb, wb);
		rb = wb = NULL;
		(void)SSL_connect(ssl);
		n = BIO_get_mem_data(SSL_get_wbio(ssl), &data);
		if (n > 0 && (size_t)n <= size) {
			memcpy(buf, data, (size_t)n);
			len = (size_t)n;
		}
	}
	BIO_free(rb);
	BIO_free(wb);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return len;
}

/* The names a certificate is for, "a, b, c", to explain a mismatch. */
static void
certificate_names(X509 *cert, char *buf, size_t bufsize)
{
	GENERAL_NAMES *names;
	size_t o = 0;

	buf[0] = '\0';
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		char name[INET6_ADDRSTRLEN + 1] = "";

		if (gn->type == GEN_DNS) {
			const unsigned char *d = ASN1_STRING_get0_data(
			    gn->d.dNSName);
			int len = ASN1_STRING_length(gn->d.dNSName);

			snprintf(name, sizeof name, "%.*s", len > 46 ? 46 : len,
			    (const char *)d);
		} else if (gn->type == GEN_IPADD) {
			int len = ASN1_STRING_length(gn->d.iPAddress);
			const unsigned char *d = ASN1_STRING_get0_data(
			    gn->d.iPAddress);

			inet_ntop(len == 4 ? AF_INET : AF_INET6, d, name,
			    sizeof name);
		} else
			continue;
		o += (size_t)snprintf(buf + o, bufsize > o ? bufsize - o : 0,
		    "%s%s", o ? ", " : "", name);
		if (o >= bufsize)
			break;
	}
	GENERAL_NAMES_free(names);
	if (buf[0] == '\0') {
		X509_NAME *subject = X509_get_subject_name(cert);

		if (X509_NAME_get_text_by_NID(subject, NID_commonName, buf,
		    (int)bufsize) < 0)
			snprintf(buf, bufsize, "no names");
	}
}

static void
certificate_digests(X509 *cert, unsigned char whole[SHA256_LEN],
    unsigned char key[SHA256_LEN])
{
	unsigned char *der = NULL;
	unsigned int len;
	int derlen;

	X509_digest(cert, EVP_sha256(), whole, &len);
	derlen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (derlen > 0)
		EVP_Digest(der, (size_t)derlen, key, &len, EVP_sha256(), NULL);
	else
		memset(key, 0, SHA256_LEN);
	OPENSSL_free(der);
}

/* After the handshake: does the peer pass verification (or the pin)? */
static enum tls_io
check_peer(struct tls *t, struct err *e)
{
	X509 *cert = SSL_get1_peer_certificate(t->ssl);
	unsigned char whole[SHA256_LEN], key[SHA256_LEN];
	char fp[8 + 3 * SHA256_LEN];
	long result;

	if (cert == NULL) {
		err_set(e, ERR_UNAVAIL, "TLS: %s presented no certificate",
		    t->host);
		return TLS_IO_ERROR;
	}
	certificate_digests(cert, whole, key);
	X509_free(cert);
	if (t->pinned) {
		if (memcmp(whole, t->pin, SHA256_LEN) == 0 ||
		    memcmp(key, t->pin, SHA256_LEN) == 0)
			return TLS_IO_OK;
		format_fingerprint(whole, fp, sizeof fp);
		err_set(e, ERR_UNAVAIL, "TLS certificate of %s does not match "
		    "tls_fingerprint (the server presents %s)", t->host, fp);
		return TLS_IO_ERROR;
	}
	result = SSL_get_verify_result(t->ssl);
	if (result != X509_V_OK) {
		err_set(e, ERR_UNAVAIL, "TLS certificate of %s refused: %s",
		    t->host, X509_verify_cert_error_string(result));
		return TLS_IO_ERROR;
	}
	return TLS_IO_OK;
}

/* The server's certificate, also after a failed verification (when
 * OpenSSL 3 no longer hands out the peer certificate, but keeps the
 * chain it was sent). */
static X509 *
peer_certificate(struct tls *t)
{
	X509 *cert = SSL_get1_peer_certificate(t->ssl);
	STACK_OF(X509) *chain;

	if (cert != NULL)
		return cert;
	chain = SSL_get_peer_cert_chain(t->ssl);
	if (chain == NULL || sk_X509_num(chain) == 0)
		return NULL;
	cert = sk_X509_value(chain, 0);
	X509_up_ref(cert);
	return cert;
}

/*
 * The server answered the ClientHello with something that is not a TLS
 * record: plain text, as POP3, IMAP and SMTP greet. The port does not
 * speak TLS at once, which the user fixes with tls or port.
 */
static bool
answered_in_plain_text(void)
{
	unsigned long code = ERR_peek_last_error();

	return ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER;
}

static void
explain_plain_text(struct tls *t, struct err *e)
{
	char port[64];

	if (t->implicit_port < 0) {
		err_set(e, ERR_UNAVAIL, "TLS handshake failed: the server "
		    "answered in plain text (wrong version number)");
		ERR_clear_error();
		return;
	}
	if (t->implicit_port > 0)
		snprintf(port, sizeof port, "port %d", t->implicit_port);
	else
		snprintf(port, sizeof port, "its TLS port (995 for POP3, 993 "
		    "for IMAP)");
	err_set(e, ERR_UNAVAIL, "TLS handshake failed: the server answered "
	    "in plain text (wrong version number), so this port does not "
	    "speak TLS at once: use tls = \"starttls\" (or \"none\") with "
	    "it, or tls = \"implicit\" with %s", port);
	ERR_clear_error();
}

/* Explain a failed handshake, naming a verification failure's reason. */
static void
explain_handshake_failure(struct tls *t, struct err *e)
{
	long result = SSL_get_verify_result(t->ssl);
	X509 *cert = peer_certificate(t);
	char reason[256], names[256], fp[8 + 3 * SHA256_LEN];
	unsigned char whole[SHA256_LEN], key[SHA256_LEN];

	if (result != X509_V_OK && cert != NULL) {
		certificate_digests(cert, whole, key);
		format_fingerprint(whole, fp, sizeof fp);
		if (result == X509_V_ERR_HOSTNAME_MISMATCH ||
		    result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
			certificate_names(cert, names, sizeof names);
			err_set(e, ERR_UNAVAIL, "TLS certificate refused: host "
			    "name mismatch: it is for %s, not %s", names,
			    t->host);
		} else
			err_set(e, ERR_UNAVAIL, "TLS certificate of %s refused: "
			    "%s (certificate %s)", t->host,
			    X509_verify_cert_error_string(result), fp);
		ERR_clear_error();
	} else if (result != X509_V_OK) {
		err_set(e, ERR_UNAVAIL, "TLS certificate of %s refused: %s",
		    t->host, X509_verify_cert_error_string(result));
		ERR_clear_error();
	} else if (answered_in_plain_text())
		explain_plain_text(t, e);
	else
		err_set(e, ERR_UNAVAIL, "TLS handshake with %s failed: %s",
		    t->host, openssl_reason(reason, sizeof reason,
		    "connection closed"));
	X509_free(cert);
}

enum tls_io
tls_handshake(struct tls *t, struct err *e)
{
	int rc, ssl_err;

	ERR_clear_error();
	rc = SSL_connect(t->ssl);
	if (rc == 1)
		return check_peer(t, e);
	ssl_err = SSL_get_error(t->ssl, rc);
	if (ssl_err == SSL_ERROR_WANT_READ)
		return TLS_IO_WANT_READ;
	if (ssl_err == SSL_ERROR_WANT_WRITE)
		return TLS_IO_WANT_WRITE;
	explain_handshake_failure(t, e);
	return TLS_IO_ERROR;
}

static enum tls_io
io_result(struct tls *t, int rc, const char *what, struct err *e)
{
	char reason[256];
	int ssl_err = SSL_get_error(t->ssl, rc);

	switch (ssl_err) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == 0 || ERR_peek_last_error() == 0) {
			if (errno == 0)
				return TLS_IO_EOF;
			err_sys(e, ERR_TEMP, "TLS %s from %s", what, t->host);
			return TLS_IO_ERROR;
		}
		/* FALLTHROUGH */
	default:
		err_set(e, ERR_TEMP, "TLS %s from %s failed: %s", what, t->host,
		    openssl_reason(reason, sizeof reason, "protocol error"));
		return TLS_IO_ERROR;
	}
}

enum tls_io
tls_read(struct tls *t, void *buf, size_t len, size_t *got, struct err *e)
{
	int rc;

	enum tls_io io;

	if (t->later != TLS_IO_OK) {
		io = t->later;
		t->later = TLS_IO_OK;
		*e = t->later_err;
		return io;
	}
	ERR_clear_error();
	errno = 0;
	rc = SSL_read_ex(t->ssl, buf, len, got);
	if (rc != 1)
		return io_result(t, rc, "read", e);
	/* The records already read ahead, as many as fit. */
	while (*got < len && SSL_has_pending(t->ssl)) {
		size_t more;

		errno = 0;
		rc = SSL_read_ex(t->ssl, (char *)buf + *got, len - *got, &more);
		if (rc != 1) {
			err_clear(&t->later_err);
			io = io_result(t, rc, "read", &t->later_err);
			if (io == TLS_IO_ERROR || io == TLS_IO_EOF)
				t->later = io;
			break;
		}
		*got += more;
	}
	ERR_clear_error();
	return TLS_IO_OK;
}

enum tls_io
tls_write(struct tls *t, const void *buf, size_t len, size_t *put,
    struct err *e)
{
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_write_ex(t->ssl, buf, len, put);
	if (rc == 1)
		return TLS_IO_OK;
	return io_result(t, rc, "write", e);
}

bool
tls_pending(struct tls *t)
{
	return SSL_has_pending(t->ssl) && SSL_pending(t->ssl) > 0;
}

const char *
tls_describe(struct tls *t, char *buf, size_t bufsize)
{
	snprintf(buf, bufsize, "%s, %s", SSL_get_version(t->ssl),
	    SSL_get_cipher_name(t->ssl));
	return buf;
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	if (t->ssl != NULL) {
		/* Non-blocking: one attempt at close_notify, never a wait. */
		if (SSL_is_init_finished(t->ssl))
			SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	free(t->host);
	ERR_clear_error();
	free(t);
}
