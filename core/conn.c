#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "clock.h"
#include "conn.h"
#include "log.h"
#include "xmalloc.h"

/*
 * The slowest average rate a reply may arrive at once its first
 * `timeout` seconds (the grace period) are over: a reply that has
 * brought N bytes has timeout + N / CONN_MIN_BYTES_PER_SECOND seconds.
 * A slow but honest link is faster; a server trickling a reply is cut
 * off however long it keeps it up.
 */
#define CONN_MIN_BYTES_PER_SECOND	1024

/*
 * The wake mark. A fast TLS server sends a record of 16 kB at a time,
 * and a client that keeps up wakes for every one: over POP3S, 10,000
 * messages (286 MB) took 23,600 waits, each a context switch, and 16 % of
 * mailferry's CPU time went to them. While the server owes a lot (the
 * announced sizes of the messages requested), the kernel is asked to
 * wake us only once CONN_WAKE_BYTES have come (SO_RCVLOWAT). Announced
 * sizes can be wrong: a raised mark not met within CONN_WAKE_PATIENCE_MS
 * is never raised again on this connection, so an overstated size, or a
 * link too slow to bring that much in that time, costs one such wait.
 */
#define CONN_WAKE_BYTES		(128 * 1024)
#define CONN_WAKE_PATIENCE_MS	100
/* A TLS record can be partly read ahead already (plaintext 16 kB,
 * header and expansion 256 bytes at most). */
#define TLS_RECORD_MAX		(16384 + 256 + 5)
/* The most one announced size counts for. */
#define CONN_OWED_MAX		((uint64_t)1 << 40)

static struct conn *
conn_new(int fd, const char *label, int timeout)
{
	struct conn *c = xcalloc(1, sizeof *c);

	c->fd = fd;
	c->label = xstrdup(label);
	c->timeout_ms = timeout * 1000;
	c->rbuf = xmalloc(CONN_READ_BUFFER + 1);
	c->wake_mark = 1;	/* the kernel's default */
	return c;
}

/* When the reply being read must be complete, by the rate rule. */
static int64_t
reply_deadline(const struct conn *c)
{
	uint64_t got = c->bytes_in - c->reply_start;

	return c->reply_t0 + c->timeout_ms +
	    (int64_t)(got * 1000 / CONN_MIN_BYTES_PER_SECOND);
}

static int
too_slow(struct conn *c, struct err *e)
{
	if (c->bytes_in == c->reply_start)
		return err_set(e, ERR_TEMP, "%s: timed out after %d s waiting "
		    "for the server", c->label, c->timeout_ms / 1000);
	return err_set(e, ERR_TEMP, "%s: the reply took too long (deadline "
	    "exceeded: %ju bytes in %jd s, the server is too slow)", c->label,
	    (uintmax_t)(c->bytes_in - c->reply_start),
	    (intmax_t)((clock_ms() - c->reply_t0) / 1000));
}

/*
 * Acknowledge what arrived at once. A server that writes its status line
 * and the data after it separately, with Nagle's algorithm on, holds the
 * second write until the first is acknowledged, and Linux delays an ACK
 * by up to 40 ms: one stall per message on a server without PIPELINING.
 * Asked each time we are about to wait for the server, which also sends
 * an ACK the kernel was holding back; the kernel leaves quick-ACK mode by
 * itself. Not after every read: while data keeps coming (a pipelined
 * download) nothing waits on our ACKs, and it was one system call per
 * read.
 */
static void
ack_at_once(struct conn *c)
{
#ifdef TCP_QUICKACK
	int one = 1;

	if (c->tcp)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one,
		    sizeof one);
#else
	(void)c;
#endif
}

/* An announced size as bytes owed: nothing for a size that is not
 * positive, and at most 2^40, so that no sum of them wraps. */
static uint64_t
owed_bytes(int64_t announced)
{
	if (announced <= 0)
		return 0;
	return (uint64_t)announced < CONN_OWED_MAX ? (uint64_t)announced :
	    CONN_OWED_MAX;
}

void
conn_owe(struct conn *c, int64_t announced)
{
	/* Bytes read past what was owed were owed to replies not counted:
	 * the new reply comes after them. */
	if (c->owed_until < c->bytes_in)
		c->owed_until = c->bytes_in;
	c->owed_until += owed_bytes(announced);
}

