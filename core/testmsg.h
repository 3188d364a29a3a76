/* --test-message: run an account's rules on a message file, offline. */
#ifndef MF_TESTMSG_H
#define MF_TESTMSG_H

#include "config.h"

/* Print rule by rule what matches and what would happen; touches no
 * server and no mailbox. Returns a sysexits code (65: not a message). */
int test_message(struct config *cfg, struct account *a, const char *path);

#endif
