#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-parse.h"
#include "log.h"
#include "xmalloc.h"

/* An open list while its elements are read. */
struct frame {
	struct imap_item *list;
	struct imap_item *last;		/* its last element so far */
	struct imap_item *prev;		/* the one before */
};

/* The state of reading one response, across its lines and literals. */
struct pstate {
	struct imap_parser *ps;
	struct imap_resp *r;
	struct frame	 stack[IMAP_DEPTH_MAX + 1];
	int		 depth;		/* 0: the response's top level */
	bool		 fetch;		/* "* N FETCH": stream message data */
	uint32_t	 uid;		/* FETCH: the UID seen so far */
};

void
imap_parser_init(struct imap_parser *ps, struct conn *c)
{
	memset(ps, 0, sizeof *ps);
	ps->conn = c;
	ps->text = xmalloc(IMAP_TEXT_MAX + 1);
	ps->items = xcalloc(IMAP_ITEMS_MAX + 1, sizeof *ps->items);
}

void
imap_parser_free(struct imap_parser *ps)
{
	free(ps->text);
	free(ps->items);
	memset(ps, 0, sizeof *ps);
}

/* ---- errors ----------------------------------------------------------- */

static int
bad_response(struct pstate *st, const char *why, const char *at, size_t len,
    struct err *e)
{
	char shown[120];

	log_escape(shown, sizeof shown, at, len > 80 ? 80 : len);
	return err_set(e, ERR_TEMP, "%s: unintelligible response from the "
	    "server (%s): \"%s%s\"", st->ps->conn->label, why, shown,
	    len > 80 ? "..." : "");
}

static int
too_large(struct pstate *st, const char *what, struct err *e)
{
	return err_set(e, ERR_TEMP, "%s: the server sent a response with "
	    "too many %s (more than this client accepts in one response)",
	    st->ps->conn->label, what);
}

/* ---- the response's storage ------------------------------------------- */

/* Room for len bytes (plus a NUL) in the text arena, or NULL. */
static char *
text_reserve(struct pstate *st, size_t len)
{
	struct imap_parser *ps = st->ps;

	if (len > IMAP_TEXT_MAX - ps->textlen)
		return NULL;
	return ps->text + ps->textlen;
}

static void
text_commit(struct pstate *st, size_t len)
{
	st->ps->text[st->ps->textlen + len] = '\0';
	st->ps->textlen += len + 1;
}

/* A copy of [s, s + len) in the arena, upper-cased if asked. */
static const char *
text_copy(struct pstate *st, const char *s, size_t len, bool upper,
    struct err *e)
{
	char *t = text_reserve(st, len);

	if (t == NULL) {
		too_large(st, "bytes", e);
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
		t[i] = upper ? (char)toupper((unsigned char)s[i]) : s[i];
	text_commit(st, len);
	return t;
}

/* A new element of the innermost open list. */
static struct imap_item *
new_item(struct pstate *st, enum imap_type type, struct err *e)
{
	struct imap_parser *ps = st->ps;
	struct frame *f = &st->stack[st->depth];
	struct imap_item *it;

	if (ps->nitems >= IMAP_ITEMS_MAX) {
		too_large(st, "items", e);
		return NULL;
	}
	it = &ps->items[ps->nitems++];
	memset(it, 0, sizeof *it);
	it->type = type;
	it->s = "";
	if (f->last != NULL)
		f->last->next = it;
	else
		f->list->child = it;
	f->prev = f->last;
	f->last = it;
	f->list->len++;
	return it;
}

/* ---- message data ----------------------------------------------------- */

static bool
is_body_key(const char *s)
{
	return strncasecmp(s, "BODY[", 5) == 0 ||
	    strncasecmp(s, "BINARY[", 7) == 0 ||
	    strcasecmp(s, "RFC822") == 0 ||
	    strcasecmp(s, "RFC822.HEADER") == 0 ||
	    strcasecmp(s, "RFC822.TEXT") == 0;
}

/* The key of the value about to be read, if that value is message data:
 * an odd position in a FETCH response's list, after a body item name. */
static const char *
body_key(const struct pstate *st)
{
	const struct frame *f = &st->stack[1];

	if (!st->fetch || st->depth != 1 || f->list->len % 2 != 1)
		return NULL;
	if (f->last->type != IMAP_ATOM || !is_body_key(f->last->s))
		return NULL;
	return f->last->s;
}

/* Remember "UID n" of a FETCH response as it goes by. */
static void
note_uid(struct pstate *st, const struct imap_item *value)
{
	const struct frame *f = &st->stack[1];

	if (!st->fetch || st->depth != 1 || f->list->len % 2 != 0 ||
	    f->last != value)
		return;
	if (imap_item_is(f->prev, "UID"))
		(void)imap_item_u32(value, &st->uid);
}

static int
body_begin(struct pstate *st, const char *key, uint64_t size, bool nil,
    struct err *e)
{
	const struct imap_sink *sink = st->ps->sink;
	struct imap_body_info bi = { .seq = st->r->num, .uid = st->uid,
	    .key = key, .size = size, .nil = nil };
	struct imap_item *it;

