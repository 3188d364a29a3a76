/*
 * The protocol of an account and the keys that go with it: IMAP's
 * defaults (port, folders, idle), its keys read, and every key or login
 * that makes no sense for the protocol refused at its FILE:LINE.
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
#include "log.h"
#include "unit.h"

static char *dir;
static char *conf;
static char *out;

/* Line 1 of every file; lines 2 to 4 define the destination "inbox";
 * the body starts at line 5. */
#define PREFIX	"state_dir = \"%s/state\"; plugin_dir = \"%s/plugins\";\n" \
		"destinations = {\n" \
		"  inbox = { type = \"maildir\"; path = \"/none/Maildir\"; };\n" \
		"};\n"

/* An account whose remaining keys follow on the next lines. */
#define ACCOUNT	"accounts = ( { name = \"a\"; server = \"imap.example.org\";\n" \
		"  user = \"u\"; password = \"p\"; deliver = \"inbox\";\n"

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

static struct config *
load(const char *body)
{
	struct unit_capture cap;
	struct config *cfg;
	char *text;

	if (asprintf(&text, PREFIX "%s", dir, dir, body) < 0)
		abort();
	free(unit_write(dir, "mailferry.conf", text));
	free(text);
	free(out);
	unit_capture_start(&cap, dir);
	cfg = config_load(conf);
	out = unit_capture_end(&cap);
	return cfg;
}

/* The load fails and prints exactly these "LINE: text" lines. */
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

static void
test_pop3_is_the_default(void **state)
{
	struct config *cfg;
	struct account *a;

	(void)state;
	cfg = load(ACCOUNT "} );\n");
	assert_non_null(cfg);
	a = &cfg->accounts[0];
	assert_int_equal(a->protocol, PROTO_POP3);
	assert_string_equal(protocol_name(a->protocol), "pop3");
	assert_int_equal(a->port, 995);
	assert_int_equal(a->nfolders, 0);
	assert_null(a->move_to);
	config_free(cfg);
	cfg = load(ACCOUNT "  protocol = \"pop3\"; tls = \"starttls\"; } );\n");
	assert_non_null(cfg);
	assert_int_equal(cfg->accounts[0].port, 110);
	config_free(cfg);
}

static void
test_imap_defaults(void **state)
{
	struct config *cfg;
	struct account *a;

	(void)state;
	cfg = load(ACCOUNT "  protocol = \"imap\"; } );\n");
	assert_non_null(cfg);
	a = &cfg->accounts[0];
	assert_int_equal(a->protocol, PROTO_IMAP);
	assert_string_equal(protocol_name(a->protocol), "imap");
	assert_int_equal(a->port, 993);
	assert_int_equal(a->nfolders, 1);
	assert_string_equal(a->folders[0], "INBOX");
	assert_false(a->mark_seen);
	assert_null(a->move_to);
	assert_true(a->idle);
	assert_true(a->keep);
	config_free(cfg);

	cfg = load(ACCOUNT "  protocol = \"imap\"; tls = \"starttls\"; } );\n");
	assert_non_null(cfg);
	assert_int_equal(cfg->accounts[0].port, 143);
	config_free(cfg);
	cfg = load(ACCOUNT "  protocol = \"imap\"; tls = \"none\";\n"
	    "  allow_plaintext_auth = true; } );\n");
	assert_non_null(cfg);
	assert_int_equal(cfg->accounts[0].port, 143);
	config_free(cfg);
	/* A port given is kept, whatever the protocol. */
	cfg = load(ACCOUNT "  protocol = \"imap\"; port = 10993; } );\n");
	assert_non_null(cfg);
	assert_int_equal(cfg->accounts[0].port, 10993);
	config_free(cfg);
}

static void
test_imap_settings_read(void **state)
{
	struct config *cfg;
	struct account *a;

	(void)state;
	cfg = load(ACCOUNT "  protocol = \"imap\";\n"
	    "  folders = [ \"INBOX\", \"Lists/dev\", \"Entwürfe\",\n"
	    "    \"Entw&APw-rfe/alt\" ];\n"
	    "  mark_seen = true; move_to = \"Archive/2026\"; idle = false;\n"
	    "  keep = false; auth = \"oauthbearer\"; } );\n");
	assert_non_null(cfg);
	a = &cfg->accounts[0];
	assert_int_equal(a->nfolders, 4);
	assert_string_equal(a->folders[0], "INBOX");
	assert_string_equal(a->folders[1], "Lists/dev");
	assert_string_equal(a->folders[2], "Entwürfe");
	assert_string_equal(a->folders[3], "Entw&APw-rfe/alt");
	assert_true(a->mark_seen);
	assert_string_equal(a->move_to, "Archive/2026");
	assert_false(a->idle);
	assert_false(a->keep);
	assert_int_equal(a->auth, AUTH_OAUTHBEARER);
	config_free(cfg);
	/* One folder as a plain string. */
	cfg = load(ACCOUNT "  protocol = \"imap\"; folders = \"Lists\"; } );\n");
	assert_non_null(cfg);
	assert_int_equal(cfg->accounts[0].nfolders, 1);
	assert_string_equal(cfg->accounts[0].folders[0], "Lists");
	config_free(cfg);
}

