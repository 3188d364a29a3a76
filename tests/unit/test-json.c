/*
 * JSON strings: what must be escaped (quotes, backslashes, control
 * characters of C0, DEL and C1, the line separators), what goes as it is
 * (printable ASCII, valid UTF-8), what is replaced (bytes that are not
 * UTF-8, overlong forms, surrogates), and a cut at a whole escape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

static const char *
esc(const char *s, size_t len)
{
	static char buf[256];

	json_escape(buf, sizeof buf, s, len);
	return buf;
}

#define ESC(lit)	esc((lit), sizeof(lit) - 1)

static void
test_plain_text_unchanged(void **state)
{
	(void)state;
	assert_string_equal(ESC("work: 3 new"), "work: 3 new");
	assert_string_equal(ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa8"),
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa8");
}

static void
test_escapes(void **state)
{
	(void)state;
	assert_string_equal(ESC("say \"hi\" \\ bye"),
	    "say \\\"hi\\\" \\\\ bye");
	assert_string_equal(ESC("a\nb\rc\td"), "a\\nb\\rc\\td");
	assert_string_equal(ESC("\x01\x1b[31m\x7f"), "\\u0001\\u001b[31m"
	    "\\u007f");
	assert_string_equal(ESC("nul\0end"), "nul\\u0000end");
	/* C1 as UTF-8, and U+2028, U+2029. */
	assert_string_equal(ESC("\xc2\x85\xc2\x9b|\xe2\x80\xa8\xe2\x80\xa9"),
	    "\\u0085\\u009b|\\u2028\\u2029");
}

static void
test_not_utf8_replaced(void **state)
{
	(void)state;
	assert_string_equal(ESC("a\xff" "b"), "a\\ufffdb");
	/* Overlong "/", a surrogate, past U+10FFFF, a cut sequence. */
	assert_string_equal(ESC("\xc0\xaf"), "\\ufffd\\ufffd");
	assert_string_equal(ESC("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");
	assert_string_equal(ESC("\xf4\x90\x80\x80"),
	    "\\ufffd\\ufffd\\ufffd\\ufffd");
	assert_string_equal(ESC("x\xe2\x82"), "x\\ufffd\\ufffd");
}

/* Only whole escapes and characters; always terminated. */
static void
test_cut_whole(void **state)
{
	char buf[8];

	(void)state;
	assert_int_equal(json_escape(buf, sizeof buf, "abc\"def", 7), 7);
	assert_string_equal(buf, "abc\\\"de");
	assert_int_equal(json_escape(buf, sizeof buf, "abcdef\x01", 7), 6);
	assert_string_equal(buf, "abcdef");
	assert_int_equal(json_escape(buf, sizeof buf, "abcde\xe2\x82\xac",
	    8), 5);
	assert_string_equal(buf, "abcde");
	assert_int_equal(json_escape(buf, 1, "abc", 3), 0);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_unchanged),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_not_utf8_replaced),
		cmocka_unit_test(test_cut_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
