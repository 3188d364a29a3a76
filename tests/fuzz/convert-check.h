/*
 * Shared by the --convert harnesses: whatever a parser accepted must
 * print as a configuration libconfig reads without error, whatever the
 * input's strings held.
 */
#ifndef MF_FUZZ_CONVERT_CHECK_H
#define MF_FUZZ_CONVERT_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <libconfig.h>

#include "convert.h"

static void
check_emitted(const struct conv *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	config_t lc;

	if (fp == NULL)
		abort();
	convert_emit(c, fp);
	fclose(fp);
	config_init(&lc);
	if (config_read_string(&lc, buf) != CONFIG_TRUE) {
		fprintf(stderr, "line %d: %s\n%s\n", config_error_line(&lc),
		    config_error_text(&lc), buf);
		abort();
	}
	config_destroy(&lc);
	free(buf);
}

#endif
