/*
 * Messages set aside so that they cannot hold back the others: one a
 * plugin crashed or hung on, one whose data went over max_size although
 * the server announced less. Such a message stays on the server, is not
 * fetched, and is reported at every run, until it is released
 * (mailferry -a ACCOUNT --release UID) or, for its size, max_size is
 * raised above the limit it went over. The records are in the UID store
 * (uidstore.h: "C", "L" and "R" lines).
 */
#ifndef MF_SETASIDE_H
#define MF_SETASIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "uidstore.h"

/* Is the message with UID set aside for account a? If so, why[] says
 * why, for the report. A record naming a plugin no rule of a calls any
 * more, or a limit below max_size, no longer counts. */
bool setaside_check(const struct uidstore *s, const struct account *a,
    const char *uid, char *why, size_t whylen);

/* --release: lift the set-aside records of UID for account a, under the
 * account's lock. Returns the exit status. */
int setaside_release(const struct config *cfg, const struct account *a,
    const char *uid);

#endif