	if (sink == NULL)
		return err_set(e, ERR_TEMP, "%s: the server sent message "
		    "data that was not asked for (%s, message %" PRIu32 ")",
		    st->ps->conn->label, key, st->r->num);
	if ((it = new_item(st, IMAP_BODY, e)) == NULL)
		return -1;
	it->s = key;
	it->len = size;
	return sink->begin(sink->arg, &bi, e);
}

/* Message data given as a quoted string or NIL: one block. */
static int
body_inline(struct pstate *st, const char *key, const char *s, size_t len,
    bool nil, struct err *e)
{
	const struct imap_sink *sink;

	if (body_begin(st, key, len, nil, e) == -1)
		return -1;
	sink = st->ps->sink;
	if (len > 0 && sink->data(sink->arg, s, len, e) == -1)
		return -1;
	return sink->end(sink->arg, e);
}

/* ---- literals --------------------------------------------------------- */

/* Pass the next `size` bytes of the connection to fn (or keep them at
 * dst when fn is NULL). */
static int
read_raw(struct pstate *st, uint64_t size, char *dst,
    int (*fn)(void *, const char *, size_t, struct err *), void *arg,
    struct err *e)
{
	struct conn *c = st->ps->conn;

	while (size > 0) {
		size_t n;

		if (conn_buffered(c) == 0 && conn_fill(c, e) == -1)
			return -1;
		n = conn_buffered(c);
		if (n > size)
			n = (size_t)size;
		if (fn != NULL && fn(arg, c->rbuf + c->rpos, n, e) == -1)
			return -1;
		if (fn == NULL) {
			memcpy(dst, c->rbuf + c->rpos, n);
			dst += n;
		}
		c->rpos += n;
		size -= n;
		st->r->bytes += n;
	}
	return 0;
}

static int
read_literal(struct pstate *st, uint64_t size, struct err *e)
{
	const char *key = body_key(st);
	const char *label = st->ps->conn->label;
	struct imap_item *it;
	char *t;

	if (key != NULL) {
		const struct imap_sink *sink;

		if (body_begin(st, key, size, false, e) == -1)
			return -1;
		sink = st->ps->sink;
		if (read_raw(st, size, NULL, sink->data, sink->arg, e) == -1)
			return -1;
		if (log_tracing())
			log_trace("%s < (%" PRIu64 " bytes of message data)",
			    label, size);
		return sink->end(sink->arg, e);
	}
	if (size > IMAP_LITERAL_MAX)
		return err_set(e, ERR_TEMP, "%s: the server announced a "
		    "%" PRIu64 "-byte string where at most %d bytes make "
		    "sense", label, size, IMAP_LITERAL_MAX);
	if ((t = text_reserve(st, (size_t)size)) == NULL)
		return too_large(st, "bytes", e);
	if (read_raw(st, size, t, NULL, NULL, e) == -1)
		return -1;
	text_commit(st, (size_t)size);
	if ((it = new_item(st, IMAP_STRING, e)) == NULL)
		return -1;
	it->s = t;
	it->len = (size_t)size;
	note_uid(st, it);
	if (log_tracing())
		log_trace("%s < (%" PRIu64 "-byte literal)", label, size);
	return 0;
}

/* "{123}" or "~{123}" ("+" tolerated) ending the line at p: its size. */
static int
literal_marker(struct pstate *st, const char *p, const char *end,
    uint64_t *size, struct err *e)
{
	const char *start = p;
	uint64_t n = 0;
	int digits = 0;

	if (*p == '~')
		p++;
	p++;			/* '{' */
	while (p < end && *p >= '0' && *p <= '9' && digits < 19) {
		n = n * 10 + (uint64_t)(*p++ - '0');
		digits++;
	}
	if (p < end && *p == '+')
		p++;
	if (digits == 0 || p + 1 != end || *p != '}')
		return bad_response(st, "bad literal", start,
		    (size_t)(end - start), e);
	*size = n;
	return 0;
}

/* ---- tokens ----------------------------------------------------------- */

static int
quoted(struct pstate *st, const char **pp, const char *end, struct err *e)
{
	const char *p = *pp + 1, *key = body_key(st);
	char *t = text_reserve(st, (size_t)(end - p));
	size_t n = 0;
	struct imap_item *it;

	if (t == NULL)
		return too_large(st, "bytes", e);
	for (;;) {
		if (p == end)
			return bad_response(st, "unterminated string", *pp,
			    (size_t)(end - *pp), e);
		if (*p == '"')
			break;
		if (*p == '\\' && p + 1 < end)
			p++;
		t[n++] = *p++;
	}
	*pp = p + 1;
	text_commit(st, n);
	if (key != NULL)
		return body_inline(st, key, t, n, false, e);
	if ((it = new_item(st, IMAP_STRING, e)) == NULL)
		return -1;
	it->s = t;
	it->len = n;
	note_uid(st, it);
	return 0;
}

/* An atom runs to a space or parenthesis; "[...]" inside it (as in
 * BODY[HEADER.FIELDS (FROM)]) may hold both. */
static int
atom_end(struct pstate *st, const char *p, const char *end,
    const char **out, struct err *e)
{
	const char *start = p;

	while (p < end && *p != ' ' && *p != '(' && *p != ')') {
		unsigned char ch = (unsigned char)*p;

		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '{')
			return bad_response(st, "unexpected character",
			    start, (size_t)(end - start), e);
		if (ch == '[') {
			const char *close = memchr(p, ']', (size_t)(end - p));

			if (close == NULL)
				return bad_response(st, "unbalanced [",
				    start, (size_t)(end - start), e);
			p = close;
		}
		p++;
	}
	*out = p;
	return 0;
}

