#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "greeting.h"
#include "log.h"
#include "tls.h"

/* The probe: a second connection that sent a ClientHello, and what it
 * has read back so far. */
struct probe {
	int		 fd;		/* -1: none (done, or failed) */
	bool		 hello_sent;
	unsigned char	 got[3];
	size_t		 ngot;
};

static void
probe_close(struct probe *pr)
{
	if (pr->fd != -1)
		close(pr->fd);
	pr->fd = -1;
}

/* Start connecting to the peer of c. */
static void
probe_open(struct probe *pr, const struct sockaddr_storage *peer,
    socklen_t len)
{
	*pr = (struct probe){ .fd = -1 };
	pr->fd = socket(peer->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (pr->fd == -1)
		return;
	if (connect(pr->fd, (const struct sockaddr *)peer, len) == -1 &&
	    errno != EINPROGRESS)
		probe_close(pr);
}

/* Connected: send the ClientHello (a few hundred bytes, which a new
 * connection's buffer takes whole). */
static void
probe_hello(struct probe *pr)
{
	unsigned char hello[4096];
	size_t len = tls_client_hello(hello, sizeof hello);
	int soerr = 0;
	socklen_t sl = sizeof soerr;

	if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1 ||
	    soerr != 0 || len == 0 ||
	    send(pr->fd, hello, len, MSG_NOSIGNAL) != (ssize_t)len)
		probe_close(pr);
	else
		pr->hello_sent = true;
}

/* The answer to the ClientHello: 1 when it is a TLS record (handshake or
 * alert, version 3.x), 0 when it is something else, -1 while too short to
 * tell. */
static int
probe_answer(struct probe *pr)
{
	ssize_t n = read(pr->fd, pr->got + pr->ngot, sizeof pr->got -
	    pr->ngot);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0)
		return 0;
	pr->ngot += (size_t)n;
	if (pr->ngot < 2)
		return -1;
	return (pr->got[0] == 0x16 || pr->got[0] == 0x15) && pr->got[1] == 3;
}

/* The probe's part of one poll round: 1 when it found TLS. */
static int
probe_step(struct probe *pr, short revents)
{
	int tls;

	if (revents == 0)
		return 0;
	if (!pr->hello_sent) {
		probe_hello(pr);
		return 0;
	}
	tls = probe_answer(pr);
	if (tls >= 0)
		probe_close(pr);
	return tls == 1;
}

static int
speaks_tls(struct conn *c, int plain_port, struct err *e)
{
	return err_set(e, ERR_UNAVAIL, "%s: the server sends no greeting, but "
	    "answers a TLS handshake: this port speaks TLS at once, so use "
	    "tls = \"implicit\" with it (port %d is the one for tls = "
	    "\"starttls\" and \"none\")", c->label, plain_port);
}

/* Wait on c, and on the probe while it runs, until the deadline. */
static int
wait_with_probe(struct conn *c, const struct sockaddr_storage *peer,
    socklen_t len, int64_t deadline, int plain_port, struct err *e)
{
	struct probe pr;
	int rc = 1;

	probe_open(&pr, peer, len);
	while (rc == 1) {
		struct pollfd pfd[2] = { { c->fd, POLLIN, 0 },
		    { pr.fd, pr.hello_sent ? POLLIN : POLLOUT, 0 } };
		int64_t left = deadline - clock_ms();
		int n;

		if (left <= 0) {
			rc = err_set(e, ERR_TEMP, "%s: timed out after %d s "
			    "waiting for the server", c->label,
			    c->timeout_ms / 1000);
			break;
		}
		n = poll(pfd, 2, (int)left);
		if (n == -1 && errno != EINTR)
			rc = err_sys(e, ERR_TEMP, "%s: poll", c->label);
		else if (n > 0 && pfd[0].revents != 0)
			rc = 0;
		else if (n > 0 && probe_step(&pr, pfd[1].revents))
			rc = speaks_tls(c, plain_port, e);
	}
	probe_close(&pr);
	return rc;
}

int
greeting_wait(struct conn *c, int plain_port, struct err *e)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof peer;
	int64_t deadline = clock_ms() + c->timeout_ms;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int grace = c->timeout_ms < GREETING_GRACE_MS ? c->timeout_ms :
	    GREETING_GRACE_MS, n;

	if (c->tls != NULL || conn_buffered(c) > 0 ||
	    getpeername(c->fd, (struct sockaddr *)&peer, &len) == -1 ||
	    (peer.ss_family != AF_INET && peer.ss_family != AF_INET6))
		return 0;
	while ((n = poll(&pfd, 1, grace)) == -1 && errno == EINTR)
		;
	if (n != 0)
		return 0;	/* the greeting, or an error to read as usual */
	if (log_enabled(LOG_TRACE))
		log_trace("%s: no greeting after %d ms: asking a second "
		    "connection whether the port speaks TLS at once", c->label,
		    grace);
	return wait_with_probe(c, &peer, len, deadline, plain_port, e);
}
