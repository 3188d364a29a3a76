#include <stdlib.h>
#include <string.h>

#include "msg.h"
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
	if (m->hdrlen + len + 1 > m->hdrcap) {
		size_t cap = m->hdrcap ? m->hdrcap : 4096;

		while (cap < m->hdrlen + len + 1)
			cap *= 2;
		m->hdr = xreallocarray(m->hdr, cap, 1);
		m->hdrcap = cap;
	}
	memcpy(m->hdr + m->hdrlen, data, len);
	m->hdrlen += len;
	m->hdr[m->hdrlen] = '\0';
}

int
msg_append(struct msg *m, const char *data, size_t len, struct err *e)
{
	if (!m->hdr_done) {
		size_t i = 0;

		/* Look for the empty line that ends the header. */
		while (i < len) {
			const char *nl;

			if (m->at_line_start && data[i] == '\n') {
				m->hdr_done = true;
				i++;
				break;
			}
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
	return spool_append(&m->spool, data, len, e);
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
