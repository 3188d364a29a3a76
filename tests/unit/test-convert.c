/*
 * --convert: fetchmail's and mpop's grammar as people write it, what
 * each setting becomes, and output that libconfig reads back as written
 * whatever the strings hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libconfig.h>

#include "convert.h"
#include "convert-rclex.h"

static struct conv c;

static int
teardown(void **state)
{
	(void)state;
	conv_free(&c);
	return 0;
}

static void
fetchmail(const char *text)
{
	struct err e;

	conv_init(&c, "fetchmailrc", "RC");
	if (convert_fetchmailrc(&c, text, strlen(text), &e) != 0)
		fail_msg("%s", e.msg);
}

static void
mpop(const char *text)
{
	struct err e;

	conv_init(&c, "mpoprc", "RC");
	if (convert_mpoprc(&c, text, strlen(text), &e) != 0)
		fail_msg("%s", e.msg);
}

static bool
has_note(const struct conv_account *a, const char *what)
{
	for (size_t i = 0; i < a->nnotes; i++)
		if (strstr(a->notes[i], what) != NULL)
			return true;
	return false;
}

/* The output, read back by libconfig: it must parse. */
static char *
emitted(config_t *lc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	convert_emit(&c, fp);
	fclose(fp);
	config_init(lc);
	if (config_read_string(lc, buf) != CONFIG_TRUE)
		fail_msg("line %d: %s\n%s", config_error_line(lc),
		    config_error_text(lc), buf);
	return buf;
}

static void
test_lexer(void **state)
{
	static const char text[] = "poll \"a\\x41\\0101\\66\\n\" 'q \"x\"' "
	    "123 -1 a=b # comment \"x\n\"joined\\\nline\", more;";
	struct rctok *t;
	size_t n;
	struct err e;

	(void)state;
	assert_int_equal(rclex("RC", text, sizeof text - 1, &t, &n, &e), 0);
	assert_int_equal(n, 10);
	/* As fetchmail does it: \0 takes three digits with the 0. */
	assert_string_equal(t[1].text, "aA\b1B\n");
	assert_int_equal(t[1].kind, RCTOK_STRING);
	assert_string_equal(t[2].text, "q \"x\"");
	assert_int_equal(t[3].kind, RCTOK_NUMBER);
	assert_int_equal(t[4].kind, RCTOK_NUMBER);
	assert_int_equal(t[6].kind, RCTOK_EQUALS);
	assert_string_equal(t[8].text, "joinedline");
	assert_int_equal(t[8].line, 2);
	assert_string_equal(t[9].text, "more");
	assert_int_equal(t[9].line, 3);
	rclex_free(t, n);
	assert_int_equal(rclex("RC", "poll \"x", 7, &t, &n, &e), -1);
	assert_non_null(strstr(e.msg, "RC:1: a string that never ends"));
}

static void
test_fetchmail_english(void **state)
{
	struct conv_account *a;

	(void)state;
	fetchmail("poll pop.example.com with proto POP3\n"
	    "  user \"x\" there with password \"y\" is \"z\" here options "
	    "keep ssl\n");
	assert_int_equal(c.naccounts, 1);
	a = &c.accounts[0];
	assert_string_equal(a->name, "pop.example.com");
	assert_string_equal(a->server, "pop.example.com");
	assert_string_equal(a->user, "x");
	assert_true(a->had_password);
	assert_null(a->password_command);
	assert_int_equal(a->keep, 1);
	assert_int_equal(a->tls, TLS_MODE_IMPLICIT);
	assert_int_equal(a->dest.kind, CONV_SMTP);
	assert_string_equal(a->dest.host, "localhost");
	assert_int_equal(a->dest.nto, 1);
	assert_string_equal(a->dest.to[0], "z@localhost");
	assert_int_equal(a->nnotes, 0);
	assert_string_equal(a->origin, "RC:2");
}

