/*
 * mboxrd quoting (the "From " lines of a message body): a line matching
 * ^>*From  gets one more ">", so readers can undo it exactly. Streaming:
 * at most four bytes ("From") are held back between chunks.
 */
#ifndef MF_MBOXRD_H
#define MF_MBOXRD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct mboxrd {
	bool	line_start;	/* at a line start, or after its ">"s */
	size_t	matched;	/* bytes of "From " matched so far */
	bool	last_nl;	/* the last byte written was "\n" */
	bool	empty;		/* nothing written yet */
};

#define MBOXRD_INIT	{ true, 0, false, true }

/* Quote in into out (room for inlen + inlen / 5 + 5 bytes); returns the
 * bytes written. */
size_t mboxrd_run(struct mboxrd *q, const char *in, size_t inlen, char *out);
/* The end of the message: what was held back, a final newline if the
 * message lacked one, and the empty line that separates messages. At
 * most 7 bytes. */
size_t mboxrd_finish(struct mboxrd *q, char *out);

/* The "From SENDER DATE" separator line, with its newline. */
size_t mboxrd_from_line(const char *sender, time_t when, char *out,
    size_t outsize);

#endif
