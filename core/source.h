/*
 * Mail sources: where messages come from. A protocol is a table of
 * functions (struct source_backend) chosen by the account's protocol, as
 * destinations are chosen by type (deliver.h); adding a protocol means
 * adding a file and an entry in source.c's table. The fetch loop
 * (fetch*.c) speaks to servers only through this interface, so that the
 * plan, the batches, the journal, the UID store, the rules and the
 * progress line serve every protocol from one copy.
 *
 * A session: open() connects, secures and logs in. The loop then walks
 * the account's mailboxes, each the unit of its work: select() one, and
 * learn its identity for the UID store; list() it into the listing
 * (fetch-list.h); send requests (fetch a message or its header, mark it
 * deleted), any number in flight up to caps.depth, and read the replies
 * (in the order the requests went for POP3; IMAP answers a fetch as soon
 * as its data is complete); expunge() makes the
 * mailbox's deletions happen. close() ends the session; abort() drops
 * it after a failure.
 *
 * Under each entry, "IMAP:" says what the IMAP source (core/imap.h,
 * imap-session.h) does there.
 */
#ifndef MF_SOURCE_H
#define MF_SOURCE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "err.h"
#include "fetch-list.h"
#include "msg.h"
#include "uidstore.h"

enum source_req {
	SOURCE_FETCH,		/* the whole message */
	SOURCE_FETCH_HEADER,	/* its header, the empty line included */
	SOURCE_DELETE,		/* mark it deleted */
	/* Optional (caps.reqs says which a source has). */
	SOURCE_MARK_SEEN,	/* mark it read */
	SOURCE_MOVE,		/* move it to the account's move_to mailbox */
};

#define SOURCE_REQ_BIT(r)	(1u << (r))

/* What reply() says about the oldest request in flight. */
struct source_reply {
	enum source_req	 req;
	size_t		 idx;		/* the message, in the listing */
	bool		 ok;		/* false: the server refused it */
	/* The request as the server saw it ("DELE 3"), and, refused, the
	 * server's answer as it came ("-ERR no such message"). */
	char		 what[64];
	char		 text[600];
};

/* reply() when a fetched message went over its limit: the session is
 * unusable, as after -1. */
#define SOURCE_TOO_LARGE	(-2)
/* select() when the mailbox cannot be opened but the session is good. */
#define SOURCE_NO_MAILBOX	(-3)

struct source_caps {
	size_t		 depth;		/* requests in flight at most: 1
					 * when the server cannot pipeline */
	unsigned	 reqs;		/* SOURCE_REQ_BIT of each request the
					 * server can take */
	bool		 deletes_at_close;	/* deleted messages go only
						 * when close() succeeds */
	bool		 idle;		/* idle() can wait for new mail */
};

/* A mailbox, as the UID store tells it from the others. */
struct source_mailbox {
	const char	*name;		/* NULL: the account's only one */
	const char	*key;		/* its name in UID store keys, the
					 * same however the user spells it */
	uint32_t	 validity;	/* UIDs hold while this does; 0: no
					 * such thing */
};

/* The outcome of expunge(). */
enum source_expunged {
	SOURCE_EXPUNGED,	/* the deleted messages are gone */
	SOURCE_LEFT,		/* left marked deleted, and reported */
};

/* A session; each backend's own state follows it. */
struct source_session {
	const struct source_backend *backend;
	const char	*label;		/* the server, for messages */
	struct source_caps caps;
	/* Set by the caller after open(): this session changes nothing
	 * on the server (-n, -c, the daemon's waiting session), so its
	 * mailboxes may be opened read-only. */
	bool		 read_only;
};

struct source_backend {
	const char	*protocol;	/* the account's protocol name */
	const char	*name;		/* for the Received: field: "POP3" */

	/*
	 * Connect (bounded by cfg->timeout), TLS as the account says (never
	 * a silent fallback to plain text), log in with `secret` (obtained
	 * by source_open(), which wipes it afterwards; the backend keeps no
	 * copy). *login_delay (may be NULL) gets the seconds the server
	 * wants between logins, 0 for none, also when the login failed.
	 * IMAP: imap_open() (implicit TLS or STARTTLS, capabilities again
	 * after STARTTLS and login, LOGIN or AUTHENTICATE); no login delay.
	 */
	struct source_session *(*open)(const struct config *cfg,
	    const struct account *a, const char *secret, int *login_delay,
	    struct err *e);
	/*
	 * End the session politely and free it; 0 when the server agreed.
	 * POP3: QUIT, the moment its deletions happen (caps.
	 * deletes_at_close). IMAP: LOGOUT (imap_logout); deletions already
	 * happened in expunge().
	 */
	int (*close)(struct source_session *ss, struct err *e);
	/* Drop the connection, after a failure; frees ss. IMAP:
	 * imap_abort(). */
	void (*abort)(struct source_session *ss);

	/*
	 * How many mailboxes the account has, and select the i-th (from
	 * 0), saying which it is. A source whose deletions happen at close
	 * has only one. POP3: one, the maildrop, nameless, no validity.
	 * IMAP: the account's folders (default INBOX), each SELECTed, or
	 * EXAMINEd when the session is read_only or the account's settings
	 * change nothing; name: the folder, validity:
	 * its UIDVALIDITY (imap_folder.uidvalidity), so that a recreated
	 * folder's UIDs are new ones.
	 */
	size_t (*mailboxes)(const struct account *a);
	/* 0; -1 (e set) when the session is unusable; SOURCE_NO_MAILBOX
	 * (e set) when the server refused this mailbox (one that does
	 * not exist, say) and the session is still good for the others. */
	int (*select)(struct source_session *ss, size_t i,
	    struct source_mailbox *mb, struct err *e);

