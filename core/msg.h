/*
 * A message being fetched: its bytes in a spool, a copy of its header
 * block in memory (bounded) and the index of its fields. The message is
 * fed in arbitrary chunks as it arrives from the server.
 */
#ifndef MF_MSG_H
#define MF_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "header.h"
#include "spool.h"

/* Header blocks larger than this are not indexed past it; the message is
 * still delivered whole. */
#define MSG_HEADER_MAX	(256 * 1024)
/* A plugin may still edit a header block up to this size. */
#define MSG_HEADER_EDIT_MAX	(64 * 1024 * 1024)

struct msg {
	struct spool	 spool;

	char		*hdr;		/* copy of the header block */
	size_t		 hdrlen, hdrcap;
	bool		 hdr_done;	/* the empty line was seen */
	bool		 hdr_truncated;	/* longer than MSG_HEADER_MAX */
	bool		 at_line_start;
	bool		 cr_at_line_start;	/* a CR began this line */
	off_t		 body_off;	/* where the body starts in the spool */

	struct header_index idx;
	bool		 indexed;

	/* Headers changed by a plugin: hdr holds the new block, which
	 * replaces spool bytes [0, body_off) on output. */
	bool		 hdr_modified;
};

void msg_init(struct msg *m, const char *spool_dir);
void msg_free(struct msg *m);
/* Get ready for the next message. */
void msg_reset(struct msg *m);
int msg_append(struct msg *m, const char *data, size_t len, struct err *e);
/* The same without a copy: room at the end of the spool (see
 * spool_reserve), then the count actually written there. */
char *msg_reserve(struct msg *m, size_t want, size_t *room, struct err *e);
void msg_commit(struct msg *m, size_t len);
/* The message is complete. */
void msg_finish(struct msg *m);

off_t msg_size(const struct msg *m);
struct header_index *msg_headers(struct msg *m);
/* Write the message (with any header changes) through fn. */
int msg_write(struct msg *m, spool_writer fn, void *arg, struct err *e);
/* Copy bytes of the message as it stands; returns the count, 0 at the
 * end, -1 on error. */
ssize_t msg_read(struct msg *m, void *buf, size_t len, off_t offset);
/* The body (after the header block), as one region: see spool_map. */
int msg_map_body(struct msg *m, const char **body, size_t *len,
    const char **mapped, size_t *mapped_len, struct err *e);

/* A field's value unfolded and RFC 2047-decoded, computed once. */
const char *msg_field_decoded(struct header_field *f);

/* Header changes (plugins): 0, or -1 when the name or value is not
 * valid or the header block was too large to keep in memory. */
int msg_header_add(struct msg *m, const char *name, const char *value);
int msg_header_remove(struct msg *m, const char *name);
/* Exchange two messages (a replacement takes the original's place). */
void msg_swap(struct msg *a, struct msg *b);

#endif
