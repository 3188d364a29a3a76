/*
 * Regular expressions with PCRE2, compiled once at start (JIT where the
 * platform has it). Matching has three outcomes: a match limit hit on a
 * hostile message is an error the caller must handle, never a silent
 * "no match".
 */
#ifndef MF_REGEX_H
#define MF_REGEX_H

#include <stddef.h>

#include "err.h"

/* Backtracking steps and nesting a single match may use. */
#define REGEX_MATCH_LIMIT	10000000
#define REGEX_DEPTH_LIMIT	10000
#define REGEX_HEAP_LIMIT_KB	(64 * 1024)

enum regex_result {
	REGEX_NO_MATCH = 0,
	REGEX_MATCH = 1,
	REGEX_ERROR = -1,
};

struct regex;

/* Compile pattern; on failure e says why and where in the pattern. */
struct regex *regex_compile(const char *pattern, struct err *e);
void regex_free(struct regex *re);
const char *regex_pattern(const struct regex *re);

/* Match against [subject, subject + len). On REGEX_ERROR, e says why
 * (e.g. the match limit). */
enum regex_result regex_match(const struct regex *re, const char *subject,
    size_t len, struct err *e);

#endif
