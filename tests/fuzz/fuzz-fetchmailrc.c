/*
 * The fetchmail run control file converter: any input is either refused
 * or converted into a configuration that libconfig reads back; nothing
 * may crash, hang or grow without bound.
 */
#include <stdint.h>
#include <stdlib.h>

#include "convert-check.h"
#include "convert.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conv c;
	struct err e;

	if (size > 64 * 1024)
		return 0;
	log_setup(LOG_QUIET, false);
	conv_init(&c, "fetchmailrc", "fuzz");
	if (convert_fetchmailrc(&c, (const char *)data, size, &e) == 0)
		check_emitted(&c);
	conv_free(&c);
	return 0;
}