static void
test_fetchmail_layers(void **state)
{
	struct conv_account *a;

	(void)state;
	fetchmail("set postmaster \"pm\"\n"
	    "defaults proto pop3 timeout 300 fetchlimit 20 limit 5000\n"
	    "  user whoever smtphost mx.example.org/2525 smtpaddress "
	    "example.org\n"
	    "poll one via pop.one.example port 1110 sslproto '':\n"
	    "  user esr here is eric there keep\n"
	    "  user \"bob\" is bob here no keep fetchlimit 5 mda "
	    "\"/usr/bin/procmail -d %T\"\n"
	    "poll one user \"c\" is c\n");
	assert_int_equal(c.naccounts, 3);
	assert_int_equal(c.timeout, 300);
	a = &c.accounts[0];
	assert_string_equal(a->name, "one");
	assert_string_equal(a->server, "pop.one.example");
	assert_int_equal(a->port, 1110);
	assert_int_equal(a->tls, TLS_MODE_NONE);
	assert_true(a->plaintext);
	assert_string_equal(a->user, "eric");
	assert_int_equal(a->keep, 1);
	assert_int_equal(a->fetch_limit, 20);
	assert_int_equal(a->max_size, 5000);
	assert_int_equal(a->dest.kind, CONV_SMTP);
	assert_string_equal(a->dest.host, "mx.example.org");
	assert_int_equal(a->dest.port, 2525);
	assert_string_equal(a->dest.to[0], "esr@example.org");
	a = &c.accounts[1];
	assert_string_equal(a->name, "bob@one");
	assert_int_equal(a->keep, 0);
	assert_int_equal(a->fetch_limit, 5);
	assert_int_equal(a->dest.kind, CONV_MDA);
	assert_string_equal(a->dest.command, "/usr/bin/procmail -d %T");
	assert_string_equal(a->dest.to[0], "bob");
	a = &c.accounts[2];
	assert_string_equal(a->name, "c@one");
	assert_int_equal(a->tls, TLS_MODE_STARTTLS);
	assert_true(has_note(a, "starttls"));
}

static void
test_fetchmail_multidrop(void **state)
{
	struct conv_account *a;
	config_t lc;
	char *out;

	(void)state;
	fetchmail("poll isp.example envelope X-Original-To localdomains "
	    "example.org, example.net aka mail.example.org\n"
	    "  user catchall pass x to * here smtphost /run/lmtp\n"
	    "poll isp2.example no envelope\n"
	    "  user c2 to a b here\n");
	a = &c.accounts[0];
	assert_string_equal(a->envelope, "X-Original-To");
	assert_int_equal(a->nlocal_domains, 3);
	assert_string_equal(a->local_domains[2], "mail.example.org");
	assert_int_equal(a->dest.kind, CONV_LMTP);
	assert_string_equal(a->dest.socket, "/run/lmtp");
	assert_string_equal(a->dest.to[0], "%envelope");
	assert_true(strstr(a->dest.to[1], "@localhost") != NULL);
	a = &c.accounts[1];
	assert_null(a->envelope);
	assert_int_equal(a->nlocal_domains, 0);
	assert_true(has_note(a, "To and Cc"));
	assert_string_equal(a->dest.to[0], "%envelope");
	out = emitted(&lc);
	assert_non_null(strstr(out, "to = [ \"%envelope\", "));
	config_destroy(&lc);
	free(out);
}

static void
test_fetchmail_notes_and_disabled(void **state)
{
	(void)state;
	fetchmail("poll a.example proto IMAP user u pass p\n"
	    "skip b.example user u pass p\n"
	    "poll c.example user u pass p bsmtp /tmp/x\n"
	    "poll d.example auth password user u pass p fetchall flush "
	    "no sslcertck sslfingerprint \"00:11\" folder INBOX idle "
	    "plugin \"ssh x\"\n");
	assert_false(c.accounts[0].disabled);
	assert_true(c.accounts[0].imap);
	assert_true(c.accounts[1].disabled);
	assert_non_null(strstr(c.accounts[1].why_disabled, "skip"));
	assert_true(c.accounts[2].disabled);
	assert_false(c.accounts[3].disabled);
	assert_true(has_note(&c.accounts[3], "fetchall"));
	assert_true(has_note(&c.accounts[3], "flush"));
	assert_true(has_note(&c.accounts[3], "no sslcertck"));
	assert_true(has_note(&c.accounts[3], "not a SHA-256"));
	assert_true(has_note(&c.accounts[3], "folder INBOX"));
	assert_true(has_note(&c.accounts[3], "idle: IDLE is an IMAP"));
	assert_true(has_note(&c.accounts[3], "\"plugin\""));
	assert_false(has_note(&c.accounts[3], "auth"));
}

