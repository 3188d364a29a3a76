/* Secrets out of core dumps and out of buffers once used: core/secret.c,
 * and the connection's write buffer (core/conn.c). */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

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
#include "secret.h"
#include "xmalloc.h"

static void
test_no_dumps(void **state)
{
	struct rlimit rl;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(secret_no_dumps(&e), 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(rl.rlim_max, 0);
}

/* A connection to a listening socket of our own (nobody accepts: the
 * backlog takes the connection and the kernel buffers what is sent). */
static struct conn *
connect_local(char **dir, int *lfd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path;
	struct conn *c;
	struct err e;

	*dir = xstrdup("/tmp/test-secret.XXXXXX");
	assert_non_null(mkdtemp(*dir));
	path = xasprintf("%s/s", *dir);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	*lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(*lfd != -1);
	assert_int_equal(bind(*lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(*lfd, 1), 0);
	err_clear(&e);
	c = conn_connect_unix(path, 5, &e);
	assert_non_null(c);
	unlink(path);
	free(path);
	return c;
}

static void
test_sent_password_is_wiped(void **state)
{
	static const char secret[] = "s3cret-Pa55word";
	struct conn *c;
	struct err e;
	char *dir;
	int lfd;

	(void)state;
	c = connect_local(&dir, &lfd);
	conn_write(c, "PASS ", 5);
	conn_write(c, secret, strlen(secret));
	conn_write(c, "\r\n", 2);
	err_clear(&e);
	assert_int_equal(conn_flush(c, &e), 0);
	assert_null(memmem(c->wbuf, c->wcap, secret, strlen(secret)));
	/* Still queued when the connection is dropped: wiped before it
	 * is freed (freed memory cannot be looked at; this runs that path
	 * under the sanitizers). */
	conn_write(c, secret, strlen(secret));
	conn_close(c);
	close(lfd);
	rmdir(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sent_password_is_wiped),
		cmocka_unit_test(test_no_dumps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