void
conn_owe_less(struct conn *c, int64_t announced)
{
	uint64_t n = owed_bytes(announced);

	if (c->owed_until > c->bytes_in + n)
		c->owed_until -= n;
	else
		c->owed_until = c->bytes_in;
}

/* What the server owes that cannot have left the socket yet. */
static uint64_t
owed_unread(const struct conn *c)
{
	uint64_t owed = 0;

	if (c->owed_until > c->bytes_in)
		owed = c->owed_until - c->bytes_in;
	if (c->tls == NULL)
		return owed;
	/* Counted in plaintext, which on the wire is more; but a record
	 * may be in OpenSSL's buffer already. */
	return owed > TLS_RECORD_MAX ? owed - TLS_RECORD_MAX : 0;
}

/* Set the wake mark for a wait: raised, or back to one byte. True when
 * raised. */
static bool
set_wake_mark(struct conn *c, bool may_raise)
{
	int mark = 1;

	if (may_raise && c->tcp && !c->wake_distrusted &&
	    owed_unread(c) >= CONN_WAKE_BYTES)
		mark = CONN_WAKE_BYTES;
	if (mark == c->wake_mark)
		return mark > 1;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &mark,
	    sizeof mark) == 0)
		c->wake_mark = mark;
	else
		c->wake_distrusted = true;
	return c->wake_mark > 1;
}

/*
 * poll(2) for one event, with the wake mark raised when waiting for data
 * while much is owed; a mark not met in time is lowered for good and the
 * wait goes on for what there is.
 */
static int
wait_event(struct conn *c, short events, int wait_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int rc;

	if (set_wake_mark(c, events == POLLIN &&
	    wait_ms > CONN_WAKE_PATIENCE_MS)) {
		rc = poll(&pfd, 1, CONN_WAKE_PATIENCE_MS);
		if (rc != 0)
			return rc;
		log_verbose("%s: less came within %d ms than the sizes the "
		    "server announced; reading data as it comes from now on",
		    c->label, CONN_WAKE_PATIENCE_MS);
		c->wake_distrusted = true;
		(void)set_wake_mark(c, false);
		wait_ms -= CONN_WAKE_PATIENCE_MS;
	}
	return poll(&pfd, 1, wait_ms);
}

bool
conn_readable(struct conn *c, int wait_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int rc;

	if (conn_buffered(c) > 0 || (c->tls != NULL && tls_pending(c->tls)))
		return true;
	/* Under a raised wake mark, "not yet" until enough has come. */
	rc = poll(&pfd, 1, 0);
	if (rc == 0 && wait_ms > 0) {
		ack_at_once(c);
		rc = wait_event(c, POLLIN, wait_ms);
	}
	/* Interrupted (by a signal to stop, say): as if nothing came. */
	if (rc == -1 && errno == EINTR)
		return false;
	return rc != 0;
}

/* Wait until fd is ready for `events`, within the idle timeout and the
 * reply deadline. */
static int
wait_ready(struct conn *c, short events, struct err *e)
{
	int64_t now, wait_ms;
	int rc;

	for (;;) {
		now = clock_ms();
		wait_ms = c->timeout_ms;
		if (c->reply_t0 != 0 && reply_deadline(c) - now < wait_ms)
			wait_ms = reply_deadline(c) - now;
		if (wait_ms <= 0)
			return too_slow(c, e);
		rc = wait_event(c, events, (int)wait_ms);
		if (rc > 0)
			return 0;
		if (rc == 0) {
			if (c->reply_t0 != 0 && clock_ms() >= reply_deadline(c))
				continue;	/* reported above */
			return err_set(e, ERR_TEMP, "%s: timed out after %d s "
			    "waiting for the server", c->label,
			    c->timeout_ms / 1000);
		}
		if (errno != EINTR)
			return err_sys(e, ERR_TEMP, "%s: poll", c->label);
	}
}

