/*
 * A TCP proxy for `make bench`: counts the bytes in each direction and can
 * delay them, the way a long link does, without limiting throughput.
 *
 *   proxy TARGET_PORT DELAY_MS STATS_FILE
 *
 * Listens on 127.0.0.1 (a free port, printed as "PORT n" on standard
 * output once it listens) and connects each client to 127.0.0.1:TARGET_PORT.
 * Every chunk read from one side is written to the other DELAY_MS
 * milliseconds later, in order; reading goes on meanwhile (up to 64 MB
 * queued per direction), so a pipelining client sees the added round-trip
 * time once, not once per command. DELAY_MS 0 forwards at once.
 *
 * After each connection ends, STATS_FILE is rewritten with the totals so
 * far: "CLOSED_CONNECTIONS CLIENT_TO_SERVER_BYTES SERVER_TO_CLIENT_BYTES".
 * Ends on SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK      (64 * 1024)
#define MAX_QUEUED (64L * 1024 * 1024)
#define MAX_CONNS  64

struct chunk {
	struct chunk	*next;
	int64_t		 due;		/* ns, CLOCK_MONOTONIC */
	size_t		 len, off;
	char		 data[];
};

struct dir {			/* one direction: from src to dst */
	int		 src, dst;
	struct chunk	*head, *tail;
	long		 queued;
	int		 eof;		/* src said EOF */
	int		 shut;		/* dst shut down for writing */
	unsigned long long *counter;
};

struct conn {
	int		 used;
	int		 cfd, sfd;
	struct dir	 up, down;	/* client->server, server->client */
};

static struct conn conns[MAX_CONNS];
static unsigned long long c2s, s2c, closed;
static int64_t delay_ns;
static const char *stats_path;
static volatile sig_atomic_t stop;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
write_stats(void)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", stats_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "%llu %llu %llu\n", closed, c2s, s2c);
	fclose(f);
	rename(tmp, stats_path);
}

static void
nonblock(int fd)
{
	int one = 1;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
free_dir(struct dir *d)
{
	while (d->head != NULL) {
		struct chunk *c = d->head;
		d->head = c->next;
		free(c);
	}
	d->tail = NULL;
	d->queued = 0;
}

static void
end_conn(struct conn *c)
{
	close(c->cfd);
	close(c->sfd);
	free_dir(&c->up);
	free_dir(&c->down);
	c->used = 0;
	closed++;
	write_stats();
}

/* Read what src has; returns -1 on error. */
static int
pull(struct dir *d)
{
	for (;;) {
		if (d->queued >= MAX_QUEUED || d->eof)
			return 0;
		struct chunk *c = malloc(sizeof *c + CHUNK);
		if (c == NULL)
			return -1;
		ssize_t r = read(d->src, c->data, CHUNK);
		if (r <= 0) {
			free(c);
			if (r == 0) {
				d->eof = 1;
				return 0;
			}
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		c->len = (size_t)r;
		c->off = 0;
		c->due = now_ns() + delay_ns;
		c->next = NULL;
		if (d->tail != NULL)
			d->tail->next = c;
		else
			d->head = c;
		d->tail = c;
		d->queued += r;
		*d->counter += (unsigned long long)r;
		if (r < CHUNK)
			return 0;
	}
}

/* Write what is due; returns -1 on error. */
static int
push(struct dir *d, int64_t now)
{
	while (d->head != NULL && d->head->due <= now) {
		struct chunk *c = d->head;
		ssize_t w = write(d->dst, c->data + c->off, c->len - c->off);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		c->off += (size_t)w;
		d->queued -= w;
		if (c->off < c->len)
			return 0;
		d->head = c->next;
		if (d->head == NULL)
			d->tail = NULL;
		free(c);
	}
	if (d->head == NULL && d->eof && !d->shut) {
		shutdown(d->dst, SHUT_WR);
		d->shut = 1;
	}
	return 0;
}

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof sa;
	int lfd, one = 1;
	unsigned short target;

	if (argc != 4) {
		fprintf(stderr, "usage: proxy TARGET_PORT DELAY_MS STATS_FILE\n");
		return 64;
	}
	target = (unsigned short)atoi(argv[1]);
	delay_ns = (int64_t)atol(argv[2]) * 1000000;
	stats_path = argv[3];
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(lfd, 64) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) == -1) {
		perror("proxy: listen");
		return 1;
	}
	nonblock(lfd);
	write_stats();
	printf("PORT %d\n", ntohs(sa.sin_port));
	fflush(stdout);

	while (!stop) {
		struct pollfd pfd[1 + 2 * MAX_CONNS];
		int n = 0, timeout = -1;
		int64_t now = now_ns();

		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		n++;
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];
			if (!c->used)
				continue;
			struct dir *ds[2] = { &c->up, &c->down };
			short ev_c = 0, ev_s = 0;
			for (int k = 0; k < 2; k++) {
				struct dir *d = ds[k];
				short *src_ev = d->src == c->cfd ? &ev_c : &ev_s;
				short *dst_ev = d->dst == c->cfd ? &ev_c : &ev_s;
				if (!d->eof && d->queued < MAX_QUEUED)
					*src_ev |= POLLIN;
				if (d->head != NULL) {
					if (d->head->due <= now)
						*dst_ev |= POLLOUT;
					else {
						int64_t ms = (d->head->due - now +
						    999999) / 1000000;
						if (timeout < 0 || ms < timeout)
							timeout = (int)ms;
					}
				}
			}
			pfd[n].fd = c->cfd;
			pfd[n++].events = ev_c;
			pfd[n].fd = c->sfd;
			pfd[n++].events = ev_s;
		}
		if (poll(pfd, (nfds_t)n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			perror("proxy: poll");
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			int cfd;
			while ((cfd = accept(lfd, NULL, NULL)) != -1) {
				struct sockaddr_in ta = { .sin_family = AF_INET };
				int slot = -1, sfd;
				for (int i = 0; i < MAX_CONNS; i++)
					if (!conns[i].used) {
						slot = i;
						break;
					}
				ta.sin_port = htons(target);
				ta.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
				sfd = socket(AF_INET, SOCK_STREAM, 0);
				if (slot == -1 || connect(sfd,
				    (struct sockaddr *)&ta, sizeof ta) == -1) {
					close(cfd);
					close(sfd);
					continue;
				}
				nonblock(cfd);
				nonblock(sfd);
				struct conn *c = &conns[slot];
				memset(c, 0, sizeof *c);
				c->used = 1;
				c->cfd = cfd;
				c->sfd = sfd;
				c->up = (struct dir){ .src = cfd, .dst = sfd,
				    .counter = &c2s };
				c->down = (struct dir){ .src = sfd, .dst = cfd,
				    .counter = &s2c };
			}
		}
		/* Pull and push on every connection, whatever poll said:
		 * reads and writes are non-blocking. */
		now = now_ns();
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];
			if (!c->used)
				continue;
			if (pull(&c->up) == -1 || pull(&c->down) == -1 ||
			    push(&c->up, now) == -1 || push(&c->down, now) == -1) {
				end_conn(c);
				continue;
			}
			if (c->up.shut && c->down.shut)
				end_conn(c);
		}
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].used)
			end_conn(&conns[i]);
	return 0;
}
