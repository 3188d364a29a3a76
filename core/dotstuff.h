/*
 * Decoding of a POP3 multi-line reply (RFC 1939 section 3) as a stream:
 * the "." that stuffs a line beginning with "." is removed, CRLF line
 * ends become LF, and the terminating "." line ends the stream. Data may
 * arrive in chunks split anywhere; the decoder keeps the little state it
 * needs between calls and never buffers more than one byte.
 */
#ifndef MF_DOTSTUFF_H
#define MF_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>

enum dotdec_state {
	DOTDEC_LINE_START = 0,	/* at the start of a line */
	DOTDEC_MID,		/* inside a line */
	DOTDEC_CR,		/* inside a line, a CR held back */
	DOTDEC_DOT,		/* a "." at the start of a line */
	DOTDEC_DOT_CR,		/* ".\r" at the start of a line */
	DOTDEC_DONE,		/* the terminating line was seen */
};

struct dotdec {
	enum dotdec_state state;
};

#define DOTDEC_INIT	{ DOTDEC_LINE_START }

/*
 * Decode up to inlen bytes of in into out, which must have room for
 * inlen + 1 bytes (a CR held back from the previous chunk may come out).
 * Returns the number of input bytes consumed: all of them, unless the
 * terminating line ends inside the chunk; then d->state is DOTDEC_DONE
 * and the bytes after the terminator are not consumed. *outlen is set to
 * the number of bytes written to out.
 */
size_t dotdec_run(struct dotdec *d, const char *in, size_t inlen, char *out,
    size_t *outlen);

/*
 * The other direction, for SMTP/LMTP DATA (RFC 5321 section 4.5.2): LF
 * line ends become CRLF (a CRLF stays one), a line beginning with "."
 * gets another. Streaming: the state carries over between chunks.
 */
struct dotenc {
	bool	line_start;
	bool	after_cr;
};

#define DOTENC_INIT	{ true, false }

/* Encode in into out, which needs room for 3 * inlen bytes; returns the
 * bytes written. */
size_t dotenc_run(struct dotenc *d, const char *in, size_t inlen, char *out);
/* The terminator: CRLF first if the data did not end a line, then
 * ".\r\n". Writes at most 5 bytes; returns the count. */
size_t dotenc_finish(struct dotenc *d, char *out);

#endif
