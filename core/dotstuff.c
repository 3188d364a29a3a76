#include <string.h>

#include "dotstuff.h"

size_t
dotdec_run(struct dotdec *d, const char *in, size_t inlen, char *out,
    size_t *outlen)
{
	size_t i = 0, o = 0;

	while (i < inlen && d->state != DOTDEC_DONE) {
		char c = in[i];

		switch (d->state) {
		case DOTDEC_LINE_START:
			if (c == '.') {
				d->state = DOTDEC_DOT;
				i++;
			} else
				d->state = DOTDEC_MID;
			break;
		case DOTDEC_DOT:
			if (c == '\r') {
				d->state = DOTDEC_DOT_CR;
				i++;
			} else if (c == '\n') {
				/* A bare-LF terminator, from a sloppy server. */
				d->state = DOTDEC_DONE;
				i++;
			} else
				d->state = DOTDEC_MID;	/* the "." was stuffing */
			break;
		case DOTDEC_DOT_CR:
			if (c == '\n') {
				d->state = DOTDEC_DONE;
				i++;
			} else {
				/* "." then a lone CR: the dot was stuffing. */
				out[o++] = '\r';
				d->state = DOTDEC_MID;
			}
			break;
		case DOTDEC_CR:
			if (c == '\n') {
				out[o++] = '\n';
				i++;
				d->state = DOTDEC_LINE_START;
			} else {
				out[o++] = '\r';
				d->state = DOTDEC_MID;
			}
			break;
		case DOTDEC_MID: {
			const char *nl = memchr(in + i, '\n', inlen - i);
			size_t run;

			if (nl == NULL) {
				/* Copy the rest, holding back a final CR until
				 * we know whether an LF follows it. */
				run = inlen - i;
				if (in[inlen - 1] == '\r') {
					memcpy(out + o, in + i, run - 1);
					o += run - 1;
					d->state = DOTDEC_CR;
				} else {
					memcpy(out + o, in + i, run);
					o += run;
				}
				i = inlen;
				break;
			}
			run = (size_t)(nl - (in + i));
			if (run > 0 && nl[-1] == '\r')
				run--;
			memcpy(out + o, in + i, run);
			o += run;
			out[o++] = '\n';
			i = (size_t)(nl - in) + 1;
			d->state = DOTDEC_LINE_START;
			break;
		}
		case DOTDEC_DONE:
			break;
		}
	}
	*outlen = o;
	return i;
}

size_t
dotenc_run(struct dotenc *d, const char *in, size_t inlen, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];

		if (d->line_start && c == '.')
			out[o++] = '.';
		if (c == '\n') {
			if (!d->after_cr)
				out[o++] = '\r';
			out[o++] = '\n';
			d->line_start = true;
			d->after_cr = false;
			continue;
		}
		/* Copy the run up to the next line end in one go. */
		const char *nl = memchr(in + i, '\n', inlen - i);
		size_t run = nl != NULL ? (size_t)(nl - (in + i)) : inlen - i;

		memcpy(out + o, in + i, run);
		o += run;
		d->after_cr = in[i + run - 1] == '\r';
		d->line_start = false;
		i += run - 1;
	}
	return o;
}

size_t
dotenc_finish(struct dotenc *d, char *out)
{
	size_t o = 0;

	if (!d->line_start) {
		if (!d->after_cr)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
