/*
 * The IMAP floor of `make bench`: the least work an IMAP fetch can be.
 * Log in, SELECT the folder, list the UIDs (UID FETCH 1:* (UID)), then
 * UID FETCH every message's BODY.PEEK[] pipelined (a window of WINDOW
 * commands in flight, refilled at half), skip each literal without
 * looking at it, and LOGOUT.
 *
 *   floor-imap [-n] [-u] HOST PORT USER PASS [CAFILE]
 *
 * With CAFILE: implicit TLS (IMAPS), the server certificate verified
 * against CAFILE and HOST (an IP address or a name). Prints "MESSAGES
 * BYTES" (bytes of message literals, as sent, with CRLF) on standard
 * output; exits 1 on any error.
 *
 * -n: fetch nothing; log in, SELECT, list every message's UID, size and
 * flags (UID FETCH 1:* (UID RFC822.SIZE FLAGS)), LOGOUT: the floor of a
 * run that finds nothing new.
 * -u: before anything else, remove \Seen from every message (the bench
 * uses it to put the folder back after a fetcher that sets it).
 *
 * Built by bench/run.py: cc -O2 floor-imap.c -lssl -lcrypto.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
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
#define LINEMAX  8192

static int fd = -1;
static SSL *ssl;
static char buf[BUFSIZE];
static size_t rpos, rlen;

/* The response being read: its text without literals, and the total
 * size of the literals it carried. */
static char line[LINEMAX];
static size_t linelen;
static unsigned long long literal_bytes;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "floor-imap: ");
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

/* Append one line (up to LF) to `line`, without its CRLF. */
static void
read_part(void)
{
	for (;;) {
		if (rpos == rlen)
			fill();
		char *p = buf + rpos;
		char *nl = memchr(p, '\n', rlen - rpos);
		size_t n = nl != NULL ? (size_t)(nl - p) : rlen - rpos;

		if (linelen + n >= sizeof line)
			die("response line over %d bytes", LINEMAX);
		memcpy(line + linelen, p, n);
		linelen += n;
		rpos += n;
		if (nl != NULL) {
			rpos++;
			break;
		}
	}
	if (linelen > 0 && line[linelen - 1] == '\r')
		linelen--;
	line[linelen] = '\0';
}

/* The size of a literal announced at the end of `line`, or -1. */
static long long
literal_at_end(void)
{
	size_t i = linelen;

	if (i < 3 || line[i - 1] != '}')
		return -1;
	i--;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == 0 || line[i - 1] != '{' || i == linelen - 1)
		return -1;
	return strtoll(line + i, NULL, 10);
}

static void
skip(unsigned long long n)
{
	while (n > 0) {
		if (rpos == rlen)
			fill();
		size_t k = rlen - rpos;

		if (k > n)
			k = (size_t)n;
		rpos += k;
		n -= k;
	}
}

/* One whole response into `line`; its literals are skipped (counted in
 * literal_bytes) and stand as "{N}" in the text. */
static void
read_response(void)
{
	long long lit;

	linelen = 0;
	for (;;) {
		read_part();
		if ((lit = literal_at_end()) < 0)
			return;
		literal_bytes += (unsigned long long)lit;
		skip((unsigned long long)lit);
	}
}

/* Send a command tagged TAG and read up to its completion, which must be
 * OK; untagged responses go to fn. */
static void
command(const char *tag, const char *cmd, void (*fn)(void))
{
	char out[1024];
	size_t taglen = strlen(tag);

	snprintf(out, sizeof out, "%s %s\r\n", tag, cmd);
	io_write(out, strlen(out));
	for (;;) {
		read_response();
		if (strncmp(line, tag, taglen) == 0 && line[taglen] == ' ')
			break;
		if (line[0] == '*' && fn != NULL)
			fn();
	}
	if (strncmp(line + taglen + 1, "OK", 2) != 0)
		die("%s: %s", cmd, line);
}

static uint32_t *uids;
static size_t nuids, capuids;

static void
note_uid(void)
{
	const char *p = strstr(line, "UID ");

	if (strstr(line, " FETCH ") == NULL || p == NULL)
		return;
	if (nuids == capuids) {
		capuids = capuids ? capuids * 2 : 1024;
		uids = realloc(uids, capuids * sizeof *uids);
		if (uids == NULL)
			die("out of memory");
	}
	uids[nuids++] = (uint32_t)strtoul(p + 4, NULL, 10);
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

/* The user name and password as IMAP quoted strings. */
static void
quoted(char *out, size_t size, const char *s)
{
	size_t n = 0;

	out[n++] = '"';
	for (; *s != '\0' && n + 3 < size; s++) {
		if (*s == '"' || *s == '\\')
			out[n++] = '\\';
		out[n++] = *s;
	}
	out[n++] = '"';
	out[n] = '\0';
}

/* Every message's BODY.PEEK[], WINDOW commands in flight. */
static void
fetch_all(void)
{
	size_t sent = 0, done = 0;
	char cmds[WINDOW * 48];

	literal_bytes = 0;
	while (done < nuids) {
		if (sent - done <= WINDOW / 2 && sent < nuids) {
			size_t n = 0;

			while (sent < nuids && sent - done < WINDOW) {
				n += (size_t)sprintf(cmds + n,
				    "F%zu UID FETCH %u BODY.PEEK[]\r\n", sent,
				    uids[sent]);
				sent++;
			}
			io_write(cmds, n);
		}
		read_response();
		if (line[0] == '*')
			continue;
		if (line[0] != 'F' || strstr(line, " OK") == NULL)
			die("fetch: %s", line);
		done++;
	}
}

int
main(int argc, char **argv)
{
	char user[512], pass[512], cmd[1100];
	int list_only = 0, unseen = 0;

	while (argc > 1 && argv[1][0] == '-' && argv[1][1] != '\0') {
		if (strcmp(argv[1], "-n") == 0)
			list_only = 1;
		else if (strcmp(argv[1], "-u") == 0)
			unseen = 1;
		else
			break;
		argc--;
		argv++;
	}
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: floor-imap [-n] [-u] HOST PORT USER "
		    "PASS [CAFILE]\n");
		return 64;
	}
	connect_to(argv[1], argv[2]);
	if (argc == 6)
		start_tls(argv[1], argv[5]);
	read_response();
	if (strncmp(line, "* OK", 4) != 0)
		die("greeting: %s", line);
	quoted(user, sizeof user, argv[3]);
	quoted(pass, sizeof pass, argv[4]);
	snprintf(cmd, sizeof cmd, "LOGIN %s %s", user, pass);
	command("L", cmd, NULL);
	command("S", "SELECT INBOX", NULL);
	if (unseen)
		command("U", "UID STORE 1:* -FLAGS.SILENT (\\Seen)", NULL);
	if (list_only) {
		command("N", "UID FETCH 1:* (UID RFC822.SIZE FLAGS)", note_uid);
		command("Z", "LOGOUT", NULL);
		printf("0 0\n");
		return 0;
	}
	command("N", "UID FETCH 1:* (UID)", note_uid);
	fetch_all();
	command("Z", "LOGOUT", NULL);
	printf("%zu %llu\n", nuids, literal_bytes);
	return 0;
}
