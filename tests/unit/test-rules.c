/*
 * The rule engine on its own: rules read from a configuration, a message
 * built in memory, and a stand-in for the plugins (rules.c calls them
 * through the message view, so nothing of plugin.c is linked here).
 * First match decides, all/any/not, header fields unfolded and decoded,
 * size_over on the server's size, stop, regex errors and the CPU budget
 * ending in delivery with a warning, and every plugin verdict.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "rules.h"
#include "unit.h"

static char *dir;
static struct config *cfg;
static struct msg m;
static struct mf_message pm;
static char traced[16384];	/* what the trace printed */

/* The plugin stand-in: what it was called with and what it answers. */
static struct {
	int			 calls;
	struct plugin		*plugin;
	const config_setting_t	*args;
	enum mf_verdict		 answer;
	const char		*why;
	const char		*route;	/* set_destinations(route) first */
} fake;

static enum mf_verdict
fake_filter(struct plugin *p, struct mf_message *view,
    const config_setting_t *args, char *why, size_t whylen)
{
	fake.calls++;
	fake.plugin = p;
	fake.args = args;
	if (fake.why != NULL)
		snprintf(why, whylen, "%s", fake.why);
	if (fake.route != NULL) {
		view->dests = calloc(1, sizeof *view->dests);
		view->dests[0] = config_destination(view->cfg, fake.route);
		view->ndests = 1;
	}
	return fake.answer;
}

static void
trace_line(void *arg, const char *fmt, ...)
{
	size_t o = strlen(traced);
	va_list ap;

	(void)arg;
	va_start(ap, fmt);
	vsnprintf(traced + o, sizeof traced - o, fmt, ap);
	va_end(ap);
	o = strlen(traced);
	snprintf(traced + o, sizeof traced - o, "\n");
}

static const struct rules_trace trace = { .line = trace_line };

static int
setup(void **state)
{
	(void)state;
	dir = unit_tmpdir();
	log_setup(LOG_NORMAL, false);
	memset(&fake, 0, sizeof fake);
	traced[0] = '\0';
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(pm.dests);
	memset(&pm, 0, sizeof pm);
	msg_free(&m);
	config_free(cfg);
	cfg = NULL;
	unit_rmtree(dir);
	return 0;
}

/* An account "a" delivering to "inbox", with these rules. */
static struct account *
rules(const char *text)
{
	char *conf, *body;

	if (asprintf(&body, "state_dir = \"%s/state\";\n"
	    "destinations = {\n"
	    "  inbox = { type = \"maildir\"; path = \"/none/inbox\"; };\n"
	    "  lists = { type = \"maildir\"; path = \"/none/lists\"; };\n"
	    "  junk = { type = \"maildir\"; path = \"/none/junk\"; };\n"
	    "};\n"
	    "accounts = ( { name = \"a\"; server = \"s\"; user = \"u\"; "
	    "password = \"p\"; deliver = \"inbox\";\n"
	    "rules = ( %s ); } );\n", dir, text) < 0)
		abort();
	conf = unit_write(dir, "mailferry.conf", body);
	cfg = config_load(conf);
	free(conf);
	free(body);
	assert_non_null(cfg);
	return config_account(cfg, "a");
}

/* The message (LF line ends), as the server said it was `size` bytes. */
static void
message(const char *text, off_t size)
{
	struct err e;

	msg_init(&m, dir);
	assert_int_equal(msg_append(&m, text, strlen(text), &e), 0);
	msg_finish(&m);
	memset(&pm, 0, sizeof pm);
	pm.m = &m;
	pm.cfg = cfg;
	pm.server_size = size;
	pm.filter = fake_filter;
}

static const char plain[] =
    "From: Alice <alice@example.org>\n"
    "To: bob@example.org\n"
    "Subject: hello\n"
    "List-Id: <dev.lists.example.org>\n"
    "\n"
    "Body text with a MAGIC word.\n";

static void
run(const struct account *a, struct verdict *v)
{
	rules_run(a, &pm, v, &trace);
}

static void
test_first_match_decides(void **state)
{
	struct account *a = rules(
	    "{ name = \"spam\"; match = { header = \"Subject\"; "
	    "regex = \"^SPAM\"; }; action = \"delete\"; },\n"
	    "{ name = \"lists\"; match = { header = \"list-id\"; "
	    "regex = \"dev\\\\.lists\"; }; deliver = \"lists\"; },\n"
	    "{ name = \"later\"; match = { body = \"MAGIC\"; }; "
	    "action = \"skip\"; }");
	struct verdict v;

	(void)state;
	message(plain, 100);
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DELIVER);
	assert_string_equal(v.rule->name, "lists");
	assert_int_equal(v.ndests, 1);
	assert_string_equal(v.dests[0]->name, "lists");
	assert_string_equal(v.why, "");
	/* The trace names each rule with its FILE:LINE, and stops at the
	 * one that decided. */
	assert_non_null(strstr(traced, "rule 1 \"spam\" ("));
	assert_non_null(strstr(traced, "mailferry.conf:8):\n"
	    "  header Subject \"hello\" =~ /^SPAM/: no\n  no match\n"));
	assert_non_null(strstr(traced, "rule 2 \"lists\""));
	assert_non_null(strstr(traced, "  matched\n"));
	assert_null(strstr(traced, "later"));
	assert_false(rules_can_drop(a) == false);
	assert_true(rules_need_body(a));
}

