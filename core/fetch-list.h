/*
 * The listing: what the selected mailbox holds, one small record per
 * message (24 bytes: a mailbox may hold a million), sorted by the
 * source's message number. The source fills it (list()), the plan
 * (fetch-plan.c) decides what to do with each message, and the loop
 * notes what the server did.
 *
 * A message's UID is kept as the key the UID store knows it by: the
 * mailbox's key prefix, then the UID the server gave. The account's
 * only mailbox (POP3's maildrop) has an empty prefix, so its keys are
 * the UIDs themselves; a named mailbox (an IMAP folder) has its name
 * and UIDVALIDITY in front, so that UIDs of different folders, or of a
 * folder recreated, never meet.
 */
#ifndef MF_FETCH_LIST_H
#define MF_FETCH_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "strtab.h"
#include "uidstore.h"

/* A bound on what a server may list. */
#define MAX_MESSAGES		1000000

struct server_msg {
	off_t		 size;		/* as announced: a hint */
	unsigned	 num;		/* the source's number for it (POP3:
					 * the message number; IMAP: its UID) */
	uint32_t	 uid;		/* its key, in the listing's uids;
					 * STRTAB_NONE: none usable */
	/* The plan's (fetch-plan.c) and the loop's. */
	uint16_t	 rule;		/* predecided: 1 + the rule's index */
	uint8_t		 plan;		/* enum plan_kind */
	/* Decided on its header to be delivered: to the rule's
	 * destinations, or the account's. */
	bool		 predecided : 1;
	bool		 to_account : 1;
	/* Done with in this run (decided, failed or set aside): not
	 * fetched again after a reconnect. */
	bool		 handled : 1;
	bool		 rule_delete : 1;	/* a rule said delete */
	bool		 deleted : 1;	/* the source accepted our delete */
	/* The source's. */
	bool		 listed : 1;	/* POP3: named by LIST */
	/* Marked deleted by someone else (IMAP \Deleted): mailferry never
	 * has it removed. */
	bool		 others_deleted : 1;
};

struct listing {
	const char	*account;	/* for messages */
	struct server_msg *msgs;
	size_t		 n, cap;
	struct strtab	 uids;		/* the messages' keys */
	char		 prefix[UID_MAX_LEN + 1];	/* of every key */
	bool		 complete;	/* every message is listed */
	bool		 no_uids;	/* the server gives no UIDs at all */
};

void listing_init(struct listing *l, const char *account);
/* Empty it for the next mailbox or session (the account stays). */
void listing_clear(struct listing *l);

/*
 * The key prefix of a mailbox: "" for the account's only mailbox (name
 * NULL); else its name (bytes outside 0x21-0x7e, '%' and ':' as %XX),
 * ':', the UIDVALIDITY in decimal, ':'. -1 when that is longer than a
 * key may be (the mailbox's messages then have no usable UID).
 */
int listing_prefix(const char *name, uint32_t validity, char *buf,
    size_t size);
/* Set the prefix of the keys added from now on (listing_prefix). */
void listing_set_prefix(struct listing *l, const char *prefix);

/* A new message, at the end; -1 (e set, naming `label`, the server)
 * past MAX_MESSAGES. */
struct server_msg *listing_add(struct listing *l, unsigned num,
    const char *label, struct err *e);
/* Give sm its key: the prefix and uid[0..len). A key that would not be
 * valid in the UID store (uid_valid) leaves it without: false. */
bool listing_set_uid(struct listing *l, struct server_msg *sm,
    const char *uid, size_t len);
/* Sort by number (servers list in order; a hostile one may not) and
 * drop repeated numbers, with a warning. */
void listing_sort(struct listing *l);
/* Binary search among the first n messages (sorted), or all. */
struct server_msg *listing_find_in(const struct listing *l, size_t n,
    unsigned num);
struct server_msg *listing_find(const struct listing *l, unsigned num);
/* Keep only the messages marked listed. */
void listing_keep_listed(struct listing *l);
/* A UID carried by several messages identifies none of them: take it
 * from all, with one warning however many there are. */
void listing_drop_repeated_uids(struct listing *l);

/* A message's key, or NULL when it has none usable. */
static inline const char *
listing_uid(const struct listing *l, const struct server_msg *sm)
{
	return strtab_get(&l->uids, sm->uid);
}

static inline const char *
listing_uid_shown(const struct listing *l, const struct server_msg *sm)
{
	return sm->uid != STRTAB_NONE ? listing_uid(l, sm) : "(none)";
}

static inline size_t
listing_index(const struct listing *l, const struct server_msg *sm)
{
	return (size_t)(sm - l->msgs);
}

#endif
