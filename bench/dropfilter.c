/*
 * mpop's header filter for the "drop" scenario of `make bench`: reads a
 * message header on standard input and exits 1 (mpop: delete, do not
 * fetch) when a Subject field starts with "[DROP]", else 0. In C rather
 * than a shell script, so that the comparison measures mpop, not sh.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

int
main(void)
{
	char line[8192];
	int drop = 0;

	while (fgets(line, sizeof line, stdin) != NULL)
		if (strncasecmp(line, "Subject: [DROP]", 15) == 0)
			drop = 1;
	return drop;
}
