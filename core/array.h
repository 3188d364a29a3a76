/*
 * Growable arrays, one idiom for all (as fdm's array.h): the owner keeps
 * a pointer, a count and a capacity side by side; the capacity doubles,
 * so appending costs amortised O(1), and every size is overflow-checked
 * (xreallocarray).
 *
 *	struct thing	*things;
 *	size_t		 nthings, capthings;
 *
 *	struct thing *t = ARRAY_ADD(things, nthings, capthings);
 *	ARRAY_RESERVE(buf, len, cap, more);	(room for `more` after len)
 */
#ifndef MF_ARRAY_H
#define MF_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

/* p (n elements of size bytes, room for *cap) with room for at least n +
 * more: p itself, or a larger copy (*cap updated). */
void *array_grow(void *p, size_t n, size_t *cap, size_t more, size_t size);

#define ARRAY_RESERVE(p, n, cap, more)					\
	((p) = array_grow((p), (n), &(cap), (more), sizeof *(p)))

/* Append one element; the address of the new (uninitialised) slot. */
#define ARRAY_ADD(p, n, cap)						\
	(ARRAY_RESERVE(p, n, cap, 1), &(p)[(n)++])

/* The same for an array that may hold a secret: a larger copy is made
 * by hand and the old one wiped before it is freed (realloc would leave
 * it behind in freed memory). */
void *array_grow_wiped(void *p, size_t n, size_t *cap, size_t more,
    size_t size);

#define ARRAY_RESERVE_WIPED(p, n, cap, more)				\
	((p) = array_grow_wiped((p), (n), &(cap), (more), sizeof *(p)))

/* Append n bytes to the text p (len bytes, room for cap), keeping a NUL
 * after them; wiped: grown as ARRAY_RESERVE_WIPED. */
void array_append_text(char **p, size_t *len, size_t *cap, const void *data,
    size_t n, bool wiped);

/*
 * A ring buffer (a queue) of *cap elements, `len` of them in use from
 * index *head on, grown to hold one more: the elements are laid out
 * again from index 0.
 */
void *array_ring_grow(void *p, size_t *head, size_t len, size_t *cap,
    size_t size);

#endif
