/*
 * A server's STAT, UIDL and LIST replies as mailferry reads them: the
 * STAT text, then a listing through the real line reader (a socketpair
 * stands in for the server), each line through both line parsers.
 * Nothing may crash or read outside a line, and what a parser accepts
 * must be what the line says.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "pop3-listing.h"
#include "pop3.h"
#include "uidstore.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_line(const char *line, size_t len)
{
	const char *uid;
	size_t uidlen;
	unsigned num;
	uint64_t size;

	if (pop3_parse_list_line(line, len, &num, &size) == 0 &&
	    (num == 0 || size > INT64_MAX))
		__builtin_trap();
	switch (pop3_parse_uidl_line(line, len, &num, &uid, &uidlen)) {
	case UIDL_LINE_OK:
		if (num == 0 || uid <= line || uid + uidlen != line + len ||
		    uid[-1] != ' ' || !uid_valid(uid, uidlen))
			__builtin_trap();
		break;
	case UIDL_LINE_BAD_UID:
		if (num == 0 || uid + uidlen != line + len)
			__builtin_trap();
		break;
	case UIDL_LINE_BAD_NUMBER:
		break;
	}
}

static struct pop3 *
open_pop3(int fd)
{
	struct conn *c = xcalloc(1, sizeof *c);

	c->fd = fd;
	c->label = xstrdup("fuzz");
	c->timeout_ms = 1000;
	c->rbuf = xmalloc(CONN_READ_BUFFER + 1);
	return pop3_new(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_reply r;
	const uint8_t *nl;
	struct pop3 *p;
	struct err e;
	uint64_t count;
	char stat[256];
	int sv[2];

	/* What fits in the socket buffer, so writing never blocks. */
	if (size > 100 * 1024)
		return 0;
	/* A first line shorter than 256 bytes is a STAT reply's text; the
	 * rest is the UIDL reply. */
	nl = memchr(data, '\n', size < sizeof stat ? size : sizeof stat);
	if (nl != NULL) {
		memcpy(stat, data, (size_t)(nl - data));
		stat[nl - data] = '\0';
		if (pop3_parse_stat(stat, 1000000, &count) == 0 &&
		    count > 1000000)
			__builtin_trap();
		size -= (size_t)(nl + 1 - data);
		data = nl + 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	log_setup(LOG_QUIET, false);
	p = open_pop3(sv[0]);
	pop3_send(p, POP3_UIDL, 0, "UIDL", SIZE_MAX);
	if (pop3_reply(p, &r, &e) == 0 && r.ok) {
		char *line;
		size_t len;
		bool end;

		while (pop3_listing_line(p, &line, &len, &end, &e) == 0 &&
		    !end)
			check_line(line, len);
	}
	conn_close(p->conn);
	pop3_free(p);
	close(sv[1]);
	return 0;
}