static int
atom(struct pstate *st, const char **pp, const char *end, struct err *e)
{
	const char *p = *pp, *stop = p, *key = body_key(st);
	struct imap_item *it;

	if (atom_end(st, p, end, &stop, e) == -1)
		return -1;
	*pp = stop;
	if (stop - p == 3 && strncasecmp(p, "NIL", 3) == 0) {
		if (key != NULL)
			return body_inline(st, key, "", 0, true, e);
		return new_item(st, IMAP_NIL, e) == NULL ? -1 : 0;
	}
	if (key != NULL)
		return bad_response(st, "message data is not a string", p,
		    (size_t)(end - p), e);
	if ((it = new_item(st, IMAP_ATOM, e)) == NULL)
		return -1;
	if ((it->s = text_copy(st, p, (size_t)(stop - p), false, e)) == NULL)
		return -1;
	it->len = (size_t)(stop - p);
	note_uid(st, it);
	return 0;
}

static int
open_list(struct pstate *st, const char *p, const char *end, struct err *e)
{
	struct imap_item *it;

	if (st->depth >= IMAP_DEPTH_MAX)
		return bad_response(st, "lists nested too deep", p,
		    (size_t)(end - p), e);
	if ((it = new_item(st, IMAP_LIST, e)) == NULL)
		return -1;
	st->depth++;
	st->stack[st->depth] = (struct frame){ .list = it };
	return 0;
}