/* IMAP entries: protocol, folders, ports, idle, and \Seen carried over
 * as mark_seen when fetchmail kept the mail. */
static void
test_fetchmail_imap(void **state)
{
	config_t lc;
	char *out;

	(void)state;
	fetchmail("poll imap.example proto imap user u pass p is me here ssl "
	    "folder INBOX,\"Lists/dev\" keep idle\n"
	    "poll plain.example proto IMAP service imap user u pass p "
	    "sslproto '' mda \"/bin/cat\"\n"
	    "poll odd.example proto imap port 10993 user u pass p ssl "
	    "auth cram-md5\n");
	assert_int_equal(c.naccounts, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_true(c.accounts[i].imap);
		assert_false(c.accounts[i].disabled);
	}
	assert_int_equal(c.accounts[0].nfolders, 2);
	assert_string_equal(c.accounts[0].folders[0], "INBOX");
	assert_string_equal(c.accounts[0].folders[1], "Lists/dev");
	assert_true(c.accounts[0].mark_seen);
	assert_true(c.accounts[0].idle);
	assert_true(has_note(&c.accounts[0], "first run fetches every"));
	assert_int_equal(c.accounts[1].port, 143);
	assert_int_equal(c.accounts[1].nfolders, 0);
	assert_false(c.accounts[1].mark_seen);
	assert_false(c.accounts[1].idle);
	assert_true(has_note(&c.accounts[2], "auth cram-md5: mailferry logs in "
	    "to IMAP"));
	out = emitted(&lc);
	assert_non_null(strstr(out, "protocol = \"imap\";\n    server = "
	    "\"imap.example\";\n    tls = \"implicit\";"));
	assert_non_null(strstr(out, "folders = [ \"INBOX\", \"Lists/dev\" ];\n"
	    "    mark_seen = true;\n    idle = true;"));
	/* The default ports of IMAP are left out, others kept. */
	assert_null(strstr(out, "port = 143;"));
	assert_non_null(strstr(out, "port = 10993;"));
	config_destroy(&lc);
	free(out);
}

/* fetchmail's one-word negations, and auth types that are keywords. */
static void
test_fetchmail_negations(void **state)
{
	(void)state;
	fetchmail("set nobouncemail\nset no spambounce\ndefaults keep\n"
	    "poll a auth password user b is c nokeep nodns noenvelope\n"
	    "poll d user e keep\n");
	assert_int_equal(c.naccounts, 2);
	assert_int_equal(c.nnotes, 2);
	assert_non_null(strstr(c.notes[0], "set no bouncemail (line 1)"));
	assert_non_null(strstr(c.notes[1], "set no spambounce (line 2)"));
	assert_int_equal(c.accounts[0].keep, 0);
	assert_string_equal(c.accounts[0].dest.to[0], "c@localhost");
	assert_int_equal(c.accounts[0].nnotes, 1);
	assert_int_equal(c.accounts[1].keep, 1);
}

static void
test_fetchmail_rejects(void **state)
{
	static const char *const bad[] = { "account a\nhost b\n",
	    "defaults\nhost x\n", "poll\n", "poll 'unterminated\n",
	    "x\0y", "poll a user b frobnicate\n", "poll a user\n" };
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		conv_init(&c, "fetchmailrc", "RC");
		assert_int_equal(convert_fetchmailrc(&c, bad[i],
		    i == 4 ? 3 : strlen(bad[i]), &e), -1);
		assert_int_equal(e.cls, ERR_DATA);
		assert_non_null(strstr(e.msg, "RC:"));
		conv_free(&c);
	}
	conv_init(&c, "fetchmailrc", "RC");
}

