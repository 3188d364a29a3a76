/* @include: inlining, where included files are looked for, cycles and
 * bounds, and the map from each line of the result back to FILE:LINE. */
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

#include "config-include.h"
#include "log.h"
#include "unit.h"

static char *dir;

static int
setup(void **state)
{
	(void)state;
	dir = unit_tmpdir();
	log_setup(LOG_NORMAL, false);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unit_rmtree(dir);
	dir = NULL;
	return 0;
}

/* Write dir/name; returns its path (free it). */
static char *
put_file(const char *name, const char *text)
{
	return unit_write(dir, name, text);
}

/* Read path; returns the error count, and what was printed in *out
 * (free it). */
static int
read_text(struct config_text *ct, const char *path, char **out)
{
	struct unit_capture cap;
	int errors;

	unit_capture_start(&cap, dir);
	errors = config_text_read(ct, path);
	*out = unit_capture_end(&cap);
	return errors;
}

/* The line of ct's text holding `marker` (exactly once). */
static int
line_of(const struct config_text *ct, const char *marker)
{
	const char *p = strstr(ct->text, marker);
	int line = 1;

	assert_non_null(p);
	assert_null(strstr(p + 1, marker));
	for (const char *q = ct->text; q < p; q++)
		line += *q == '\n';
	return line;
}

/* `marker` is in the text and was written at file:line. */
static void
assert_from(const struct config_text *ct, const char *marker,
    const char *file, int line)
{
	struct source src = config_text_source(ct, line_of(ct, marker));

	assert_string_equal(src.file, file);
	assert_int_equal(src.line, line);
}

static void
test_no_include(void **state)
{
	char *main_conf = put_file("main.conf", "a = 1;\n\nb = 2;\nc = 3;");
	struct config_text ct;
	char *out;

	(void)state;
	assert_int_equal(read_text(&ct, main_conf, &out), 0);
	assert_string_equal(out, "");
	assert_string_equal(ct.text, "a = 1;\n\nb = 2;\nc = 3;");
	assert_from(&ct, "a = 1", main_conf, 1);
	assert_from(&ct, "c = 3", main_conf, 4);
	/* Out of range: the main file, with the line as given. */
	assert_string_equal(config_text_source(&ct, 0).file, main_conf);
	assert_int_equal(config_text_source(&ct, 99).line, 99);
	config_text_free(&ct);
	free(out);
	free(main_conf);
}

static void
test_include_inlined_and_mapped(void **state)
{
	char *main_conf = put_file("main.conf", "first = 1;\n"
	    "@include \"part.conf\"\n"
	    "rules = ( @include \"rules.conf\" );\n"
	    "last = 2;\n");
	char *part = put_file("part.conf", "p1 = 1;\n// c\np3 = 3;\n");
	char *rules = put_file("rules.conf", "{ r = 1; },\n{ r2 = 2; }");
	struct config_text ct;
	char *out;

	(void)state;
	assert_int_equal(read_text(&ct, main_conf, &out), 0);
	assert_string_equal(out, "");
	assert_null(strstr(ct.text, "@include"));
	assert_from(&ct, "first", main_conf, 1);
	assert_from(&ct, "p1", part, 1);
	assert_from(&ct, "p3", part, 3);
	assert_from(&ct, "rules =", main_conf, 3);
	assert_from(&ct, "r = 1", rules, 1);
	assert_from(&ct, "r2 = 2", rules, 2);
	/* Back in the including file, on the right line. */
	assert_from(&ct, ");", main_conf, 3);
	assert_from(&ct, "last", main_conf, 4);
	config_text_free(&ct);
	free(out);
	free(main_conf);
	free(part);
	free(rules);
}