static void
test_no_rule_decides(void **state)
{
	struct account *a = rules(
	    "{ name = \"never\"; match = { header = \"X-None\"; "
	    "regex = \".\"; }; action = \"delete\"; }");
	struct verdict v;

	(void)state;
	message(plain, 100);
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DELIVER);
	assert_null(v.rule);
	assert_int_equal(v.ndests, 1);
	assert_string_equal(v.dests[0]->name, "inbox");
	assert_non_null(strstr(traced, "  header X-None: absent\n"));
	/* Header-only rules that may drop: worth a look at the header
	 * first. */
	assert_true(rules_can_drop(a));
	assert_false(rules_need_body(a));
}

static void
test_all_any_not(void **state)
{
	struct account *a = rules(
	    "{ name = \"all-fails\"; match = { all = ( "
	    "{ header = \"From\"; regex = \"alice\"; }, "
	    "{ header = \"To\"; regex = \"carol\"; } ); }; "
	    "action = \"delete\"; },\n"
	    "{ name = \"not-any\"; match = { not = { any = ( "
	    "{ header = \"Subject\"; regex = \"nope\"; }, "
	    "{ size_over = 1000; } ); }; }; action = \"skip\"; }");
	struct verdict v;

	(void)state;
	message(plain, 100);
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_SKIP);
	assert_string_equal(v.rule->name, "not-any");
	assert_non_null(strstr(traced, "  all of:\n"
	    "    header From \"Alice <alice@example.org>\" =~ /alice/: yes\n"
	    "    header To \"bob@example.org\" =~ /carol/: no\n"));
	assert_non_null(strstr(traced, "  not:\n    any of:\n"
	    "      header Subject \"hello\" =~ /nope/: no\n"
	    "      size 100 over 1000: no\n  matched\n"));
}

/* Header values are matched unfolded (the line break goes, the space
 * stays) and with RFC 2047 words decoded; every field of that name
 * counts. */
static void
test_headers_unfolded_and_decoded(void **state)
{
	struct account *a = rules(
	    "{ name = \"folded\"; match = { header = \"Subject\"; "
	    "regex = \"^caf\xc3\xa9 au lait today$\"; }; action = \"skip\"; }");
	struct verdict v;

	(void)state;
	message("Subject: other\n"
	    "Subject: =?UTF-8?Q?caf=C3=A9?= au\n"
	    " lait =?ISO-8859-1?B?dG9kYXk=?=\n"
	    "\nbody\n", 50);
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_SKIP);
	assert_non_null(strstr(traced, "header Subject \"other\" =~"));
	assert_non_null(strstr(traced, "header Subject \"caf\xc3\xa9 au lait "
	    "today\" =~"));
}

/* size_over looks at the size the server announced. */
static void
test_size_over(void **state)
{
	struct account *a = rules(
	    "{ name = \"big\"; match = { size_over = 5000; }; "
	    "deliver = \"junk\"; }");
	struct verdict v;

	(void)state;
	message(plain, 5001);
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DELIVER);
	assert_string_equal(v.dests[0]->name, "junk");
	free(pm.dests);
	msg_free(&m);
	message(plain, 5000);
	run(a, &v);
	assert_null(v.rule);
	assert_string_equal(v.dests[0]->name, "inbox");
}

/* stop without an action delivers (to the rule's deliver, else the
 * account's) and ends processing. */
static void
test_stop(void **state)
{
	struct account *a = rules(
	    "{ name = \"halt\"; match = { body = \"MAGIC\"; }; stop = true; },\n"
	    "{ name = \"unreached\"; action = \"delete\"; }");
	struct verdict v;

	(void)state;
	message(plain, 100);
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DELIVER);
	assert_string_equal(v.rule->name, "halt");
	assert_string_equal(v.dests[0]->name, "inbox");
	assert_non_null(strstr(traced, "  body =~ /MAGIC/: yes\n"));
	assert_null(strstr(traced, "unreached"));
}

/* A match that cannot be decided delivers to the account, with the
 * reason, and no later rule runs: in `any` when nothing else matches,
 * in `all` and `not` always. */
static void
test_regex_error_delivers(void **state)
{
	char runaway[200];
	struct account *a = rules(
	    "{ name = \"any-errs\"; match = { any = ( "
	    "{ header = \"X-Runaway\"; regex = \"(a+)+$\"; }, "
	    "{ header = \"Subject\"; regex = \"^x-ok\"; } ); }; "
	    "action = \"skip\"; },\n"
	    "{ name = \"unreached\"; action = \"delete\"; }");
	struct verdict v;

	(void)state;
	memset(runaway, 'a', sizeof runaway);
	snprintf(runaway + 60, sizeof runaway - 60, "b\nSubject: hi\n\n.\n");
	memcpy(runaway, "X-Runaway: ", 11);
	message(runaway, 100);
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DELIVER);
	assert_string_equal(v.rule->name, "any-errs");
	assert_string_equal(v.dests[0]->name, "inbox");
	assert_string_equal(v.why, "rule \"any-errs\" could not be evaluated "
	    "(regex \"(a+)+$\": match limit exceeded); delivered to the "
	    "account's destination");
	assert_non_null(strstr(traced, "=~ /(a+)+$/: error\n"));
	assert_null(strstr(traced, "unreached"));
}

