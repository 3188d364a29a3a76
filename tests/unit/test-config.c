/*
 * Loading a configuration: what is accepted, the defaults, and each
 * mistake reported once as FILE:LINE. Every file is written into a
 * private directory, with state_dir and plugin_dir pointing there.
 */
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

#include "config.h"
#include "config-rules.h"
#include "log.h"
#include "unit.h"

static char *dir;
static char *conf;		/* dir/mailferry.conf */
static char *out;		/* what the last load printed */

/* Line 1 of every file written by load(); body line N is line N + 1. */
#define PREFIX	"state_dir = \"%s/state\"; plugin_dir = \"%s/plugins\";\n"

/* Destinations and one account that load(): line 2 to line 6. */
#define DESTS	"destinations = {\n" \
		"  inbox = { type = \"maildir\"; path = \"/none/Maildir\"; };\n" \
		"  spam = { type = \"mbox\"; path = \"/none/spam\"; };\n" \
		"};\n"

static int
setup(void **state)
{
	char *plugins;

	(void)state;
	dir = unit_tmpdir();
	if (asprintf(&conf, "%s/mailferry.conf", dir) < 0 ||
	    asprintf(&plugins, "%s/plugins", dir) < 0)
		abort();
	assert_int_equal(mkdir(plugins, 0700), 0);
	free(plugins);
	log_setup(LOG_NORMAL, false);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(out);
	out = NULL;
	free(conf);
	unit_rmtree(dir);
	return 0;
}

/* Write PREFIX + body as the configuration and load it; what was
 * printed is in `out`. */
static struct config *reload(void);

static struct config *
load(const char *body)
{
	char *text;

	if (asprintf(&text, PREFIX "%s", dir, dir, body) < 0)
		abort();
	free(unit_write(dir, "mailferry.conf", text));
	free(text);
	return reload();
}

/* Load the configuration file as it is now. */
static struct config *
reload(void)
{
	struct unit_capture cap;
	struct config *cfg;

	free(out);
	unit_capture_start(&cap, dir);
	cfg = config_load(conf);
	out = unit_capture_end(&cap);
	return cfg;
}

/* The load fails and prints exactly these lines, each "LINE: text"
 * naming a line of the configuration. */
static void
refused(const char *body, const char *const *lines)
{
	char expect[8192] = "";
	size_t o = 0;

	assert_null(load(body));
	for (; *lines != NULL; lines++)
		o += (size_t)snprintf(expect + o, sizeof expect - o, "%s:%s\n",
		    conf, *lines);
	assert_string_equal(out, expect);
}

static const char account[] =
    "accounts = ( { name = \"a\"; server = \"pop.example.org\"; "
    "user = \"u\"; password = \"p\"; deliver = \"inbox\"; } );\n";

static void
test_minimal_and_defaults(void **state)
{
	struct config *cfg;
	struct account *a;
	struct destination *d;
	char path[600];
	struct stat st;

	(void)state;
	cfg = load(DESTS "accounts = ( { name = \"a\"; server = \"s\"; "
	    "user = \"u\"; password = \"p\"; deliver = \"inbox\"; } );\n");
	assert_string_equal(out, "");
	assert_non_null(cfg);
	assert_int_equal(cfg->timeout, 60);
	assert_int_equal(cfg->parallel, 1);
	assert_int_equal(cfg->naccounts, 1);
	assert_int_equal(cfg->ndests, 2);
	a = config_account(cfg, "a");
	assert_non_null(a);
	assert_null(config_account(cfg, "b"));
	assert_int_equal(a->port, 995);
	assert_int_equal(a->tls, TLS_MODE_IMPLICIT);
	assert_int_equal(a->auth, AUTH_AUTO);
	assert_true(a->keep);
	assert_int_equal(a->keep_days, 0);
	assert_false(a->allow_plaintext_auth);
	assert_int_equal(a->ndeliver, 1);
	assert_ptr_equal(a->deliver[0], config_destination(cfg, "inbox"));
	assert_int_equal(a->nrules, 0);
	/* Where each was written, for later messages. */
	assert_string_equal(a->src.file, conf);
	assert_int_equal(a->src.line, 6);
	d = config_destination(cfg, "spam");
	assert_non_null(d);
	assert_int_equal(d->src.line, 4);
	assert_int_equal(d->timeout, 60);
	assert_null(config_destination(cfg, "nope"));
	/* Reading the configuration creates nothing (setup.c makes
	 * state_dir). */
	snprintf(path, sizeof path, "%s/state", dir);
	assert_string_equal(cfg->state_dir, path);
	assert_int_equal(stat(path, &st), -1);
	config_free(cfg);
}

