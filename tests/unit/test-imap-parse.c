/*
 * The IMAP response parser over a real connection: every kind of
 * response, literals and message data split across reads at every byte,
 * and what a broken or hostile server sends (each a clear error).
 */
#include <sys/socket.h>

#include <pthread.h>
#include <signal.h>
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
#include "imap-parse.h"
#include "log.h"
#include "xmalloc.h"

/* ---- a server that sends fixed bytes ------------------------------------ */

struct feed {
	int		 sv[2];
	pthread_t	 writer;
	bool		 threaded;
	const char	*data;
	size_t		 len;
	struct conn	*c;
	struct imap_parser ps;
	/* what the sink received */
	char		*body;
	size_t		 bodylen;
	int		 begins, ends;
	struct imap_body_info info;
	char		 key[64];
	bool		 refuse;
};

static int
sink_begin(void *arg, const struct imap_body_info *bi, struct err *e)
{
	struct feed *f = arg;

	f->begins++;
	f->info = *bi;
	snprintf(f->key, sizeof f->key, "%s", bi->key);
	f->info.key = f->key;
	if (f->refuse)
		return err_set(e, ERR_TEMP, "refused by the test");
	return 0;
}

static int
sink_data(void *arg, const char *p, size_t len, struct err *e)
{
	struct feed *f = arg;

	(void)e;
	f->body = xreallocarray(f->body, f->bodylen + len + 1, 1);
	memcpy(f->body + f->bodylen, p, len);
	f->bodylen += len;
	f->body[f->bodylen] = '\0';
	return 0;
}

static int
sink_end(void *arg, struct err *e)
{
	struct feed *f = arg;

	(void)e;
	f->ends++;
	return 0;
}

static struct imap_sink test_sink = { sink_begin, sink_data, sink_end,
    NULL };

/* Any amount of data, from a thread, as a server would send it. */
static void *
writer(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;

	while (off < f->len) {
		ssize_t n = write(f->sv[1], f->data + off, f->len - off);

		if (n <= 0)
			break;		/* the reader gave up */
		off += (size_t)n;
	}
	shutdown(f->sv[1], SHUT_WR);
	return NULL;
}

/* The bytes arrive in reads of `step` bytes each, kept apart by a packet
 * socket; with step 0, as a stream. */
static void
feed_open(struct feed *f, const char *data, size_t len, size_t step)
{
	memset(f, 0, sizeof *f);
	assert_int_equal(socketpair(AF_UNIX, step ? SOCK_SEQPACKET :
	    SOCK_STREAM, 0, f->sv), 0);
	f->data = data;
	f->len = len;
	if (step == 0) {
		f->threaded = true;
		assert_int_equal(pthread_create(&f->writer, NULL, writer, f), 0);
	} else {
		for (size_t off = 0; off < len; off += step) {
			size_t n = len - off > step ? step : len - off;

			assert_int_equal(write(f->sv[1], data + off, n),
			    (ssize_t)n);
		}
		shutdown(f->sv[1], SHUT_WR);
	}
	f->c = xcalloc(1, sizeof *f->c);
	f->c->fd = f->sv[0];
	f->c->label = xstrdup("test");
	f->c->timeout_ms = 5000;
	f->c->rbuf = xmalloc(CONN_READ_BUFFER + 1);
	imap_parser_init(&f->ps, f->c);
	test_sink.arg = f;
	f->ps.sink = &test_sink;
}

static void
feed_close(struct feed *f)
{
	imap_parser_free(&f->ps);
	/* Closing our end first unblocks a writer the parser abandoned. */
	conn_close(f->c);
	if (f->threaded)
		pthread_join(f->writer, NULL);
	close(f->sv[1]);
	free(f->body);
}

/* Parse the first response of `data` (a C string). */
static int
parse1(struct feed *f, const char *data, struct imap_resp *r, struct err *e)
{
	feed_open(f, data, strlen(data), 0);
	err_clear(e);
	return imap_parse_response(&f->ps, r, e);
}

