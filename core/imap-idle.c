/*
 * Waiting for new mail with IDLE (RFC 2177): the server pushes EXISTS as
 * mail arrives. The wait is bounded by the caller, renewed before a
 * server's 30-minute inactivity limit, and ends within a second of a
 * stop request.
 */
#include <string.h>

#include "clock.h"
#include "imap-internal.h"
#include "log.h"

/* How long one wait may sleep before looking at the stop flag again
 * (a signal usually wakes it at once). */
#define IDLE_SLICE_MS	1000

static bool
stopped(volatile sig_atomic_t *stop)
{
	return stop != NULL && *stop;
}

/* IDLE, wait for its "+". */
static int
idle_start(struct imap *im, struct err *e)
{
	struct imap_event ev;

	imap_cmd_begin(im, IMAP_CMD_IDLE, "IDLE");
	imap_cmd_end(im, 0);
	if (imap_next_event(im, &ev, e) == -1)
		return -1;
	if (ev.kind == IMAP_EV_CONTINUE)
		return 0;
	if (ev.kind == IMAP_EV_DONE)
		return imap_fail(im, &ev, "IDLE refused", ERR_TEMP, e);
	return err_set(e, ERR_TEMP, "%s: the server sent message data in "
	    "answer to IDLE", im->conn->label);
}

/* Read what the server pushes until new mail, the end of the slice or a
 * stop. Returns 1 when the server ended the IDLE itself. */
static int
idle_wait(struct imap *im, int64_t until, volatile sig_atomic_t *stop,
    struct err *e)
{
	struct imap_event ev;
	int64_t now;
	int rc;

	while (!im->new_mail && !stopped(stop) && (now = clock_ms()) < until) {
		int64_t ms = until - now;

		/* Through the connection, which knows what OpenSSL holds
		 * and lowers a wake mark left raised by a download. A failed
		 * poll counts as input: the read says what went wrong. */
		if (!conn_readable(im->conn, (int)(ms < IDLE_SLICE_MS ? ms :
		    IDLE_SLICE_MS)))
			continue;
		/* Each pushed response has the usual deadline. */
		im->new_deadline = true;
		if ((rc = imap_read_one(im, &ev, e)) == -1)
			return -1;
		if (rc == 1 && ev.kind == IMAP_EV_DONE)
			return ev.status == IMAP_ST_OK ? 1 :
			    imap_fail(im, &ev, "IDLE failed", ERR_TEMP, e);
		if (rc == 1)
			return err_set(e, ERR_TEMP, "%s: unexpected %s during "
			    "IDLE", im->conn->label, ev.kind ==
			    IMAP_EV_CONTINUE ? "continuation request" :
			    "message data");
	}
	return 0;
}

/* DONE, and the IDLE command's completion. */
static int
idle_done(struct imap *im, struct err *e)
{
	struct imap_event ev;

	imap_send_line(im, "DONE", false);
	im->new_deadline = true;
	if (imap_wait_done(im, &ev, e) == -1)
		return -1;
	return ev.status == IMAP_ST_OK ? 0 :
	    imap_fail(im, &ev, "IDLE failed", ERR_TEMP, e);
}

int
imap_idle(struct imap *im, int seconds, volatile sig_atomic_t *stop,
    struct err *e)
{
	int64_t end = clock_ms() + (int64_t)seconds * 1000;

	if (!imap_has(im, IMAP_CAP_IDLE) || !im->selected ||
	    im->unanswered != 0)
		return err_set(e, ERR_INTERNAL, "%s: IDLE not possible now",
		    im->conn->label);
	while (!im->new_mail && !stopped(stop) && clock_ms() < end) {
		int64_t slice = clock_ms() + im->idle_renew_ms;
		int rc;

		if (idle_start(im, e) == -1)
			return -1;
		if (log_enabled(LOG_VERBOSE))
			log_verbose("%s: waiting for new mail (IDLE)",
			    im->conn->label);
		rc = idle_wait(im, slice < end ? slice : end, stop, e);
		if (rc == -1 || (rc == 0 && idle_done(im, e) == -1))
			return -1;
	}
	return im->new_mail ? 1 : 0;
}
