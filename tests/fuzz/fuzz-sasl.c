/*
 * The POP3 login exchanges against whatever a server sends: greeting
 * (APOP timestamp), CAPA (SASL mechanisms), then USER/PASS, APOP or a
 * SASL exchange (PLAIN, LOGIN, XOAUTH2, with challenges), through the
 * real connection code over a socket pair. The first byte picks the
 * method and the channel; the SASL payloads are also built from the
 * input. Nothing may crash, hang or grow without bound.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "pop3-auth.h"
#include "pop3.h"
#include "sasl.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The payloads, with user and secret split from the input at a NUL. */
static void
payloads(const uint8_t *data, size_t size)
{
	char *user = xmalloc(size + 1), *secret, *b64;

	memcpy(user, data, size);
	user[size] = '\0';
	secret = user + strlen(user);
	if ((size_t)(secret - user) < size)
		secret++;
	b64 = sasl_plain(user, secret);
	if (strlen(b64) % 4 != 0)
		abort();
	freezero_str(b64);
	b64 = sasl_xoauth2(user, secret);
	freezero_str(b64);
	b64 = sasl_base64(data, size);
	if (strlen(b64) != 4 * ((size + 2) / 3))
		abort();
	free(b64);
	free(user);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct account a = { .name = "fuzz", .user = "user" };
	struct conn *c;
	struct pop3 *p;
	struct err e;
	int sv[2];

	/* What fits in the socket buffer, so writing never blocks. */
	if (size < 1 || size > 100 * 1024)
		return 0;
	payloads(data + 1, size - 1);
	a.auth = (enum auth_method)(data[0] % 6);
	a.allow_plaintext_auth = data[0] & 0x10;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	shutdown(sv[1], SHUT_WR);

	log_setup(LOG_QUIET, false);
	c = xcalloc(1, sizeof *c);
	c->fd = sv[0];
	c->label = xstrdup("fuzz");
	c->timeout_ms = 1000;
	c->rbuf = xmalloc(CONN_READ_BUFFER + 1);
	p = pop3_new(c);
	if (pop3_greeting(p, &e) == 0 && (!(data[0] & 0x20) ||
	    pop3_capa(p, &e) == 0))
		(void)pop3_login(p, &a, "secret", data[0] & 0x40, &e);
	conn_close(c);
	pop3_free(p);
	close(sv[1]);
	return 0;
}
