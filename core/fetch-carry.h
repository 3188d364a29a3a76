/*
 * What one session of an account's run hands to the next when it broke
 * and the account reconnects: how many sessions there were, whether a
 * destination failed (then nothing more is fetched in this run), and,
 * by UID, the messages an earlier session was done with but did not
 * record in the UID store (they failed, were set aside, or a rule
 * deleted them and the deletion did not happen yet). A later session
 * neither fetches nor counts those again; it deletes the ones a rule
 * deleted.
 */
#ifndef MF_FETCH_CARRY_H
#define MF_FETCH_CARRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fetch-list.h"
#include "strtab.h"
#include "uidstore.h"

/* Sessions opened again in one run after one broke. */
#define MAX_RECONNECTS		3

struct carried {
	uint32_t	 uid;		/* in carry.uids */
	bool		 rule_delete;
};

struct carry {
	unsigned	 sessions;	/* opened so far in this run */
	/* Mailboxes (the first `counted`, in the account's order) whose
	 * plan was counted and reported: a later session sees the same. */
	size_t		 counted;
	bool		 dest_failed;	/* fetch no more in this run */
	struct carried	*v;		/* sorted by UID */
	size_t		 n;
	struct strtab	 uids;
};

/* Remember the messages of l that were handled and are not in the
 * store. They replace what was carried for l's mailbox (the keys with
 * l's prefix); what other mailboxes carried stays. Nothing changes when
 * l is not complete: the last complete listing said more. */
void carry_save(struct carry *c, const struct listing *l,
    const struct uidstore *store);
const struct carried *carry_find(const struct carry *c, const char *uid);
void carry_free(struct carry *c);

#endif
