/*
 * Destination back ends. A destination type is a table of functions,
 * chosen by the `type` name in the configuration. Adding a type means
 * adding a file (deliver-TYPE.c, its table naming the keys it accepts)
 * and an entry in deliver.c's list; a type with a key no other type has
 * also adds a field to struct destination (config.h) and the line that
 * reads it in parse_destination() (config.c), and mailferry.conf(5)
 * describes it.
 *
 * Two kinds of back end:
 * - immediate ones (mbox, smtp, lmtp, mda): deliver() returns only when
 *   the message is durably accepted;
 * - batching ones (maildir, mbox): deliver() stages the message;
 *   sync() makes every staged message durable, then the caller journals
 *   the staged names, then commit() makes them visible (Maildir) or lets
 *   others at the file (mbox). After a crash, recover() tells whether a
 *   journalled name was delivered.
 */
#ifndef MF_DELIVER_H
#define MF_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "err.h"
#include "msg.h"

/* What deliver() returns besides 0. */
#define DELIVER_FAILED	(-1)	/* this message failed; go on with others */
#define DELIVER_DOWN	(-2)	/* the destination is unusable: stop */
/* Refused for good, for a reason every message shares (a recipient that
 * does not exist, a program that cannot work as configured): the
 * destination is not used again in the account's run. */
#define DELIVER_REFUSED	(-3)
/* Batching back ends: the failure may have spoiled what was staged
 * before this message (a file of the batch could not be written back):
 * the whole batch must be rolled back. Their other failures are
 * DELIVER_DOWN and leave the messages staged before intact, complete,
 * for the caller to commit. */
#define DELIVER_SPOILED	(-4)

/* What a back end may need to know beyond the message bytes. */
struct envelope {
	const char	*sender;	/* see envelope_sender(); NULL: none,
					   "": the null sender */
	time_t		 received;	/* when it was fetched */
	const char	*account;
	/* Multidrop: what "%envelope" in a `to` list stands for (see
	 * multidrop.h); none: the entries after it. */
	char *const	*recipients;
	size_t		 nrecipients;
	/* The Received: field (see received.h) that destinations with
	 * received_header write in front of the message; NULL: none. */
	const char	*trace;
	size_t		 trace_len;
};

struct dest_backend {
	const char	*type;
	const char *const *keys;	/* keys accepted besides "type" */
	bool		 batching;
	bool		 received_header;	/* its default */

	/* At configuration time: are the keys complete and consistent?
	 * (-1 with a reason; NULL when the key list says it all.) */
	int (*configure)(struct destination *d, char *why, size_t whylen);
	/* For --check-config: could the destination be used? Changes
	 * nothing on disk. */
	int (*check)(struct destination *d, struct err *e);
	/* Get ready for a run, creating what is missing (directories).
	 * Called before any connection; does nothing the second time. */
	int (*prepare)(struct destination *d, struct err *e);
	/* Deliver (or stage) one message: 0, DELIVER_FAILED, DELIVER_DOWN
	 * or DELIVER_REFUSED (batching back ends: DOWN, with nothing of
	 * this message left staged, or SPOILED). A batching back end sets
	 * *name to the staged name, valid until the next call. */
	int (*deliver)(struct destination *d, struct msg *m,
	    const struct envelope *env, const char **name, struct err *e);
	/* Batching back ends: is the message just delivered already
	 * durable and visible, with nothing held for a batch (an mbox
	 * without a dotlock)? Then the caller commits at once. NULL: never.
	 */
	bool (*unbatched)(const struct destination *d);
	int (*sync)(struct destination *d, struct err *e);
	int (*commit)(struct destination *d, struct err *e);
	void (*rollback)(struct destination *d);
	int (*recover)(struct destination *d, const char *name,
	    bool *delivered, struct err *e);
	/* End of a run: release connections, files, state. */
	void (*finish)(struct destination *d);
};

/* The Received: field d is to write in front of the message, or NULL
 * (received_header false, or none was made). */
static inline const char *
deliver_trace(const struct destination *d, const struct envelope *env,
    size_t *len)
{
	if (!d->received_header || env->trace == NULL) {
		*len = 0;
		return NULL;
	}
	*len = env->trace_len;
	return env->trace;
}

const struct dest_backend *deliver_backend(const char *type);
/* "maildir, mbox, ..." for messages. */
const char *deliver_type_names(void);

#endif
