/*
 * Splitting a command line from the configuration into words, as sh
 * would but expanding nothing. Nothing may crash, and the words must
 * survive a round trip: each quoted back (single quotes) and the line
 * split again gives the same words.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The words as one line again, each in single quotes. */
static char *
requote(char **argv)
{
	size_t len = 1;
	char *line, *o;

	for (char **a = argv; *a != NULL; a++)
		len += 4 * strlen(*a) + 3;
	line = o = xmalloc(len);
	for (char **a = argv; *a != NULL; a++) {
		*o++ = '\'';
		for (const char *c = *a; *c != '\0'; c++) {
			if (*c == '\'') {
				memcpy(o, "'\\''", 4);
				o += 4;
			} else
				*o++ = *c;
		}
		*o++ = '\'';
		*o++ = ' ';
	}
	*o = '\0';
	return line;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = xmalloc(size + 1), *again;
	const char *why = NULL;
	char **argv, **argv2;
	size_t n = 0;

	memcpy(line, data, size);
	line[size] = '\0';
	argv = command_split(line, &why);
	if (argv == NULL) {
		if (why == NULL)
			__builtin_trap();
		free(line);
		return 0;
	}
	for (; argv[n] != NULL; n++)
		if (strlen(argv[n]) > size)
			__builtin_trap();
	if (n == 0)
		__builtin_trap();
	again = requote(argv);
	argv2 = command_split(again, &why);
	if (argv2 == NULL)
		__builtin_trap();
	for (size_t i = 0; i <= n; i++)
		if ((argv[i] == NULL) != (argv2[i] == NULL) ||
		    (argv[i] != NULL && strcmp(argv[i], argv2[i]) != 0))
			__builtin_trap();
	command_free_argv(argv);
	command_free_argv(argv2);
	free(again);
	free(line);
	return 0;
}