static int
set_socket_options(int fd)
{
	int one = 1;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		return -1;
	/* We write whole command batches ourselves; Nagle would only add
	 * delayed-ACK stalls to pipelined dialogues. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

/* Non-blocking connect to one address, bounded by timeout_ms. */
static int
connect_one(const struct addrinfo *ai, int timeout_ms, int *fdp)
{
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, soerr = 0, rc;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (set_socket_options(fd) == -1)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto done;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc == -1 && errno == EINTR);
	if (rc == 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (rc == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
	    &len) == -1)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
done:
	*fdp = fd;
	return 0;
fail:
	rc = errno;
	close(fd);
	errno = rc;
	return -1;
}

struct conn *
conn_connect(const char *host, int port, int timeout, struct err *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_ADDRCONFIG }, *res, *ai;
	char service[16], label[300];
	int fd = -1, rc, last_errno = 0;
	struct conn *c;

	snprintf(service, sizeof service, "%d", port);
	snprintf(label, sizeof label, "%s:%d", host, port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		err_set(e, ERR_UNAVAIL, "%s: cannot resolve host name: %s",
		    label, gai_strerror(rc));
		return NULL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (connect_one(ai, timeout * 1000, &fd) == 0)
			break;
		last_errno = errno;
	}
	freeaddrinfo(res);
	if (ai == NULL) {
		errno = last_errno;
		err_sys(e, ERR_UNAVAIL, "%s: cannot connect", label);
		return NULL;
	}
	c = conn_new(fd, label, timeout);
	c->tcp = true;
	return c;
}

struct conn *
conn_connect_unix(const char *path, int timeout, struct err *e)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct addrinfo ai = { .ai_family = AF_UNIX,
	    .ai_socktype = SOCK_STREAM, .ai_addr = (struct sockaddr *)&sun,
	    .ai_addrlen = sizeof sun };
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		err_set(e, ERR_CONFIG, "%s: socket path too long", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	if (connect_one(&ai, timeout * 1000, &fd) == -1) {
		err_sys(e, ERR_UNAVAIL, "%s: cannot connect", path);
		return NULL;
	}
	return conn_new(fd, path, timeout);
}

int
conn_start_tls(struct conn *c, const struct tls_options *opt, struct err *e)
{
	enum tls_io io;

	c->tls = tls_new(c->fd, opt, e);
	if (c->tls == NULL)
		return -1;
	conn_begin_reply(c);
	for (;;) {
		io = tls_handshake(c->tls, e);
		if (io == TLS_IO_OK)
			break;
		if (io == TLS_IO_ERROR) {
			err_prefix(e, "%s", c->label);
			return -1;
		}
		if (wait_ready(c, io == TLS_IO_WANT_READ ? POLLIN : POLLOUT,
		    e) == -1)
			return -1;
	}
	c->reply_t0 = 0;
	return 0;
}

void
conn_close(struct conn *c)
{
	if (c == NULL)
		return;
	tls_free(c->tls);
	if (c->fd != -1)
		close(c->fd);
	free(c->rbuf);
	if (c->wbuf != NULL)
		explicit_bzero(c->wbuf, c->wcap);
	free(c->wbuf);
	free(c->label);
	free(c);
}

void
conn_begin_reply(struct conn *c)
{
	c->reply_t0 = clock_ms();
	c->reply_start = c->bytes_in;
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	/* What is queued may be a password. */
	ARRAY_RESERVE_WIPED(c->wbuf, c->wlen, c->wcap, len);
	memcpy(c->wbuf + c->wlen, data, len);
	c->wlen += len;
}

void
conn_trace_sent(const struct conn *c, const char *line, size_t secret_from)
{
	size_t len = strlen(line);

	if (!log_tracing())
		return;
	if (secret_from < len)
		log_trace("%s > %.*s***", c->label, (int)secret_from, line);
	else
		log_trace("%s > %s", c->label, line);
}

void
conn_send_line(struct conn *c, const char *line, size_t secret_from)
{
	conn_trace_sent(c, line, secret_from);
	conn_write(c, line, strlen(line));
	conn_write(c, "\r\n", 2);
}

