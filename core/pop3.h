/*
 * POP3 client protocol (RFC 1939, 2449, 2595): commands are queued and
 * sent in batches, replies are read in order, so any number of commands
 * can be in flight when the server offers PIPELINING (RFC 2449) and
 * exactly one when it does not (the caller decides the window).
 *
 * At -vv every line is traced; a command carrying a credential is traced
 * with that part replaced by "***".
 */
#ifndef MF_POP3_H
#define MF_POP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "err.h"
#include "msg.h"

/* Capabilities from CAPA (RFC 2449). */
#define POP3_CAP_TOP		0x001
#define POP3_CAP_UIDL		0x002
#define POP3_CAP_USER		0x004
#define POP3_CAP_PIPELINING	0x008
#define POP3_CAP_STLS		0x010
#define POP3_CAP_RESP_CODES	0x020
#define POP3_CAP_SASL		0x040
#define POP3_CAP_UTF8		0x080	/* RFC 6856 */

/* The longest LOGIN-DELAY (RFC 2449) taken at its word: a day. */
#define POP3_LOGIN_DELAY_MAX	(24 * 3600)

/* Longest reply line we accept (RFC 1939 allows 512; be generous). */
#define POP3_LINE_MAX		8192
/* The most a multi-line listing (CAPA, UIDL, LIST) may hold, bad lines
 * included: a million messages, and 64 MB, which also bounds the memory
 * their UIDs take. */
#define POP3_LISTING_MAX_LINES	1000000
#define POP3_LISTING_MAX_BYTES	(64 * 1024 * 1024)

enum pop3_cmd {
	POP3_GREETING,
	POP3_CAPA,
	POP3_STLS,
	POP3_USER,
	POP3_PASS,
	POP3_APOP,
	POP3_AUTH,
	POP3_UTF8,
	POP3_STAT,
	POP3_LIST,
	POP3_UIDL,
	POP3_RETR,
	POP3_TOP,
	POP3_DELE,
	POP3_QUIT,
};

struct pop3_reply {
	enum pop3_cmd	cmd;
	unsigned	num;		/* message number, for RETR/TOP/DELE */
	bool		ok;		/* +OK */
	bool		more;		/* "+ " SASL continuation */
	char		code[32];	/* response code, e.g. "SYS/TEMP" */
	char		text[512];	/* the rest of the line */
};

struct pop3_pending {
	enum pop3_cmd	cmd;
	unsigned	num;
};

struct pop3 {
	struct conn	*conn;
	unsigned	 caps;
	bool		 capa_answered;	/* CAPA was understood */
	char		*sasl;		/* mechanisms from "SASL ..." */
	char		*apop_stamp;	/* "<...>" from the greeting */
	char		*implementation;
	/* LOGIN-DELAY: seconds the server wants between logins (0: none
	 * announced); per_user: the value after login may differ. */
	int		 login_delay;
	bool		 login_delay_per_user;

	struct pop3_pending *queue;	/* ring of commands sent */
	size_t		 qhead, qlen, qcap;

	/* The listing being read: what answered, and how much so far. */
	enum pop3_cmd	 listing_cmd;
	unsigned	 listing_lines;
	uint64_t	 listing_bytes;
};

struct pop3 *pop3_new(struct conn *c);
void pop3_free(struct pop3 *p);

/* Queue a command; the reply is read later with pop3_reply. A credential
 * in the line starts at secret_from (or pass SIZE_MAX for none). */
void pop3_send(struct pop3 *p, enum pop3_cmd cmd, unsigned num,
    const char *line, size_t secret_from);
/* A line answering a SASL challenge: no reply of its own is expected. */
void pop3_send_continuation(struct pop3 *p, const char *line,
    size_t secret_from);
/* Commands queued and not yet answered. */
static inline size_t
pop3_in_flight(const struct pop3 *p)
{
	return p->qlen;
}

/* Read the status line answering the oldest command in flight (sending
 * anything queued first). A -ERR is not an error here: r->ok says. */
int pop3_reply(struct pop3 *p, struct pop3_reply *r, struct err *e);
/* Read one line of a multi-line listing (CAPA, LIST, UIDL), unstuffed;
 * *end is set at the terminating ".". A listing of more than
 * POP3_LISTING_MAX_LINES lines or POP3_LISTING_MAX_BYTES bytes is an
 * error. */
int pop3_listing_line(struct pop3 *p, char **line, size_t *len, bool *end,
    struct err *e);
/* Stream the multi-line body of RETR/TOP into m. More than `limit` bytes
 * returns POP3_TOO_LARGE (e set), the rest of the reply unread: a server
 * lying about sizes cannot fill the disk. */
#define POP3_TOO_LARGE	(-2)
int pop3_read_message(struct pop3 *p, struct msg *m, off_t limit,
    struct err *e);

/* The greeting: remembers an APOP timestamp. */
int pop3_greeting(struct pop3 *p, struct err *e);
/* CAPA; a server without it just has no known capabilities. */
int pop3_capa(struct pop3 *p, struct err *e);

/* Turn a -ERR reply into an error, classed by its response code (RFC
 * 2449, 3206) or, without one, by `fallback`. */
int pop3_fail(struct pop3 *p, const struct pop3_reply *r, const char *what,
    enum err_class fallback, struct err *e);

const char *pop3_cmd_name(enum pop3_cmd cmd);

#endif
