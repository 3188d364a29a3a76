/*
 * The header of a message, parsed once into an index of fields that the
 * rules and plugins share. Parsing never fails: lines that are not fields
 * (an mbox "From " line, garbage) are skipped, and the index points into
 * the caller's header block rather than copying it.
 */
#ifndef MF_HEADER_H
#define MF_HEADER_H

#include <stdbool.h>
#include <stddef.h>

struct header_field {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* raw: folded, as in the message */
	size_t		 value_len;
	char		*decoded;	/* unfolded and RFC 2047-decoded, lazily */
	size_t		 decoded_len;
};

struct header_index {
	struct header_field	*fields;
	size_t			 n, cap;
};

/* Index the header block [block, block + len). Pointers stay valid as
 * long as the block does. */
void header_index_parse(struct header_index *idx, const char *block,
    size_t len);
void header_index_clear(struct header_index *idx);
void header_index_free(struct header_index *idx);

/* The next field named `name` (case-insensitive) after index *pos
 * (start with *pos = 0); NULL when there is none. */
struct header_field *header_find(struct header_index *idx, const char *name,
    size_t *pos);

/* Unfold a raw value into dst (room for len + 1): line breaks before
 * whitespace removed, surrounding whitespace trimmed. Returns the length. */
size_t header_unfold(const char *value, size_t len, char *dst);

#endif