static void
test_relative_to_including_file(void **state)
{
	char *sub, *main_conf, *a, *b, cwd[4096], *out;
	struct config_text ct;

	(void)state;
	if (asprintf(&sub, "%s/sub", dir) < 0)
		abort();
	assert_int_equal(mkdir(sub, 0700), 0);
	main_conf = put_file("main.conf", "@include \"sub/a.conf\"\n");
	/* a.conf's "b.conf" is sub/b.conf, not dir/b.conf. */
	a = put_file("sub/a.conf", "a = 1;\n@include \"b.conf\"\n");
	b = put_file("sub/b.conf", "in_sub = 1;\n");
	free(put_file("b.conf", "wrong_b = 1;\n"));
	/* Whatever the working directory is. */
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir("/"), 0);
	assert_int_equal(read_text(&ct, main_conf, &out), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_from(&ct, "in_sub", b, 1);
	assert_null(strstr(ct.text, "wrong_b"));
	/* The map names each file as it was reached. */
	assert_from(&ct, "a = 1", a, 1);
	config_text_free(&ct);
	free(out);
	free(main_conf);
	free(a);
	free(b);
	free(sub);
}

static void
test_home_expanded(void **state)
{
	char *old = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *main_conf = put_file("main.conf", "@include \"~/t.conf\"\n"
	    "@include \"$HOME/h.conf\"\n@include \"${HOME}/b.conf\"\n");
	char *t = put_file("t.conf", "tilde = 1;\n");
	char *h = put_file("h.conf", "home = 1;\n");
	char *b = put_file("b.conf", "braces = 1;\n");
	char abs[600], *abs_conf, *out;
	struct config_text ct;

	(void)state;
	setenv("HOME", dir, 1);
	assert_int_equal(read_text(&ct, main_conf, &out), 0);
	assert_from(&ct, "tilde", t, 1);
	assert_from(&ct, "home =", h, 1);
	assert_from(&ct, "braces", b, 1);
	config_text_free(&ct);
	free(out);
	/* An absolute path is taken as it is. */
	snprintf(abs, sizeof abs, "@include \"%s\"\n", t);
	abs_conf = put_file("abs.conf", abs);
	assert_int_equal(read_text(&ct, abs_conf, &out), 0);
	assert_from(&ct, "tilde", t, 1);
	config_text_free(&ct);
	free(out);
	if (old != NULL)
		setenv("HOME", old, 1);
	free(old);
	free(abs_conf);
	free(main_conf);
	free(t);
	free(h);
	free(b);
}

static void
test_missing_named_with_file_line(void **state)
{
	char *main_conf = put_file("main.conf", "a = 1;\n\n"
	    "@include \"nope.conf\"\nb = 2;\n@include \"part.conf\"\n");
	char *part = put_file("part.conf", "x = 1;\n@include \"gone.conf\"\n");
	struct config_text ct;
	char expect[2048], *out;

	(void)state;
	assert_int_equal(read_text(&ct, main_conf, &out), 2);
	snprintf(expect, sizeof expect, "%s:3: cannot read included "
	    "file %s/nope.conf: No such file or directory\n"
	    "%s:2: cannot read included file %s/gone.conf: "
	    "No such file or directory\n", main_conf, dir, part, dir);
	assert_string_equal(out, expect);
	/* The rest is still read, for the other errors. */
	assert_from(&ct, "b = 2", main_conf, 4);
	assert_from(&ct, "x = 1", part, 1);
	config_text_free(&ct);
	free(out);
	free(main_conf);
	free(part);
}

static void
test_missing_main_file(void **state)
{
	struct config_text ct;
	char path[600], expect[1400], *out;

	(void)state;
	snprintf(path, sizeof path, "%s/none.conf", dir);
	assert_int_equal(read_text(&ct, path, &out), 1);
	snprintf(expect, sizeof expect, "mailferry: cannot read configuration "
	    "%s: No such file or directory\n", path);
	assert_string_equal(out, expect);
	config_text_free(&ct);
	free(out);
}

