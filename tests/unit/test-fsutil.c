/* core/fsutil.c: the trust rules, path helpers and safe file names. */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsutil.h"
#include "xmalloc.h"

#define ME	1000
#define OTHER	1001

static struct stat
st_of(uid_t uid, mode_t mode)
{
	struct stat st;

	memset(&st, 0, sizeof st);
	st.st_uid = uid;
	st.st_mode = mode;
	return st;
}

static void
test_verdict_owner(void **state)
{
	struct stat st;

	(void)state;
	st = st_of(ME, S_IFREG | 0600);
	assert_int_equal(trust_verdict(&st, ME, false), TRUST_OK);
	st = st_of(0, S_IFREG | 0644);
	assert_int_equal(trust_verdict(&st, ME, false), TRUST_OK);
	st = st_of(OTHER, S_IFREG | 0600);
	assert_int_equal(trust_verdict(&st, ME, false), TRUST_OWNER);
	/* Another's file is refused even when nobody else may write it. */
	st = st_of(OTHER, S_IFDIR | 0700);
	assert_int_equal(trust_verdict(&st, ME, true), TRUST_OWNER);
}

static void
test_verdict_writable(void **state)
{
	struct stat st;

	(void)state;
	st = st_of(ME, S_IFREG | 0620);
	assert_int_equal(trust_verdict(&st, ME, false), TRUST_WRITABLE);
	st = st_of(ME, S_IFREG | 0602);
	assert_int_equal(trust_verdict(&st, ME, false), TRUST_WRITABLE);
	st = st_of(0, S_IFDIR | 0777);
	assert_int_equal(trust_verdict(&st, ME, false), TRUST_WRITABLE);
	/* Readable by all is not the trust rule's business. */
	st = st_of(ME, S_IFREG | 0644);
	assert_int_equal(trust_verdict(&st, ME, false), TRUST_OK);
}

static void
test_verdict_sticky(void **state)
{
	struct stat st;

	(void)state;
	/* /tmp holding a file: fine. */
	st = st_of(0, S_IFDIR | S_ISVTX | 0777);
	assert_int_equal(trust_verdict(&st, ME, true), TRUST_OK);
	/* But not as a directory to keep state in. */
	assert_int_equal(trust_verdict(&st, ME, false), TRUST_WRITABLE);
	/* Sticky but owned by another user: its owner can do anything. */
	st = st_of(OTHER, S_IFDIR | S_ISVTX | 0777);
	assert_int_equal(trust_verdict(&st, ME, true), TRUST_OWNER);
	/* Sticky and ours but world-writable: only root's count. */
	st = st_of(ME, S_IFDIR | S_ISVTX | 0777);
	assert_int_equal(trust_verdict(&st, ME, true), TRUST_WRITABLE);
	/* The sticky bit means nothing on a file. */
	st = st_of(0, S_IFREG | S_ISVTX | 0666);
	assert_int_equal(trust_verdict(&st, ME, true), TRUST_WRITABLE);
}

static void
test_verdict_root(void **state)
{
	struct stat st;

	(void)state;
	st = st_of(0, S_IFREG | 0600);
	assert_int_equal(trust_verdict(&st, 0, false), TRUST_OK);
	st = st_of(ME, S_IFREG | 0600);
	assert_int_equal(trust_verdict(&st, 0, false), TRUST_OWNER);
}

/* A fresh directory of mode 0700 under TMPDIR or /tmp. */
static char *
temp_dir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/test-fsutil.XXXXXX", base != NULL ? base :
	    "/tmp");

	assert_non_null(mkdtemp(dir));
	return dir;
}

static void
remove_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static char *
make_file(const char *dir, const char *name, mode_t mode)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static int
check_file(const char *path, struct err *e)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	err_clear(e);
	return trust_file("configuration", path, &st, e);
}

