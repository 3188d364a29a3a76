/*
 * The inside of the IMAP client, shared by imap.c (commands out, the
 * read loop), imap-untagged.c (untagged responses and message data),
 * imap-cmd.c, imap-idle.c, imap-session.c and imap-auth.c.
 */
#ifndef MF_IMAP_INTERNAL_H
#define MF_IMAP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "imap-parse.h"
#include "imap.h"

/* imap.c */
/* Build a command: begin (tag and name), arguments, end. */
void imap_cmd_begin(struct imap *im, enum imap_cmd cmd, const char *name);
/* Text sent as it is; `secret` traces it as "***". */
void imap_cmd_raw(struct imap *im, const char *s, bool secret);
/* A string: quoted, or a literal when it needs one. */
void imap_cmd_string(struct imap *im, const char *s, bool secret);
/* A mailbox name, converted for the session (imap-utf7.h). */
void imap_cmd_mailbox(struct imap *im, const char *name);
/* Returns the pending record (valid until the next command is queued). */
struct imap_pending *imap_cmd_end(struct imap *im, uint64_t cookie);
/* A line answering a continuation request (SASL, IDLE's DONE). */
void imap_send_line(struct imap *im, const char *line, bool secret);
/* Give queued bytes to the connection and send them. */
int imap_flush(struct imap *im, struct err *e);
/* Read one response and act on it. Returns 1 when it makes an event
 * (*ev filled, IMAP_EV_CONTINUE included), 0 when not. */
int imap_read_one(struct imap *im, struct imap_event *ev, struct err *e);
/* Read until a response makes an event (a continuation request
 * included). */
int imap_next_event(struct imap *im, struct imap_event *ev, struct err *e);
/* Read until the one command in flight is done; a message or listed
 * message in between is an error. */
int imap_wait_done(struct imap *im, struct imap_event *ev, struct err *e);
/* Send a command with no arguments beyond `line` and wait for it; not
 * OK is an error of class cls saying `what` failed. */
int imap_simple(struct imap *im, enum imap_cmd cmd, const char *line,
    const char *what, enum err_class cls, struct err *e);
/* The greeting: OK (capabilities may come with it), PREAUTH, or BYE (an
 * error). */
int imap_greeting(struct imap *im, struct err *e);
/* Is a command of this kind in flight? */
bool imap_cmd_pending(const struct imap *im, enum imap_cmd cmd);
/* The oldest FETCH in flight for this section and UID (0: any) whose
 * data has not come yet. */
struct imap_pending *imap_find_fetch(struct imap *im, uint32_t uid,
    enum imap_section section);

/* imap-untagged.c */
/* An untagged response: returns 1 with *ev for a message or a listed
 * message, 0 when handled, -1 on error (an unexpected BYE). */
int imap_untagged(struct imap *im, const struct imap_resp *r,
    struct imap_event *ev, struct err *e);
/* A status response's [CODE ...]: capabilities, UIDVALIDITY, UIDNEXT,
 * READ-ONLY/READ-WRITE, ALERT. -1 when UIDVALIDITY changes under a
 * selected folder. */
int imap_status_code(struct imap *im, const struct imap_resp *r,
    struct err *e);
/* CRLF to LF, as the POP3 path stores messages; a lone CR stays. A CR at
 * the end of a block is held (*held_cr) until the next block says what
 * follows; out needs room for len + 1 bytes. Returns the bytes written. */
size_t imap_crlf_to_lf(bool *held_cr, const char *in, size_t len, char *out);
/* Where message data goes: the struct msg of the FETCH it answers. */
void imap_sink_setup(struct imap *im, struct imap_sink *sink);

#endif
