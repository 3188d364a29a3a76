/*
 * IMAP client protocol (RFC 3501, RFC 9051 where the server offers it):
 * the commands a mail fetcher needs, with UIDs throughout.
 *
 * Commands are queued and sent in batches; any number may be in flight,
 * and their results come back as events from imap_read(), in the order
 * the server sends them: a command's completion (its tagged OK, NO or
 * BAD), a message whose data arrived, a message listed. Untagged
 * responses that may come at any time are handled inside: EXISTS and
 * EXPUNGE keep the folder's count (new mail is noticed), FETCH flag
 * changes of other messages are ignored, CAPABILITY is recorded, an
 * [ALERT] is shown to the user (log_warn), and a BYE the client did not
 * ask for ends the session with an error.
 *
 * Message data is streamed straight into the struct msg given with the
 * fetch, CRLF line ends stored as LF, never held whole. Each command's
 * replies have a deadline (conn_begin_reply), extended by the bytes that
 * arrive, so a trickling server cannot stretch a listing or a message
 * forever.
 *
 * At -vv every line is traced; credentials are traced as "***".
 */
#ifndef MF_IMAP_H
#define MF_IMAP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "err.h"
#include "imap-parse.h"
#include "msg.h"

/* Capabilities (RFC 3501 7.2.1 and the extensions named). */
#define IMAP_CAP_IMAP4REV1	0x00001
#define IMAP_CAP_IMAP4REV2	0x00002		/* RFC 9051 */
#define IMAP_CAP_STARTTLS	0x00004
#define IMAP_CAP_LOGINDISABLED	0x00008
#define IMAP_CAP_SASL_IR	0x00010		/* RFC 4959 */
#define IMAP_CAP_IDLE		0x00020		/* RFC 2177 */
#define IMAP_CAP_UIDPLUS	0x00040		/* RFC 4315 */
#define IMAP_CAP_MOVE		0x00080		/* RFC 6851 */
#define IMAP_CAP_LITERALPLUS	0x00100		/* RFC 7888 */
#define IMAP_CAP_LITERALMINUS	0x00200		/* RFC 7888 */
#define IMAP_CAP_ENABLE		0x00400		/* RFC 5161 */
#define IMAP_CAP_UTF8_ACCEPT	0x00800		/* RFC 6855 */
#define IMAP_CAP_AUTH_PLAIN	0x01000
#define IMAP_CAP_AUTH_LOGIN	0x02000
#define IMAP_CAP_AUTH_XOAUTH2	0x04000
#define IMAP_CAP_AUTH_OAUTHBEARER 0x08000	/* RFC 7628 */
#define IMAP_CAP_ESEARCH	0x10000		/* RFC 4731 */

/* System flags, as a bit set. */
#define IMAP_FLAG_SEEN		0x01
#define IMAP_FLAG_ANSWERED	0x02
#define IMAP_FLAG_FLAGGED	0x04
#define IMAP_FLAG_DELETED	0x08
#define IMAP_FLAG_DRAFT		0x10

/* A UID set in one command is at most this long, so a command line stays
 * well under the 8 KB servers accept. */
#define IMAP_SET_MAX		4000
/* IDLE is renewed this often: servers may drop a client idle for 30
 * minutes (RFC 2177). */
#define IMAP_IDLE_RENEW		(25 * 60)

enum imap_cmd {
	IMAP_CMD_CAPABILITY,
	IMAP_CMD_STARTTLS,
	IMAP_CMD_LOGIN,
	IMAP_CMD_AUTHENTICATE,
	IMAP_CMD_ENABLE,
	IMAP_CMD_SELECT,
	IMAP_CMD_EXAMINE,
	IMAP_CMD_LIST,		/* UID FETCH 1:* (UID RFC822.SIZE FLAGS) */
	IMAP_CMD_FETCH,		/* UID FETCH n BODY.PEEK[...] */
	IMAP_CMD_STORE,		/* UID STORE set +FLAGS.SILENT (...) */
	IMAP_CMD_COPY,
	IMAP_CMD_MOVE,
	IMAP_CMD_SEARCH,	/* UID SEARCH DELETED NOT UID set */
	IMAP_CMD_UID_EXPUNGE,
	IMAP_CMD_EXPUNGE,
	IMAP_CMD_IDLE,
	IMAP_CMD_NOOP,
	IMAP_CMD_LOGOUT,
};