/*
 * Read the data in one line of a response. Returns 1 when the line ends
 * with a literal (its size in *literal), 0 at the end of the response.
 */
static int
data_line(struct pstate *st, const char *p, const char *end,
    uint64_t *literal, struct err *e)
{
	while (p < end) {
		int rc = 0;

		switch (*p) {
		case ' ':
			p++;
			continue;
		case '(':
			rc = open_list(st, p++, end, e);
			break;
		case ')':
			if (st->depth == 0)
				return bad_response(st, "unbalanced )", p,
				    (size_t)(end - p), e);
			st->depth--;
			p++;
			break;
		case '"':
			rc = quoted(st, &p, end, e);
			break;
		case '{':
		case '~':
			if (literal_marker(st, p, end, literal, e) == -1)
				return -1;
			return 1;
		default:
			rc = atom(st, &p, end, e);
			break;
		}
		if (rc == -1)
			return -1;
	}
	if (st->depth != 0)
		return bad_response(st, "unbalanced (", "", 0, e);
	return 0;
}

/* ---- lines ------------------------------------------------------------ */

static int
next_line(struct pstate *st, char **line, size_t *len, struct err *e)
{
	struct conn *c = st->ps->conn;

	if (conn_read_line(c, IMAP_LINE_MAX, line, len, e) == -1)
		return -1;
	st->r->bytes += *len + 2;
	if (log_tracing())
		log_trace("%s < %.*s", c->label, (int)*len, *line);
	if (memchr(*line, '\0', *len) != NULL)
		return bad_response(st, "NUL byte", *line, *len, e);
	return 0;
}

/* The rest of a data response: lines and the literals between them. */
static int
data_rest(struct pstate *st, const char *p, const char *end, struct err *e)
{
	uint64_t literal = 0;
	char *line;
	size_t len;
	int rc;

	while ((rc = data_line(st, p, end, &literal, e)) == 1) {
		if (read_literal(st, literal, e) == -1)
			return -1;
		if (next_line(st, &line, &len, e) == -1)
			return -1;
		p = line;
		end = line + len;
	}
	return rc;
}

/* "[CODE args] text" of a status response. */
static int
status_rest(struct pstate *st, const char *p, const char *end,
    struct err *e)
{
	struct imap_resp *r = st->r;

	r->code = r->code_args = "";
	if (p < end && *p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		const char *word = p + 1, *args;

		if (close == NULL)
			return bad_response(st, "unbalanced [", p,
			    (size_t)(end - p), e);
		args = word + strcspn(word, " ]");
		if ((r->code = text_copy(st, word, (size_t)(args - word), true,
		    e)) == NULL)
			return -1;
		if (*args == ' ')
			args++;
		if (args > close)
			args = close;
		if ((r->code_args = text_copy(st, args,
		    (size_t)(close - args), false, e)) == NULL)
			return -1;
		p = close + 1;
		while (p < end && *p == ' ')
			p++;
	}
	r->text = text_copy(st, p, (size_t)(end - p), false, e);
	return r->text == NULL ? -1 : 0;
}

static enum imap_status
status_of(const char *name)
{
	static const struct {
		const char	*name;
		enum imap_status st;
	} known[] = {
		{ "OK", IMAP_ST_OK }, { "NO", IMAP_ST_NO },
		{ "BAD", IMAP_ST_BAD }, { "PREAUTH", IMAP_ST_PREAUTH },
		{ "BYE", IMAP_ST_BYE },
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(name, known[i].name) == 0)
			return known[i].st;
	return IMAP_ST_NONE;
}