static void
test_regex_error_in_any_loses_to_a_match(void **state)
{
	char text[200];
	struct account *a = rules(
	    "{ name = \"any-wins\"; match = { any = ( "
	    "{ header = \"X-Runaway\"; regex = \"(a+)+$\"; }, "
	    "{ header = \"Subject\"; regex = \"^x-ok\"; } ); }; "
	    "action = \"skip\"; }");
	struct verdict v;

	(void)state;
	memset(text, 'a', sizeof text);
	snprintf(text + 60, sizeof text - 60, "b\nSubject: x-ok\n\n.\n");
	memcpy(text, "X-Runaway: ", 11);
	message(text, 100);
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_SKIP);
	assert_string_equal(v.why, "");
}

/* Once the message's CPU budget is spent, every match is an error. */
static void
test_cpu_budget(void **state)
{
	struct account *a = rules(
	    "{ name = \"cheap\"; match = { header = \"Subject\"; "
	    "regex = \"hello\"; }; action = \"delete\"; }");
	struct verdict v;

	(void)state;
	message(plain, 100);
	cfg->rules_cpu_limit = 0;	/* spent before it starts */
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DELIVER);
	assert_string_equal(v.dests[0]->name, "inbox");
	assert_string_equal(v.why, "rule \"cheap\" could not be evaluated (the "
	    "rules used up the 0 s of CPU time a message may take "
	    "(rules_cpu_limit)); delivered to the account's destination");
}

static char plugin_handle;	/* what setup.c would have loaded */

/* A rule with a plugin, its verdict set to `answer`. */
static struct account *
plugin_rules(enum mf_verdict answer)
{
	struct account *a = rules(
	    "{ name = \"scan\"; plugin = \"scanner\"; args = { level = 3; }; "
	    "deliver = \"lists\"; },\n"
	    "{ name = \"last\"; action = \"skip\"; }");

	a->rules[0].plugin = (struct plugin *)(void *)&plugin_handle;
	fake.answer = answer;
	message(plain, 100);
	return a;
}

static void
test_plugin_continue(void **state)
{
	struct account *a = plugin_rules(MF_CONTINUE);
	struct verdict v;

	(void)state;
	run(a, &v);
	/* The plugin gets its own handle and the rule's args. */
	assert_int_equal(fake.calls, 1);
	assert_ptr_equal(fake.plugin, &plugin_handle);
	assert_ptr_equal(fake.args, a->rules[0].args);
	/* Without an action or stop, on to the next rule (deliver is for
	 * the plugin's MF_DELIVER). */
	assert_int_equal(v.kind, VERDICT_SKIP);
	assert_string_equal(v.rule->name, "last");
	assert_non_null(strstr(traced, "  plugin scanner: continue\n"));
	assert_true(rules_need_body(a));
}

static void
test_plugin_deliver(void **state)
{
	struct account *a = plugin_rules(MF_DELIVER);
	struct verdict v;

	(void)state;
	run(a, &v);
	assert_string_equal(v.dests[0]->name, "lists");
	/* Destinations the plugin set win over the rule's. */
	fake.route = "junk";
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DELIVER);
	assert_int_equal(v.ndests, 1);
	assert_string_equal(v.dests[0]->name, "junk");
	assert_non_null(strstr(traced, "  plugin scanner: deliver\n"));
}

static void
test_plugin_delete_and_skip(void **state)
{
	struct account *a = plugin_rules(MF_DELETE);
	struct verdict v;

	(void)state;
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DELETE);
	assert_string_equal(v.rule->name, "scan");
	fake.answer = MF_SKIP;
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_SKIP);
	assert_int_equal(fake.calls, 2);
}

static void
test_plugin_defer_and_error(void **state)
{
	struct account *a = plugin_rules(MF_DEFER);
	struct verdict v;

	(void)state;
	fake.why = "database busy";
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DEFER);
	assert_string_equal(v.why, "plugin scanner deferred the message: "
	    "database busy");
	fake.answer = MF_ERROR;
	fake.why = NULL;
	run(a, &v);
	assert_int_equal(v.kind, VERDICT_DEFER);
	assert_string_equal(v.why, "plugin scanner failed: no reason given");
	assert_null(strstr(traced, "last"));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_first_match_decides),
		T(test_no_rule_decides),
		T(test_all_any_not),
		T(test_headers_unfolded_and_decoded),
		T(test_size_over),
		T(test_stop),
		T(test_regex_error_delivers),
		T(test_regex_error_in_any_loses_to_a_match),
		T(test_cpu_budget),
		T(test_plugin_continue),
		T(test_plugin_deliver),
		T(test_plugin_delete_and_skip),
		T(test_plugin_defer_and_error),
	};
#undef T

	return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
