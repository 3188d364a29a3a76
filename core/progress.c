#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "progress.h"

/* Quiet for short fetches; then at most a few redraws a second. */
#define SHOW_AFTER_MS	1000
#define REDRAW_MS	200

static struct {
	bool		 allowed;
	bool		 active;
	bool		 drawn;
	char		 account[64];
	size_t		 total, done;
	uint64_t	 total_bytes, bytes;
	int64_t		 started, last_draw;
} p;

static void
erase(void)
{
	if (p.drawn) {
		if (write(STDERR_FILENO, "\r\033[K", 4) == -1) {
			/* Progress is cosmetic: nothing to do. */
		}
		p.drawn = false;
	}
}

void
progress_allow(bool allowed)
{
	p.allowed = allowed && isatty(STDERR_FILENO);
}

void
progress_start(const char *account, size_t total, uint64_t bytes)
{
	if (!p.allowed || total == 0)
		return;
	memset(&p.account, 0, sizeof p.account);
	snprintf(p.account, sizeof p.account, "%s", account);
	p.total = total;
	p.total_bytes = bytes;
	p.done = 0;
	p.bytes = 0;
	p.started = clock_ms();
	p.last_draw = 0;
	p.active = true;
	/* A log line erases the progress line first; the next update
	 * draws it again below. */
	log_set_before_write(erase);
}

void
progress_update(size_t done, uint64_t bytes)
{
	int64_t now = clock_ms(), elapsed;
	char line[256], got[32], all[32], rate[32], eta[32] = "";
	double per_second;

	if (!p.active)
		return;
	p.done = done;
	p.bytes = bytes;
	elapsed = now - p.started;
	if (elapsed < SHOW_AFTER_MS || now - p.last_draw < REDRAW_MS)
		return;
	p.last_draw = now;
	per_second = (double)bytes * 1000 / (double)elapsed;
	log_size(bytes, got, sizeof got);
	log_size(p.total_bytes, all, sizeof all);
	log_size((uint64_t)per_second, rate, sizeof rate);
	if (per_second > 0 && p.total_bytes > bytes) {
		long left = (long)((double)(p.total_bytes - bytes) /
		    per_second);

		snprintf(eta, sizeof eta, ", %ld:%02ld left", left / 60,
		    left % 60);
	}
	snprintf(line, sizeof line, "\r\033[K%s: %zu/%zu messages, %s of %s, "
	    "%s/s%s", p.account, done, p.total, got, all, rate, eta);
	if (write(STDERR_FILENO, line, strlen(line)) == -1) {
		/* Progress is cosmetic: nothing to do. */
	}
	p.drawn = true;
}

void
progress_end(void)
{
	if (!p.active)
		return;
	erase();
	log_set_before_write(NULL);
	p.active = false;
}