static void
test_protocol_checked(void **state)
{
	(void)state;
	refused(ACCOUNT "  protocol = \"imap4\"; } );\n", (const char *[]){
		"7: \"protocol\" must be one of: pop3, imap",
		NULL });
	refused(ACCOUNT "  protocol = \"imap\";\n"
	    "  auth = \"apop\"; } );\n", (const char *[]){
		"8: account \"a\": auth = \"apop\" is a POP3 login; an IMAP "
		    "account logs in with auto, user (the LOGIN command), plain, "
		    "login, xoauth2 or oauthbearer",
		NULL });
}

static void
test_imap_keys_refused_for_pop3(void **state)
{
	(void)state;
	refused(ACCOUNT "  folders = [ \"INBOX\" ];\n"
	    "  mark_seen = true;\n"
	    "  move_to = \"Archive\";\n"
	    "  idle = false;\n"
	    "  auth = \"oauthbearer\"; } );\n", (const char *[]){
		"7: account \"a\": \"folders\" is for IMAP accounts "
		    "(protocol = \"imap\")",
		"8: account \"a\": \"mark_seen\" is for IMAP accounts "
		    "(protocol = \"imap\")",
		"9: account \"a\": \"move_to\" is for IMAP accounts "
		    "(protocol = \"imap\")",
		"10: account \"a\": \"idle\" is for IMAP accounts "
		    "(protocol = \"imap\")",
		"11: account \"a\": auth = \"oauthbearer\" is for IMAP "
		    "accounts; a POP3 account takes a token with xoauth2",
		NULL });
}

static void
test_folders_checked(void **state)
{
	(void)state;
	refused(ACCOUNT "  protocol = \"imap\";\n"
	    "  folders = [ ]; } );\n", (const char *[]){
		"8: \"folders\" is an empty list",
		NULL });
	refused(ACCOUNT "  protocol = \"imap\";\n"
	    "  folders = [ \"INBOX\", \"\", \"a\\nb\", \"\\xff\\xfe\", "
	    "\"inbox\", \"x\", \"x\" ]; } );\n", (const char *[]){
		"8: account \"a\": folders: the folder name \"\" is empty",
		"8: account \"a\": folders: the name of folder 3 holds a "
		    "control character",
		"8: account \"a\": folders: the name of folder 4 is not valid "
		    "UTF-8",
		"8: account \"a\": folders names \"inbox\" twice",
		"8: account \"a\": folders names \"x\" twice",
		NULL });
	refused(ACCOUNT "  protocol = \"imap\";\n"
	    "  folders = [ 1 ]; } );\n", (const char *[]){
		"8: \"folders\" must list strings only",
		NULL });
}

static void
test_move_to_checked(void **state)
{
	(void)state;
	refused(ACCOUNT "  protocol = \"imap\";\n"
	    "  folders = [ \"INBOX\", \"Lists\" ];\n"
	    "  move_to = \"Lists\"; } );\n", (const char *[]){
		"9: account \"a\": move_to \"Lists\" is also one of the "
		    "folders fetched: every message moved there would be fetched "
		    "again",
		NULL });
	refused(ACCOUNT "  protocol = \"imap\";\n"
	    "  move_to = \"inbox\"; } );\n", (const char *[]){
		"8: account \"a\": move_to \"inbox\" is also one of the folders "
		    "fetched: every message moved there would be fetched again",
		NULL });
	refused(ACCOUNT "  protocol = \"imap\";\n"
	    "  keep_days = 7;\n"
	    "  move_to = \"\"; } );\n", (const char *[]){
		"9: account \"a\": move_to: the folder name \"\" is empty",
		"8: account \"a\": keep_days with move_to: a delivered message "
		    "leaves the folder at once, so keep_days would never apply; "
		    "keep one of them",
		NULL });
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_pop3_is_the_default),
		T(test_imap_defaults),
		T(test_imap_settings_read),
		T(test_protocol_checked),
		T(test_imap_keys_refused_for_pop3),
		T(test_folders_checked),
		T(test_move_to_checked),
	};
#undef T

	return cmocka_run_group_tests_name("config-imap", tests, NULL, NULL);
}
