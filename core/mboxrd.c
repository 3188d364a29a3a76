#include <stdio.h>
#include <string.h>

#include "mboxrd.h"

static const char from_[] = "From ";

size_t
mboxrd_run(struct mboxrd *q, const char *in, size_t inlen, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];

		if (q->line_start) {
			if (q->matched == 0 && c == '>') {
				out[o++] = c;
				continue;
			}
			if (c == from_[q->matched]) {
				if (++q->matched == 5) {
					out[o++] = '>';
					memcpy(out + o, from_, 5);
					o += 5;
					q->matched = 0;
					q->line_start = false;
				}
				continue;
			}
			/* Not a From line: release what was held back. */
			memcpy(out + o, from_, q->matched);
			o += q->matched;
			q->matched = 0;
			q->line_start = false;
		}
		out[o++] = c;
		if (c == '\n')
			q->line_start = true;
	}
	if (o > 0) {
		q->last_nl = out[o - 1] == '\n' && q->matched == 0;
		q->empty = false;
	} else if (q->matched > 0)
		q->empty = false;
	return o;
}

size_t
mboxrd_finish(struct mboxrd *q, char *out)
{
	size_t o = 0;

	memcpy(out, from_, q->matched);
	o += q->matched;
	if (o > 0 || (!q->empty && !q->last_nl))
		out[o++] = '\n';
	out[o++] = '\n';
	q->matched = 0;
	q->line_start = true;
	return o;
}

size_t
mboxrd_from_line(const char *sender, time_t when, char *out, size_t outsize)
{
	struct tm tm;
	char date[64];
	int n;

	/* The asctime(3) form readers expect, in local time. */
	localtime_r(&when, &tm);
	strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
	n = snprintf(out, outsize, "From %s %s\n", sender, date);
	return n < 0 ? 0 : (size_t)n < outsize ? (size_t)n : outsize - 1;
}
