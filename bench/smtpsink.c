/*
 * A fast SMTP sink for `make bench`: accepts every command and every
 * message, with PIPELINING and 8BITMIME, and keeps nothing but a SHA-256
 * digest of each message, so the bench can check what arrived.
 *
 *   smtpsink DIGEST_FILE
 *
 * Listens on 127.0.0.1 (a free port, printed as "PORT n" on standard
 * output once it listens). For each message, before answering 250 to its
 * data, appends "SHA256HEX SIZE" to DIGEST_FILE, where the digest and the
 * size are those of the message as a Maildir would store it: dot-stuffing
 * undone, CRLF turned into LF. Ends on SIGTERM.
 *
 * Replies are sent once all complete command lines received so far are
 * handled, so a pipelined group is answered with one write.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#define MAX_CONNS 64
#define INBUF     (256 * 1024)
#define LINEMAX   4096

struct conn {
	int		 fd;
	int		 data;		/* in DATA */
	int		 bol;		/* data: at the start of a line */
	int		 dot;		/* data: the line began with a dot */
	int		 cr;		/* data: a CR is pending */
	int		 closing;
	size_t		 size;
	EVP_MD_CTX	*md;
	char		 line[LINEMAX];	/* command mode: partial line */
	size_t		 linelen;
	char		*out;		/* replies not yet sent */
	size_t		 outlen, outcap;
	char		*conv;		/* converted data, before hashing */
};

static struct conn *conns[MAX_CONNS];
static FILE *digests;
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
reply(struct conn *c, const char *s)
{
	size_t n = strlen(s);

	if (c->outlen + n > c->outcap) {
		c->outcap = (c->outlen + n) * 2;
		c->out = realloc(c->out, c->outcap);
		if (c->out == NULL)
			abort();
	}
	memcpy(c->out + c->outlen, s, n);
	c->outlen += n;
}

static int
flush_out(struct conn *c)
{
	size_t off = 0;

	while (off < c->outlen) {
		ssize_t w = write(c->fd, c->out + off, c->outlen - off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = c->fd, .events = POLLOUT };
				poll(&p, 1, 1000);
				continue;
			}
			return -1;
		}
		off += (size_t)w;
	}
	c->outlen = 0;
	return 0;
}

static void
end_message(struct conn *c)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	EVP_DigestFinal_ex(c->md, d, &dl);
	for (unsigned int i = 0; i < dl; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	fprintf(digests, "%s %zu\n", hex, c->size);
	fflush(digests);
	reply(c, "250 2.0.0 OK\r\n");
	c->data = 0;
}

/*
 * Data mode: undo dot-stuffing and CRLF on the way into the digest; at the
 * line ".", end the message. Returns the bytes of P consumed.
 */
static size_t
eat_data(struct conn *c, const char *p, size_t n)
{
	size_t i = 0, o = 0;
	char *out = c->conv;

	while (i < n) {
		char ch = p[i];

		if (c->bol) {
			c->bol = 0;
			if (ch == '.') {
				c->dot = 1;
				i++;
				continue;
			}
			c->dot = 0;
		}
		if (c->cr) {
			c->cr = 0;
			if (ch == '\n') {
				if (c->dot && c->linelen == 0) {
					/* the line "." */
					EVP_DigestUpdate(c->md, out, o);
					c->size += o;
					end_message(c);
					return i + 1;
				}
				out[o++] = '\n';
				c->bol = 1;
				c->dot = 0;
				c->linelen = 0;
				i++;
				continue;
			}
			out[o++] = '\r';
			c->linelen++;
		}
		if (ch == '\r') {
			c->cr = 1;
			i++;
			continue;
		}
		/* Fast path: copy up to the next CR. */
		const char *cr = memchr(p + i, '\r', n - i);
		size_t run = cr != NULL ? (size_t)(cr - (p + i)) : n - i;
		memcpy(out + o, p + i, run);
		o += run;
		i += run;
		c->linelen += run;
		/* A bare LF inside: a line start for dot purposes too. */
	}
	EVP_DigestUpdate(c->md, out, o);
	c->size += o;
	return n;
}