static void
test_settings_read(void **state)
{
	struct config *cfg;
	struct account *a;
	struct destination *d;

	(void)state;
	cfg = load("timeout = 5; parallel = 4;\n"
	    "destinations = {\n"
	    "  out = { type = \"smtp\"; host = \"mx\"; to = [\"x@y\", \"z@y\"]; "
	    "timeout = 7; };\n"
	    "  lm = { type = \"lmtp\"; socket = \"/run/lmtp\"; to = \"x@y\"; };\n"
	    "  tls = { type = \"smtp\"; host = \"mx\"; tls = \"implicit\"; "
	    "to = \"x@y\"; };\n"
	    "  prog = { type = \"mda\"; command = \"/bin/cat -u\"; };\n"
	    "};\n"
	    "accounts = ( { name = \"a\"; server = \"s\"; port = 1110; "
	    "tls = \"starttls\"; user = \"u\"; password_command = \"pass x\";"
	    " auth = \"apop\"; keep = false; keep_days = 3; "
	    "max_size = 10000000000; allow_plaintext_auth = true;\n"
	    "  deliver = [\"out\", \"lm\", \"out\"]; } );\n");
	assert_string_equal(out, "");
	assert_non_null(cfg);
	assert_int_equal(cfg->timeout, 5);
	assert_int_equal(cfg->parallel, 4);
	a = &cfg->accounts[0];
	assert_int_equal(a->port, 1110);
	assert_int_equal(a->tls, TLS_MODE_STARTTLS);
	assert_int_equal(a->auth, AUTH_APOP);
	assert_false(a->keep);
	assert_int_equal(a->keep_days, 3);
	assert_int_equal(a->max_size, 10000000000LL);
	assert_true(a->allow_plaintext_auth);
	assert_string_equal(a->password_command, "pass x");
	assert_null(a->password);
	/* A destination named twice is delivered to once. */
	assert_int_equal(a->ndeliver, 2);
	d = config_destination(cfg, "out");
	assert_int_equal(d->port, 25);
	assert_int_equal(d->timeout, 7);
	assert_int_equal(d->nto, 2);
	assert_string_equal(d->to[1], "z@y");
	d = config_destination(cfg, "lm");
	assert_int_equal(d->port, 24);
	assert_int_equal(d->timeout, 5);
	assert_int_equal(config_destination(cfg, "tls")->port, 465);
	assert_string_equal(config_destination(cfg, "prog")->command,
	    "/bin/cat -u");
	config_free(cfg);
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	refused("colour = \"blue\";\n"
	    "destinations = {\n"
	    "  inbox = { type = \"maildir\"; path = \"/x\";\n"
	    "    host = \"mx\"; };\n"
	    "};\n"
	    "accounts = ( { name = \"a\"; server = \"s\"; user = \"u\";\n"
	    "  password = \"p\"; deliver = \"inbox\";\n"
	    "  Keep = true; } );\n", (const char *[]){
		"2: unknown key \"colour\" in the global settings",
		"5: unknown key \"host\" in destination \"inbox\" (type maildir)",
		"9: unknown key \"Keep\" in account \"a\"",
		NULL });
}

