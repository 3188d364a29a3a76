/*
 * The IMAP client reading whatever a server sends: greeting, login (the
 * capabilities in the input pick LOGIN or AUTHENTICATE, literals or
 * not), SELECT, the listing, pipelined FETCHes streamed into a message,
 * STORE, EXPUNGE (with or without UIDPLUS), IDLE and LOGOUT, through the
 * real connection code (a socketpair stands in for the server). Nothing
 * may crash, hang or grow without bound.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "imap-auth.h"
#include "imap-internal.h"
#include "imap.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
listed(void *arg, uint32_t uid, uint64_t size, unsigned flags, struct err *e)
{
	uint32_t *uids = arg;

	(void)size;
	(void)flags;
	(void)e;
	if (uids[0] < 8)
		uids[++uids[0]] = uid;
	return 0;
}

/* Pipelined fetches of what was listed, then flags and expunge. */
static int
fetches(struct imap *im, const uint32_t *uids, struct msg *m, struct err *e)
{
	struct imap_event ev;
	enum imap_expunged res;
	size_t others;

	for (uint32_t i = 1; i <= uids[0]; i++)
		imap_fetch(im, uids[i], i % 2 ? IMAP_SECTION_WHOLE :
		    IMAP_SECTION_HEADER, 1 << 20, m, i);
	if (uids[0] > 0)
		(void)imap_store(im, uids + 1, uids[0], IMAP_FLAG_DELETED, 0);
	while (imap_in_flight(im) > 0)
		if (imap_read(im, &ev, e) == -1)
			return -1;
	return imap_expunge(im, uids + 1, uids[0], &res, &others, e);
}

static void
session(struct imap *im, struct msg *m)
{
	struct imap_open_opts o = { .host = "fuzz", .port = 143,
	    .user = "user", .secret = "sec\xc3\xa9ret", .auth = IMAP_AUTH_AUTO,
	    .allow_plaintext_auth = true };
	struct imap_folder f;
	uint32_t uids[9] = { 0 };
	struct err e;

	if (imap_greeting(im, &e) == -1 || imap_login(im, &o, false, &e) == -1)
		return;
	if (imap_select(im, "Entwürfe", false, &f, &e) == -1)
		return;
	if (imap_list(im, listed, uids, &e) == -1)
		return;
	if (fetches(im, uids, m, &e) == -1)
		return;
	if (imap_has(im, IMAP_CAP_IDLE) && imap_idle(im, 1, NULL, &e) == -1)
		return;
	(void)imap_move(im, uids + 1, uids[0] ? uids[0] : 1, "Archive", 0);
	(void)imap_wait_done(im, &(struct imap_event){ 0 }, &e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn *c;
	struct imap *im;
	struct msg m;
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
	im = imap_new(c);
	msg_init(&m, "/tmp");
	session(im, &m);
	msg_free(&m);
	imap_abort(im);
	close(sv[1]);
	return 0;
}
