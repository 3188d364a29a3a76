/* The connection's wake mark: while the server owes much, a wait for data
 * sleeps until a large amount has come; a mark not met in time is lowered
 * for good; nothing raises it on a unix-domain socket, for a refused
 * request, or for a wait that must see a short reply. */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn.h"
#include "unit.h"

/* conn.c's mark, when raised. */
#define WAKE_BYTES	(128 * 1024)

/* A client connection and the server's end of it. */
struct pair {
	struct conn	*c;
	int		 server;
	int		 listener;
	char		*dir;		/* for a unix-domain socket */
};

/* The server's side, in a thread: once the client sleeps waiting, note
 * the client socket's mark, then send `send` bytes. */
struct peer {
	pthread_t	 thread;
	pid_t		 waiter;	/* the thread that waits */
	int		 client_fd, server_fd;
	size_t		 send;
	int		 mark_seen;
	bool		 saw_sleep;
};

static void
pair_tcp(struct pair *p)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	struct err e;

	memset(p, 0, sizeof *p);
	p->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->listener >= 0);
	assert_int_equal(bind(p->listener, (struct sockaddr *)&sin,
	    sizeof sin), 0);
	assert_int_equal(listen(p->listener, 1), 0);
	assert_int_equal(getsockname(p->listener, (struct sockaddr *)&sin,
	    &len), 0);
	p->c = conn_connect("127.0.0.1", ntohs(sin.sin_port), 10, &e);
	assert_non_null(p->c);
	p->server = accept(p->listener, NULL, NULL);
	assert_true(p->server >= 0);
}

static void
pair_unix(struct pair *p)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct err e;

	memset(p, 0, sizeof *p);
	p->dir = unit_tmpdir();
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/s", p->dir);
	p->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->listener >= 0);
	assert_int_equal(bind(p->listener, (struct sockaddr *)&sun,
	    sizeof sun), 0);
	assert_int_equal(listen(p->listener, 1), 0);
	p->c = conn_connect_unix(sun.sun_path, 10, &e);
	assert_non_null(p->c);
	p->server = accept(p->listener, NULL, NULL);
	assert_true(p->server >= 0);
}

static void
pair_close(struct pair *p)
{
	conn_close(p->c);
	close(p->server);
	close(p->listener);
	unit_rmtree(p->dir);
}

/* The state letter of a thread of this process, from /proc. */
static char
thread_state(pid_t tid)
{
	char path[64], buf[512], *paren;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return '?';
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' ? paren[2] : '?';
}

