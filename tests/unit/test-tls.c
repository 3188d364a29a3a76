/* TLS set-up that needs no server: pinned fingerprints as written in the
 * configuration, and the errors of a session that cannot be set up. */
#include <sys/socket.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_forms),
		cmocka_unit_test(test_fingerprint_refused),
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_handshake_with_no_tls_peer),
	};

	/* The system store is not needed: keep set-up from parsing it. */
	setenv("SSL_CERT_FILE", "/dev/null", 1);
	setenv("SSL_CERT_DIR", "/nonexistent", 1);
	return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
