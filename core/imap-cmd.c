/*
 * The IMAP commands of a fetch: pipelined FETCH, STORE, MOVE and COPY by
 * UID, and SELECT, the listing and EXPUNGE one at a time.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imap-internal.h"

/* As many of uids[0, n) as fit in IMAP_SET_MAX bytes, as a set: runs of
 * consecutive UIDs as "a:b". Returns how many it took (at least one). */
static size_t
uid_set(const uint32_t *uids, size_t n, char *buf)
{
	size_t i = 0, len = 0;

	buf[0] = '\0';
	while (i < n) {
		size_t j = i;
		char piece[32];
		int plen;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		plen = snprintf(piece, sizeof piece, "%s%" PRIu32, len ? "," :
		    "", uids[i]);
		if (j > i)
			plen += snprintf(piece + plen, sizeof piece - (size_t)plen,
			    ":%" PRIu32, uids[j]);
		if (len + (size_t)plen > IMAP_SET_MAX && len > 0)
			break;
		memcpy(buf + len, piece, (size_t)plen + 1);
		len += (size_t)plen;
		i = j + 1;
	}
	return i;
}

void
imap_fetch(struct imap *im, uint32_t uid, enum imap_section section,
    off_t limit, struct msg *m, uint64_t cookie)
{
	struct imap_pending *p;
	char args[64];

	snprintf(args, sizeof args, " %" PRIu32 " (UID BODY.PEEK[%s])", uid,
	    section == IMAP_SECTION_HEADER ? "HEADER" : "");
	imap_cmd_begin(im, IMAP_CMD_FETCH, "UID FETCH");
	imap_cmd_raw(im, args, false);
	p = imap_cmd_end(im, cookie);
	p->uid = uid;
	p->section = section;
	p->limit = limit;
	p->msg = m;
}

size_t
imap_store(struct imap *im, const uint32_t *uids, size_t n, unsigned flags,
    uint64_t cookie)
{
	char set[IMAP_SET_MAX + 32];
	size_t taken = uid_set(uids, n, set);

	imap_cmd_begin(im, IMAP_CMD_STORE, "UID STORE ");
	imap_cmd_raw(im, set, false);
	imap_cmd_raw(im, " +FLAGS.SILENT (", false);
	imap_cmd_raw(im, flags & IMAP_FLAG_SEEN ? "\\Seen" : "", false);
	if ((flags & IMAP_FLAG_SEEN) && (flags & IMAP_FLAG_DELETED))
		imap_cmd_raw(im, " ", false);
	imap_cmd_raw(im, flags & IMAP_FLAG_DELETED ? "\\Deleted" : "", false);
	imap_cmd_raw(im, ")", false);
	imap_cmd_end(im, cookie);
	return taken;
}

static size_t
to_folder(struct imap *im, enum imap_cmd cmd, const char *name,
    const uint32_t *uids, size_t n, const char *folder, uint64_t cookie)
{
	char set[IMAP_SET_MAX + 32];
	size_t taken = uid_set(uids, n, set);

	imap_cmd_begin(im, cmd, name);
	imap_cmd_raw(im, set, false);
	imap_cmd_raw(im, " ", false);
	imap_cmd_mailbox(im, folder);
	imap_cmd_end(im, cookie);
	return taken;
}

size_t
imap_move(struct imap *im, const uint32_t *uids, size_t n,
    const char *folder, uint64_t cookie)
{
	return to_folder(im, IMAP_CMD_MOVE, "UID MOVE ", uids, n, folder,
	    cookie);
}

size_t
imap_copy(struct imap *im, const uint32_t *uids, size_t n,
    const char *folder, uint64_t cookie)
{
	return to_folder(im, IMAP_CMD_COPY, "UID COPY ", uids, n, folder,
	    cookie);
}

void
imap_noop(struct imap *im, uint64_t cookie)
{
	imap_cmd_begin(im, IMAP_CMD_NOOP, "NOOP");
	imap_cmd_end(im, cookie);
}

/* ---- one at a time ------------------------------------------------------ */

static int
nothing_in_flight(const struct imap *im, const char *what, struct err *e)
{
	if (im->unanswered == 0)
		return 0;
	return err_set(e, ERR_INTERNAL, "%s: IMAP %s with commands in flight",
	    im->conn->label, what);
}

int
imap_select(struct imap *im, const char *folder, bool read_only,
    struct imap_folder *f, struct err *e)
{
	struct imap_event ev;
	char what[300];

