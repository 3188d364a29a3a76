#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "msg.h"
#include "rfc2047.h"
#include "xmalloc.h"

void
msg_init(struct msg *m, const char *spool_dir)
{
	memset(m, 0, sizeof *m);
	spool_init(&m->spool, spool_dir);
	m->at_line_start = true;
}

void
msg_free(struct msg *m)
{
	spool_free(&m->spool);
	header_index_free(&m->idx);
	free(m->hdr);
	memset(m, 0, sizeof *m);
}

void
msg_reset(struct msg *m)
{
	spool_reset(&m->spool);
	header_index_clear(&m->idx);
	m->hdrlen = 0;
	m->hdr_done = false;
	m->hdr_truncated = false;
	m->hdr_modified = false;
	m->indexed = false;
	m->at_line_start = true;
	m->cr_at_line_start = false;
	m->body_off = 0;
	/* A huge header block should not pin its memory for the run. */
	if (m->hdrcap > 64 * 1024) {
		free(m->hdr);
		m->hdr = NULL;
		m->hdrcap = 0;
	}
}

static void
keep_header_bytes(struct msg *m, const char *data, size_t len)
{
	if (m->hdr_truncated)
		return;
	if (m->hdrlen + len > MSG_HEADER_MAX) {
		len = MSG_HEADER_MAX - m->hdrlen;
		m->hdr_truncated = true;
	}
	ARRAY_RESERVE(m->hdr, m->hdrlen, m->hdrcap, len + 1);
	memcpy(m->hdr + m->hdrlen, data, len);
	m->hdrlen += len;
	m->hdr[m->hdrlen] = '\0';
}

/* Bytes about to be added to the spool: keep what belongs to the header
 * block, and note where the body starts. */
static void
note_header(struct msg *m, const char *data, size_t len)
{
	if (!m->hdr_done) {
		size_t i = 0;

		/* Look for the empty line that ends the header: LF or CRLF,
		 * as header_index_parse() sees it. */
		while (i < len) {
			const char *nl;

			if (m->at_line_start && data[i] == '\n') {
				m->hdr_done = true;
				i++;
				break;
			}
			if (m->at_line_start && data[i] == '\r' &&
			    !m->cr_at_line_start) {
				m->cr_at_line_start = true;
				i++;
				continue;
			}
			m->cr_at_line_start = false;
			nl = memchr(data + i, '\n', len - i);
			if (nl == NULL) {
				m->at_line_start = false;
				i = len;
				break;
			}
			i = (size_t)(nl - data) + 1;
			m->at_line_start = true;
		}
		keep_header_bytes(m, data, i);
		if (m->hdr_done)
			m->body_off = spool_size(&m->spool) + (off_t)i;
	}
}

int
msg_append(struct msg *m, const char *data, size_t len, struct err *e)
{
	note_header(m, data, len);
	return spool_append(&m->spool, data, len, e);
}

char *
msg_reserve(struct msg *m, size_t want, size_t *room, struct err *e)
{
	return spool_reserve(&m->spool, want, room, e);
}

void
msg_commit(struct msg *m, size_t len)
{
	note_header(m, m->spool.mem + m->spool.memlen, len);
	spool_commit(&m->spool, len);
}

void
msg_finish(struct msg *m)
{
	if (!m->hdr_done) {
		/* No empty line: the whole message is header. */
		m->hdr_done = true;
		m->body_off = spool_size(&m->spool);
	}
}

off_t
msg_size(const struct msg *m)
{
	if (m->hdr_modified)
		return (off_t)m->hdrlen + spool_size(&m->spool) - m->body_off;
	return spool_size(&m->spool);
}

struct header_index *
msg_headers(struct msg *m)
{
	if (!m->indexed) {
		header_index_parse(&m->idx, m->hdr != NULL ? m->hdr : "",
		    m->hdrlen);
		m->indexed = true;
	}
	return &m->idx;
}

int
msg_write(struct msg *m, spool_writer fn, void *arg, struct err *e)
{
	if (!m->hdr_modified)
		return spool_stream(&m->spool, 0, fn, arg, e);
	if (fn(arg, m->hdr, m->hdrlen, e) == -1)
		return -1;
	return spool_stream(&m->spool, m->body_off, fn, arg, e);
}

ssize_t
msg_read(struct msg *m, void *buf, size_t len, off_t offset)
{
	off_t hdrlen = (off_t)m->hdrlen;
	ssize_t n;

	if (!m->hdr_modified)
		return spool_pread(&m->spool, buf, len, offset);
	if (offset < hdrlen) {
		size_t take = (size_t)(hdrlen - offset) < len ?
		    (size_t)(hdrlen - offset) : len;

		memcpy(buf, m->hdr + offset, take);
		return (ssize_t)take;
	}
	n = spool_pread(&m->spool, buf, len, m->body_off + (offset - hdrlen));
	return n;
}