static void
test_wrong_types_and_ranges(void **state)
{
	(void)state;
	/* In the order the keys are read; every one is reported. */
	refused("timeout = 0;\nparallel = \"2\";\n" DESTS
	    "accounts = ( { name = \"a\"; server = 5; user = \"u\";\n"
	    "  password = \"p\"; deliver = \"inbox\";\n"
	    "  port = \"995\";\n"
	    "  keep = 1;\n"
	    "  tls = \"ssl\";\n"
	    "  keep_days = -1;\n"
	    "  max_size = 1.5;\n"
	    "  auth = \"cram-md5\"; } );\n", (const char *[]){
		"2: \"timeout\" must be between 1 and 86400",
		"3: \"parallel\" must be a whole number",
		"12: \"tls\" must be one of: implicit, starttls, none",
		"15: \"auth\" must be one of: auto, user, apop, plain, login, "
		    "xoauth2, oauthbearer",
		"8: \"server\" must be a string in quotes",
		"10: \"port\" must be a whole number",
		"11: \"keep\" must be true or false",
		"13: \"keep_days\" must be between 0 and 100000",
		"14: \"max_size\" must be a whole number",
		"8: account \"a\" has no \"server\"",
		NULL });
}

static void
test_missing_settings(void **state)
{
	(void)state;
	refused(DESTS
	    "accounts = ( { name = \"a\"; },\n"
	    "  { server = \"s\"; user = \"u\"; password = \"p\"; "
	    "deliver = \"inbox\"; } );\n", (const char *[]){
		"6: account \"a\" has no \"server\"",
		"6: account \"a\" has no \"user\"",
		"6: account \"a\" has neither \"password\" nor "
		    "\"password_command\"",
		"6: account \"a\" has no \"deliver\" (the destination of its "
		    "messages)",
		"7: account without a \"name\"",
		NULL });
}

static void
test_no_accounts(void **state)
{
	char expect[700];

	(void)state;
	assert_null(load(DESTS));
	snprintf(expect, sizeof expect, "%s: no \"accounts\" defined\n", conf);
	assert_string_equal(out, expect);
	refused("accounts = 5;\n", (const char *[]){
		"2: \"accounts\" must be a list: accounts = ( { name = ...; }, "
		    "... );",
		NULL });
}

static void
test_destinations_checked(void **state)
{
	(void)state;
	refused("destinations = {\n"
	    "  a = { path = \"/x\"; };\n"
	    "  b = { type = \"pigeon\"; };\n"
	    "  c = { type = \"maildir\"; };\n"
	    "  d = { type = \"smtp\"; to = \"x@y\"; };\n"
	    "  e = { type = \"smtp\"; host = \"mx\"; to = \"<x@y>\"; };\n"
	    "  f = { type = \"lmtp\"; to = \"x@y\"; };\n"
	    "  g = { type = \"mda\"; command = \"a 'b\"; };\n"
	    "  h = 5;\n"
	    "  i = { type = \"smtp\"; host = \"mx\"; to = [ ]; };\n"
	    "};\n" "accounts = ( { name = \"a\"; server = \"s\"; user = \"u\"; "
	    "password = \"p\"; deliver = [\"a\", \"zz\"]; } );\n",
	    (const char *[]){
		"3: destination \"a\" has no \"type\" (one of: maildir, mbox, "
		    "smtp, lmtp, mda)",
		"4: destination \"b\": unknown type \"pigeon\" (one of: maildir, "
		    "mbox, smtp, lmtp, mda)",
		"5: destination \"c\" has no \"path\"",
		"6: destination \"d\": has no \"host\"",
		"7: destination \"e\": \"<x@y>\" is not an address for \"to\" "
		    "(no spaces or angle brackets)",
		"8: destination \"f\": needs either socket or host",
		"9: destination \"g\": command \"a 'b\": unbalanced quotes",
		"10: destination \"h\" must be a group { type = ...; ... }",
		"11: \"to\" is an empty list",
		"11: destination \"i\": has no \"to\" (the recipients)",
		"13: account \"a\": destination \"zz\" is not defined in "
		    "\"destinations\"",
		NULL });
}

static void
test_duplicate_accounts(void **state)
{
	(void)state;
	refused(DESTS "accounts = (\n"
	    "  { name = \"a\"; server = \"s\"; user = \"u\"; password = \"p\"; "
	    "deliver = \"inbox\"; },\n"
	    "  { name = \"b\"; server = \"s\"; user = \"u\"; password = \"p\"; "
	    "deliver = \"inbox\"; },\n"
	    "  { name = \"a\"; server = \"t\"; user = \"v\"; password = \"p\"; "
	    "deliver = \"inbox\"; } );\n", (const char *[]){
		"9: account \"a\" is defined twice (first at line 7)",
		NULL });
}

