#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "array.h"
#include "xmalloc.h"

/* The first allocation: a few hundred bytes, at least 8 elements. */
#define ARRAY_FIRST_BYTES	512

void *
array_grow(void *p, size_t n, size_t *cap, size_t more, size_t size)
{
	size_t want, c;

	if (more > SIZE_MAX - n) {
		fprintf(stderr, "mailferry: array size overflow\n");
		abort();
	}
	want = n + more;
	if (p != NULL && want <= *cap)
		return p;
	c = *cap > 0 ? *cap : ARRAY_FIRST_BYTES / size > 8 ?
	    ARRAY_FIRST_BYTES / size : 8;
	while (c < want) {
		if (c > SIZE_MAX / 2) {
			c = want;
			break;
		}
		c *= 2;
	}
	p = xreallocarray(p, c, size);
	*cap = c;
	return p;
}