int
msg_map_body(struct msg *m, const char **body, size_t *len,
    const char **mapped, size_t *mapped_len, struct err *e)
{
	if (spool_map(&m->spool, mapped, mapped_len, e) == -1)
		return -1;
	if ((size_t)m->body_off > *mapped_len) {
		*body = *mapped + *mapped_len;
		*len = 0;
	} else {
		*body = *mapped + m->body_off;
		*len = *mapped_len - (size_t)m->body_off;
	}
	return 0;
}

const char *
msg_field_decoded(struct header_field *f)
{
	if (f->decoded == NULL) {
		char *unfolded = xmalloc(f->value_len + 1);
		size_t n = header_unfold(f->value, f->value_len, unfolded);

		f->decoded = rfc2047_decode(unfolded, n, &f->decoded_len);
		free(unfolded);
	}
	return f->decoded;
}

static bool
valid_field(const char *name, const char *value)
{
	if (*name == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if ((unsigned char)*p < 33 || (unsigned char)*p > 126 ||
		    *p == ':')
			return false;
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\r')
			return false;
		/* A line break only as folding. */
		if (*p == '\n' && p[1] != ' ' && p[1] != '\t')
			return false;
	}
	return true;
}

/*
 * Header edits work on the in-memory copy, which then replaces the
 * spool's header block on output. A header block too large to have been
 * kept whole is read back from the spool first (up to a bound).
 */
static int
editable(struct msg *m)
{
	if (m->hdr_truncated) {
		size_t len = (size_t)m->body_off;

		if (m->body_off > MSG_HEADER_EDIT_MAX)
			return -1;
		ARRAY_RESERVE(m->hdr, 0, m->hdrcap, len + 1);
		if (spool_pread(&m->spool, m->hdr, len, 0) != (ssize_t)len)
			return -1;
		m->hdrlen = len;
		m->hdr[len] = '\0';
		m->hdr_truncated = false;
		m->indexed = false;
	}
	if (m->hdr == NULL)
		keep_header_bytes(m, "", 0);
	return 0;
}

/* Where the empty line ending the header block starts (LF or CRLF),
 * or the block's end when it has none. */
static size_t
fields_end(const struct msg *m)
{
	const char *h = m->hdr;
	size_t n = m->hdrlen;

	if (n >= 1 && h[n - 1] == '\n' && (n == 1 || h[n - 2] == '\n'))
		return n - 1;
	if (n >= 2 && h[n - 1] == '\n' && h[n - 2] == '\r' &&
	    (n == 2 || h[n - 3] == '\n'))
		return n - 2;
	return n;
}

int
msg_header_add(struct msg *m, const char *name, const char *value)
{
	size_t flen, at;
	char *field;

	if (!valid_field(name, value) || editable(m) == -1)
		return -1;
	field = xasprintf("%s: %s\n", name, value);
	flen = strlen(field);
	/* Before the empty line that ends the header, if there is one. */
	at = fields_end(m);
	if (at == m->hdrlen && at > 0 && m->hdr[at - 1] != '\n') {
		/* A header cut short without a newline: end its line. */
		keep_header_bytes(m, "\n", 1);
		at = m->hdrlen;
	}
	ARRAY_RESERVE(m->hdr, m->hdrlen, m->hdrcap, flen + 1);
	memmove(m->hdr + at + flen, m->hdr + at, m->hdrlen - at);
	memcpy(m->hdr + at, field, flen);
	m->hdrlen += flen;
	m->hdr[m->hdrlen] = '\0';
	free(field);
	m->hdr_modified = true;
	m->indexed = false;
	return 0;
}

int
msg_header_remove(struct msg *m, const char *name)
{
	struct header_index *idx;
	size_t name_len = strlen(name);

	if (editable(m) == -1)
		return -1;
	idx = msg_headers(m);
	/* Cut from the last to the first, so earlier offsets stay valid. */
	for (size_t i = idx->n; i-- > 0;) {
		struct header_field *f = &idx->fields[i];
		size_t start, end;
		const char *nl;

		if (f->name_len != name_len ||
		    strncasecmp(f->name, name, name_len) != 0)
			continue;
		start = (size_t)(f->name - m->hdr);
		end = (size_t)(f->value + f->value_len - m->hdr);
		nl = memchr(m->hdr + end, '\n', m->hdrlen - end);
		end = nl != NULL ? (size_t)(nl - m->hdr) + 1 : m->hdrlen;
		memmove(m->hdr + start, m->hdr + end, m->hdrlen - end);
		m->hdrlen -= end - start;
		m->hdr[m->hdrlen] = '\0';
		m->hdr_modified = true;
	}
	m->indexed = false;
	return 0;
}

void
msg_swap(struct msg *a, struct msg *b)
{
	struct msg t = *a;

	*a = *b;
	*b = t;
	a->indexed = b->indexed = false;
	header_index_clear(&a->idx);
	header_index_clear(&b->idx);
}
