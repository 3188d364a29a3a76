/*
 * Regular expressions with PCRE2, compiled once at start (JIT where the
 * platform has it). Matching has three outcomes: a match limit hit on a
 * hostile message is an error the caller must handle, never a silent
 * "no match".
 */
#ifndef MF_REGEX_H
#define MF_REGEX_H

#include <stddef.h>
#include <stdint.h>

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

/*
 * The CPU time one message's matching may take, across all its rules:
 * the limits above bound a single match, not a thousand rules each just
 * under them on a 256 KB header. Once it is used up every further match
 * is an error; one match may overrun it by what that match costs.
 */
struct regex_budget {
	int64_t	limit_ns;
	int64_t	spent_ns;
	int64_t	wall_mark;	/* monotonic ns at the last reading; 0: none */
	int64_t	cpu_mark;	/* the thread's CPU time then */
};

#define REGEX_BUDGET(seconds)	{ (int64_t)(seconds) * 1000000000, 0, 0, 0 }

/* Compile pattern; on failure e says why and where in the pattern. */
struct regex *regex_compile(const char *pattern, struct err *e);
void regex_free(struct regex *re);
const char *regex_pattern(const struct regex *re);

/* Match against [subject, subject + len), charging the CPU time to
 * budget (NULL: none). On REGEX_ERROR, e says why (the match limit, the
 * budget used up). */
enum regex_result regex_match(const struct regex *re, const char *subject,
    size_t len, struct regex_budget *budget, struct err *e);

#endif
