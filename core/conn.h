/*
 * A buffered connection to a server, plain or TLS, with bounded waits.
 *
 * Every wait for the peer is bounded twice: by the idle timeout (no byte
 * for `timeout` seconds) and by the deadline of the reply being read,
 * which a slowest average rate sets (conn.c), so a server trickling a
 * byte now and then cannot stretch a reply forever.
 * Lines are read through one bounded reader; message data is taken
 * straight from the read buffer in large blocks.
 */
#ifndef MF_CONN_H
#define MF_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tls.h"

#define CONN_READ_BUFFER	(128 * 1024)

struct conn {
	int		 fd;
	bool		 tcp;		/* not a unix-domain socket */
	struct tls	*tls;
	char		*label;		/* "host:port", for messages */
	int		 timeout_ms;
	int64_t		 reply_t0;	/* monotonic ms the reply began; 0:
					 * no reply under way */
	uint64_t	 reply_start;	/* bytes_in when the reply began */

	char		*rbuf;		/* [rpos, rend) is unread */
	size_t		 rpos, rend;
	char		*wbuf;
	size_t		 wlen, wcap;

	uint64_t	 bytes_in;

	/* The wake mark (conn.c): what the server still owes ends at
	 * bytes_in == owed_until, at least. */
	uint64_t	 owed_until;
	int		 wake_mark;	/* SO_RCVLOWAT as last set */
	bool		 wake_distrusted; /* a raised mark was not met in
					 * time: never raised again */
};

/* Connect over TCP to host:port within timeout seconds. Failure to reach
 * the server is ERR_UNAVAIL. */
struct conn *conn_connect(const char *host, int port, int timeout,
    struct err *e);
/* Connect to a unix-domain socket. */
struct conn *conn_connect_unix(const char *path, int timeout, struct err *e);
/* Start TLS on the connection (implicit TLS, or after STLS/STARTTLS). */
int conn_start_tls(struct conn *c, const struct tls_options *opt,
    struct err *e);
void conn_close(struct conn *c);

/* A reply begins: from now on it has `timeout` seconds, and more as its
 * bytes arrive at no less than the slowest rate allowed. */
void conn_begin_reply(struct conn *c);

/* Queue bytes for sending; conn_flush sends everything queued. */
void conn_write(struct conn *c, const void *data, size_t len);
int conn_flush(struct conn *c, struct err *e);
/* Queue a command line and its CRLF, traced at -vv as "LABEL > line"
 * with everything from byte secret_from on shown as "***" (SIZE_MAX:
 * nothing secret). */
void conn_send_line(struct conn *c, const char *line, size_t secret_from);
/* The trace alone, for a line queued some other way. */
void conn_trace_sent(const struct conn *c, const char *line,
    size_t secret_from);

/*
 * The server owes at least `announced` bytes more than already owed: the
 * size it announced for a message just requested. While much is owed,
 * waits for data sleep until a large amount has come rather than waking
 * for every packet. A size that is not positive counts for nothing.
 */
void conn_owe(struct conn *c, int64_t announced);
/* That request was refused: its size is owed no more. */
void conn_owe_less(struct conn *c, int64_t announced);

/* Read at least one more byte into the buffer. End of stream is an
 * error (ERR_TEMP, "connection closed"). */
int conn_fill(struct conn *c, struct err *e);
/* The next line, without its CRLF, NUL-terminated in the buffer; valid
 * until the next call. A line longer than maxlen is an error, never a
 * larger allocation, and so is a line ended by a bare LF. */
int conn_read_line(struct conn *c, size_t maxlen, char **line, size_t *len,
    struct err *e);

/*
 * Whether bytes from the server wait to be read, waiting at most
 * wait_ms for them (0: just look). A closed or failed connection counts
 * as ready: reading says why; an interrupted wait as not ready.
 */
bool conn_readable(struct conn *c, int wait_ms);

static inline size_t
conn_buffered(const struct conn *c)
{
	return c->rend - c->rpos;
}

#endif