static void
expect_error(const char *data, const char *fragment)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	assert_int_equal(parse1(&f, data, &r, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	if (strstr(e.msg, fragment) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", e.msg, fragment);
	feed_close(&f);
}

static const struct imap_item *
nth(const struct imap_item *it, int n)
{
	while (it != NULL && n-- > 0)
		it = it->next;
	assert_non_null(it);
	return it;
}

/* ---- status responses ----------------------------------------------------- */

static void
test_status_untagged(void **state)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	assert_int_equal(parse1(&f, "* OK [ALERT] Mailbox is full\r\n", &r,
	    &e), 0);
	assert_int_equal(r.kind, IMAP_RESP_UNTAGGED);
	assert_int_equal(r.status, IMAP_ST_OK);
	assert_string_equal(r.name, "OK");
	assert_string_equal(r.code, "ALERT");
	assert_string_equal(r.code_args, "");
	assert_string_equal(r.text, "Mailbox is full");
	feed_close(&f);

	assert_int_equal(parse1(&f, "* ok [permanentflags (\\Seen \\*)] "
	    "Flags\r\n", &r, &e), 0);
	assert_int_equal(r.status, IMAP_ST_OK);
	assert_string_equal(r.code, "PERMANENTFLAGS");
	assert_string_equal(r.code_args, "(\\Seen \\*)");
	assert_string_equal(r.text, "Flags");
	feed_close(&f);

	assert_int_equal(parse1(&f, "* BYE\r\n", &r, &e), 0);
	assert_int_equal(r.status, IMAP_ST_BYE);
	assert_string_equal(r.text, "");
	feed_close(&f);

	assert_int_equal(parse1(&f, "* PREAUTH [CAPABILITY IMAP4rev1 IDLE] "
	    "hi\r\n", &r, &e), 0);
	assert_int_equal(r.status, IMAP_ST_PREAUTH);
	assert_string_equal(r.code_args, "IMAP4rev1 IDLE");
	feed_close(&f);
}

static void
test_status_tagged(void **state)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	assert_int_equal(parse1(&f, "A17 NO [AUTHENTICATIONFAILED] Bad "
	    "(really)\r\n", &r, &e), 0);
	assert_int_equal(r.kind, IMAP_RESP_TAGGED);
	assert_string_equal(r.tag, "A17");
	assert_int_equal(r.status, IMAP_ST_NO);
	assert_string_equal(r.code, "AUTHENTICATIONFAILED");
	assert_string_equal(r.text, "Bad (really)");
	feed_close(&f);

	/* A line must end with CRLF (core/conn.c refuses a bare LF). */
	assert_int_equal(parse1(&f, "x.1 BAD\n", &r, &e), -1);
	feed_close(&f);

	assert_int_equal(parse1(&f, "A2 OK [COPYUID 38505 304,319:320 "
	    "3956:3958] Done\r\n", &r, &e), 0);
	assert_string_equal(r.code, "COPYUID");
	assert_string_equal(r.code_args, "38505 304,319:320 3956:3958");
	feed_close(&f);
}

static void
test_continuation(void **state)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	assert_int_equal(parse1(&f, "+ idling\r\n", &r, &e), 0);
	assert_int_equal(r.kind, IMAP_RESP_CONTINUE);
	assert_string_equal(r.text, "idling");
	feed_close(&f);
	assert_int_equal(parse1(&f, "+\r\n", &r, &e), 0);
	assert_int_equal(r.kind, IMAP_RESP_CONTINUE);
	assert_string_equal(r.text, "");
	feed_close(&f);
	assert_int_equal(parse1(&f, "+ VXNlcm5hbWU6\r\n", &r, &e), 0);
	assert_string_equal(r.text, "VXNlcm5hbWU6");
	feed_close(&f);
}

/* ---- data responses --------------------------------------------------------- */

static void
test_numbered(void **state)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	assert_int_equal(parse1(&f, "* 23 EXISTS\r\n", &r, &e), 0);
	assert_true(r.has_num);
	assert_int_equal(r.num, 23);
	assert_string_equal(r.name, "EXISTS");
	assert_null(r.args);
	feed_close(&f);
	assert_int_equal(parse1(&f, "* 4294967295 expunge\r\n", &r, &e), 0);
	assert_int_equal(r.num, 4294967295u);
	assert_string_equal(r.name, "EXPUNGE");
	feed_close(&f);
	expect_error("* 4294967296 EXISTS\r\n", "bad number");
	expect_error("* 12\r\n", "bad number");
}