/* "*" [number] name, or tag name: up to the name's end. */
static int
response_head(struct pstate *st, const char *p, const char *end,
    const char **rest, struct err *e)
{
	struct imap_resp *r = st->r;
	const char *word;
	size_t n;

	if (r->kind == IMAP_RESP_TAGGED) {
		n = strcspn(p, " ");
		if (n == 0 || n > 64 || p + n == end)
			return bad_response(st, "no tag", p,
			    (size_t)(end - p), e);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
				return bad_response(st, "bad tag", p, n, e);
		if ((r->tag = text_copy(st, p, n, false, e)) == NULL)
			return -1;
	} else if (end - p < 2 || p[1] != ' ')
		return bad_response(st, "no space after *", p,
		    (size_t)(end - p), e);
	else
		n = 1;
	p += n + 1;
	if (r->kind == IMAP_RESP_UNTAGGED && *p >= '0' && *p <= '9') {
		word = p;
		p += strspn(p, "0123456789");
		r->has_num = true;
		if (*p != ' ' || p - word > 10 ||
		    strtoull(word, NULL, 10) > UINT32_MAX)
			return bad_response(st, "bad number", word,
			    (size_t)(end - word), e);
		r->num = (uint32_t)strtoull(word, NULL, 10);
		p++;
	}
	word = p;
	p += strcspn(p, " ");
	if (p == word)
		return bad_response(st, "no response name", word,
		    (size_t)(end - word), e);
	if ((r->name = text_copy(st, word, (size_t)(p - word), true,
	    e)) == NULL)
		return -1;
	*rest = p < end ? p + 1 : p;
	return 0;
}

int
imap_parse_response(struct imap_parser *ps, struct imap_resp *r,
    struct err *e)
{
	struct pstate st = { .ps = ps, .r = r };
	struct imap_item root = { .type = IMAP_LIST };
	const char *rest = "", *end;
	char *line;
	size_t len;

	memset(r, 0, sizeof *r);
	r->tag = r->name = r->code = r->code_args = r->text = "";
	ps->textlen = ps->nitems = 0;
	st.stack[0].list = &root;
	if (next_line(&st, &line, &len, e) == -1)
		return -1;
	end = line + len;
	if (len > 0 && line[0] == '+') {
		r->kind = IMAP_RESP_CONTINUE;
		rest = line + 1 + (len > 1 && line[1] == ' ');
		r->text = text_copy(&st, rest, (size_t)(end - rest), false, e);
		return r->text == NULL ? -1 : 0;
	}
	if (len == 0)
		return bad_response(&st, "empty line", "", 0, e);
	r->kind = line[0] == '*' ? IMAP_RESP_UNTAGGED : IMAP_RESP_TAGGED;
	if (response_head(&st, line, end, &rest, e) == -1)
		return -1;
	r->status = status_of(r->name);
	if (r->status != IMAP_ST_NONE && !r->has_num)
		return status_rest(&st, rest, end, e);
	if (r->kind == IMAP_RESP_TAGGED)
		return bad_response(&st, "tagged response without status",
		    line, len, e);
	st.fetch = r->has_num && strcmp(r->name, "FETCH") == 0;
	if (data_rest(&st, rest, end, e) == -1)
		return -1;
	r->args = root.child;
	return 0;
}

/* ---- reading the data ------------------------------------------------- */

bool
imap_item_u64(const struct imap_item *it, uint64_t *out)
{
	uint64_t n = 0;

	if (it == NULL || it->type != IMAP_ATOM || it->len == 0 ||
	    it->len > 19)
		return false;
	for (size_t i = 0; i < it->len; i++) {
		if (it->s[i] < '0' || it->s[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(it->s[i] - '0');
	}
	if (n > INT64_MAX)
		return false;
	*out = n;
	return true;
}

bool
imap_item_u32(const struct imap_item *it, uint32_t *out)
{
	uint64_t n;

	if (!imap_item_u64(it, &n) || n == 0 || n > UINT32_MAX)
		return false;
	*out = (uint32_t)n;
	return true;
}

bool
imap_item_is(const struct imap_item *it, const char *word)
{
	return it != NULL && it->type == IMAP_ATOM &&
	    strcasecmp(it->s, word) == 0;
}