static void
test_syntax_error(void **state)
{
	(void)state;
	refused(DESTS "accounts = ( { name = \"a\" } ;\n", (const char *[]){
		"6: syntax error\n"
		"  accounts = ( { name = \"a\" } ;\n"
		"                              ^",
		NULL });
}

/* libconfig names a line only: the line is shown, with a caret under
 * the first token it cannot take; at the end of the text, under what
 * was opened and never closed; a password as stars. */
static void
test_syntax_error_shown_with_a_caret(void **state)
{
	(void)state;
	/* The body starts on line 2. */
	refused("timeout = 60;\n\tparallel = 2 3;\n", (const char *[]){
		"3: syntax error\n"
		"  \\x09parallel = 2 3;\n"
		"                   ^",
		NULL });
	refused("timeout = 60;\naccounts = ( {\n  name = \"a\";\n",
	    (const char *[]){
		"3: syntax error (met at the end): this bracket is never "
		    "closed\n"
		"  accounts = ( {\n"
		"               ^",
		NULL });
	refused("accounts = ();\n  password = \"s3cr\\\"et;\nx = 1;\n",
	    (const char *[]){
		"3: syntax error (met at the end): this quote is never "
		    "closed\n"
		"    password = \"*********\n"
		"               ^",
		NULL });
	assert_null(strstr(out, "s3cr"));
	/* A quote closed lines later: libconfig stumbles there. */
	refused("accounts = ();\ntimeout = \"60;\nparallel = 2;\n"
	    "rules_cpu_limit = \"3\";\n", (const char *[]){
		"3: syntax error (met at line 5): this quote is not closed on "
		    "its line\n"
		"  timeout = \"60;\n"
		"            ^",
		NULL });
	refused("accounts = ();\ntimeout =\n\n# the end\n", (const char *[]){
		"3: syntax error (met at the end): something is missing "
		    "after this\n"
		"  timeout =\n"
		"          ^",
		NULL });
	/* A string is whole only at the next token (libconfig joins
	 * adjacent strings): the caret is there. */
	refused("timeout = [ 1, \"two\" ];\n", (const char *[]){
		"2: mismatched element type in array\n"
		"  timeout = [ 1, \"two\" ];\n"
		"                       ^",
		NULL });
}

static void
test_included_file_named(void **state)
{
	char *part, expect[1400];

	(void)state;
	part = unit_write(dir, "part.conf", "\n\n  inbox = { type = \"maildir\"; "
	    "path = \"/x\"; bogus = 1; };\n");
	assert_null(load("destinations = {\n@include \"part.conf\"\n};\n"
	    "accounts = ( { name = \"a\"; server = \"s\"; user = \"u\"; "
	    "password = \"p\"; deliver = \"inbox\";\n tls = 3; } );\n"));
	snprintf(expect, sizeof expect, "%s:3: unknown key \"bogus\" in "
	    "destination \"inbox\" (type maildir)\n"
	    "%s:6: \"tls\" must be one of: implicit, starttls, none\n",
	    part, conf);
	assert_string_equal(out, expect);
	/* A syntax error in it, too. */
	free(unit_write(dir, "part.conf", "inbox = { type = ; };\n"));
	assert_null(load("destinations = {\n@include \"part.conf\"\n};\n"));
	snprintf(expect, sizeof expect, "%s:1: syntax error\n"
	    "  inbox = { type = ; };\n"
	    "                   ^\n", part);
	assert_string_equal(out, expect);
	free(part);
}

