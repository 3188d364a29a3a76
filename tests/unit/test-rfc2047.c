/* RFC 2047 encoded-words: B and Q, charsets, and words that are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rfc2047.h"

static void
check(const char *in, const char *expect)
{
	size_t len;
	char *out = rfc2047_decode(in, strlen(in), &len);

	assert_string_equal(out, expect);
	assert_int_equal(len, strlen(expect));
	free(out);
}

/* Undecodable input comes back exactly as it was written. */
static void
unchanged(const char *in)
{
	check(in, in);
}

static void
test_plain_text(void **state)
{
	(void)state;
	unchanged("");
	unchanged("Hello, world");
	unchanged("a = b ? c : d");
	unchanged("=?");
	unchanged("?=");
}

static void
test_b(void **state)
{
	(void)state;
	check("=?UTF-8?B?w6l0w6k=?=", "\xc3\xa9t\xc3\xa9");
	check("=?utf-8?b?w6l0w6k=?=", "\xc3\xa9t\xc3\xa9");
	/* Without padding, and with the one- and two-byte tails. */
	check("=?UTF-8?B?YQ?=", "a");
	check("=?UTF-8?B?YWI?=", "ab");
	check("=?UTF-8?B?YWJj?=", "abc");
	check("=?UTF-8?B?\?=", "");
	/* Padding ends the data. */
	check("=?UTF-8?B?YQ==YWJj?=", "a");
}

static void
test_q(void **state)
{
	(void)state;
	check("=?ISO-8859-1?Q?caf=E9?=", "caf\xc3\xa9");
	check("=?iso-8859-1?q?caf=e9?=", "caf\xc3\xa9");
	check("=?UTF-8?Q?a_b_c?=", "a b c");
	/* "=" not followed by two hex digits stays as it is. */
	check("=?UTF-8?Q?100=?=", "100=");
	check("=?UTF-8?Q?a=4?=", "a=4");
	check("=?UTF-8?Q?a=ZZ?=", "a=ZZ");
	check("=?UTF-8?Q?=3D=3d?=", "==");
}

static void
test_charsets(void **state)
{
	(void)state;
	check("=?windows-1252?Q?=80?=", "\xe2\x82\xac");
	check("=?KOI8-R?B?9MXT1A==?=", "\xd0\xa2\xd0\xb5\xd1\x81\xd1\x82");
	check("=?US-ASCII?Q?plain?=", "plain");
	/* RFC 2231 language tag after "*". */
	check("=?UTF-8*en?Q?hi?=", "hi");
	check("=?ISO-8859-1*de?Q?=FC?=", "\xc3\xbc");
	/* Bytes the charset does not have become U+FFFD, one each. */
	check("=?ISO-2022-JP?B?GyRC?=", "");
	check("=?ASCII?Q?a=FFb?=", "a\xef\xbf\xbd" "b");
}

static void
test_malformed(void **state)
{
	(void)state;
	unchanged("=?X-NO-SUCH-CHARSET?Q?a?=");
	unchanged("=?UTF-8?X?abc?=");		/* no such encoding */
	unchanged("=?UTF-8?B?a*bc?=");		/* not base64 */
	unchanged("=?UTF-8?Q?a b?=");		/* space inside */
	unchanged("=?UTF-8?Q?ab");		/* never closed */
	unchanged("=?UTF-8?Q?ab?");
	unchanged("=??Q?ab?=");			/* no charset */
	unchanged("=?*en?Q?ab?=");		/* a language only */
	unchanged("=?UTF 8?Q?ab?=");		/* not a token */
	unchanged("=?UTF-8/../x?Q?ab?=");
	unchanged("=?UTF-8?QQ?ab?=");
	unchanged("=?UTF-8??ab?=");
	/* A bad word among good ones spoils only itself. */
	check("=?UTF-8?Q?a?= =?BAD?Q?b?= =?UTF-8?Q?c?=",
	    "a =?BAD?Q?b?= c");
}

static void
test_nul_in_charset(void **state)
{
	static const char in[] = "=?UTF-8\0x?Q?a?=";
	size_t len;
	char *out = rfc2047_decode(in, sizeof in - 1, &len);

	(void)state;
	/* Kept as written, NUL and all. */
	assert_int_equal(len, sizeof in - 1);
	assert_memory_equal(out, in, len);
	free(out);
}

