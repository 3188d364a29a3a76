/*
 * A message's header as the rules see it: the field index, unfolding,
 * RFC 2047 decoding of every value, the envelope sender, and header
 * edits as plugins make them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "msg.h"
#include "rfc2047.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct header_index *idx;
	struct msg m;
	struct err e;
	size_t len;
	char *s;

	log_setup(LOG_QUIET, false);
	msg_init(&m, "/tmp");
	if (msg_append(&m, (const char *)data, size, &e) == -1)
		goto out;
	msg_finish(&m);
	idx = msg_headers(&m);
	for (size_t i = 0; i < idx->n; i++)
		(void)msg_field_decoded(&idx->fields[i]);
	free(envelope_sender(&m));
	if (msg_header_remove(&m, "Received") == 0)
		(void)msg_header_add(&m, "X-Fuzz", "yes");
	idx = msg_headers(&m);
	for (size_t i = 0; i < idx->n; i++)
		(void)msg_field_decoded(&idx->fields[i]);
	/* The decoder alone, on the raw bytes. */
	s = rfc2047_decode((const char *)data, size, &len);
	if (strlen(s) > len)
		__builtin_trap();
	free(s);
out:
	msg_free(&m);
	return 0;
}