static void
test_capability_and_lists(void **state)
{
	const struct imap_item *it;
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	assert_int_equal(parse1(&f, "* CAPABILITY IMAP4rev1 AUTH=PLAIN "
	    "LITERAL+\r\n", &r, &e), 0);
	assert_string_equal(r.name, "CAPABILITY");
	assert_true(imap_item_is(nth(r.args, 0), "imap4rev1"));
	assert_string_equal(nth(r.args, 2)->s, "LITERAL+");
	assert_null(nth(r.args, 2)->next);
	feed_close(&f);

	assert_int_equal(parse1(&f, "* LIST (\\HasNoChildren) \"/\" "
	    "\"a \\\"q\\\" \\\\b\" NIL ((1 2) ())\r\n", &r, &e), 0);
	it = nth(r.args, 0);
	assert_int_equal(it->type, IMAP_LIST);
	assert_int_equal(it->len, 1);
	assert_string_equal(it->child->s, "\\HasNoChildren");
	assert_int_equal(nth(r.args, 1)->type, IMAP_STRING);
	assert_string_equal(nth(r.args, 1)->s, "/");
	assert_string_equal(nth(r.args, 2)->s, "a \"q\" \\b");
	assert_int_equal(nth(r.args, 2)->len, 8);
	assert_int_equal(nth(r.args, 3)->type, IMAP_NIL);
	it = nth(r.args, 4);
	assert_int_equal(it->len, 2);
	assert_int_equal(it->child->len, 2);
	assert_string_equal(nth(it->child->child, 1)->s, "2");
	assert_int_equal(nth(it->child, 1)->type, IMAP_LIST);
	assert_int_equal(nth(it->child, 1)->len, 0);
	assert_null(nth(it->child, 1)->child);
	feed_close(&f);
}

static void
test_literal_string(void **state)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	/* A literal holds anything, parentheses and line ends included. */
	assert_int_equal(parse1(&f, "* LIST () \"/\" {7}\r\nIN)\r\n(X\r\n",
	    &r, &e), 0);
	assert_int_equal(nth(r.args, 2)->type, IMAP_STRING);
	assert_int_equal(nth(r.args, 2)->len, 7);
	assert_memory_equal(nth(r.args, 2)->s, "IN)\r\n(X", 7);
	feed_close(&f);
	/* Two literals and a zero-length one, nested in a list. */
	assert_int_equal(parse1(&f, "* X ({2}\r\nab {0}\r\n {1+}\r\nc)\r\n",
	    &r, &e), 0);
	assert_int_equal(r.args->len, 3);
	assert_string_equal(nth(r.args->child, 0)->s, "ab");
	assert_string_equal(nth(r.args->child, 1)->s, "");
	assert_string_equal(nth(r.args->child, 2)->s, "c");
	feed_close(&f);
}

static void
test_items(void **state)
{
	struct imap_item it = { .type = IMAP_ATOM };
	uint64_t n64;
	uint32_t n;

	(void)state;
	it.s = "4294967295", it.len = 10;
	assert_true(imap_item_u32(&it, &n));
	assert_int_equal(n, 4294967295u);
	it.s = "4294967296", it.len = 10;
	assert_false(imap_item_u32(&it, &n));
	assert_true(imap_item_u64(&it, &n64));
	it.s = "0", it.len = 1;
	assert_false(imap_item_u32(&it, &n));
	it.s = "12a", it.len = 3;
	assert_false(imap_item_u64(&it, &n64));
	it.s = "9223372036854775808", it.len = 19;
	assert_false(imap_item_u64(&it, &n64));
	it.type = IMAP_STRING, it.s = "5", it.len = 1;
	assert_false(imap_item_u32(&it, &n));
	assert_false(imap_item_u32(NULL, &n));
}

/* ---- message data ------------------------------------------------------------ */

static const char fetch_wire[] =
    "* 3 FETCH (UID 5 FLAGS (\\Seen) BODY[] {17}\r\n"
    "hello\r\nworld\r\n.\r\n UID 5)\r\n"
    "A1 OK done\r\n";

