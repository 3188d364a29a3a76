#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regex.h"
#include "xmalloc.h"

struct regex {
	char			*pattern;
	pcre2_code		*code;
	pcre2_match_context	*mctx;
	bool			 jit;
};

/* One match-data block per thread of matching; we match in one thread. */
static pcre2_match_data *match_data;

struct regex *
regex_compile(const char *pattern, struct err *e)
{
	struct regex *re;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE offset;
	int code;
	pcre2_code *c;

	/* UTF mode so that decoded headers match as text, but tolerant of
	 * invalid UTF-8, which message bodies are full of. */
	c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &offset, NULL);
	if (c == NULL) {
		pcre2_get_error_message(code, msg, sizeof msg);
		err_set(e, ERR_CONFIG, "regex \"%s\" does not compile: %s (at "
		    "character %zu)", pattern, (char *)msg, (size_t)offset);
		return NULL;
	}
	re = xcalloc(1, sizeof *re);
	re->pattern = xstrdup(pattern);
	re->code = c;
	/* MAILFERRY_NO_JIT: the interpreter, which valgrind can follow
	 * (it cannot see into JIT-generated code). */
	re->jit = getenv("MAILFERRY_NO_JIT") == NULL &&
	    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) == 0;
	re->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(re->mctx, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(re->mctx, REGEX_HEAP_LIMIT_KB);
	return re;
}

void
regex_free(struct regex *re)
{
	if (re == NULL)
		return;
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	free(re->pattern);
	free(re);
}

const char *
regex_pattern(const struct regex *re)
{
	return re->pattern;
}

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The thread's CPU clock is a system call, not a vDSO read: it is read
 * only once a millisecond of monotonic time has passed since the last
 * reading, which charges the budget to within a millisecond. (Read
 * around every match, it cost 100 rules 1.2 s of system time over
 * 10,000 messages.) What runs between matches is charged too: it is the
 * rules' work as well.
 */
#define CPU_READ_EVERY_NS	1000000

static void
budget_start(struct regex_budget *b)
{
	if (b->wall_mark != 0)
		return;
	b->wall_mark = clock_ns(CLOCK_MONOTONIC);
	b->cpu_mark = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void
budget_charge(struct regex_budget *b)
{
	int64_t now = clock_ns(CLOCK_MONOTONIC), cpu;

	if (now - b->wall_mark < CPU_READ_EVERY_NS)
		return;
	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	b->spent_ns += cpu - b->cpu_mark;
	b->cpu_mark = cpu;
	b->wall_mark = now;
}

enum regex_result
regex_match(const struct regex *re, const char *subject, size_t len,
    struct regex_budget *budget, struct err *e)
{
	PCRE2_UCHAR msg[256];
	int rc;

	if (budget != NULL) {
		if (budget->spent_ns >= budget->limit_ns) {
			err_set(e, ERR_TEMP, "the rules used up the %jd s of "
			    "CPU time a message may take (rules_cpu_limit)",
			    (intmax_t)(budget->limit_ns / 1000000000));
			return REGEX_ERROR;
		}
		budget_start(budget);
	}
	if (match_data == NULL)
		match_data = pcre2_match_data_create(1, NULL);
	rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, match_data,
	    re->mctx);
	if (budget != NULL)
		budget_charge(budget);
	if (rc >= 0)
		return REGEX_MATCH;
	if (rc == PCRE2_ERROR_NOMATCH)
		return REGEX_NO_MATCH;
	pcre2_get_error_message(rc, msg, sizeof msg);
	err_set(e, ERR_TEMP, "regex \"%s\": %s", re->pattern, (char *)msg);
	return REGEX_ERROR;
}