enum imap_section {
	IMAP_SECTION_WHOLE,	/* BODY.PEEK[] */
	IMAP_SECTION_HEADER,	/* BODY.PEEK[HEADER], the empty line included */
};

enum imap_event_kind {
	IMAP_EV_DONE,		/* a command completed */
	IMAP_EV_MESSAGE,	/* a fetched message is complete in its msg */
	IMAP_EV_LISTED,		/* a message of the listing */
	IMAP_EV_CONTINUE,	/* "+": only inside this module */
};

struct imap_event {
	enum imap_event_kind kind;
	enum imap_cmd	 cmd;		/* DONE: the command */
	uint64_t	 cookie;	/* DONE, MESSAGE: as given with the
					 * command */
	enum imap_status status;	/* DONE: OK, NO or BAD */
	char		 code[64];	/* DONE: response code, "" if none */
	char		 text[512];	/* DONE: the text; CONTINUE: it */
	uint32_t	 uid;		/* FETCH: DONE, MESSAGE; LISTED */
	enum imap_section section;	/* FETCH: DONE, MESSAGE */
	bool		 fetched;	/* DONE of a FETCH: data arrived */
	uint64_t	 size;		/* MESSAGE: bytes stored; LISTED:
					 * RFC822.SIZE */
	unsigned	 flags;		/* LISTED: IMAP_FLAG_* */
};

/* A command sent and not yet answered. */
struct imap_pending {
	unsigned	 tag;
	enum imap_cmd	 cmd;
	bool		 answered;	/* out of order: waits for those before */
	uint64_t	 cookie;
	uint64_t	 out_end;	/* where its bytes end (see out_base) */
	/* FETCH */
	uint32_t	 uid;
	enum imap_section section;
	bool		 got_body;
	off_t		 limit;
	struct msg	*msg;
};

/* The selected folder. */
struct imap_folder {
	uint32_t	 uidvalidity;	/* 0: the server did not say */
	uint32_t	 uidnext;	/* 0: the server did not say */
	uint32_t	 exists;
	bool		 read_only;
};

struct imap {
	struct conn	*conn;
	struct imap_parser ps;
	struct imap_sink sink;
	unsigned	 caps;
	unsigned	 caps_implied;	/* by IMAP4rev2, once enabled */
	bool		 caps_known;	/* a CAPABILITY list was seen */
	bool		 utf8;		/* IMAP4rev2 or UTF8=ACCEPT enabled */
	bool		 preauth;	/* greeted PREAUTH */
	bool		 logging_out;

	unsigned	 next_tag;
	struct imap_pending *queue;	/* ring, in tag order */
	size_t		 qhead, qlen, qcap;
	size_t		 unanswered;
	size_t		 listing;	/* IMAP_CMD_LIST in flight */
	bool		 bye;		/* BYE received */

	/* Bytes of commands not yet given to the connection: a command
	 * with a synchronizing literal waits there for the server's "+". */
	char		*out;
	size_t		 outlen, outcap, outsent;
	uint64_t	 out_base;	/* offset of out[0] in all bytes sent */
	uint64_t	*holds;		/* offsets where a "+" must come first */
	size_t		 nholds, capholds;
	char		*trace;		/* the command being built, as shown */
	size_t		 tracelen, tracecap;
	bool		 new_deadline;	/* next read starts a reply */

	struct imap_folder folder;
	bool		 selected;
	bool		 exists_seen;	/* an EXISTS came since SELECT */
	bool		 new_mail;	/* EXISTS grew since SELECT or the
					 * last listing */
	int64_t		 idle_renew_ms;	/* IMAP_IDLE_RENEW; the unit
					 * tests shorten it */

	/* The message being received. */
	struct imap_pending *target;
	bool		 held_cr;
	char		*decoded;

	/* How many messages UID SEARCH answers have named. */
	uint64_t	 search_hits;
	/* The UID whose data was announced larger than its fetch's limit
	 * (the session is then unusable); 0: none. */
	uint32_t	 too_large;
};

struct imap *imap_new(struct conn *c);
/* Free the handle (not the connection). */
void imap_free(struct imap *im);

