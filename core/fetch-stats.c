/* The counters of an account's run and its worst failure. */
#include <stdio.h>

#include "fetch-stats.h"
#include "log.h"
#include "progress.h"

void
stats_count(struct stats *st, enum stat_counter s)
{
	st->n[s]++;
}

void
stats_add(struct stats *st, enum stat_counter s, unsigned n)
{
	st->n[s] += n;
}

void
stats_uncount_new(struct stats *st, unsigned n)
{
	n = n < st->n[STAT_NEW] ? n : st->n[STAT_NEW];
	st->n[STAT_NEW] -= n;
	st->n[STAT_HELD_BACK] += n;
}

void
stats_set_aside_late(struct stats *st)
{
	st->n[STAT_SET_ASIDE]++;
	st->set_aside_late++;
}

void
stats_failure(struct stats *st, enum err_class cls)
{
	if (err_exitcode(cls) > err_exitcode(st->worst))
		st->worst = cls;
}

void
stats_message_failed(struct stats *st, enum err_class cls)
{
	st->n[STAT_FAILED]++;
	stats_failure(st, cls);
}

void
stats_delivery_undone(struct stats *st)
{
	if (st->n[STAT_DELIVERED] > 0)
		st->n[STAT_DELIVERED]--;
	st->n[STAT_FAILED]++;
}

unsigned
stats_decided(const struct stats *st)
{
	return st->n[STAT_DELIVERED] + st->n[STAT_DELETED_BY_RULES] +
	    st->n[STAT_SKIPPED] + st->n[STAT_FAILED];
}

unsigned
stats_left(const struct stats *st)
{
	unsigned taken = stats_decided(st) + st->set_aside_late;

	return st->n[STAT_HELD_BACK] + (st->n[STAT_NEW] > taken ?
	    st->n[STAT_NEW] - taken : 0);
}

void
stats_received(struct stats *st, uint64_t bytes)
{
	st->bytes += bytes;
}

void
stats_progress(struct stats *st, uint64_t size)
{
	st->shown_done++;
	st->shown_bytes += size;
	progress_update(st->shown_done, st->shown_bytes);
}

void
stats_progress_reset(struct stats *st)
{
	st->shown_done = 0;
	st->shown_bytes = 0;
}

char *
stats_summary(const struct stats *st, bool dry_run, double seconds,
    char *buf, size_t size)
{
	char bytes[32], extra[384] = "";
	size_t o = 0;

#define EXTRA(cond, ...) do {						\
	if ((cond) && o < sizeof extra)					\
		o += (size_t)snprintf(extra + o, sizeof extra - o,	\
		    __VA_ARGS__);					\
} while (0)
	EXTRA(st->n[STAT_SKIPPED], ", %u skipped", st->n[STAT_SKIPPED]);
	EXTRA(stats_left(st), ", %u left for the next run", stats_left(st));
	EXTRA(st->n[STAT_REMOVED], ", %u %s from the server",
	    st->n[STAT_REMOVED], dry_run ? "would be removed" : "removed");
	EXTRA(st->n[STAT_MOVED], ", %u %s to the move_to folder",
	    st->n[STAT_MOVED], dry_run ? "would be moved" : "moved");
	EXTRA(st->n[STAT_TOO_BIG], ", %u over max_size left on the server",
	    st->n[STAT_TOO_BIG]);
	EXTRA(st->n[STAT_NO_UID], ", %u without UID left on the server",
	    st->n[STAT_NO_UID]);
	EXTRA(st->n[STAT_SET_ASIDE], ", %u set aside",
	    st->n[STAT_SET_ASIDE]);
	EXTRA(st->stopped, " (stopped by a signal)");
	EXTRA(dry_run, " (dry run: nothing delivered, deleted or recorded)");
#undef EXTRA
	log_size(st->bytes, bytes, sizeof bytes);
	snprintf(buf, size, "%u new, %u delivered, %u deleted by rules, %u "
	    "failed, %s in %.1f s%s", st->n[STAT_NEW], st->n[STAT_DELIVERED],
	    st->n[STAT_DELETED_BY_RULES], st->n[STAT_FAILED], bytes, seconds,
	    extra);
	return buf;
}