static void
test_nul_decoded(void **state)
{
	size_t len;
	char *out = rfc2047_decode("=?UTF-8?Q?a=00b?=", 17, &len);

	(void)state;
	assert_int_equal(len, 3);
	assert_memory_equal(out, "a\0b", 3);
	free(out);
}

static void
test_adjacent_words(void **state)
{
	(void)state;
	/* Whitespace between two encoded-words is not displayed. */
	check("=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab");
	check("=?UTF-8?Q?a?= \t  =?UTF-8?Q?b?=", "ab");
	check("=?UTF-8?Q?a?==?UTF-8?Q?b?=", "ab");
	check("=?UTF-8?Q?a?= =?ISO-8859-1?Q?=E9?= =?UTF-8?B?Yw==?=",
	    "a\xc3\xa9" "c");
	/* A space inside a word is written as "_" and kept. */
	check("=?UTF-8?Q?a_?= =?UTF-8?Q?_b?=", "a  b");
	/* Text between words keeps the whitespace around it. */
	check("=?UTF-8?Q?a?= x =?UTF-8?Q?b?=", "a x b");
	check("x =?UTF-8?Q?a?= y", "x a y");
	check("=?UTF-8?Q?a?=  ", "a  ");
	/* An undecodable word is text: the space before it stays. */
	check("=?UTF-8?Q?a?= =?UTF-8?B?*?=", "a =?UTF-8?B?*?=");
}

static void
test_multibyte_split_across_words(void **state)
{
	(void)state;
	/* Each word must hold whole characters (RFC 2047 section 5), but
	 * mailers split them anyway: what is left is replaced, never
	 * read past. */
	check("=?ISO-8859-1?Q?x?= =?SHIFT_JIS?B?gg==?=",
	    "x\xef\xbf\xbd");
}

static void
test_overlong(void **state)
{
	size_t n = 5000, len;
	char *in = malloc(n + 32), *out;

	(void)state;
	/* RFC 2047 allows 75 bytes; far longer words still decode. */
	strcpy(in, "=?UTF-8?Q?");
	memset(in + 10, 'x', 3000);
	strcpy(in + 3010, "?=");
	out = rfc2047_decode(in, strlen(in), &len);
	assert_int_equal(len, 3000);
	free(out);
	/* Past a bound, it is left alone. */
	memset(in + 10, 'x', n);
	strcpy(in + 10 + n, "?=");
	out = rfc2047_decode(in, strlen(in), &len);
	assert_int_equal(len, strlen(in));
	assert_string_equal(out, in);
	free(out);
	free(in);
}

static void
test_many_words(void **state)
{
	size_t n = 20000, len, o = 0;
	char *in = malloc(n * 16 + 1), *out;

	(void)state;
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(in + o, "=?UTF-8?Q?%c?= ",
		    'a' + (int)(i % 26));
	out = rfc2047_decode(in, o, &len);
	/* Every space but the last one is between two words. */
	assert_int_equal(len, n + 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(out[25], 'z');
	assert_int_equal(out[n], ' ');
	free(out);
	free(in);
}

static void
test_many_charsets(void **state)
{
	static const char *const sets[] = {
		"ISO-8859-1", "ISO-8859-2", "ISO-8859-15", "KOI8-R",
		"windows-1251", "ISO-8859-1", "CP850", "ISO-8859-2",
	};

	(void)state;
	/* More charsets than converters kept open, revisited. */
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
			char in[64];

			snprintf(in, sizeof in, "=?%s?Q?A?=", sets[i]);
			check(in, "A");
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_b),
		cmocka_unit_test(test_q),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_nul_in_charset),
		cmocka_unit_test(test_nul_decoded),
		cmocka_unit_test(test_adjacent_words),
		cmocka_unit_test(test_multibyte_split_across_words),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_many_words),
		cmocka_unit_test(test_many_charsets),
	};

	return cmocka_run_group_tests_name("rfc2047", tests, NULL, NULL);
}