static void
check_fetch(struct feed *f, const struct imap_resp *r)
{
	const struct imap_item *body = nth(r->args->child, 5);

	assert_int_equal(r->num, 3);
	assert_int_equal(f->begins, 1);
	assert_int_equal(f->ends, 1);
	assert_int_equal(f->info.seq, 3);
	assert_int_equal(f->info.uid, 5);
	assert_string_equal(f->info.key, "BODY[]");
	assert_int_equal(f->info.size, 17);
	assert_false(f->info.nil);
	assert_int_equal(f->bodylen, 17);
	assert_memory_equal(f->body, "hello\r\nworld\r\n.\r\n", 17);
	assert_int_equal(body->type, IMAP_BODY);
	assert_int_equal(body->len, 17);
	assert_string_equal(nth(r->args->child, 7)->s, "5");
}

static void
test_fetch_every_split(void **state)
{
	size_t len = strlen(fetch_wire);

	(void)state;
	for (size_t step = 1; step <= len; step++) {
		struct feed f;
		struct imap_resp r;
		struct err e;

		feed_open(&f, fetch_wire, len, step);
		assert_int_equal(imap_parse_response(&f.ps, &r, &e), 0);
		check_fetch(&f, &r);
		/* What follows the literal is read as the next response. */
		assert_int_equal(imap_parse_response(&f.ps, &r, &e), 0);
		assert_string_equal(r.tag, "A1");
		feed_close(&f);
	}
}

static void
test_fetch_inline_and_nil(void **state)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	assert_int_equal(parse1(&f, "* 1 FETCH (BODY[HEADER] \"S: x\" UID 3)"
	    "\r\n", &r, &e), 0);
	assert_int_equal(f.info.uid, 0);	/* not known yet */
	assert_string_equal(f.key, "BODY[HEADER]");
	assert_string_equal(f.body, "S: x");
	assert_int_equal(f.ends, 1);
	feed_close(&f);
	assert_int_equal(parse1(&f, "* 1 FETCH (UID 9 BODY[] NIL)\r\n", &r,
	    &e), 0);
	assert_true(f.info.nil);
	assert_int_equal(f.info.uid, 9);
	assert_int_equal(f.bodylen, 0);
	feed_close(&f);
	/* Outside FETCH, or at another level, a literal is a string. */
	assert_int_equal(parse1(&f, "* 1 FETCH (X (BODY[] {1}\r\nz))\r\n", &r,
	    &e), 0);
	assert_int_equal(f.begins, 0);
	feed_close(&f);
}

static void
test_fetch_refused_or_unwanted(void **state)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	feed_open(&f, fetch_wire, strlen(fetch_wire), 0);
	f.refuse = true;
	assert_int_equal(imap_parse_response(&f.ps, &r, &e), -1);
	assert_string_equal(e.msg, "refused by the test");
	feed_close(&f);
	feed_open(&f, fetch_wire, strlen(fetch_wire), 0);
	f.ps.sink = NULL;
	assert_int_equal(imap_parse_response(&f.ps, &r, &e), -1);
	assert_non_null(strstr(e.msg, "not asked for"));
	feed_close(&f);
	expect_error("* 1 FETCH (BODY[] abc)\r\n", "not a string");
}

/* A literal is exactly as long as announced: a server that sends more
 * gets what follows parsed, and a server that sends less runs out. */
static void
test_literal_lies(void **state)
{
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	assert_int_equal(parse1(&f, "* 1 FETCH (UID 1 BODY[] {40}\r\nshort)"
	    "\r\nA1 OK\r\n", &r, &e), -1);
	assert_non_null(strstr(e.msg, "connection closed"));
	feed_close(&f);
	/* Longer than announced: the rest is not message data. */
	expect_error("* 1 FETCH (UID 1 BODY[] {3}\r\nabc\r\ndef)\r\n",
	    "unbalanced (");
}

/* Message data larger than every buffer streams through. */
static void
test_big_literal(void **state)
{
	size_t total = 3 * 1024 * 1024 + 7;
	char *wire = xmalloc(total + 64);
	int head = sprintf(wire, "* 1 FETCH (UID 2 BODY[] {%zu}\r\n", total);
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	memset(wire + head, 'x', total);
	memcpy(wire + head + total, ")\r\n", 3);
	feed_open(&f, wire, (size_t)head + total + 3, 0);
	assert_int_equal(imap_parse_response(&f.ps, &r, &e), 0);
	assert_int_equal(f.bodylen, total);
	assert_int_equal(f.info.size, total);
	assert_true(r.bytes > total);
	feed_close(&f);
	free(wire);
}

