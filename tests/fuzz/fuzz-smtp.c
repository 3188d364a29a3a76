/*
 * The SMTP/LMTP client delivering one message to whatever a server
 * sends: greeting, EHLO/LHLO (extensions), AUTH, STARTTLS, the
 * transaction and LMTP's reply per recipient, through the real
 * connection code over a unix socket whose server side is a thread
 * playing back the input. The first byte picks the destination's
 * settings. Nothing may crash, hang or grow without bound.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "msg.h"
#include "smtp.h"
#include "smtp-reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int listener = -1;
static char sock_path[108];
static char spool_dir[64];

struct playback {
	const uint8_t	*data;
	size_t		 size;
};

/* The server: accept, say everything, then hear the client out. */
static void *
serve(void *arg)
{
	struct playback *pb = arg;
	char sink[4096];
	int fd = accept(listener, NULL, NULL);

	if (fd == -1)
		return NULL;
	if (write(fd, pb->data, pb->size) != (ssize_t)pb->size)
		abort();
	shutdown(fd, SHUT_WR);
	while (read(fd, sink, sizeof sink) > 0)
		;
	close(fd);
	return NULL;
}

static void
cleanup(void)
{
	unlink(sock_path);
	rmdir(spool_dir);
}

static void
setup(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };

	snprintf(spool_dir, sizeof spool_dir, "/tmp/fuzz-smtp-XXXXXX");
	if (mkdtemp(spool_dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(sock_path, sizeof sock_path, "%s/lmtp", spool_dir);
	strcpy(sun.sun_path, sock_path);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener == -1 || bind(listener, (struct sockaddr *)&sun,
	    sizeof sun) == -1 || listen(listener, 4) == -1)
		abort();
	/* Never wait for a client that did not come. */
	setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	log_setup(LOG_QUIET, false);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char text[] = "Subject: x\n\n.\n..line\nbody\n";
	char *to[] = { "a@example.org", "b@example.org" };
	struct destination d = { .name = "fuzz", .timeout = 1 };
	struct playback pb;
	pthread_t server;
	struct smtp *s;
	struct msg m;
	struct err e;
	enum smtp_failure failure;
	uint8_t how;

	/* What fits in the socket buffer, so the server never blocks. */
	if (size < 1 || size > 64 * 1024)
		return 0;
	if (listener == -1)
		setup();
	how = data[0];
	pb = (struct playback){ data + 1, size - 1 };
	d.socket = sock_path;
	d.to = to;
	d.nto = how & 0x08 ? 2 : 1;
	d.tls = how & 0x04 ? TLS_MODE_STARTTLS : TLS_MODE_NONE;
	if (how & 0x02) {
		d.user = "user";
		d.password = "secret";
		d.allow_plaintext_auth = true;
	}
	if (pthread_create(&server, NULL, serve, &pb) != 0)
		abort();
	msg_init(&m, spool_dir);
	if (msg_append(&m, text, sizeof text - 1, &e) == 0)
		msg_finish(&m);
	s = smtp_open(&d, how & 0x01, &e);
	for (int i = 0; s != NULL && i < 3; i++)
		if (smtp_send(s, i == 1 ? "" : "sender@example.org", d.to,
		    d.nto, NULL, 0, &m, &failure, &e) == -1 &&
		    failure == SMTP_FAIL_LOST)
			break;
	smtp_close(s);
	pthread_join(server, NULL);
	msg_free(&m);
	return 0;
}