static void
test_password_file_mode(void **state)
{
	char expect[1400], *part;

	(void)state;
	/* A password readable by others is refused, once per file. */
	config_free(load(DESTS "accounts = ( { name = \"a\"; server = \"s\"; "
	    "user = \"u\"; password = \"p\"; deliver = \"inbox\"; },\n"
	    "{ name = \"b\"; server = \"s\"; user = \"u\"; password = \"p\"; "
	    "deliver = \"inbox\"; } );\n"));
	assert_string_equal(out, "");
	assert_int_equal(chmod(conf, 0640), 0);
	assert_null(reload());
	snprintf(expect, sizeof expect, "%s:6: %s holds a password but is "
	    "readable by others (mode 640); run: chmod 600 %s\n", conf, conf,
	    conf);
	assert_string_equal(out, expect);
	/* The rule follows the password into an included file. */
	part = unit_write(dir, "secret.conf", "password = \"p\";");
	assert_int_equal(chmod(part, 0604), 0);
	assert_null(load(DESTS "accounts = ( { name = \"a\"; server = \"s\"; "
	    "user = \"u\"; deliver = \"inbox\";\n"
	    "@include \"secret.conf\"\n } );\n"));
	snprintf(expect, sizeof expect, "%s:1: %s holds a password but is "
	    "readable by others (mode 604); run: chmod 600 %s\n", part, part,
	    part);
	assert_string_equal(out, expect);
	free(part);
}

static void
test_password_rules(void **state)
{
	(void)state;
	refused(DESTS "accounts = ( { name = \"a\"; server = \"s\"; "
	    "user = \"u\"; deliver = \"inbox\";\n"
	    "  password = \"p\"; password_command = \"pass show x\"; },\n"
	    "  { name = \"b\"; server = \"s\"; user = \"u\"; deliver = \"inbox\";\n"
	    "  password_command = \" \"; },\n"
	    "  { name = \"c\"; server = \"s\"; user = \"u\"; deliver = \"inbox\";\n"
	    "  password = \"p\"; tls = \"none\";\n"
	    "  tls_fingerprint = \"sha256:00\"; } );\n", (const char *[]){
		"7: account \"a\" has both \"password\" and \"password_command\"; "
		    "keep one",
		"9: account \"b\": password_command is empty",
		"12: account \"c\": tls_fingerprint must be \"sha256:\" and 32 "
		    "hex bytes",
		"12: account \"c\": tls_fingerprint is set but tls = \"none\"",
		NULL });
}

static void
test_rules_checked(void **state)
{
	struct config *cfg;
	struct account *a;

	(void)state;
	refused(DESTS "accounts = ( { name = \"a\"; server = \"s\"; "
	    "user = \"u\"; password = \"p\"; deliver = \"inbox\";\n"
	    "rules = (\n"
	    "  { name = \"bad-re\"; match = { header = \"Subject\"; "
	    "regex = \"(\"; }; action = \"skip\"; },\n"
	    "  { name = \"idle\"; match = { body = \"x\"; }; },\n"
	    "  { name = \"odd\"; match = { size_over = 10; }; action = \"delete\";"
	    " deliver = \"spam\"; },\n"
	    "  { name = \"nowhere\"; deliver = \"nope\"; },\n"
	    "  { name = \"two\"; match = { body = \"x\"; size_over = 1; }; "
	    "action = \"skip\"; }\n"
	    ");\n} );\n", (const char *[]){
		"8: account \"a\", rule \"bad-re\": regex \"(\" does not compile: "
		    "missing closing parenthesis (at character 1)",
		"9: account \"a\", rule \"idle\": the rule does nothing (give it "
		    "an action, a plugin, deliver or stop)",
		"10: account \"a\", rule \"odd\": \"deliver\" with action = "
		    "\"delete\" makes no sense",
		"11: account \"a\", rule \"nowhere\": destination \"nope\" is not "
		    "defined in \"destinations\"",
		"12: account \"a\", rule \"two\": a condition needs exactly one of "
		    "header, body, size_over, all, any, not",
		NULL });
	/* A plugin is only named here: nothing is loaded (setup.c does
	 * that), but the name must be one. */
	refused(DESTS "accounts = ( { name = \"a\"; server = \"s\"; "
	    "user = \"u\"; password = \"p\"; deliver = \"inbox\";\n"
	    "rules = ( { name = \"plug\"; plugin = \"../x\"; } ); } );\n"
	    "plugins = ( { name = \"a b\"; options = 1; } );\n",
	    (const char *[]){
		"8: \"a b\" is not a plugin name (letters, digits, - and _)",
		"8: plugin \"a b\": \"options\" must be a group",
		"7: account \"a\", rule \"plug\": \"../x\" is not a plugin "
		    "name (letters, digits, - and _)",
		NULL });
	cfg = load(DESTS "accounts = ( { name = \"a\"; server = \"s\"; "
	    "user = \"u\"; password = \"p\"; deliver = \"inbox\";\n"
	    "rules = ( { name = \"plug\"; plugin = \"absent\"; "
	    "args = { x = 1; }; } ); } );\n"
	    "plugins = ( { name = \"listed\"; options = { y = 2; }; } );\n");
	assert_string_equal(out, "");
	assert_non_null(cfg);
	a = config_account(cfg, "a");
	assert_string_equal(a->rules[0].plugin_name, "absent");
	assert_int_equal(a->rules[0].plugin_src.line, 7);
	assert_null(a->rules[0].plugin);
	assert_non_null(a->rules[0].args);
	assert_int_equal(cfg->nplugins, 1);
	assert_string_equal(cfg->plugins[0].name, "listed");
	assert_int_equal(cfg->plugins[0].src.line, 8);
	assert_non_null(config_plugin_options(cfg, "listed"));
	assert_null(config_plugin_options(cfg, "absent"));
	config_free(cfg);
}

