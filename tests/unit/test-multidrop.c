/* Multidrop: which header recipients are taken, and what "%envelope"
 * turns into. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "msg.h"
#include "multidrop.h"

static void
test_plain_addresses(void **state)
{
	static const char *const good[] = { "bob@example.org",
	    "b.o-b_1+tag=x@mail.example.org", "X@Y.Z" };
	static const char *const bad[] = { "-bob@example.org",
	    ".bob@example.org", "bob.@example.org", "b..ob@example.org",
	    "bob%evil.com@example.org", "evil.com!bob@example.org",
	    "bob@example.org\n", "bob@example.org\r", "b ob@example.org",
	    "<bob@example.org>", "bob@@example.org", "bob@example..org",
	    "bob@-example.org", "bob@example.org.", "\"b\"@example.org",
	    "@a,@b:bob@example.org", "bob", "@example.org", "bob@",
	    "bob@exa_mple.org", "bob@ex/ample.org", "b'ob@example.org" };
	char longer[80];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_true(multidrop_address_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(multidrop_address_valid(bad[i], strlen(bad[i])));
	memset(longer, 'a', 65);
	strcpy(longer + 65, "@example.org");
	assert_false(multidrop_address_valid(longer, strlen(longer)));
	assert_true(multidrop_address_valid(longer + 1, strlen(longer + 1)));
}

static void
load(struct msg *m, const char *text)
{
	struct err e;

	msg_init(m, "/tmp");
	assert_int_equal(msg_append(m, text, strlen(text), &e), 0);
	msg_finish(m);
}

static size_t
recipients(const char *text, char ***out)
{
	static char *domains[] = { "example.org", "Example.NET" };
	struct account a = { .name = "t", .envelope = "X-Original-To",
	    .local_domains = domains, .nlocal_domains = 2 };
	struct msg m;
	size_t n;

	load(&m, text);
	n = multidrop_recipients(&m, &a, "test", out);
	msg_free(&m);
	return n;
}

static void
test_recipients(void **state)
{
	char **r;
	size_t n;

	(void)state;
	n = recipients("X-Original-To: alice@example.org\n"
	    "x-original-to: <Bob@sub.example.net>, carol@example.org,\n"
	    "  ALICE@EXAMPLE.ORG\n"
	    "X-Original-To: dave@elsewhere.example, -opt@example.org,\n"
	    "\tevil%relay.example@example.org, \"q\"@example.org\n"
	    "Delivered-To: erin@example.org\n"
	    "Subject: X-Original-To: frank@example.org\n"
	    "\n"
	    "X-Original-To: body@example.org\n", &r);
	assert_int_equal(n, 3);
	assert_string_equal(r[0], "alice@example.org");
	assert_string_equal(r[1], "Bob@sub.example.net");
	assert_string_equal(r[2], "carol@example.org");
	multidrop_free(r, n);
}

static void
test_no_recipients(void **state)
{
	char **r = (char **)1;

	(void)state;
	assert_int_equal(recipients("From: a@b\n\nbody\n", &r), 0);
	assert_null(r);
	assert_int_equal(recipients("X-Original-To: x@notexample.org\n\n",
	    &r), 0);
	assert_null(r);
}

/* A header listing thousands of addresses gives at most
 * MULTIDROP_MAX recipients. */
static void
test_bounded(void **state)
{
	size_t len = 0, cap = 300 * 40;
	char *text = malloc(cap), **r;
	size_t n;

	(void)state;
	len += (size_t)snprintf(text, cap, "X-Original-To: ");
	for (int i = 0; i < 300; i++)
		len += (size_t)snprintf(text + len, cap - len,
		    "u%d@example.org, ", i);
	snprintf(text + len, cap - len, "\n\n");
	n = recipients(text, &r);
	assert_int_equal(n, MULTIDROP_MAX);
	assert_string_equal(r[MULTIDROP_MAX - 1], "u99@example.org");
	multidrop_free(r, n);
	free(text);
}

static void
test_expand(void **state)
{
	char *to[] = { "always@example.org", "%envelope", "postmaster" };
	char *env[] = { "a@example.org", "b@example.org" };
	char **out;
	size_t n;

	(void)state;
	out = multidrop_expand(to, 3, env, 2, &n);
	assert_int_equal(n, 3);
	assert_string_equal(out[0], "always@example.org");
	assert_string_equal(out[1], "a@example.org");
	assert_string_equal(out[2], "b@example.org");
	free(out);
	out = multidrop_expand(to, 3, NULL, 0, &n);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], "always@example.org");
	assert_string_equal(out[1], "postmaster");
	free(out);
	out = multidrop_expand(to + 2, 1, env, 2, &n);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "postmaster");
	free(out);
}

static void
test_token_index(void **state)
{
	char *ok[] = { "%envelope", "postmaster" };
	char *last[] = { "x", "%envelope" };
	char *twice[] = { "%envelope", "%envelope", "x" };
	char *none[] = { "x" };
	char why[200];
	int at;

	(void)state;
	assert_int_equal(multidrop_token_index(ok, 2, &at, why, sizeof why), 0);
	assert_int_equal(at, 0);
	assert_int_equal(multidrop_token_index(none, 1, &at, why, sizeof why),
	    0);
	assert_int_equal(at, -1);
	assert_int_equal(multidrop_token_index(last, 2, &at, why, sizeof why),
	    -1);
	assert_non_null(strstr(why, "fallback"));
	assert_int_equal(multidrop_token_index(twice, 3, &at, why, sizeof why),
	    -1);
	assert_non_null(strstr(why, "twice"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_addresses),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_no_recipients),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_token_index),
	};

	log_setup(LOG_QUIET, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
