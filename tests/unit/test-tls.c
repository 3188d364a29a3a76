/* TLS set-up that needs no server: pinned fingerprints as written in the
 * configuration, and the errors of a session that cannot be set up; and
 * reading from an in-process server: records read ahead, and the end of
 * the stream or a bad record met among them reported after the data. */
#include <sys/socket.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tls.h"
#include "unit.h"

#define HEX64	"00112233445566778899AABBCCDDEEFF" \
		"00112233445566778899aabbccddeeff"

static void
test_fingerprint_forms(void **state)
{
	(void)state;
	assert_true(tls_fingerprint_valid("sha256:" HEX64));
	assert_true(tls_fingerprint_valid("SHA256:" HEX64));
	assert_true(tls_fingerprint_valid("sha256:00:11:22:33:44:55:66:77:88:"
	    "99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:"
	    "ee:ff"));
}

static void
test_fingerprint_refused(void **state)
{
	(void)state;
	assert_false(tls_fingerprint_valid(""));
	assert_false(tls_fingerprint_valid("sha256:"));
	assert_false(tls_fingerprint_valid(HEX64));
	assert_false(tls_fingerprint_valid("sha1:" HEX64));
	assert_false(tls_fingerprint_valid("md5:00:11"));
	/* One byte short, one byte long, an odd digit, not hex. */
	assert_false(tls_fingerprint_valid("sha256:"
	    "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddee"));
	assert_false(tls_fingerprint_valid("sha256:" HEX64 "00"));
	assert_false(tls_fingerprint_valid("sha256:" HEX64 "0"));
	assert_false(tls_fingerprint_valid("sha256:0" HEX64));
	assert_false(tls_fingerprint_valid("sha256:"
	    "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeGG"));
	/* A byte split by a colon is not a byte. */
	assert_false(tls_fingerprint_valid("sha256:0:0112233445566778899AABBCC"
	    "DDEEFF00112233445566778899aabbccddeeff"));
	assert_false(tls_fingerprint_valid("sha256: " HEX64));
}

static void
test_new_errors(void **state)
{
	struct tls_options opt = { .host = "pop.example.org" };
	char *dir = unit_tmpdir(), ca[600];
	struct tls *t;
	struct err e;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	opt.fingerprint = "sha256:00";
	err_clear(&e);
	assert_null(tls_new(sv[0], &opt, &e));
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_string_equal(e.msg, "invalid tls_fingerprint");
	opt.fingerprint = NULL;
	snprintf(ca, sizeof ca, "%s/missing.pem", dir);
	opt.ca_file = ca;
	assert_null(tls_new(sv[0], &opt, &e));
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "cannot load tls_ca_file"));
	assert_non_null(strstr(e.msg, ca));
	/* Not a certificate at all. */
	free(unit_write(dir, "junk.pem", "not a certificate\n"));
	snprintf(ca, sizeof ca, "%s/junk.pem", dir);
	assert_null(tls_new(sv[0], &opt, &e));
	assert_int_equal(e.cls, ERR_CONFIG);
	/* A good set-up, for a name and for an address. */
	opt.ca_file = NULL;
	t = tls_new(sv[0], &opt, &e);
	assert_non_null(t);
	tls_free(t);
	opt.host = "::1";
	t = tls_new(sv[0], &opt, &e);
	assert_non_null(t);
	tls_free(t);
	close(sv[0]);
	close(sv[1]);
	unit_rmtree(dir);
}

