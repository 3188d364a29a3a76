#include <stdbool.h>
#include <string.h>

#include "pop3-listing.h"
#include "uidstore.h"

int
pop3_parse_number(const char *s, const char **end, uint64_t max,
    uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*out = v;
	return 0;
}

int
pop3_parse_stat(const char *text, uint64_t max_count, uint64_t *count)
{
	const char *end;

	if (pop3_parse_number(text, &end, max_count, count) == -1 ||
	    (*end != ' ' && *end != '\0'))
		return -1;
	return 0;
}

/* The message number that starts a listing line, and the space after
 * it. Lines are NUL-terminated by the reader; a NUL inside one ends the
 * parse early, and the length check catches that. */
static int
parse_message_number(const char *line, unsigned *num, const char **rest)
{
	uint64_t n;

	if (pop3_parse_number(line, rest, UINT32_MAX, &n) == -1 || n == 0 ||
	    **rest != ' ')
		return -1;
	*num = (unsigned)n;
	(*rest)++;
	return 0;
}

int
pop3_parse_list_line(const char *line, size_t len, unsigned *num,
    uint64_t *size)
{
	const char *p, *end;

	if (parse_message_number(line, num, &p) == -1 ||
	    pop3_parse_number(p, &end, INT64_MAX, size) == -1)
		return -1;
	if (end == line + len || (*end == ' ' && end < line + len))
		return 0;
	return -1;
}

enum uidl_line
pop3_parse_uidl_line(const char *line, size_t len, unsigned *num,
    const char **uid, size_t *uidlen)
{
	const char *p;

	if (parse_message_number(line, num, &p) == -1)
		return UIDL_LINE_BAD_NUMBER;
	*uid = p;
	*uidlen = len - (size_t)(p - line);
	return uid_valid(p, *uidlen) ? UIDL_LINE_OK : UIDL_LINE_BAD_UID;
}
