/*
 * POP3 listings: the parsers of STAT, LIST and UIDL lines, and the
 * reader's bounds on a listing (lines and bytes, bad lines included).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn.h"
#include "log.h"
#include "pop3-listing.h"
#include "pop3.h"
#include "xmalloc.h"

static void
test_stat(void **state)
{
	uint64_t n;

	(void)state;
	assert_int_equal(pop3_parse_stat("3 1234", 1000000, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pop3_parse_stat("0", 1000000, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pop3_parse_stat("1000000 9", 1000000, &n), 0);
	assert_int_equal(pop3_parse_stat("1000001 9", 1000000, &n), -1);
	assert_int_equal(pop3_parse_stat("3x 5", 1000000, &n), -1);
	assert_int_equal(pop3_parse_stat("", 1000000, &n), -1);
	assert_int_equal(pop3_parse_stat(" 3", 1000000, &n), -1);
	assert_int_equal(pop3_parse_stat("99999999999999999999999", UINT64_MAX,
	    &n), -1);
}

#define LIST(s, rc)	assert_int_equal(pop3_parse_list_line(s, \
			    sizeof(s) - 1, &num, &size), rc)

static void
test_list_line(void **state)
{
	unsigned num;
	uint64_t size;

	(void)state;
	LIST("1 100", 0);
	assert_int_equal(num, 1);
	assert_int_equal(size, 100);
	LIST("4294967295 9223372036854775807 more", 0);
	assert_int_equal(num, 4294967295u);
	assert_int_equal(size, INT64_MAX);
	LIST("0 100", -1);
	LIST("1  100", -1);
	LIST("1 100x", -1);
	LIST("1", -1);
	LIST("1 ", -1);
	LIST("-1 100", -1);
	LIST("4294967296 1", -1);
	LIST("1 9223372036854775808", -1);
	/* A NUL in the line is not the end of it. */
	LIST("1 10\0 0", -1);
}

#define UIDL(s)	pop3_parse_uidl_line(s, sizeof(s) - 1, &num, &uid, &uidlen)

static void
test_uidl_line(void **state)
{
	char line[300];
	const char *uid;
	size_t uidlen;
	unsigned num;

	(void)state;
	assert_int_equal(UIDL("1 abc"), UIDL_LINE_OK);
	assert_int_equal(num, 1);
	assert_int_equal(uidlen, 3);
	assert_memory_equal(uid, "abc", 3);
	assert_int_equal(UIDL("7 a/b/../$(x)`;"), UIDL_LINE_OK);
	assert_int_equal(UIDL("1 a b"), UIDL_LINE_BAD_UID);
	assert_int_equal(UIDL("1 "), UIDL_LINE_BAD_UID);
	assert_int_equal(UIDL("1 ab\0c"), UIDL_LINE_BAD_UID);
	assert_int_equal(UIDL("1 caf\xc3\xa9"), UIDL_LINE_BAD_UID);
	assert_int_equal(UIDL("x abc"), UIDL_LINE_BAD_NUMBER);
	assert_int_equal(UIDL("0 abc"), UIDL_LINE_BAD_NUMBER);
	assert_int_equal(UIDL("1\tabc"), UIDL_LINE_BAD_NUMBER);
	assert_int_equal(UIDL(""), UIDL_LINE_BAD_NUMBER);
	/* 255 characters is the longest UID kept. */
	memset(line, 'u', sizeof line);
	memcpy(line, "9 ", 2);
	assert_int_equal(pop3_parse_uidl_line(line, 2 + 255, &num, &uid,
	    &uidlen), UIDL_LINE_OK);
	assert_int_equal(pop3_parse_uidl_line(line, 2 + 256, &num, &uid,
	    &uidlen), UIDL_LINE_BAD_UID);
}

/* A connection whose server side a child process feeds with `lines`
 * copies of `line` after "+OK", then the terminator. */
static struct pop3 *
listing_server(const char *line, unsigned lines, pid_t *pid)
{
	struct conn *c;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*pid = fork();
	assert_true(*pid != -1);
	if (*pid == 0) {
		FILE *fp = fdopen(sv[1], "w");

		close(sv[0]);
		fputs("+OK\r\n", fp);
		for (unsigned i = 0; i < lines; i++)
			fputs(line, fp);
		fputs(".\r\n", fp);
		fclose(fp);
		_exit(0);
	}
	close(sv[1]);
	c = xcalloc(1, sizeof *c);
	c->fd = sv[0];
	c->label = xstrdup("test");
	c->timeout_ms = 30000;
	c->rbuf = xmalloc(CONN_READ_BUFFER + 1);
	return pop3_new(c);
}

/* Read a UIDL listing to its end; the lines read, or -1 on an error. */
static long
read_listing(struct pop3 *p, struct err *e)
{
	struct pop3_reply r;
	long n = 0;
	char *line;
	size_t len;
	bool end;

	pop3_send(p, POP3_UIDL, 0, "UIDL", SIZE_MAX);
	if (pop3_reply(p, &r, e) == -1)
		return -1;
	for (;;) {
		if (pop3_listing_line(p, &line, &len, &end, e) == -1)
			return -1;
		if (end)
			return n;
		n++;
	}
}

static void
finish(struct pop3 *p, pid_t pid)
{
	int status;

	conn_close(p->conn);
	pop3_free(p);
	waitpid(pid, &status, 0);
}

static void
test_listing_line_bound(void **state)
{
	struct err e;
	pid_t pid;
	struct pop3 *p;

	(void)state;
	log_setup(LOG_QUIET, false);
	p = listing_server("1 u\r\n", POP3_LISTING_MAX_LINES, &pid);
	assert_int_equal(read_listing(p, &e), POP3_LISTING_MAX_LINES);
	finish(p, pid);
	/* One more, and a bad one at that: cut off. */
	p = listing_server("garbage\r\n", POP3_LISTING_MAX_LINES + 1, &pid);
	assert_int_equal(read_listing(p, &e), -1);
	assert_non_null(strstr(e.msg, "endless UIDL listing: more than "
	    "1000000 lines"));
	finish(p, pid);
}

static void
test_listing_byte_bound(void **state)
{
	char line[8003];
	struct err e;
	pid_t pid;
	struct pop3 *p;

	(void)state;
	log_setup(LOG_QUIET, false);
	memset(line, 'u', sizeof line);
	memcpy(line, "1 ", 2);
	memcpy(line + sizeof line - 3, "\r\n", 3);
	/* 8 KB lines: 64 MB is about 8,400 of them. */
	p = listing_server(line, 9000, &pid);
	assert_int_equal(read_listing(p, &e), -1);
	assert_non_null(strstr(e.msg, "endless UIDL listing: more than 64 MB"));
	finish(p, pid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_list_line),
		cmocka_unit_test(test_uidl_line),
		cmocka_unit_test(test_listing_line_bound),
		cmocka_unit_test(test_listing_byte_bound),
	};

	return cmocka_run_group_tests_name("pop3-listing", tests, NULL, NULL);
}