static void *
peer_run(void *arg)
{
	struct peer *pe = arg;
	struct timespec tick = { .tv_nsec = 1000 * 1000 };
	socklen_t len = sizeof pe->mark_seen;
	char *data;
	size_t off = 0;

	/* Only sleeping in poll(2) is 'S' here; 10 s at the most. */
	for (int i = 0; i < 10000 && !pe->saw_sleep; i++) {
		if (thread_state(pe->waiter) == 'S')
			pe->saw_sleep = true;
		else
			nanosleep(&tick, NULL);
	}
	(void)getsockopt(pe->client_fd, SOL_SOCKET, SO_RCVLOWAT,
	    &pe->mark_seen, &len);
	data = calloc(1, pe->send + 1);
	while (data != NULL && off < pe->send) {
		ssize_t n = write(pe->server_fd, data + off, pe->send - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(data);
	return NULL;
}

/* Start the server's side: it sends `send` bytes once we wait. */
static void
peer_start(struct peer *pe, struct pair *p, size_t send)
{
	memset(pe, 0, sizeof *pe);
	pe->waiter = gettid();
	pe->client_fd = p->c->fd;
	pe->server_fd = p->server;
	pe->send = send;
	assert_int_equal(pthread_create(&pe->thread, NULL, peer_run, pe), 0);
}

static void
peer_join(struct peer *pe)
{
	assert_int_equal(pthread_join(pe->thread, NULL), 0);
	assert_true(pe->saw_sleep);
}

static int
mark_now(const struct pair *p)
{
	int mark = -1;
	socklen_t len = sizeof mark;

	assert_int_equal(getsockopt(p->c->fd, SOL_SOCKET, SO_RCVLOWAT, &mark,
	    &len), 0);
	return mark;
}

/* conn_fill until n bytes are buffered. */
static void
fill_to(struct pair *p, size_t n)
{
	struct err e;

	while (conn_buffered(p->c) < n)
		assert_int_equal(conn_fill(p->c, &e), 0);
}

static void
discard(struct pair *p)
{
	p->c->rpos = p->c->rend;
}

/* The server sends n bytes once we wait; read them all. Returns the
 * client socket's mark while it waited. */
static int
receive(struct pair *p, size_t n)
{
	struct peer pe;

	peer_start(&pe, p, n);
	fill_to(p, n);
	peer_join(&pe);
	return pe.mark_seen;
}

/* A megabyte through first, as in a download under way: the receive
 * window has grown, so the kernel wakes no one early for lack of it. */
static void
warm_up(struct pair *p)
{
	struct peer pe;
	struct err e;
	size_t got = 0;

	peer_start(&pe, p, 1024 * 1024);
	while (got < 1024 * 1024) {
		assert_int_equal(conn_fill(p->c, &e), 0);
		got += conn_buffered(p->c);
		discard(p);
	}
	peer_join(&pe);
}

static void
test_waits_for_much_while_much_is_owed(void **state)
{
	struct pair p;
	struct peer pe;
	struct err e;

	(void)state;
	pair_tcp(&p);
	warm_up(&p);
	conn_owe(p.c, 1024 * 1024);
	peer_start(&pe, &p, WAKE_BYTES);
	assert_int_equal(conn_fill(p.c, &e), 0);
	peer_join(&pe);
	assert_int_equal(pe.mark_seen, WAKE_BYTES);
	/* Woken once, for everything: the buffer holds exactly that. */
	assert_int_equal(conn_buffered(p.c), WAKE_BYTES);
	assert_false(p.c->wake_distrusted);
	pair_close(&p);
}

static void
test_a_mark_not_met_is_lowered_for_good(void **state)
{
	struct pair p;

	(void)state;
	pair_tcp(&p);
	/* Announced 1 MB, sent 10 bytes. */
	conn_owe(p.c, 1024 * 1024);
	assert_int_equal(receive(&p, 10), WAKE_BYTES);
	assert_true(p.c->wake_distrusted);
	assert_int_equal(mark_now(&p), 1);
	discard(&p);
	/* Much more owed: not raised again on this connection. */
	conn_owe(p.c, 1024 * 1024);
	assert_int_equal(receive(&p, 10), 1);
	pair_close(&p);
}

static void
test_little_owed_is_not_waited_for(void **state)
{
	struct pair p;

	(void)state;
	pair_tcp(&p);
	/* The TLS allowance aside, less than the mark is owed. */
	conn_owe(p.c, WAKE_BYTES - 1);
	assert_int_equal(receive(&p, 10), 1);
	assert_false(p.c->wake_distrusted);
	pair_close(&p);
}

static void
test_refused_requests_are_owed_no_more(void **state)
{
	struct pair p;

	(void)state;
	pair_tcp(&p);
	conn_owe(p.c, 1024 * 1024);
	conn_owe_less(p.c, 1024 * 1024);
	assert_int_equal(p.c->owed_until, p.c->bytes_in);
	/* Refusing more than is owed owes nothing, not a wrap-around. */
	conn_owe_less(p.c, 5);
	assert_int_equal(p.c->owed_until, p.c->bytes_in);
	assert_int_equal(receive(&p, 10), 1);
	pair_close(&p);
}

static void
test_bytes_past_what_is_owed_count_for_nothing(void **state)
{
	struct pair p;

	(void)state;
	pair_tcp(&p);
	/* 10 bytes owed, 100 came (the rest of another reply). */
	conn_owe(p.c, 10);
	(void)receive(&p, 100);
	/* What is owed next comes after those. */
	conn_owe(p.c, 1000);
	assert_int_equal(p.c->owed_until, p.c->bytes_in + 1000);
	pair_close(&p);
}

/* A mark left raised by a download must not hide a short reply from a
 * wait for one (IMAP IDLE's new-mail notice, say). */
static void
test_readable_sees_a_short_reply_after_a_download(void **state)
{
	struct pair p;
	struct peer pe;

	(void)state;
	pair_tcp(&p);
	warm_up(&p);
	conn_owe(p.c, 1024 * 1024);
	assert_int_equal(receive(&p, WAKE_BYTES), WAKE_BYTES);
	assert_int_equal(mark_now(&p), WAKE_BYTES);
	discard(&p);
	/* The rest was refused; then a short reply is awaited. */
	conn_owe_less(p.c, 1024 * 1024);
	peer_start(&pe, &p, 10);
	assert_true(conn_readable(p.c, 10000));
	peer_join(&pe);
	assert_int_equal(pe.mark_seen, 1);
	fill_to(&p, 10);
	pair_close(&p);
}

static void
test_never_raised_on_a_unix_socket(void **state)
{
	struct pair p;

	(void)state;
	pair_unix(&p);
	conn_owe(p.c, 1024 * 1024);
	assert_int_equal(receive(&p, 10), 1);
	assert_false(p.c->wake_distrusted);
	pair_close(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waits_for_much_while_much_is_owed),
		cmocka_unit_test(test_a_mark_not_met_is_lowered_for_good),
		cmocka_unit_test(test_little_owed_is_not_waited_for),
		cmocka_unit_test(test_refused_requests_are_owed_no_more),
		cmocka_unit_test(test_bytes_past_what_is_owed_count_for_nothing),
		cmocka_unit_test(
		    test_readable_sees_a_short_reply_after_a_download),
		cmocka_unit_test(test_never_raised_on_a_unix_socket),
	};

	return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