static void
test_mpop_inherit(void **state)
{
	struct conv_account *a;

	(void)state;
	mpop("# comment\n"
	    "defaults\n"
	    "  tls on\n"
	    "  tls_starttls off\n"
	    "  keep on\n"
	    "\n"
	    "account work\n"
	    "host pop.work.example\n"
	    "user \"a \\\"b\\\"\"\r\n"
	    "passwordeval \"pass show mail | head -1\"\n"
	    "delivery maildir ~/Mail/work\n"
	    "skipsize 2m\n"
	    "tls_fingerprint 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:"
	    "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n"
	    "account home : work\n"
	    "host pop.home.example\n"
	    "tls_starttls\n"
	    "keep off\n"
	    "killsize 10k\n"
	    "received_header off\n"
	    "delivery mda /usr/bin/procmail -f '%F' -d $USER\n"
	    "proxy_host 127.0.0.1\n");
	assert_int_equal(c.naccounts, 2);
	a = &c.accounts[0];
	assert_string_equal(a->name, "work");
	assert_int_equal(a->tls, TLS_MODE_IMPLICIT);
	/* mpop only strips the outer quotes. */
	assert_string_equal(a->user, "a \\\"b\\\"");
	assert_string_equal(a->password_command, "pass show mail | head -1");
	assert_int_equal(a->keep, 1);
	assert_int_equal(a->max_size, 2 * 1024 * 1024);
	assert_string_equal(a->tls_fingerprint, "sha256:00:11:22:33:44:55:"
	    "66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:"
	    "CC:DD:EE:FF");
	assert_int_equal(a->dest.kind, CONV_MAILDIR);
	assert_string_equal(a->dest.path, "~/Mail/work");
	assert_int_equal(a->dest.received_header, 1);
	a = &c.accounts[1];
	assert_string_equal(a->server, "pop.home.example");
	assert_int_equal(a->tls, TLS_MODE_STARTTLS);
	assert_string_equal(a->password_command, "pass show mail | head -1");
	assert_int_equal(a->keep, 0);
	assert_int_equal(a->kill_size, 10240);
	assert_int_equal(a->dest.kind, CONV_MDA);
	assert_string_equal(a->dest.command, "/bin/sh -c '/usr/bin/procmail "
	    "-f \"$1\" -d $USER' sh %F");
	assert_int_equal(a->dest.received_header, 0);
	assert_true(has_note(a, "proxy_host"));
	assert_string_equal(a->origin, "RC:14");
}

static void
test_mpop_rejects(void **state)
{
	static const char *const bad[] = { "poll a.example user b\n",
	    "set daemon 300\n", "host h\naccount a\n" };
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		conv_init(&c, "mpoprc", "RC");
		assert_int_equal(convert_mpoprc(&c, bad[i], strlen(bad[i]),
		    &e), -1);
		assert_non_null(strstr(e.msg, "RC:1:"));
		conv_free(&c);
	}
	conv_init(&c, "mpoprc", "RC");
}

static void
test_mpop_disabled(void **state)
{
	(void)state;
	mpop("account a\nuser u\ndelivery maildir /m\n"
	    "account b\nhost h\ndelivery exchange /x\n"
	    "account c\nhost h\n");
	assert_true(c.accounts[0].disabled);
	assert_true(c.accounts[1].disabled);
	assert_true(c.accounts[2].disabled);
	assert_non_null(strstr(c.accounts[2].why_disabled, "no delivery"));
}

/* Names, hosts and commands with quotes, backslashes, line breaks and
 * control characters come back from libconfig as written, and nothing
 * escapes a comment. */
