#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "xmalloc.h"

/* The first allocation: a few hundred bytes, at least 8 elements. */
#define ARRAY_FIRST_BYTES	512

/* The capacity that holds n + more elements: 0 when cap already does. */
static size_t
new_capacity(size_t n, size_t cap, size_t more, size_t size)
{
	size_t want, c;

	if (more > SIZE_MAX - n) {
		fprintf(stderr, "mailferry: array size overflow\n");
		abort();
	}
	want = n + more;
	if (want <= cap)
		return 0;
	c = cap > 0 ? cap : ARRAY_FIRST_BYTES / size > 8 ?
	    ARRAY_FIRST_BYTES / size : 8;
	while (c < want) {
		if (c > SIZE_MAX / 2) {
			c = want;
			break;
		}
		c *= 2;
	}
	return c;
}

void *
array_grow(void *p, size_t n, size_t *cap, size_t more, size_t size)
{
	size_t c = new_capacity(n, p != NULL ? *cap : 0, more, size);

	if (c == 0)
		return p;
	p = xreallocarray(p, c, size);
	*cap = c;
	return p;
}

void *
array_grow_wiped(void *p, size_t n, size_t *cap, size_t more, size_t size)
{
	size_t c = new_capacity(n, p != NULL ? *cap : 0, more, size);
	void *bigger;

	if (c == 0)
		return p;
	bigger = xreallocarray(NULL, c, size);
	if (p != NULL) {
		memcpy(bigger, p, n * size);
		explicit_bzero(p, *cap * size);
		free(p);
	}
	*cap = c;
	return bigger;
}

void
array_append_text(char **p, size_t *len, size_t *cap, const void *data,
    size_t n, bool wiped)
{
	if (wiped)
		*p = array_grow_wiped(*p, *len, cap, n + 1, 1);
	else
		*p = array_grow(*p, *len, cap, n + 1, 1);
	memcpy(*p + *len, data, n);
	*len += n;
	(*p)[*len] = '\0';
}

void *
array_ring_grow(void *p, size_t *head, size_t len, size_t *cap,
    size_t size)
{
	size_t c = new_capacity(len, *cap, 1, size);
	char *bigger;

	if (c == 0)
		return p;
	bigger = xreallocarray(NULL, c, size);
	for (size_t i = 0; i < len; i++)
		memcpy(bigger + i * size, (char *)p + (*head + i) % *cap * size,
		    size);
	free(p);
	*head = 0;
	*cap = c;
	return bigger;
}
