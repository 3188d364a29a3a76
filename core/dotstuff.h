/*
 * Dot-stuffing in both directions, as streams that may be fed in chunks
 * split anywhere.
 *
 * Only CRLF ends a line and only CRLF "." CRLF ends a multi-line reply
 * (RFC 1939 section 3, RFC 5321 section 4.1.1.4). A bare LF or a bare CR
 * is message content: a server that passes them through unchanged must
 * not let a sender end one message early and start a forged one with
 * LF "." LF (message smuggling), and a message must not be able to end
 * our SMTP/LMTP DATA early at a receiver that accepts a bare line end.
 */
#ifndef MF_DOTSTUFF_H
#define MF_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>

enum dotdec_state {
	DOTDEC_LINE_START = 0,	/* after CRLF, or at the start */
	DOTDEC_MID,		/* inside a line */
	DOTDEC_CR,		/* inside a line, a CR held back */
	DOTDEC_DOT,		/* a "." at the start of a line */
	DOTDEC_DOT_CR,		/* ".\r" at the start of a line */
	DOTDEC_BARE_LF,		/* right after a bare LF (content) */
	DOTDEC_BARE_LF_DOT,	/* bare LF, then "." */
	DOTDEC_BARE_LF_DOT_CR,	/* bare LF, then ".\r" */
	DOTDEC_DONE,		/* CRLF "." CRLF was seen */
	DOTDEC_BARE_LF_END,	/* CRLF "." LF: a server's broken end */
};

/*
 * The POP3 side: the "." that stuffs a line beginning with "." is
 * removed, CRLF becomes LF, a bare LF stays LF and a bare CR stays CR.
 *
 * CRLF "." LF cannot come from a server that stuffs its lines (it would
 * send ".." for a line beginning with "."): it is a server ending its
 * replies with a bare LF, and decoding stops in DOTDEC_BARE_LF_END, an
 * error for the caller, rather than read on into the next reply.
 * sloppy_end records LF "." LF or LF "." CRLF: content from a server
 * passing bare LFs through, but also what a server that ends every line
 * with a bare LF sends as its end, and so the likely reason when such a
 * reply then never ends.
 */
struct dotdec {
	enum dotdec_state state;
	bool		  sloppy_end;
};

#define DOTDEC_INIT	{ DOTDEC_LINE_START, false }

/*
 * Decode up to inlen bytes of in into out, which must have room for
 * inlen + 1 bytes (a CR held back from the previous chunk may come out).
 * Returns the number of input bytes consumed: all of them, unless the
 * terminating line ends inside the chunk; then d->state is DOTDEC_DONE
 * (or DOTDEC_BARE_LF_END) and the bytes after it are not consumed. *outlen is set to
 * the number of bytes written to out.
 */
size_t dotdec_run(struct dotdec *d, const char *in, size_t inlen, char *out,
    size_t *outlen);

/*
 * The other direction, for SMTP/LMTP DATA (RFC 5321 section 4.5.2):
 * every line end becomes CRLF (a CRLF stays one, a bare LF and a bare CR
 * each become one), and a line beginning with "." gets another. What
 * goes out therefore holds no bare CR or LF, and no "." line but the
 * terminator. The state carries over between chunks.
 */
struct dotenc {
	bool	line_start;
	bool	after_cr;	/* a CR went out; is an LF next? */
};

#define DOTENC_INIT	{ true, false }

/* Encode in into out, which needs room for 3 * inlen bytes; returns the
 * bytes written. */
size_t dotenc_run(struct dotenc *d, const char *in, size_t inlen, char *out);
/* The terminator: a line end first if the data did not end a line, then
 * ".\r\n". Writes at most 5 bytes; returns the count. */
size_t dotenc_finish(struct dotenc *d, char *out);
/* The bytes dotenc_run adds to in for its line ends (not its stuffing
 * dots, which RFC 1870 SIZE leaves out): feed every chunk, in order,
 * through one counter started at DOTENC_INIT. */
size_t dotenc_line_end_growth(struct dotenc *d, const char *in,
    size_t inlen);

#endif