int
conn_flush(struct conn *c, struct err *e)
{
	size_t off = 0;
	int64_t saved_t0 = c->reply_t0;
	uint64_t saved_start = c->reply_start;

	/* Sending has its own deadline: the peer must take our bytes. */
	conn_begin_reply(c);
	while (off < c->wlen) {
		size_t put = 0;
		short want = POLLOUT;

		if (c->tls != NULL) {
			enum tls_io io = tls_write(c->tls, c->wbuf + off,
			    c->wlen - off, &put, e);

			if (io == TLS_IO_ERROR || io == TLS_IO_EOF) {
				if (io == TLS_IO_EOF)
					err_set(e, ERR_TEMP, "%s: connection "
					    "closed by the server", c->label);
				return -1;
			}
			if (io == TLS_IO_WANT_READ)
				want = POLLIN;
		} else {
			ssize_t n = send(c->fd, c->wbuf + off, c->wlen - off,
			    MSG_NOSIGNAL);

			if (n >= 0)
				put = (size_t)n;
			else if (errno != EAGAIN && errno != EINTR)
				return err_sys(e, ERR_TEMP, "%s: send",
				    c->label);
		}
		off += put;
		if (put == 0 && wait_ready(c, want, e) == -1)
			return -1;
	}
	/* Sent: a PASS or AUTH line must not linger in memory. */
	if (c->wlen > 0)
		explicit_bzero(c->wbuf, c->wlen);
	c->wlen = 0;
	c->reply_t0 = saved_t0;
	c->reply_start = saved_start;
	return 0;
}

int
conn_fill(struct conn *c, struct err *e)
{
	size_t got = 0;

	if (c->rpos > 0 && c->rpos == c->rend)
		c->rpos = c->rend = 0;
	if (c->rend == CONN_READ_BUFFER) {
		if (c->rpos == 0)
			return err_set(e, ERR_INTERNAL, "%s: read buffer full",
			    c->label);
		memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
		c->rend -= c->rpos;
		c->rpos = 0;
	}
	for (;;) {
		short want = POLLIN;

		if (c->tls != NULL) {
			enum tls_io io = tls_read(c->tls, c->rbuf + c->rend,
			    CONN_READ_BUFFER - c->rend, &got, e);

			if (io == TLS_IO_OK)
				break;
			if (io == TLS_IO_EOF)
				return err_set(e, ERR_TEMP, "%s: connection "
				    "closed by the server", c->label);
			if (io == TLS_IO_ERROR)
				return -1;
			if (io == TLS_IO_WANT_WRITE)
				want = POLLOUT;
		} else {
			ssize_t n = recv(c->fd, c->rbuf + c->rend,
			    CONN_READ_BUFFER - c->rend, 0);

			if (n > 0) {
				got = (size_t)n;
				break;
			}
			if (n == 0)
				return err_set(e, ERR_TEMP, "%s: connection "
				    "closed by the server", c->label);
			if (errno != EAGAIN && errno != EINTR)
				return err_sys(e, ERR_TEMP, "%s: receive",
				    c->label);
		}
		ack_at_once(c);
		if (wait_ready(c, want, e) == -1)
			return -1;
	}
	c->rend += got;
	c->bytes_in += got;
	return 0;
}

int
conn_read_line(struct conn *c, size_t maxlen, char **line, size_t *len,
    struct err *e)
{
	size_t scanned = 0;

	if (maxlen > CONN_READ_BUFFER - 2)
		maxlen = CONN_READ_BUFFER - 2;
	for (;;) {
		char *start = c->rbuf + c->rpos;
		size_t avail = c->rend - c->rpos;
		char *nl = memchr(start + scanned, '\n', avail - scanned);

		if (nl != NULL) {
			size_t n = (size_t)(nl - start);

			if (n > maxlen + 1)
				break;
			/* Only CRLF ends a line: taking a bare LF for one
			 * would let content pose as protocol. */
			if (n == 0 || start[n - 1] != '\r')
				return err_set(e, ERR_TEMP, "%s: the server "
				    "ended a line with a bare LF, not CRLF; "
				    "its replies cannot be read safely",
				    c->label);
			c->rpos += n + 1;
			n--;
			start[n] = '\0';
			*line = start;
			*len = n;
			return 0;
		}
		scanned = avail;
		if (avail > maxlen + 1)
			break;
		if (conn_fill(c, e) == -1)
			return -1;
	}
	return err_set(e, ERR_TEMP, "%s: the server sent a line longer than "
	    "%zu bytes", c->label, maxlen);
}
