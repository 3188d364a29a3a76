/*
 * The floor of `make bench`: the least work a POP3 fetch can be. Log in,
 * STAT, then RETR every message pipelined (a window of WINDOW commands in
 * flight, refilled at half), read the replies only far enough to find where
 * each message ends, and throw the data away; QUIT.
 *
 *   floor [-n | -l] HOST PORT USER PASS [CAFILE]
 *
 * With CAFILE: implicit TLS (POP3S), the server certificate verified
 * against CAFILE and HOST (an IP address or a name). Prints
 * "MESSAGES BYTES" (bytes of message data as sent, with CRLF and
 * dot-stuffing) on standard output; exits 1 on any error.
 *
 * -n: fetch nothing; log in, LIST and UIDL (pipelined), QUIT: the floor
 * of a run that finds nothing new.
 *
 * -l: lockstep, for a server without PIPELINING: one RETR at a time, the
 * next sent the moment the reply before it ends, and every read
 * acknowledged at once (TCP_QUICKACK, asked again after each read since
 * the kernel drops it): the best a client may do with such a server.
 *
 * Built by bench/run.py: cc -O2 floor.c -lssl -lcrypto.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define WINDOW   256
#define BUFSIZE  (256 * 1024)

static int fd = -1;
static SSL *ssl;
static int quickack;
static char buf[BUFSIZE];
static size_t rpos, rlen;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "floor: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static ssize_t
io_read(void *p, size_t n)
{
	if (ssl != NULL) {
		int r = SSL_read(ssl, p, (int)n);
		if (r <= 0)
			return SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN ?
			    0 : -1;
		return r;
	}
	for (;;) {
		ssize_t r = read(fd, p, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r > 0 && quickack) {
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one,
			    sizeof one);
		}
		return r;
	}
}

static void
io_write(const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w;

		if (ssl != NULL) {
			int r = SSL_write(ssl, c, (int)n);
			if (r <= 0)
				die("TLS write failed");
			w = r;
		} else {
			w = write(fd, c, n);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1)
				die("write: %s", strerror(errno));
		}
		c += w;
		n -= (size_t)w;
	}
}

static void
fill(void)
{
	ssize_t r = io_read(buf, sizeof buf);

	if (r == 0)
		die("server closed the connection");
	if (r < 0)
		die("read failed: %s", strerror(errno));
	rpos = 0;
	rlen = (size_t)r;
}

/* One reply line (for the login phase), without CRLF. */
static void
read_line(char *out, size_t outsz)
{
	size_t n = 0;

	for (;;) {
		if (rpos == rlen)
			fill();
		char c = buf[rpos++];
		if (c == '\n')
			break;
		if (n + 1 < outsz)
			out[n++] = c;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
}

static void
command(const char *cmd, char *reply, size_t replysz)
{
	char line[512];

	snprintf(line, sizeof line, "%s\r\n", cmd);
	io_write(line, strlen(line));
	read_line(reply, replysz);
	if (strncmp(reply, "+OK", 3) != 0)
		die("%.4s...: %s", cmd, reply);
}

static void
connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc = getaddrinfo(host, port, &hints, &res);

	if (rc != 0)
		die("%s: %s", host, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		die("cannot connect to %s:%s", host, port);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
start_tls(const char *host, const char *cafile)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct in6_addr a6;
	struct in_addr a4;

	if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
		die("cannot load %s", cafile);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	ssl = SSL_new(ctx);
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	if (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(vp, host);
	else {
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
		SSL_set_tlsext_host_name(ssl, host);
	}
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		die("TLS handshake failed");
}

int
main(int argc, char **argv)
{
	char line[1024];
	unsigned long total, sent = 1, done = 0;
	unsigned long long bytes = 0;
	int in_body = 0, list_only = 0;
	unsigned long window = WINDOW;
	size_t cur_len = 0;
	char head[3] = { 0, 0, 0 };

	if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		list_only = 1;
		argc--;
		argv++;
	} else if (argc > 1 && strcmp(argv[1], "-l") == 0) {
		window = 1;
		quickack = 1;
		argc--;
		argv++;
	}
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: floor [-n | -l] HOST PORT USER PASS "
		    "[CAFILE]\n");
		return 64;
	}
	connect_to(argv[1], argv[2]);
	if (argc == 6)
		start_tls(argv[1], argv[5]);
	read_line(line, sizeof line);
	if (strncmp(line, "+OK", 3) != 0)
		die("greeting: %s", line);
	snprintf(line, sizeof line, "USER %s", argv[3]);
	command(line, line, sizeof line);
	snprintf(line, sizeof line, "PASS %s", argv[4]);
	command(line, line, sizeof line);
	if (list_only) {
		/* Two multi-line replies: read up to the second "." line. */
		int dots = 0;

		io_write("LIST\r\nUIDL\r\n", 12);
		while (dots < 2) {
			read_line(line, sizeof line);
			if (strcmp(line, ".") == 0)
				dots++;
			else if (line[0] == '-')
				die("LIST/UIDL: %s", line);
		}
		command("QUIT", line, sizeof line);
		printf("0 0\n");
		return 0;
	}
	command("STAT", line, sizeof line);
	total = strtoul(line + 3, NULL, 10);

	while (done < total) {
		/* Refill the window once half of it has drained. */
		if (sent - 1 - done <= window / 2 && sent <= total) {
			char cmds[WINDOW * 24];
			size_t n = 0;

			while (sent <= total && sent - 1 - done < window)
				n += (size_t)sprintf(cmds + n, "RETR %lu\r\n",
				    sent++);
			io_write(cmds, n);
		}
		if (rpos == rlen)
			fill();
		/* Walk the lines of what arrived: the status line of each
		 * reply, then its data up to the line ".". */
		char *p = buf + rpos, *end = buf + rlen;
		while (p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			char *seg_end = nl != NULL ? nl + 1 : end;
			size_t seglen = (size_t)(seg_end - p);

			for (size_t i = 0; i < seglen && cur_len + i < 3; i++)
				head[cur_len + i] = p[i];
			cur_len += seglen;
			if (in_body)
				bytes += seglen;
			p = seg_end;
			if (nl == NULL)
				break;
			if (!in_body) {
				if (head[0] != '+')
					die("RETR %lu: %.3s...", done + 1, head);
				in_body = 1;
			} else if (cur_len == 3 && head[0] == '.' &&
			    head[1] == '\r' && head[2] == '\n') {
				in_body = 0;
				bytes -= 3;
				done++;
			}
			cur_len = 0;
			if (done == total)
				break;
		}
		rpos = (size_t)(p - buf);
	}
	command("QUIT", line, sizeof line);
	printf("%lu %llu\n", total, bytes);
	return 0;
}