static void
test_not_regular_files(void **state)
{
	char *main_conf = put_file("main.conf", "@include \".\"\n"
	    "@include \"fifo\"\n@include \"/dev/null\"\n");
	char fifo[600], *out;
	struct config_text ct;

	(void)state;
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* A FIFO nobody writes to must not hang the read. */
	alarm(10);
	assert_int_equal(read_text(&ct, main_conf, &out), 3);
	alarm(0);
	assert_non_null(strstr(out, "main.conf:1: cannot read included file"));
	assert_non_null(strstr(out, "main.conf:2: cannot read included file"));
	assert_non_null(strstr(out, "main.conf:3: cannot read included file "
	    "/dev/null: Invalid argument"));
	config_text_free(&ct);
	free(out);
	free(main_conf);
}

static void
test_binary_refused(void **state)
{
	char path[600], *out;
	struct config_text ct;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof path, "%s/bin.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite("a = 1;\0\n", 1, 8, fp);
	fclose(fp);
	assert_int_equal(read_text(&ct, path, &out), 1);
	assert_non_null(strstr(out, "bin.conf: not a text file"));
	config_text_free(&ct);
	free(out);
}

static void
test_cycles(void **state)
{
	char *self = put_file("self.conf", "s = 1;\n@include \"self.conf\"\n");
	char *a = put_file("a.conf", "@include \"b.conf\"\n");
	char *b = put_file("b.conf", "\n@include \"./a.conf\"\n");
	char *many = put_file("many.conf", "@include \"many.conf\"\n"
	    "@include \"many.conf\"\n@include \"many.conf\"\n"
	    "@include \"many.conf\"\n@include \"many.conf\"\n");
	struct config_text ct;
	char expect[1400], *out;

	(void)state;
	assert_int_equal(read_text(&ct, self, &out), 1);
	snprintf(expect, sizeof expect, "%s:2: %s/self.conf includes "
	    "itself (through this @include)\n", self, dir);
	assert_string_equal(out, expect);
	config_text_free(&ct);
	free(out);
	/* Through another file, named another way. */
	assert_int_equal(read_text(&ct, a, &out), 1);
	snprintf(expect, sizeof expect, "%s:2: %s/./a.conf includes "
	    "itself (through this @include)\n", b, dir);
	assert_string_equal(out, expect);
	config_text_free(&ct);
	free(out);
	/* Each of many self-includes is refused at once: no blow-up. */
	assert_int_equal(read_text(&ct, many, &out), 5);
	config_text_free(&ct);
	free(out);
	free(self);
	free(a);
	free(b);
	free(many);
}

static void
test_same_file_twice_is_no_cycle(void **state)
{
	char *main_conf = put_file("main.conf", "rules = (\n"
	    "@include \"r.conf\",\n@include \"r.conf\"\n);\n");
	char *r = put_file("r.conf", "{ x = 1; }");
	struct config_text ct;
	char *out;

	(void)state;
	assert_int_equal(read_text(&ct, main_conf, &out), 0);
	assert_string_equal(out, "");
	assert_non_null(strstr(strstr(ct.text, "x = 1") + 1, "x = 1"));
	config_text_free(&ct);
	free(out);
	free(main_conf);
	free(r);
}

static void
test_nesting_bounded(void **state)
{
	struct config_text ct;
	char name[64], text[128], *out, *first = NULL;

	(void)state;
	/* level0 includes level1 ... level29: a chain, not a cycle. */
	for (int i = 0; i < 30; i++) {
		char *p;

		snprintf(name, sizeof name, "level%d.conf", i);
		snprintf(text, sizeof text, "l%d = 1;\n@include \"level%d.conf\"\n",
		    i, i + 1);
		p = put_file(name, i == 29 ? "end = 1;\n" : text);
		if (i == 0)
			first = p;
		else
			free(p);
	}
	assert_int_equal(read_text(&ct, first, &out), 1);
	assert_non_null(strstr(out, "level16.conf:2: includes nested too deep "
	    "(more than 16 levels)"));
	assert_non_null(strstr(ct.text, "l16 = 1"));
	assert_null(strstr(ct.text, "l17 = 1"));
	config_text_free(&ct);
	free(out);
	free(first);
}