static void
test_emit_hostile(void **state)
{
	config_t lc;
	config_setting_t *acct;
	const char *s;
	char *out;

	(void)state;
	fetchmail("poll 'h\"o\\\\st\\nX = 1;' user \"u\\ts\\x01er\" "
	    "is 'l\"oc' here mda '/bin/echo \"a\" %T'\n"
	    "poll \"p\\nq\" proto kpop user v\n");
	out = emitted(&lc);
	acct = config_setting_get_elem(config_lookup(&lc, "accounts"), 0);
	assert_non_null(acct);
	assert_int_equal(config_setting_lookup_string(acct, "server", &s),
	    CONFIG_TRUE);
	assert_string_equal(s, "h\"o\\st\nX = 1;");
	assert_int_equal(config_setting_lookup_string(acct, "user", &s),
	    CONFIG_TRUE);
	assert_string_equal(s, "u\ts\001er");
	assert_int_equal(config_lookup_string(&lc, "destinations.mda.command",
	    &s), CONFIG_TRUE);
	assert_string_equal(s, "/bin/echo \"a\" %T");
	assert_null(config_lookup(&lc, "X"));
	assert_int_equal(config_setting_length(config_lookup(&lc, "accounts")),
	    1);
	assert_non_null(strstr(out, "# p?q, from RC:2"));
	config_destroy(&lc);
	free(out);
}

static void
test_mda_command(void **state)
{
	static const char *const cases[][3] = {
		{ "/usr/bin/procmail -d %T", "/usr/bin/procmail -d %T", "T" },
		{ "/usr/sbin/sendmail -i -f '%F' -- '%T'",
		  "/usr/sbin/sendmail -i -f '%F' -- '%T'", "T" },
		{ "maildrop -d %T > /dev/null",
		  "/bin/sh -c 'maildrop -d \"$1\" > /dev/null' sh %T", "T" },
		{ "deliver --to=%T --from=%F",
		  "/bin/sh -c 'deliver --to=\"$1\" --from=\"$2\"' sh %T %F",
		  "T" },
		{ "x -f %F -t %T; echo 'it''s'",
		  "/bin/sh -c 'x -f \"$1\" -t \"$2\"; echo '\\''it'\\'''\\''s'"
		  "\\''' sh %F %T", "T" },
		{ "~/bin/deliver", "/bin/sh -c '~/bin/deliver' sh", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool uses_to;
		char *got = conv_mda_command(cases[i][0], &uses_to);

		assert_string_equal(got, cases[i][1]);
		assert_int_equal(uses_to, cases[i][2][0] == 'T');
		free(got);
	}
}

static void
test_sha256_pin(void **state)
{
	char *pin;

	(void)state;
	pin = conv_sha256_pin("ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:"
	    "89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89");
	assert_non_null(pin);
	assert_string_equal(pin, "sha256:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:"
	    "23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89");
	free(pin);
	assert_null(conv_sha256_pin("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:"
	    "45:67:89"));
	assert_null(conv_sha256_pin("zz"));
	assert_null(conv_sha256_pin(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lexer),
		cmocka_unit_test_teardown(test_fetchmail_english, teardown),
		cmocka_unit_test_teardown(test_fetchmail_layers, teardown),
		cmocka_unit_test_teardown(test_fetchmail_multidrop, teardown),
		cmocka_unit_test_teardown(test_fetchmail_notes_and_disabled,
		    teardown),
		cmocka_unit_test_teardown(test_fetchmail_imap, teardown),
		cmocka_unit_test_teardown(test_fetchmail_negations, teardown),
		cmocka_unit_test_teardown(test_fetchmail_rejects, teardown),
		cmocka_unit_test_teardown(test_mpop_inherit, teardown),
		cmocka_unit_test_teardown(test_mpop_rejects, teardown),
		cmocka_unit_test_teardown(test_mpop_disabled, teardown),
		cmocka_unit_test_teardown(test_emit_hostile, teardown),
		cmocka_unit_test(test_mda_command),
		cmocka_unit_test(test_sha256_pin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