/* ---- what must fail ------------------------------------------------------------ */

static void
test_garbage(void **state)
{
	(void)state;
	expect_error("\r\n", "empty line");
	expect_error("*\r\n", "no space after *");
	expect_error("*X\r\n", "no space after *");
	expect_error("A1\r\n", "no tag");
	expect_error("A1 FOO bar\r\n", "tagged response without status");
	expect_error("\x01\x02 OK\r\n", "bad tag");
	expect_error("* 1 FETCH (UID 5\r\n", "unbalanced (");
	expect_error("* X a)\r\n", "unbalanced )");
	expect_error("* X \"open\r\n", "unterminated string");
	expect_error("* X {5} more\r\n", "bad literal");
	expect_error("* X {}\r\n", "bad literal");
	expect_error("* X {99999999999999999999}\r\n", "bad literal");
	expect_error("* X a\x7f\r\n", "unexpected character");
	expect_error("* X BODY[HEADER\r\n", "unbalanced [");
	expect_error("* OK [ALERT text\r\n", "unbalanced [");
	expect_error("* X {70000}\r\n", "at most 65536 bytes");
}

static void
test_nul_in_line(void **state)
{
	static const char wire[] = "* X a\0b\r\n";
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	feed_open(&f, wire, sizeof wire - 1, 0);
	assert_int_equal(imap_parse_response(&f.ps, &r, &e), -1);
	assert_non_null(strstr(e.msg, "NUL byte"));
	feed_close(&f);
}

static void
test_bounds(void **state)
{
	size_t n = 70 * 1024;
	char *s = xmalloc(n + 16);
	struct feed f;
	struct imap_resp r;
	struct err e;

	(void)state;
	/* An over-long line. */
	memcpy(s, "* X ", 4);
	memset(s + 4, 'a', n);
	memcpy(s + 4 + n, "\r\n", 3);
	expect_error(s, "longer than");
	/* Too deep. */
	memset(s, 0, n);
	strcpy(s, "* X ");
	for (int i = 0; i < 40; i++)
		strcat(s, "(");
	strcat(s, "\r\n");
	expect_error(s, "nested too deep");
	/* Too many items in one response: 9000 atoms. */
	strcpy(s, "* X");
	for (int i = 0; i < 9000; i++)
		strcat(s + 3 + 2 * i, " a");
	strcat(s, "\r\n");
	expect_error(s, "too many items");
	/* Just below every bound is fine. */
	strcpy(s, "* X ");
	for (int i = 0; i < IMAP_DEPTH_MAX; i++)
		strcat(s, "(");
	for (int i = 0; i < IMAP_DEPTH_MAX; i++)
		strcat(s, ")");
	strcat(s, "\r\n");
	assert_int_equal(parse1(&f, s, &r, &e), 0);
	feed_close(&f);
	free(s);
}

/* Lots of literals, each within bounds, cannot add up past the arena. */
static void
test_text_bound(void **state)
{
	size_t lit = 60 * 1024, count = 6;
	char *wire = xmalloc(count * (lit + 32) + 32), *p = wire;

	(void)state;
	p += sprintf(p, "* X");
	for (size_t i = 0; i < count; i++) {
		p += sprintf(p, " {%zu}\r\n", lit);
		memset(p, 'z', lit);
		p += lit;
	}
	p += sprintf(p, "\r\n");
	expect_error(wire, "too many bytes");
	free(wire);
}

int
main(void)
{
	/* The writer thread finds the reader gone when a bound is hit: an
	 * EPIPE for it, not a signal for the whole test. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_untagged),
		cmocka_unit_test(test_status_tagged),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_numbered),
		cmocka_unit_test(test_capability_and_lists),
		cmocka_unit_test(test_literal_string),
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_fetch_every_split),
		cmocka_unit_test(test_fetch_inline_and_nil),
		cmocka_unit_test(test_fetch_refused_or_unwanted),
		cmocka_unit_test(test_literal_lies),
		cmocka_unit_test(test_big_literal),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_nul_in_line),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_text_bound),
	};

	log_setup(LOG_QUIET, false);
	return cmocka_run_group_tests_name("imap-parse", tests, NULL, NULL);
}