static void
command(struct conn *c, char *line)
{
	if (strncasecmp(line, "EHLO", 4) == 0)
		reply(c, "250-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
		    "250-SIZE 2147483647\r\n250 ENHANCEDSTATUSCODES\r\n");
	else if (strncasecmp(line, "HELO", 4) == 0)
		reply(c, "250 sink.bench\r\n");
	else if (strncasecmp(line, "DATA", 4) == 0) {
		reply(c, "354 go ahead\r\n");
		c->data = 1;
		c->bol = 1;
		c->dot = 0;
		c->cr = 0;
		c->size = 0;
		c->linelen = 0;
		EVP_DigestInit_ex(c->md, EVP_sha256(), NULL);
	} else if (strncasecmp(line, "QUIT", 4) == 0) {
		reply(c, "221 2.0.0 bye\r\n");
		c->closing = 1;
	} else if (strncasecmp(line, "MAIL", 4) == 0 ||
	    strncasecmp(line, "RCPT", 4) == 0 ||
	    strncasecmp(line, "RSET", 4) == 0 ||
	    strncasecmp(line, "NOOP", 4) == 0)
		reply(c, "250 2.0.0 OK\r\n");
	else
		reply(c, "502 5.5.2 not here\r\n");
}

/* Handle what arrived; returns -1 to close. */
static int
handle(struct conn *c, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && !c->closing) {
		if (c->data) {
			i += eat_data(c, p + i, n - i);
			continue;
		}
		const char *nl = memchr(p + i, '\n', n - i);
		size_t take = nl != NULL ? (size_t)(nl - (p + i)) + 1 : n - i;
		if (c->linelen + take >= LINEMAX)
			return -1;
		memcpy(c->line + c->linelen, p + i, take);
		c->linelen += take;
		i += take;
		if (nl != NULL) {
			c->line[c->linelen] = '\0';
			command(c, c->line);
			c->linelen = 0;
		}
	}
	if (flush_out(c) == -1)
		return -1;
	return c->closing ? -1 : 0;
}

static void
drop(int i)
{
	struct conn *c = conns[i];

	close(c->fd);
	EVP_MD_CTX_free(c->md);
	free(c->out);
	free(c->conv);
	free(c);
	conns[i] = NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof sa;
	static char in[INBUF];
	int lfd, one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: smtpsink DIGEST_FILE\n");
		return 64;
	}
	if ((digests = fopen(argv[1], "a")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(lfd, 64) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) == -1) {
		perror("smtpsink: listen");
		return 1;
	}
	printf("PORT %d\n", ntohs(sa.sin_port));
	fflush(stdout);

	while (!stop) {
		struct pollfd pfd[1 + MAX_CONNS];
		int idx[1 + MAX_CONNS], n = 0;

		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		idx[n++] = -1;
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i] != NULL) {
				pfd[n].fd = conns[i]->fd;
				pfd[n].events = POLLIN;
				idx[n++] = i;
			}
		if (poll(pfd, (nfds_t)n, -1) == -1) {
			if (errno == EINTR)
				continue;
			perror("smtpsink: poll");
			return 1;
		}
		for (int k = 1; k < n; k++) {
			if (pfd[k].revents == 0)
				continue;
			struct conn *c = conns[idx[k]];
			ssize_t r = read(c->fd, in, sizeof in);
			if (r == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0 || handle(c, in, (size_t)r) == -1)
				drop(idx[k]);
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);
			int slot = -1;

			for (int i = 0; i < MAX_CONNS; i++)
				if (conns[i] == NULL) {
					slot = i;
					break;
				}
			if (fd == -1)
				continue;
			if (slot == -1) {
				close(fd);
				continue;
			}
			struct conn *c = calloc(1, sizeof *c);
			c->fd = fd;
			c->md = EVP_MD_CTX_new();
			c->conv = malloc(INBUF + 16);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			conns[slot] = c;
			reply(c, "220 sink.bench ESMTP\r\n");
			if (flush_out(c) == -1)
				drop(slot);
		}
	}
	fclose(digests);
	return 0;
}
