/* An account's summary, as text or JSON: see report.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "report.h"

/* Room for the numbers and names, and an error message escaped; a line
 * under PIPE_BUF, so accounts run in parallel never interleave. */
#define JSON_LINE	4000
#define JSON_NAME	600
#define JSON_ERROR	1800

void
report_text(const struct report *r)
{
	const struct stats *st = r->st;
	char line[512];

	if (!r->check) {
		log_summary("%s: %s", r->account, stats_summary(st, r->dry_run,
		    r->seconds, line, sizeof line));
		return;
	}
	log_summary("%s: %u new, %u on the server%s (checked only: nothing "
	    "fetched)", r->account, stats_get(st, STAT_NEW),
	    stats_get(st, STAT_LISTED), r->status != 0 ? ", failed" : "");
}

/* "\"name\":\"escaped\"" or "\"name\":null". */
static size_t
json_field(char *buf, size_t size, const char *name, const char *value,
    size_t cap)
{
	char esc[JSON_ERROR];

	if (value == NULL)
		return (size_t)snprintf(buf, size, "\"%s\":null", name);
	json_escape(esc, cap < sizeof esc ? cap : sizeof esc, value,
	    strlen(value));
	return (size_t)snprintf(buf, size, "\"%s\":\"%s\"", name, esc);
}

static void
write_line(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDOUT_FILENO, line, len);

		if (w <= 0)
			return;
		line += w;
		len -= (size_t)w;
	}
}

void
report_json(const struct report *r)
{
	const struct stats *st = r->st;
	char line[JSON_LINE];
	size_t o = 0;

#define ADD(f)	do {							\
	size_t n_ = (f);						\
	o = o + n_ < sizeof line ? o + n_ : sizeof line - 1;		\
} while (0)
	ADD((size_t)snprintf(line, sizeof line, "{"));
	ADD(json_field(line + o, sizeof line - o, "account", r->account,
	    JSON_NAME));
	ADD((size_t)snprintf(line + o, sizeof line - o, ","));
	ADD(json_field(line + o, sizeof line - o, "protocol", r->protocol,
	    JSON_NAME));
	ADD((size_t)snprintf(line + o, sizeof line - o, ","));
	ADD(json_field(line + o, sizeof line - o, "server", r->server,
	    JSON_NAME));
	ADD((size_t)snprintf(line + o, sizeof line - o, ",\"dry_run\":%s,"
	    "\"check\":%s,\"new\":%u,\"delivered\":%u,\"deleted_by_rules\":%u,"
	    "\"skipped\":%u,\"failed\":%u,\"set_aside\":%u,\"left\":%u,"
	    "\"removed\":%u,\"messages\":%u,\"bytes\":%" PRIu64 ","
	    "\"seconds\":%.3f,\"status\":%d,", r->dry_run ? "true" : "false",
	    r->check ? "true" : "false", stats_get(st, STAT_NEW),
	    stats_get(st, STAT_DELIVERED), stats_get(st, STAT_DELETED_BY_RULES),
	    stats_get(st, STAT_SKIPPED), stats_get(st, STAT_FAILED),
	    stats_get(st, STAT_SET_ASIDE), stats_left(st),
	    stats_get(st, STAT_REMOVED), stats_get(st, STAT_LISTED), st->bytes,
	    r->seconds, r->status));
	ADD(json_field(line + o, sizeof line - o, "error", r->error,
	    JSON_ERROR));
	/* Fields added later come last. */
	ADD((size_t)snprintf(line + o, sizeof line - o, ",\"moved\":%u}\n",
	    stats_get(st, STAT_MOVED)));
#undef ADD
	write_line(line, o);
}
