/*
 * Getting a run ready: state_dir made (and not when only checking), the
 * shipped plugins loaded and started, rules pointed at them, their args
 * checked, and every failure reported at the FILE:LINE that names it.
 * The plugins are the ones built beside this test (../plugins), copied
 * into a private plugin_dir.
 */
#include <sys/stat.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config-rules.h"
#include "log.h"
#include "setup.h"
#include "unit.h"

static char *dir;
static char *out;		/* what the last setup_open printed */

#define DESTS	"destinations = { inbox = { type = \"maildir\"; " \
		"path = \"/none/Maildir\"; }; };\n"
#define ACCOUNT	"accounts = ( { name = \"a\"; server = \"s\"; user = \"u\"; " \
		"password = \"p\"; deliver = \"inbox\";\n"

/* Copy build/plugins/NAME.so (beside build/tests/) into dir/plugins. */
static void
copy_plugin(const char *name)
{
	char exe[PATH_MAX], from[PATH_MAX + 64], to[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *text;
	size_t len;
	FILE *fp;

	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(from, sizeof from, "%s/../plugins/%s.so", dirname(exe),
	    name);
	snprintf(to, sizeof to, "%s/plugins/%s.so", dir, name);
	text = unit_slurp(from, &len);
	if (text == NULL)
		fail_msg("%s: %s (make builds the plugins)", from,
		    strerror(errno));
	fp = fopen(to, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(to, 0700), 0);
	free(text);
}

static int
setup(void **state)
{
	char path[PATH_MAX];

	(void)state;
	dir = unit_tmpdir();
	snprintf(path, sizeof path, "%s/plugins", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	copy_plugin("dedup");
	copy_plugin("headers");
	log_setup(LOG_NORMAL, false);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(out);
	out = NULL;
	unit_rmtree(dir);
	return 0;
}

/* Write the configuration (state_dir and plugin_dir on line 1, then
 * body) and set it up; what was printed is in `out`. */
static struct setup *
open_conf(const char *body, enum setup_mode mode)
{
	struct unit_capture cap;
	struct setup *s;
	char *text, *conf;

	if (asprintf(&text, "state_dir = \"%s/state\"; plugin_dir = "
	    "\"%s/plugins\";\n%s", dir, dir, body) < 0)
		abort();
	conf = unit_write(dir, "mailferry.conf", text);
	free(text);
	free(out);
	unit_capture_start(&cap, dir);
	s = setup_open(conf, mode);
	out = unit_capture_end(&cap);
	free(conf);
	return s;
}

static bool
exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* The output must be exactly "CONF:" + line, once. */
static void
printed(const char *line)
{
	char expect[4 * PATH_MAX];

	snprintf(expect, sizeof expect, "%s/mailferry.conf:%s\n", dir, line);
	assert_string_equal(out, expect);
}

static const char with_plugins[] = DESTS ACCOUNT
    "rules = ( { name = \"d\"; plugin = \"dedup\"; },\n"
    "  { name = \"h\"; plugin = \"headers\"; "
    "args = { add = { X-A = \"1\"; }; }; } ); } );\n"
    "plugins = ( { name = \"dedup\"; options = { window_days = 3; }; } );\n";

static void
test_run_makes_state_dir_and_starts_plugins(void **state)
{
	struct setup *s;
	struct account *a;
	char path[PATH_MAX];
	struct stat st;

	(void)state;
	s = open_conf(with_plugins, SETUP_RUN);
	assert_string_equal(out, "");
	assert_non_null(s);
	snprintf(path, sizeof path, "%s/state", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* dedup keeps its file there from init() on. */
	assert_true(exists("state/dedup.db"));
	assert_int_equal(s->plugins.n, 2);
	a = config_account(s->cfg, "a");
	assert_non_null(a->rules[0].plugin);
	assert_string_equal(a->rules[0].plugin->name, "dedup");
	assert_ptr_equal(a->rules[0].plugin, s->plugins.list[0]);
	assert_string_equal(a->rules[1].plugin->name, "headers");
	assert_true(a->rules[1].plugin->initialized);
	setup_close(s);
}

static void
test_check_creates_nothing(void **state)
{
	char path[PATH_MAX], expect[2 * PATH_MAX + 200];
	struct setup *s;
	struct account *a;

	(void)state;
	s = open_conf(with_plugins, SETUP_CHECK);
	assert_string_equal(out, "");
	assert_non_null(s);
	assert_false(exists("state"));
	assert_int_equal(s->plugins.n, 2);
	a = config_account(s->cfg, "a");
	/* Built for this ABI: started, with the checking flag. */
	assert_true(a->rules[0].plugin->initialized);
	assert_false(a->rules[0].plugin->unstarted);
	setup_close(s);
	assert_false(exists("state"));

	/* Its args are still checked. */
	assert_null(open_conf(DESTS ACCOUNT "rules = ( { name = \"h\";\n"
	    "  plugin = \"headers\";\n  args = { bogus = 1; }; } ); } );\n",
	    SETUP_CHECK));
	printed("6: account \"a\", rule \"h\": plugin \"headers\": unknown "
	    "key \"bogus\" in args (add, set, remove)");
	/* And an existing state_dir is checked, not changed. */
	snprintf(path, sizeof path, "%s/state", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_null(open_conf(with_plugins, SETUP_CHECK));
	snprintf(expect, sizeof expect, "1: state_dir %s is writable by its "
	    "group and others (mode 0777): another user could change what "
	    "mailferry does; run: chmod go-w %s", path, path);
	printed(expect);
	assert_false(exists("state/dedup.db"));
}

static void
test_plugin_failures_point_at_their_line(void **state)
{
	char expect[2048];

	(void)state;
	/* Not in plugin_dir: dlopen says where it looked. */
	assert_null(open_conf(DESTS ACCOUNT
	    "rules = ( { name = \"plug\"; plugin = \"absent\"; } ); } );\n",
	    SETUP_RUN));
	snprintf(expect, sizeof expect, "4: account \"a\", rule \"plug\": "
	    "plugin \"absent\" does not load: %s/plugins/absent.so: cannot "
	    "open shared object file: No such file or directory", dir);
	printed(expect);
	/* init() refusing its options is reported at the list entry, and
	 * a rule naming it afterwards is not a second, different story. */
	assert_null(open_conf(DESTS ACCOUNT
	    "rules = ( { name = \"d\"; plugin = \"dedup\"; } ); } );\n"
	    "plugins = ( { name = \"dedup\";\n"
	    "  options = { window_days = 0; }; } );\n", SETUP_RUN));
	snprintf(expect, sizeof expect, "%s/mailferry.conf:5: plugin "
	    "\"dedup\" failed to start: window_days must be a whole number of "
	    "days, at least 1\n%s/mailferry.conf:4: account \"a\", rule "
	    "\"d\": plugin \"dedup\" is not usable (see above)\n", dir, dir);
	assert_string_equal(out, expect);
}

static void
test_config_errors_come_first(void **state)
{
	(void)state;
	/* A configuration with a mistake loads no plugin at all. */
	assert_null(open_conf(DESTS ACCOUNT "rules = ( { name = \"d\"; "
	    "plugin = \"dedup\"; } ); bogus = 1; } );\n", SETUP_RUN));
	printed("4: unknown key \"bogus\" in account \"a\"");
	assert_false(exists("state"));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_run_makes_state_dir_and_starts_plugins),
		T(test_check_creates_nothing),
		T(test_plugin_failures_point_at_their_line),
		T(test_config_errors_come_first),
	};
#undef T

	return cmocka_run_group_tests_name("setup", tests, NULL, NULL);
}
