/*
 * Reading IMAP responses (RFC 3501 section 7, RFC 9051 section 7) from a
 * connection: one call reads one whole response, whatever it is, and
 * gives back its parts and a tree of its data (atoms, strings, NIL,
 * parenthesised lists).
 *
 * Everything is bounded: a line by IMAP_LINE_MAX, a literal that is not
 * message data by IMAP_LITERAL_MAX, all strings of a response together by
 * IMAP_TEXT_MAX, its items by IMAP_ITEMS_MAX, list nesting by
 * IMAP_DEPTH_MAX. Anything past a bound, and anything that does not
 * parse, is an error (ERR_TEMP) naming what the server sent; the parser
 * never grows a buffer for it.
 *
 * Message data (the value of BODY[...], BINARY[...] or RFC822* in a FETCH
 * response) is not kept: it is handed to a sink in blocks as it arrives,
 * so a message of any size costs no memory here. A literal is exactly as
 * long as it says: what follows it must parse, so a server lying about a
 * size gets an error, never a message cut or joined to the next.
 */
#ifndef MF_IMAP_PARSE_H
#define MF_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "err.h"

#define IMAP_LINE_MAX		(64 * 1024)
#define IMAP_LITERAL_MAX	(64 * 1024)
#define IMAP_TEXT_MAX		(256 * 1024)
#define IMAP_ITEMS_MAX		8192
#define IMAP_DEPTH_MAX		32

enum imap_type {
	IMAP_ATOM,		/* also numbers and flags such as \Seen */
	IMAP_STRING,		/* quoted string or literal */
	IMAP_NIL,
	IMAP_LIST,
	IMAP_BODY,		/* message data, given to the sink */
};

struct imap_item {
	enum imap_type	 type;
	const char	*s;		/* ATOM, STRING: NUL-terminated text;
					 * BODY: the item's name */
	size_t		 len;		/* ATOM, STRING: bytes of s; LIST:
					 * elements; BODY: bytes streamed */
	struct imap_item *child;	/* LIST: its first element */
	struct imap_item *next;		/* the next element of its list */
};

enum imap_kind {
	IMAP_RESP_UNTAGGED,	/* "* ..." */
	IMAP_RESP_TAGGED,	/* "A1 OK ..." */
	IMAP_RESP_CONTINUE,	/* "+ ..." */
};

enum imap_status {
	IMAP_ST_NONE,		/* not a status response */
	IMAP_ST_OK,
	IMAP_ST_NO,
	IMAP_ST_BAD,
	IMAP_ST_PREAUTH,
	IMAP_ST_BYE,
};

/* One response; its strings live in the parser until the next call. */
struct imap_resp {
	enum imap_kind	 kind;
	const char	*tag;		/* TAGGED: the tag */
	bool		 has_num;
	uint32_t	 num;		/* "* 12 EXISTS": 12 */
	const char	*name;		/* upper case: "OK", "FETCH", ... */
	enum imap_status status;
	const char	*code;		/* status: "[CODE args]" code, upper
					 * case; "" when there is none */
	const char	*code_args;	/* the rest inside the brackets */
	const char	*text;		/* status or continuation text */
	struct imap_item *args;		/* other responses: the data after
					 * the name (first element or NULL) */
	uint64_t	 bytes;		/* wire size, literals included */
};

/* Where message data in a FETCH response goes, as it arrives. */
struct imap_body_info {
	uint32_t	 seq;		/* the message sequence number */
	uint32_t	 uid;		/* UID given before the data, or 0 */
	const char	*key;		/* "BODY[]", "BODY[HEADER]", ... */
	uint64_t	 size;		/* announced length */
	bool		 nil;		/* NIL instead of data */
};

struct imap_sink {
	/* Data begins; -1 (e set) refuses it and ends the parse. */
	int	(*begin)(void *arg, const struct imap_body_info *bi,
		    struct err *e);
	int	(*data)(void *arg, const char *p, size_t len, struct err *e);
	int	(*end)(void *arg, struct err *e);
	void	*arg;
};

struct imap_parser {
	struct conn	*conn;
	const struct imap_sink *sink;	/* NULL: message data is an error */
	char		*text;		/* the response's strings */
	size_t		 textlen;
	struct imap_item *items;
	size_t		 nitems;
};

void imap_parser_init(struct imap_parser *ps, struct conn *c);
void imap_parser_free(struct imap_parser *ps);

/* Read the next whole response. The caller starts the connection's
 * reply deadline, which the bytes received extend (core/conn.h). */
int imap_parse_response(struct imap_parser *ps, struct imap_resp *r,
    struct err *e);

/* Helpers for reading a response's data. */
/* A number (digits only) that fits in 32 bits, 0 excluded. */
bool imap_item_u32(const struct imap_item *it, uint32_t *out);
/* A number (digits only) below 2^63. */
bool imap_item_u64(const struct imap_item *it, uint64_t *out);
/* Is it an atom equal to `word`, ignoring case? */
bool imap_item_is(const struct imap_item *it, const char *word);

#endif