static void
test_total_bounded(void **state)
{
	size_t big = 16 << 20;
	char *text = malloc(big + 1), *main_conf, *out;
	struct config_text ct;

	(void)state;
	/* A file as large as one may be; with the text before it, the
	 * whole is too large, and it is refused before being copied. */
	memset(text, '#', big);
	text[big] = '\0';
	free(put_file("big.conf", text));
	free(text);
	main_conf = put_file("main.conf", "a = 1;\n@include \"big.conf\"\n");
	assert_int_equal(read_text(&ct, main_conf, &out), 1);
	assert_non_null(strstr(out, "main.conf:2: too much included (at most "
	    "10000 files and 16 MB in all)"));
	assert_true(ct.len < 100);
	config_text_free(&ct);
	free(out);
	free(main_conf);
}

static void
test_not_directives(void **state)
{
	char *main_conf = put_file("main.conf",
	    "s = \"@include \\\"x.conf\\\"\";\n"
	    "# @include \"x.conf\"\n"
	    "// @include \"x.conf\"\n"
	    "/* @include \"x.conf\"\n @include \"x.conf\" */\n"
	    "@include x.conf\n"
	    "@include \"unterminated\n"
	    "@includes\n");
	struct config_text ct;
	char *out;

	(void)state;
	/* In a string or a comment, or malformed: left for libconfig. */
	assert_int_equal(read_text(&ct, main_conf, &out), 0);
	assert_string_equal(out, "");
	assert_non_null(strstr(ct.text, "s = \"@include \\\"x.conf\\\"\";"));
	assert_non_null(strstr(ct.text, "# @include \"x.conf\""));
	assert_non_null(strstr(ct.text, " @include \"x.conf\" */"));
	assert_from(&ct, "@include x.conf", main_conf, 6);
	assert_from(&ct, "@includes", main_conf, 8);
	config_text_free(&ct);
	free(out);
	free(main_conf);
}

static void
test_wide_integers_marked(void **state)
{
	char *main_conf = put_file("main.conf",
	    "a = 5000000000; b = 0x1FFFFFFFF; c = -3000000000; c2 = +2147483648;\n"
	    "d = 2147483647; e = -2147483647; f = 0x7fffffff; g = 0xFFFFFFFF;\n"
	    "h = 1.5e10; i = 50000000000.0; j = 5000000000L; k = 0x100000000L;\n"
	    "X-5000000000 = 1; l = \"5000000000\"; # 5000000000\n"
	    "m = [1,99999999999];n=(7000000000);/* 5000000000 */o=00000000012;\n"
	    "p = 123456789012345678901234567890;\n");
	struct config_text ct;
	char *out;

	(void)state;
	/* What libconfig 1.5 would cut to 32 bits gets its L. */
	assert_int_equal(read_text(&ct, main_conf, &out), 0);
	assert_string_equal(ct.text,
	    "a = 5000000000L; b = 0x1FFFFFFFFL; c = -3000000000L; "
	    "c2 = +2147483648L;\n"
	    "d = 2147483647; e = -2147483647; f = 0x7fffffff; g = 0xFFFFFFFFL;\n"
	    "h = 1.5e10; i = 50000000000.0; j = 5000000000L; k = 0x100000000L;\n"
	    "X-5000000000 = 1; l = \"5000000000\"; # 5000000000\n"
	    "m = [1,99999999999L];n=(7000000000L);/* 5000000000 */"
	    "o=00000000012;\n"
	    "p = 123456789012345678901234567890L;\n");
	config_text_free(&ct);
	free(out);
	free(main_conf);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_no_include),
		T(test_include_inlined_and_mapped),
		T(test_relative_to_including_file),
		T(test_home_expanded),
		T(test_missing_named_with_file_line),
		T(test_missing_main_file),
		T(test_not_regular_files),
		T(test_binary_refused),
		T(test_cycles),
		T(test_same_file_twice_is_no_cycle),
		T(test_nesting_bounded),
		T(test_total_bounded),
		T(test_not_directives),
		T(test_wide_integers_marked),
	};
#undef T

	return cmocka_run_group_tests_name("config-include", tests, NULL, NULL);
}