static inline bool
imap_has(const struct imap *im, unsigned cap)
{
	return (im->caps & cap) != 0;
}

static inline size_t
imap_in_flight(const struct imap *im)
{
	return im->unanswered;
}

/* ---- pipelined commands ------------------------------------------------
 * Each queues a command; its completion comes from imap_read() as an
 * IMAP_EV_DONE carrying `cookie`. Keep what is queued and unread
 * bounded (a window), so neither side's socket buffer fills up. */

/* Fetch one message, or its header, without setting \Seen. The data goes
 * into m (reset first), which must stay valid until the command is done;
 * an announced size over `limit` is an error. */
void imap_fetch(struct imap *im, uint32_t uid, enum imap_section section,
    off_t limit, struct msg *m, uint64_t cookie);
/* Add flags (IMAP_FLAG_*) to messages, silently. The UIDs need not be
 * sorted; returns how many of them this command took (a set is bounded
 * by IMAP_SET_MAX): call again with the rest. */
size_t imap_store(struct imap *im, const uint32_t *uids, size_t n,
    unsigned flags, uint64_t cookie);
/* MOVE (RFC 6851) or COPY to `folder`; the same return value. The
 * caller chooses: MOVE only when imap_has(im, IMAP_CAP_MOVE). */
size_t imap_move(struct imap *im, const uint32_t *uids, size_t n,
    const char *folder, uint64_t cookie);
size_t imap_copy(struct imap *im, const uint32_t *uids, size_t n,
    const char *folder, uint64_t cookie);
void imap_noop(struct imap *im, uint64_t cookie);

/* The next event. A message's data must be used (or copied) before the
 * next call: the same msg may receive the next one. */
int imap_read(struct imap *im, struct imap_event *ev, struct err *e);

/* ---- one command at a time (nothing else in flight) -------------------- */

/* SELECT, or EXAMINE when read_only: nothing will be changed. */
int imap_select(struct imap *im, const char *folder, bool read_only,
    struct imap_folder *f, struct err *e);

/* Every message of the selected folder: fn gets its UID, RFC822.SIZE and
 * flags, one at a time, in the server's order (a hostile server may
 * repeat a UID: the caller decides); memory stays flat. A return of -1
 * from fn stops the listing and returns its error; the session is then
 * unusable (abort it). */
typedef int (*imap_list_fn)(void *arg, uint32_t uid, uint64_t size,
    unsigned flags, struct err *e);
int imap_list(struct imap *im, imap_list_fn fn, void *arg, struct err *e);

enum imap_expunged {
	IMAP_EXPUNGED,		/* exactly the messages given are gone */
	IMAP_LEFT_FLAGGED,	/* no UIDPLUS, and another message of the
				 * folder carries \Deleted: nothing expunged */
	IMAP_LEFT_UNCHECKED,	/* no UIDPLUS, and the UIDs are too many to
				 * check in one search: nothing expunged */
};
/* Remove exactly these messages, already flagged \Deleted: UID EXPUNGE
 * (UIDPLUS or IMAP4rev2); without it, EXPUNGE only when UID SEARCH finds
 * no other message flagged \Deleted, else *res = IMAP_LEFT_FLAGGED and
 * *others says how many such messages there are. */
int imap_expunge(struct imap *im, const uint32_t *uids, size_t n,
    enum imap_expunged *res, size_t *others, struct err *e);

/* Wait in IDLE (RFC 2177) until the selected folder grows, at most
 * `seconds`, renewing it every im->idle_renew_ms; *stop (may be NULL) set
 * by a signal ends the wait within a second. Returns 1 when new mail
 * arrived (also when it had already: EXISTS grew since the folder was
 * selected or last listed), 0 when the time ran out or stop was set, -1
 * on error. Needs IMAP_CAP_IDLE. */
int imap_idle(struct imap *im, int seconds, volatile sig_atomic_t *stop,
    struct err *e);

/* Turn a NO or BAD completion into an error, classed by its response
 * code (RFC 5530) or, without one, by `fallback`. */
int imap_fail(const struct imap *im, const struct imap_event *ev,
    const char *what, enum err_class fallback, struct err *e);

const char *imap_cmd_name(enum imap_cmd cmd);

#endif