	if (nothing_in_flight(im, "SELECT", e) == -1)
		return -1;
	memset(&im->folder, 0, sizeof im->folder);
	im->selected = im->exists_seen = false;
	imap_cmd_begin(im, read_only ? IMAP_CMD_EXAMINE : IMAP_CMD_SELECT,
	    read_only ? "EXAMINE " : "SELECT ");
	imap_cmd_mailbox(im, folder);
	imap_cmd_end(im, 0);
	if (imap_wait_done(im, &ev, e) == -1)
		return -1;
	snprintf(what, sizeof what, "cannot open folder \"%s\"", folder);
	if (ev.status != IMAP_ST_OK)
		return imap_fail(im, &ev, what, ERR_UNAVAIL, e);
	/* Without it, UIDs mean nothing from one session to the next. */
	if (im->folder.uidvalidity == 0)
		return err_set(e, ERR_UNAVAIL, "%s: folder \"%s\": the server "
		    "gives no UIDVALIDITY, so its messages cannot be tracked",
		    im->conn->label, folder);
	if (read_only)
		im->folder.read_only = true;
	im->selected = true;
	/* What EXISTS says from now on is news. */
	im->new_mail = false;
	*f = im->folder;
	return 0;
}

int
imap_list(struct imap *im, imap_list_fn fn, void *arg, struct err *e)
{
	struct imap_event ev;

	if (nothing_in_flight(im, "listing", e) == -1)
		return -1;
	if (!im->selected)
		return err_set(e, ERR_INTERNAL, "%s: IMAP listing without a "
		    "folder", im->conn->label);
	/* Whatever arrives from now on is seen by this listing or marks
	 * new mail for the next one. */
	im->new_mail = false;
	/* An empty folder has nothing to list; a server that did not say
	 * how many messages there are is asked anyway. */
	if (im->exists_seen && im->folder.exists == 0)
		return 0;
	imap_cmd_begin(im, IMAP_CMD_LIST,
	    "UID FETCH 1:* (UID RFC822.SIZE FLAGS)");
	imap_cmd_end(im, 0);
	for (;;) {
		if (imap_read(im, &ev, e) == -1)
			return -1;
		if (ev.kind == IMAP_EV_DONE)
			break;
		if (fn(arg, ev.uid, ev.size, ev.flags, e) == -1)
			return -1;
	}
	if (ev.status != IMAP_ST_OK)
		return imap_fail(im, &ev, "listing the folder failed", ERR_TEMP,
		    e);
	return 0;
}

/* ---- expunging ---------------------------------------------------------- */

/* One command at a time, answered OK. */
static int
run(struct imap *im, enum imap_cmd cmd, const char *line, const char *what,
    struct err *e)
{
	return imap_simple(im, cmd, line, what, ERR_TEMP, e);
}

static int
uid_expunge(struct imap *im, const uint32_t *uids, size_t n, struct err *e)
{
	char set[IMAP_SET_MAX + 32], line[IMAP_SET_MAX + 48];

	while (n > 0) {
		size_t taken = uid_set(uids, n, set);

		snprintf(line, sizeof line, "UID EXPUNGE %s", set);
		if (run(im, IMAP_CMD_UID_EXPUNGE, line, "UID EXPUNGE failed",
		    e) == -1)
			return -1;
		uids += taken;
		n -= taken;
	}
	return 0;
}

/* Other messages flagged \Deleted, by a search that leaves ours out; with
 * ESEARCH only their count comes back, however many there are. */
static int
count_others(struct imap *im, const uint32_t *uids, size_t n, bool *checked,
    struct err *e)
{
	char set[IMAP_SET_MAX + 32], line[IMAP_SET_MAX + 80];

	*checked = uid_set(uids, n, set) == n;
	if (!*checked)
		return 0;
	snprintf(line, sizeof line, "UID SEARCH %sDELETED NOT UID %s",
	    imap_has(im, IMAP_CAP_ESEARCH) ? "RETURN (COUNT) " : "", set);
	im->search_hits = 0;
	return run(im, IMAP_CMD_SEARCH, line, "UID SEARCH failed", e);
}

int
imap_expunge(struct imap *im, const uint32_t *uids, size_t n,
    enum imap_expunged *res, size_t *others, struct err *e)
{
	bool checked;

	*res = IMAP_EXPUNGED;
	*others = 0;
	if (nothing_in_flight(im, "EXPUNGE", e) == -1)
		return -1;
	if (n == 0)
		return 0;
	if (imap_has(im, IMAP_CAP_UIDPLUS))
		return uid_expunge(im, uids, n, e);
	/* Plain EXPUNGE removes every \Deleted message of the folder: only
	 * when all of them are ours. */
	if (count_others(im, uids, n, &checked, e) == -1)
		return -1;
	if (!checked) {
		*res = IMAP_LEFT_UNCHECKED;
		return 0;
	}
	if (im->search_hits > 0) {
		*res = IMAP_LEFT_FLAGGED;
		*others = im->search_hits > SIZE_MAX ? SIZE_MAX :
		    (size_t)im->search_hits;
		return 0;
	}
	return run(im, IMAP_CMD_EXPUNGE, "EXPUNGE", "EXPUNGE failed", e);
}
