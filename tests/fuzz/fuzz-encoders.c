/*
 * What mailferry writes: SMTP DATA (dot-stuffing, CRLF) and mboxrd
 * quoting, fed in arbitrary chunks. Both must round-trip: decoding what
 * was written gives back the message (for DATA, with every line end a
 * CRLF), and DATA never holds a line end a lenient receiver could take
 * for the end of the data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotstuff.h"
#include "mboxrd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Remove one ">" from every line matching ^>+From . */
static size_t
unquote(const char *in, size_t len, char *out)
{
	size_t o = 0;
	int at_start = 1;

	for (size_t i = 0; i < len; i++) {
		if (at_start && in[i] == '>') {
			size_t j = i;

			while (j < len && in[j] == '>')
				j++;
			if (len - j >= 5 && memcmp(in + j, "From ", 5) == 0)
				i++;	/* drop one ">" */
		}
		out[o++] = in[i];
		at_start = in[i] == '\n';
	}
	return o;
}

/* CRLF, bare CR and bare LF each become one LF. */
static size_t
normalize(const char *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;
		out[o++] = in[i] == '\r' ? '\n' : in[i];
	}
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t step = size > 0 ? (size_t)data[0] % 17 + 1 : 1;
	char *enc = malloc(3 * size + 16), *dec = malloc(3 * size + 16);
	struct dotenc de = DOTENC_INIT;
	struct dotdec dd = DOTDEC_INIT;
	struct mboxrd q = MBOXRD_INIT;
	size_t elen = 0, dlen = 0, consumed = 0, got;
	char *norm = malloc(size + 1);
	size_t nlen;

	/* SMTP DATA, then back through the POP3 decoder. */
	for (size_t i = 0; i < size; i += step)
		elen += dotenc_run(&de, in + i, size - i < step ? size - i :
		    step, enc + elen);
	elen += dotenc_finish(&de, enc + elen);
	/* Nothing a message holds ends the data early: every line end is
	 * a CRLF, and the first "." line is the terminator. */
	for (size_t i = 0; i < elen; i++) {
		if (enc[i] == '\r' && (i + 1 == elen || enc[i + 1] != '\n'))
			__builtin_trap();
		if (enc[i] == '\n' && (i == 0 || enc[i - 1] != '\r'))
			__builtin_trap();
		if ((i == 0 || enc[i - 1] == '\n') && elen - i >= 3 &&
		    memcmp(enc + i, ".\r\n", 3) == 0 && i + 3 != elen)
			__builtin_trap();
	}
	while (consumed < elen && dd.state != DOTDEC_DONE &&
	    dd.state != DOTDEC_BARE_LF_END) {
		consumed += dotdec_run(&dd, enc + consumed, elen - consumed,
		    dec + dlen, &got);
		dlen += got;
	}
	if (dd.state != DOTDEC_DONE || consumed != elen)
		__builtin_trap();
	/* The round trip gives the message with every line end an LF, and
	 * one at the end. */
	nlen = normalize(in, size, norm);
	if (!(dlen == nlen || (dlen == nlen + 1 && dec[nlen] == '\n')))
		__builtin_trap();
	if (memcmp(dec, norm, nlen) != 0)
		__builtin_trap();

	/* mboxrd, then un-quoted. */
	elen = 0;
	for (size_t i = 0; i < size; i += step)
		elen += mboxrd_run(&q, in + i, size - i < step ? size - i :
		    step, enc + elen);
	elen += mboxrd_finish(&q, enc + elen);
	dlen = unquote(enc, elen, dec);
	if (dlen < size || memcmp(dec, in, size) != 0)
		__builtin_trap();
	free(norm);
	free(enc);
	free(dec);
	return 0;
}
