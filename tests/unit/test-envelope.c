/* core/envelope.c: the envelope sender of a message, and %F / %T in a
 * delivery program's words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "envelope.h"
#include "msg.h"

/* The envelope sender of `text` (a whole message); NULL for none. */
static char *
sender_of(const char *text)
{
	struct msg m;
	struct err e;
	char *s;

	msg_init(&m, "/tmp");
	assert_int_equal(msg_append(&m, text, strlen(text), &e), 0);
	msg_finish(&m);
	s = envelope_sender(&m);
	msg_free(&m);
	return s;
}

static void
expect_sender(const char *text, const char *want)
{
	char *got = sender_of(text);

	if (want == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	free(got);
}

static void
test_sender_order(void **state)
{
	(void)state;
	expect_sender("Return-Path: <rp@a.example>\nSender: s@b.example\n"
	    "From: Name <f@c.example>\n\nbody\n", "rp@a.example");
	expect_sender("Sender: <s@b.example>\nFrom: f@c.example\n\nbody\n",
	    "s@b.example");
	expect_sender("From: \"A, B\" <f@c.example>\n\nbody\n", "f@c.example");
	expect_sender("Subject: none\n\nbody\n", NULL);
}

static void
test_null_sender(void **state)
{
	(void)state;
	expect_sender("Return-Path: <>\nFrom: f@c.example\n\nbody\n", "");
	/* Only Return-Path can say "null sender". */
	expect_sender("Sender: <>\nFrom: f@c.example\n\nbody\n",
	    "f@c.example");
}

static void
test_unusable_addresses(void **state)
{
	char big[400], *text;

	(void)state;
	/* Spaces, controls, 8-bit, no @ for a bare value: none. */
	expect_sender("From: a b@c.example\n\nx\n", NULL);
	expect_sender("From: <a b@c.example>\n\nx\n", NULL);
	expect_sender("From: <a\x01@c.example>\n\nx\n", NULL);
	expect_sender("From: <\xc3\xa9@c.example>\n\nx\n", NULL);
	expect_sender("From: nobody\n\nx\n", NULL);
	/* An unusable Return-Path falls through to the next field. */
	expect_sender("Return-Path: <a b>\nFrom: f@c.example\n\nx\n",
	    "f@c.example");
	/* Folded values are unfolded. */
	expect_sender("From: Name\n <f@c.example>\n\nx\n", "f@c.example");
	/* Longer than 254 bytes: none. */
	memset(big, 'a', 260);
	strcpy(big + 260, "@c.example");
	text = malloc(strlen(big) + 32);
	strcpy(text, "From: <");
	strcat(text, big);
	strcat(text, ">\n\nx\n");
	expect_sender(text, NULL);
	free(text);
}

static void
test_dash_sender_is_returned_as_is(void **state)
{
	(void)state;
	/* envelope_sender does not judge; envelope_argv refuses it. */
	expect_sender("Return-Path: <-oQ/tmp/x@c.example>\n\nx\n",
	    "-oQ/tmp/x@c.example");
}

static void
test_argv_substitutes_whole_words(void **state)
{
	char *words[] = { "procmail", "-f", "%F", "-a", "%T", "x%F", "%%F",
	    NULL };
	const char *refused = NULL;
	char **argv;

	(void)state;
	argv = envelope_argv(words, "s@a.example", "alice", &refused);
	assert_non_null(argv);
	assert_string_equal(argv[0], "procmail");
	assert_string_equal(argv[1], "-f");
	assert_string_equal(argv[2], "s@a.example");
	assert_string_equal(argv[3], "-a");
	assert_string_equal(argv[4], "alice");
	assert_string_equal(argv[5], "x%F");
	assert_string_equal(argv[6], "%%F");
	assert_null(argv[7]);
	assert_null(refused);
	free(argv);
}

static void
test_argv_refuses_option_like_values(void **state)
{
	char *words[] = { "sendmail", "-i", "%T", "%F", NULL };
	const char *refused = NULL;

	(void)state;
	assert_null(envelope_argv(words, "-oQ/tmp@x", "alice", &refused));
	assert_string_equal(refused, "-oQ/tmp@x");
	refused = NULL;
	assert_null(envelope_argv(words, "s@x", "--help", &refused));
	assert_string_equal(refused, "--help");
	/* A fixed word may begin with "-": it is the user's own. */
	refused = NULL;
	assert_non_null(words[1]);
	{
		char **argv = envelope_argv(words, "s@x", "a-lice", &refused);

		assert_non_null(argv);
		assert_string_equal(argv[1], "-i");
		assert_string_equal(argv[2], "a-lice");
		free(argv);
	}
	assert_null(refused);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sender_order),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_unusable_addresses),
		cmocka_unit_test(test_dash_sender_is_returned_as_is),
		cmocka_unit_test(test_argv_substitutes_whole_words),
		cmocka_unit_test(test_argv_refuses_option_like_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