static void
test_handshake_with_no_tls_peer(void **state)
{
	struct tls_options opt = { .host = "pop.example.org" };
	struct tls *t;
	struct err e;
	enum tls_io io;
	int sv[2];

	(void)state;
	/* The peer answers the ClientHello with plain text and hangs
	 * up: an error, never a session. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "+OK not TLS\r\n", 13), 13);
	shutdown(sv[1], SHUT_WR);
	t = tls_new(sv[0], &opt, &e);
	assert_non_null(t);
	err_clear(&e);
	do
		io = tls_handshake(t, &e);
	while (io == TLS_IO_WANT_READ || io == TLS_IO_WANT_WRITE);
	assert_true(io == TLS_IO_ERROR || io == TLS_IO_EOF);
	tls_free(t);
	close(sv[0]);
	close(sv[1]);
}

/* A server side on fd with a new self-signed certificate; its SHA-256
 * fingerprint as tls_fingerprint writes it in pin. */
static SSL *
test_server(int fd, char pin[8 + 64 + 1])
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *cert = X509_new();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	unsigned char md[32];
	unsigned int mdlen;
	SSL *ssl;

	assert_non_null(key);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_set_pubkey(cert, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN",
	    MBSTRING_ASC, (const unsigned char *)"pop.example.org", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_digest(cert, EVP_sha256(), md, &mdlen);
	strcpy(pin, "sha256:");
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(pin + 7 + 2 * i, 3, "%02X", md[i]);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_CTX_free(ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ssl;
}

/* Both ends of the handshake, in turns, on non-blocking sockets. */
static void
handshake(struct tls *t, SSL *server)
{
	enum tls_io io = TLS_IO_WANT_READ;
	struct err e;
	int done = 0;

	err_clear(&e);
	for (int i = 0; i < 1000 && (io != TLS_IO_OK || done != 1); i++) {
		if (io != TLS_IO_OK)
			io = tls_handshake(t, &e);
		assert_true(io != TLS_IO_ERROR && io != TLS_IO_EOF);
		if (done != 1)
			done = SSL_accept(server);
	}
	assert_int_equal(io, TLS_IO_OK);
	assert_int_equal(done, 1);
}

/* A client (*t) and a server connected over non-blocking sockets sv,
 * the client pinned to the server's certificate, the handshake done. */
static SSL *
connected_pair(int sv[2], struct tls **t)
{
	struct tls_options opt = { .host = "pop.example.org" };
	char pin[8 + 64 + 1];
	struct err e;
	SSL *server;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	server = test_server(sv[1], pin);
	opt.fingerprint = pin;
	*t = tls_new(sv[0], &opt, &e);
	assert_non_null(*t);
	handshake(*t, server);
	return server;
}

static void
test_records_read_ahead(void **state)
{
	char buf[64 * 1024], *got;
	size_t n, total = 0, reads = 0;
	struct tls *t;
	struct err e;
	enum tls_io io;
	SSL *server;
	int sv[2];

	(void)state;
	server = connected_pair(sv, &t);
	/* Our preference, never OpenSSL's AES-256 first: AES-128-GCM, or
	 * ChaCha20 on a CPU without AES instructions. */
	tls_describe(t, buf, sizeof buf);
	assert_true(strstr(buf, "TLS_AES_128_GCM_SHA256") != NULL ||
	    strstr(buf, "TLS_CHACHA20_POLY1305_SHA256") != NULL);
	/* 150 records of 100 bytes (what the socket buffer holds), then
	 * close_notify, all sent before the client reads anything. */
	for (int i = 0; i < 150; i++) {
		char rec[100];

		memset(rec, 'a' + i % 26, sizeof rec);
		assert_int_equal(SSL_write(server, rec, sizeof rec), 100);
	}
	SSL_shutdown(server);
	got = calloc(1, 150 * 100);
	for (;;) {
		err_clear(&e);
		io = tls_read(t, buf, sizeof buf, &n, &e);
		if (io != TLS_IO_OK)
			break;
		assert_true(total + n <= 150 * 100);
		memcpy(got + total, buf, n);
		total += n;
		reads++;
	}
	/* Every byte, in a handful of reads rather than one per record,
	 * and only then the end of the stream. */
	assert_int_equal(io, TLS_IO_EOF);
	assert_int_equal(total, 150 * 100);
	assert_true(reads <= 3);
	for (size_t i = 0; i < total; i++)
		assert_int_equal(got[i], 'a' + (int)(i / 100) % 26);
	free(got);
	tls_free(t);
	SSL_free(server);
	close(sv[0]);
	close(sv[1]);
}

static void
test_bad_record_after_good_ones(void **state)
{
	char buf[64 * 1024];
	/* A record header for 32 bytes of application data, and 32 bytes
	 * that do not decrypt. */
	static const unsigned char bad[5 + 32] = { 23, 3, 3, 0, 32 };
	size_t n, total = 0;
	struct tls *t;
	struct err e;
	enum tls_io io;
	SSL *server;
	int sv[2];

	(void)state;
	server = connected_pair(sv, &t);
	for (int i = 0; i < 10; i++)
		assert_int_equal(SSL_write(server, "0123456789", 10), 10);
	assert_int_equal(write(sv[1], bad, sizeof bad), (ssize_t)sizeof bad);
	/* The good records first, then the error, with OpenSSL's reason. */
	for (;;) {
		err_clear(&e);
		io = tls_read(t, buf, sizeof buf, &n, &e);
		if (io != TLS_IO_OK)
			break;
		total += n;
	}
	assert_int_equal(total, 100);
	assert_int_equal(io, TLS_IO_ERROR);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, "TLS read from pop.example.org failed"));
	assert_non_null(strstr(e.msg, "bad record mac"));
	tls_free(t);
	SSL_free(server);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_forms),
		cmocka_unit_test(test_fingerprint_refused),
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_handshake_with_no_tls_peer),
		cmocka_unit_test(test_records_read_ahead),
		cmocka_unit_test(test_bad_record_after_good_ones),
	};

	/* The system store is not needed: keep set-up from parsing it. */
	setenv("SSL_CERT_FILE", "/dev/null", 1);
	setenv("SSL_CERT_DIR", "/nonexistent", 1);
	return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