static void
test_trust_dir(void **state)
{
	char *dir = temp_dir(), *sub = xasprintf("%s/state", dir);
	struct err e;

	(void)state;
	assert_int_equal(mkdir(sub, 0700), 0);
	err_clear(&e);
	assert_int_equal(trust_dir("state_dir", sub, &e), 0);
	assert_int_equal(chmod(sub, 0770), 0);
	assert_int_equal(trust_dir("state_dir", sub, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(e.msg, sub));
	assert_non_null(strstr(e.msg, "its group"));
	assert_non_null(strstr(e.msg, "chmod go-w"));
	assert_int_equal(chmod(sub, 01777), 0);
	err_clear(&e);
	assert_int_equal(trust_dir("state_dir", sub, &e), -1);
	assert_non_null(strstr(e.msg, "its group and others"));
	/* A file is not a directory. */
	free(make_file(dir, "f", 0600));
	free(sub);
	sub = xasprintf("%s/f", dir);
	err_clear(&e);
	assert_int_equal(trust_dir("plugin_dir", sub, &e), -1);
	assert_non_null(strstr(e.msg, "not a directory"));
	free(sub);
	sub = xasprintf("%s/missing", dir);
	err_clear(&e);
	assert_int_equal(trust_dir("plugin_dir", sub, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	free(sub);
	remove_tree(dir);
	free(dir);
}

static void
test_trust_file(void **state)
{
	char *dir = temp_dir(), *conf = make_file(dir, "conf", 0600);
	struct err e;

	(void)state;
	assert_int_equal(check_file(conf, &e), 0);
	assert_int_equal(chmod(conf, 0644), 0);
	assert_int_equal(check_file(conf, &e), 0);
	assert_int_equal(chmod(conf, 0664), 0);
	assert_int_equal(check_file(conf, &e), -1);
	assert_non_null(strstr(e.msg, "configuration"));
	assert_non_null(strstr(e.msg, conf));
	assert_non_null(strstr(e.msg, "mode 0664"));
	assert_int_equal(chmod(conf, 0600), 0);
	/* The directory holding it. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(check_file(conf, &e), -1);
	assert_non_null(strstr(e.msg, "which is writable"));
	assert_non_null(strstr(e.msg, dir));
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(check_file(conf, &e), 0);
	free(conf);
	remove_tree(dir);
	free(dir);
}

static void
test_trust_file_symlink(void **state)
{
	char *dir = temp_dir(), *open_dir = xasprintf("%s/open", dir);
	char *target, *link = xasprintf("%s/link", dir);
	struct err e;

	(void)state;
	assert_int_equal(mkdir(open_dir, 0700), 0);
	target = make_file(open_dir, "conf", 0600);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(check_file(link, &e), 0);
	/* The link's directory is fine, the target's is not. */
	assert_int_equal(chmod(open_dir, 0757), 0);
	assert_int_equal(check_file(link, &e), -1);
	assert_non_null(strstr(e.msg, open_dir));
	assert_non_null(strstr(e.msg, "others"));
	assert_int_equal(chmod(open_dir, 0700), 0);
	free(target);
	free(link);
	free(open_dir);
	remove_tree(dir);
	free(dir);
}

static void
test_path_beside(void **state)
{
	char cwd[4096], *p, *want;

	(void)state;
	p = path_beside("/etc/mailferry/mailferry.conf", "plugins");
	assert_string_equal(p, "/etc/mailferry/plugins");
	free(p);
	p = path_beside("/etc/mailferry.conf", "/usr/lib/mailferry");
	assert_string_equal(p, "/usr/lib/mailferry");
	free(p);
	assert_non_null(getcwd(cwd, sizeof cwd));
	p = path_beside("conf/mailferry.conf", "plugins");
	want = xasprintf("%s/conf/plugins", cwd);
	assert_string_equal(p, want);
	free(p);
	free(want);
	p = path_beside("mailferry.conf", "../lib");
	want = xasprintf("%s/./../lib", cwd);
	assert_string_equal(p, want);
	free(p);
	free(want);
}

static void
test_safe_file_name(void **state)
{
	char *s;

	(void)state;
	s = safe_file_name("work-1_a.b");
	assert_string_equal(s, "work-1_a.b");
	free(s);
	s = safe_file_name("../x/y");
	assert_string_equal(s, "%2E.%2Fx%2Fy");
	free(s);
	s = safe_file_name(".hidden");
	assert_string_equal(s, "%2Ehidden");
	free(s);
	s = safe_file_name("a b\xff");
	assert_string_equal(s, "a%20b%FF");
	free(s);
}

static void
test_expand_path(void **state)
{
	char *s;

	(void)state;
	setenv("HOME", "/home/u", 1);
	s = expand_path("~/Mail");
	assert_string_equal(s, "/home/u/Mail");
	free(s);
	s = expand_path("$HOME");
	assert_string_equal(s, "/home/u");
	free(s);
	s = expand_path("${HOME}/x");
	assert_string_equal(s, "/home/u/x");
	free(s);
	s = expand_path("~user/x");
	assert_string_equal(s, "~user/x");
	free(s);
	s = expand_path("$HOMEX/x");
	assert_string_equal(s, "$HOMEX/x");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdict_owner),
		cmocka_unit_test(test_verdict_writable),
		cmocka_unit_test(test_verdict_sticky),
		cmocka_unit_test(test_verdict_root),
		cmocka_unit_test(test_trust_dir),
		cmocka_unit_test(test_trust_file),
		cmocka_unit_test(test_trust_file_symlink),
		cmocka_unit_test(test_path_beside),
		cmocka_unit_test(test_safe_file_name),
		cmocka_unit_test(test_expand_path),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
