/*
 * The POP3 client reading whatever a server sends: greeting, CAPA, then
 * replies to RETR streamed into a message, through the real connection
 * code (a socketpair stands in for the server). Nothing may crash, hang
 * or grow without bound.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "msg.h"
#include "pop3.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_reply r;
	struct conn *c;
	struct pop3 *p;
	struct msg m;
	struct err e;
	int sv[2];

	/* What fits in the socket buffer, so writing never blocks. */
	if (size > 100 * 1024)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);

	log_setup(LOG_QUIET, false);
	c = xcalloc(1, sizeof *c);
	c->fd = sv[0];
	c->label = xstrdup("fuzz");
	c->timeout_ms = 1000;
	c->rbuf = xmalloc(CONN_READ_BUFFER + 1);
	p = pop3_new(c);
	msg_init(&m, "/tmp");
	if (pop3_greeting(p, &e) == 0 && pop3_capa(p, &e) == 0) {
		for (unsigned n = 1; n < 1000; n++) {
			pop3_send(p, POP3_RETR, n, "RETR 1", SIZE_MAX);
			if (pop3_reply(p, &r, &e) == -1)
				break;
			if (!r.ok)
				continue;
			msg_reset(&m);
			if (pop3_read_message(p, &m, 1 << 20, &e) == -1)
				break;
			header_index_parse(&m.idx, m.hdr ? m.hdr : "", m.hdrlen);
		}
	}
	msg_free(&m);
	conn_close(c);
	pop3_free(p);
	close(sv[1]);
	return 0;
}