static void
test_state_dir_home(void **state)
{
	char *old = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char path[600], *text;
	struct config *cfg;
	struct stat st;

	(void)state;
	setenv("HOME", dir, 1);
	if (asprintf(&text, "state_dir = \"~/st/deeper\"; plugin_dir = "
	    "\"$HOME/plugins\";\n%s%s", DESTS, account) < 0)
		abort();
	free(unit_write(dir, "mailferry.conf", text));
	free(text);
	cfg = reload();
	assert_string_equal(out, "");
	assert_non_null(cfg);
	snprintf(path, sizeof path, "%s/st/deeper", dir);
	assert_string_equal(cfg->state_dir, path);
	assert_int_equal(stat(path, &st), -1);
	snprintf(path, sizeof path, "%s/plugins", dir);
	assert_string_equal(cfg->plugin_dir, path);
	config_free(cfg);
	if (old != NULL)
		setenv("HOME", old, 1);
	free(old);
}

static void
test_default_paths(void **state)
{
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char expect[600], *p;

	(void)state;
	setenv("HOME", dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	p = config_xdg_path();
	snprintf(expect, sizeof expect, "%s/.config/mailferry/mailferry.conf",
	    dir);
	assert_string_equal(p, expect);
	free(p);
	/* Not there: the traditional dot file. */
	p = config_default_path();
	snprintf(expect, sizeof expect, "%s/.mailferry.conf", dir);
	assert_string_equal(p, expect);
	free(p);
	/* XDG_CONFIG_HOME counts when absolute. */
	setenv("XDG_CONFIG_HOME", "relative", 1);
	p = config_xdg_path();
	snprintf(expect, sizeof expect, "%s/.config/mailferry/mailferry.conf",
	    dir);
	assert_string_equal(p, expect);
	free(p);
	setenv("XDG_CONFIG_HOME", dir, 1);
	snprintf(expect, sizeof expect, "%s/mailferry", dir);
	assert_int_equal(mkdir(expect, 0700), 0);
	free(unit_write(expect, "mailferry.conf", ""));
	p = config_default_path();
	snprintf(expect, sizeof expect, "%s/mailferry/mailferry.conf", dir);
	assert_string_equal(p, expect);
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	if (old_home != NULL)
		setenv("HOME", old_home, 1);
	free(old_home);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_minimal_and_defaults),
		T(test_settings_read),
		T(test_unknown_keys),
		T(test_wrong_types_and_ranges),
		T(test_missing_settings),
		T(test_no_accounts),
		T(test_destinations_checked),
		T(test_duplicate_accounts),
		T(test_syntax_error),
		T(test_syntax_error_shown_with_a_caret),
		T(test_included_file_named),
		T(test_password_file_mode),
		T(test_password_rules),
		T(test_rules_checked),
		T(test_state_dir_home),
		T(test_default_paths),
	};
#undef T

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