	/*
	 * Fill l (empty, its key prefix set) with every message of the
	 * selected mailbox: number, announced size, UID (listing_set_uid),
	 * and others_deleted; sorted by number, repeated UIDs dropped,
	 * l->complete set at the end. Memory stays flat: one listing entry
	 * a message. `store` may spare work for known messages. The
	 * listing stays the source's to read until the next list(), for
	 * requests and replies by index. POP3: STAT, UIDL, and LIST when
	 * needed. IMAP: imap_list() (UID FETCH 1:* (UID RFC822.SIZE
	 * FLAGS)), number = UID, others_deleted = \Deleted.
	 */
	int (*list)(struct source_session *ss, struct listing *l,
	    const struct uidstore *store, struct err *e);

	/*
	 * Queue a request about listed message idx; it goes out with the
	 * next push() or reply(). A fetch streams the data into m (reset
	 * first) while its reply is read, and more than `limit` bytes is
	 * SOURCE_TOO_LARGE; every fetch in flight may share one m, which
	 * then holds each message in turn. A source may merge requests
	 * into fewer commands but answers each one. POP3: RETR n, TOP n 0,
	 * DELE n. IMAP: imap_fetch() with IMAP_SECTION_WHOLE or _HEADER
	 * (BODY.PEEK: nothing is marked read), imap_store() of \Deleted
	 * (and \Seen with mark_seen), imap_move() or COPY + \Deleted.
	 */
	void (*request)(struct source_session *ss, enum source_req req,
	    size_t idx, struct msg *m, off_t limit);
	/* Requests queued or sent and not yet answered. */
	size_t (*in_flight)(const struct source_session *ss);
	/* Send what is queued now (a failure shows at the next reply).
	 * IMAP: imap_flush() (imap-internal.h). */
	void (*push)(struct source_session *ss);
	/*
	 * Read the next reply to a request in flight into r (r->req and
	 * r->idx are set even when reading fails, naming the request the
	 * failure hit). Returns 0 (r->ok says whether the server did it; a
	 * fetch's data is then in its m), -1 (e set; the session is
	 * unusable) or SOURCE_TOO_LARGE. Replies have deadlines (conn.h),
	 * so a trickling server cannot stretch one forever. POP3: the
	 * oldest request's. IMAP: imap_read() until a fetch's data is
	 * complete (its tagged completion, which may come after the next
	 * message, is read later and passed over) or another command is
	 * done; a fetch answered OK without data is refused; untagged
	 * EXISTS, EXPUNGE, FETCH and [ALERT] are handled there.
	 */
	int (*reply)(struct source_session *ss, struct source_reply *r,
	    struct err *e);
	/*
	 * Optional: send what is queued, then wait at most wait_ms for the
	 * next reply to begin arriving; false when nothing came by then
	 * (the loop then commits what it holds before it waits on). NULL:
	 * the loop cannot tell, and commits between replies only. IMAP:
	 * imap_flush(), then whether the connection has bytes to read.
	 */
	bool (*ready)(struct source_session *ss, int wait_ms);

	/*
	 * Make the deletions of the selected mailbox happen: exactly the
	 * listed messages whose SOURCE_DELETE was answered ok (sm->deleted),
	 * never one another client marked. NULL when deletions happen at
	 * close (POP3). IMAP: imap_expunge() of those UIDs: UID EXPUNGE
	 * (UIDPLUS), or without it EXPUNGE only when no other message is
	 * flagged; IMAP_LEFT_FLAGGED and IMAP_LEFT_UNCHECKED are
	 * SOURCE_LEFT, reported by the source.
	 */
	int (*expunge)(struct source_session *ss, const struct listing *l,
	    enum source_expunged *res, struct err *e);

	/*
	 * Optional: wait, at most `seconds`, until the selected mailbox has
	 * new mail (1), or the time ran out or *stop was set (0), -1 on
	 * error. NULL when the protocol cannot (POP3: the daemon polls).
	 * Call it only when caps.idle says the server can. IMAP: imap_idle()
	 * on the selected folder (the daemon selects the first), when the
	 * server offers IDLE.
	 */
	int (*idle)(struct source_session *ss, int seconds,
	    volatile sig_atomic_t *stop, struct err *e);
};

/* The backend of a protocol name, or NULL. */
const struct source_backend *source_backend(const char *protocol);
/* The backend an account fetches with, or NULL when this build has none
 * for its protocol. */
const struct source_backend *source_for(const struct account *a);

/* Obtain the account's secret (password, or the first line of its
 * password_command), open a session with it, and wipe it. */
struct source_session *source_open(const struct source_backend *b,
    const struct config *cfg, const struct account *a, int *login_delay,
    struct err *e);

static inline bool
source_can(const struct source_session *ss, enum source_req req)
{
	return (ss->caps.reqs & SOURCE_REQ_BIT(req)) != 0;
}

extern const struct source_backend source_pop3;
extern const struct source_backend source_imap;

#endif
