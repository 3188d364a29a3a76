#include <string.h>

#include "dotstuff.h"

/* Inside a line: copy up to the next LF, which ends the line (after a
 * CR) or is content (bare). Returns the input bytes consumed. */
static size_t
dotdec_mid(struct dotdec *d, const char *in, size_t inlen, char *out,
    size_t *o)
{
	const char *nl = memchr(in, '\n', inlen);
	size_t run;

	if (nl == NULL) {
		/* Hold back a final CR until we know whether an LF follows
		 * it. */
		run = inlen;
		if (in[inlen - 1] == '\r') {
			run--;
			d->state = DOTDEC_CR;
		}
		memcpy(out + *o, in, run);
		*o += run;
		return inlen;
	}
	run = (size_t)(nl - in);
	/* A CR held by another state never reaches here before an LF. */
	if (run > 0 && nl[-1] == '\r') {
		memcpy(out + *o, in, run - 1);
		d->state = DOTDEC_LINE_START;
		run--;
	} else {
		memcpy(out + *o, in, run);
		d->state = DOTDEC_BARE_LF;
	}
	*o += run;
	out[(*o)++] = '\n';
	return (size_t)(nl - in) + 1;
}

/* One step of the states around a "." or a CR; returns whether c was
 * consumed. */
static int
dotdec_step(struct dotdec *d, char c, char *out, size_t *o)
{
	switch (d->state) {
	case DOTDEC_LINE_START:
		if (c != '.') {
			d->state = DOTDEC_MID;
			return 0;
		}
		d->state = DOTDEC_DOT;
		return 1;
	case DOTDEC_DOT:
		if (c == '\r') {
			d->state = DOTDEC_DOT_CR;
			return 1;
		}
		if (c == '\n') {
			d->state = DOTDEC_BARE_LF_END;
			return 1;
		}
		/* "." then anything but CRLF: the dot was stuffing (RFC
		 * 1939). */
		d->state = DOTDEC_MID;
		return 0;
	case DOTDEC_DOT_CR:
		if (c == '\n') {
			d->state = DOTDEC_DONE;
			return 1;
		}
		out[(*o)++] = '\r';
		d->state = DOTDEC_MID;
		return 0;
	case DOTDEC_CR:
		if (c == '\n') {
			out[(*o)++] = '\n';
			d->state = DOTDEC_LINE_START;
			return 1;
		}
		out[(*o)++] = '\r';
		d->state = DOTDEC_MID;
		return 0;
	case DOTDEC_BARE_LF:
		/* Content: a "." here is neither stuffing nor an end. */
		if (c != '.') {
			d->state = DOTDEC_MID;
			return 0;
		}
		out[(*o)++] = '.';
		d->state = DOTDEC_BARE_LF_DOT;
		return 1;
	case DOTDEC_BARE_LF_DOT:
		if (c == '\r') {
			d->state = DOTDEC_BARE_LF_DOT_CR;
			return 1;
		}
		if (c == '\n')
			d->sloppy_end = true;
		d->state = DOTDEC_MID;
		return 0;
	case DOTDEC_BARE_LF_DOT_CR:
		if (c == '\n')
			d->sloppy_end = true;
		d->state = DOTDEC_CR;	/* the CR is content, as any */
		return 0;
	case DOTDEC_MID:
	case DOTDEC_DONE:
	case DOTDEC_BARE_LF_END:
		break;
	}
	return 0;
}

size_t
dotdec_run(struct dotdec *d, const char *in, size_t inlen, char *out,
    size_t *outlen)
{
	size_t i = 0, o = 0;

	while (i < inlen && d->state != DOTDEC_DONE &&
	    d->state != DOTDEC_BARE_LF_END) {
		if (d->state == DOTDEC_MID)
			i += dotdec_mid(d, in + i, inlen - i, out, &o);
		else
			i += (size_t)dotdec_step(d, in[i], out, &o);
	}
	*outlen = o;
	return i;
}

/* How many bytes from in up to the first CR or LF. */
static size_t
line_run(const char *in, size_t len)
{
	size_t n = 0;

	while (n < len && in[n] != '\r' && in[n] != '\n')
		n++;
	return n;
}

size_t
dotenc_run(struct dotenc *d, const char *in, size_t inlen, char *out)
{
	size_t o = 0, i = 0;

	while (i < inlen) {
		char c = in[i];
		size_t run;

		if (d->after_cr) {
			/* The CR that went out ends its line, with or
			 * without an LF of its own. */
			out[o++] = '\n';
			d->after_cr = false;
			d->line_start = true;
			if (c == '\n') {
				i++;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			out[o++] = '\r';
			if (c == '\n')
				out[o++] = '\n';
			d->after_cr = c == '\r';
			d->line_start = c == '\n';
			i++;
			continue;
		}
		if (d->line_start && c == '.')
			out[o++] = '.';
		d->line_start = false;
		run = line_run(in + i, inlen - i);
		memcpy(out + o, in + i, run);
		o += run;
		i += run;
	}
	return o;
}

size_t
dotenc_finish(struct dotenc *d, char *out)
{
	size_t o = 0;

	if (d->after_cr)
		out[o++] = '\n';
	else if (!d->line_start) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	d->after_cr = false;
	d->line_start = true;
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

size_t
dotenc_line_end_growth(struct dotenc *d, const char *in, size_t inlen)
{
	size_t grow = 0;

	for (size_t i = 0; i < inlen; i++) {
		if (d->after_cr && in[i] != '\n')
			grow++;		/* a bare CR gets an LF */
		else if (!d->after_cr && in[i] == '\n')
			grow++;		/* a bare LF gets a CR */
		d->after_cr = in[i] == '\r';
	}
	return grow;
}
