/*
 * The mbox lock record: whatever another program (or user) left in
 * MBOX.lock is parsed without crashing, and a record that parses is
 * exactly one mailferry would write (so no two texts mean one record).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotlock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dotlock_record r;
	char again[DOTLOCK_RECORD_MAX];
	size_t n;

	if (dotlock_parse((const char *)data, size, &r) == -1)
		return 0;
	if (r.pid <= 0 || (r.offset < 0) != (r.length < 0) ||
	    strlen(r.host) == 0)
		abort();
	n = dotlock_format(&r, again, sizeof again);
	if (n != size || memcmp(again, data, size) != 0)
		abort();
	return 0;
}
