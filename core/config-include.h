/*
 * The text of a configuration with every @include inlined, and a map
 * from each line of that text back to the file and line it was written
 * on. libconfig 1.5 handles @include itself only at the start of a line
 * and puts its include directory in front of absolute paths too; doing it
 * here lets `rules = ( @include "x.rules" );` work as mailferry.conf(5)
 * shows it, resolves each include relative to the file that names it
 * (with ~ and $HOME expanded), and names a missing file in the error.
 */
#ifndef MF_CONFIG_INCLUDE_H
#define MF_CONFIG_INCLUDE_H

#include <stddef.h>

/* Where a setting was written, for messages. */
struct source {
	const char	*file;
	int		 line;
};

struct config_text {
	char		*text;
	size_t		 len, cap;
	struct source	*map;		/* map[n]: where text line n came from */
	size_t		 nmap, capmap;
	char		**files;	/* the names map entries point to */
	size_t		 nfiles, capfiles;
};

/* Read `path` and everything it includes. Problems are reported as
 * FILE:LINE: ...; returns their number. */
int config_text_read(struct config_text *ct, const char *path);
void config_text_free(struct config_text *ct);
/* Where line `line` of the text was written. */
struct source config_text_source(const struct config_text *ct, int line);

#endif
