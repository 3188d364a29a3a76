#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "header.h"
#include "xmalloc.h"

static bool
is_field_name_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static void
add_field(struct header_index *idx, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	*ARRAY_ADD(idx->fields, idx->n, idx->cap) = (struct header_field){
	    .name = name, .name_len = name_len, .value = value,
	    .value_len = value_len };
}

void
header_index_parse(struct header_index *idx, const char *block, size_t len)
{
	const char *p = block, *end = block + len;
	struct header_field *current = NULL;

	header_index_clear(idx);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		const char *next = nl != NULL ? nl + 1 : end;
		const char *q;

		if (eol == p || (eol == p + 1 && *p == '\r'))
			break;				/* the empty line */
		if ((*p == ' ' || *p == '\t') && current != NULL) {
			/* A continuation: the value grows to this line. */
			current->value_len = (size_t)(eol - current->value);
			p = next;
			continue;
		}
		for (q = p; q < eol && is_field_name_char((unsigned char)*q);)
			q++;
		/* Tolerate "Name :" as many readers do. */
		const char *colon = q;
		while (colon < eol && (*colon == ' ' || *colon == '\t'))
			colon++;
		if (q == p || colon == eol || *colon != ':') {
			current = NULL;			/* not a field */
			p = next;
			continue;
		}
		add_field(idx, p, (size_t)(q - p), colon + 1,
		    (size_t)(eol - (colon + 1)));
		current = &idx->fields[idx->n - 1];
		p = next;
	}
}

void
header_index_clear(struct header_index *idx)
{
	for (size_t i = 0; i < idx->n; i++)
		free(idx->fields[i].decoded);
	idx->n = 0;
}

void
header_index_free(struct header_index *idx)
{
	header_index_clear(idx);
	free(idx->fields);
	memset(idx, 0, sizeof *idx);
}

struct header_field *
header_find(struct header_index *idx, const char *name, size_t *pos)
{
	size_t name_len = strlen(name);

	for (; *pos < idx->n; (*pos)++) {
		struct header_field *f = &idx->fields[*pos];

		if (f->name_len == name_len &&
		    strncasecmp(f->name, name, name_len) == 0) {
			(*pos)++;
			return f;
		}
	}
	return NULL;
}

size_t
header_unfold(const char *value, size_t len, char *dst)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = value[i];

		if (c == '\r' && i + 1 < len && value[i + 1] == '\n')
			continue;
		if (c == '\n')
			continue;
		dst[o++] = c;
	}
	/* Trim: leading whitespace after the colon, trailing whitespace. */
	size_t start = 0;
	while (start < o && (dst[start] == ' ' || dst[start] == '\t'))
		start++;
	while (o > start && (dst[o - 1] == ' ' || dst[o - 1] == '\t' ||
	    dst[o - 1] == '\r'))
		o--;
	memmove(dst, dst + start, o - start);
	o -= start;
	dst[o] = '\0';
	return o;
}
