/*
 * Handing a message to its destinations: immediate ones (SMTP, LMTP,
 * programs) first, then batching ones (Maildir, mbox), so that a failure
 * leaves nothing half-done to undo; a destination a message already
 * reached in an earlier, partly failed run is skipped.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "deliver.h"
#include "envelope.h"
#include "fetch-internal.h"
#include "log.h"
#include "multidrop.h"
#include "received.h"
#include "source.h"
#include "xmalloc.h"

void
fetch_describe_dests(const struct verdict *v, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < v->ndests && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
		    v->dests[i]->name);
}

/* Did an earlier run, in which another destination failed, already
 * deliver this message to d? */
static bool
already_there(struct fetch *f, const struct server_msg *sm,
    const struct destination *d)
{
	if (sm->uid == STRTAB_NONE || !uidstore_delivered_to(f->store,
	    fetch_uid(f, sm), d->name))
		return false;
	if (log_enabled(LOG_VERBOSE))
		log_verbose("%s: message %u (UID %s) already reached \"%s\" in "
		    "an earlier run", f->a->name, sm->num, fetch_uid(f, sm),
		    d->name);
	return true;
}

/*
 * A destination is put out of use for the rest of the run when two
 * messages in a row met a refusal every message would meet
 * (DELIVER_REFUSED): the second confirms that the refusal is about the
 * destination, so that one odd message, refused in a way that only looks
 * like it, never holds back the others run after run.
 */
#define REFUSALS_TO_STOP	2

static struct refusal *
find_refusal(struct fetch *f, const struct destination *d)
{
	for (size_t i = 0; i < f->refusals.n; i++)
		if (f->refusals.v[i].dest == d)
			return &f->refusals.v[i];
	return NULL;
}

void
refusals_free(struct refusals *rs)
{
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

static bool
out_of_use(struct fetch *f, const struct destination *d)
{
	struct refusal *r = find_refusal(f, d);

	return r != NULL && r->in_a_row >= REFUSALS_TO_STOP;
}

/* d took a message: earlier refusals were about their messages. */
static void
refusals_clear(struct fetch *f, const struct destination *d)
{
	struct refusal *r = find_refusal(f, d);

	if (r != NULL)
		r->in_a_row = 0;
}

static void
refused(struct fetch *f, const struct server_msg *sm, struct destination *d,
    const struct err *de)
{
	struct refusal *r = find_refusal(f, d);

	if (r == NULL) {
		f->refusals.v = xreallocarray(f->refusals.v, f->refusals.n + 1,
		    sizeof *f->refusals.v);
		r = &f->refusals.v[f->refusals.n++];
		*r = (struct refusal){ .dest = d };
	}
	stats_failure(&f->st, de->cls);
	if (++r->in_a_row < REFUSALS_TO_STOP) {
		log_error("%s: message %u (UID %s): delivery to \"%s\" failed, "
		    "left on the server: %s", f->a->name, sm->num,
		    fetch_uid_shown(f, sm), d->name, de->msg);
		return;
	}
	log_error("%s: message %u (UID %s): %s; %d messages in a row met that "
	    "refusal, which is about the destination, so \"%s\" is not used "
	    "again in this run and its messages stay on the server",
	    f->a->name, sm->num, fetch_uid_shown(f, sm), de->msg,
	    REFUSALS_TO_STOP, d->name);
}

/*
 * Immediate destinations: 0 delivered to all, 1 this message failed
 * (reported; go on), -1 a destination is down (e set; stop). Those that
 * took it are added to done[].
 */
static int
deliver_immediate(struct fetch *f, struct server_msg *sm,
    const struct verdict *v, const struct envelope *env,
    struct destination **done, size_t *ndone, struct err *e)
{
	struct err de;

	for (size_t i = 0; i < v->ndests; i++) {
		struct destination *d = v->dests[i];
		int rc;

		if (d->backend->batching || already_there(f, sm, d))
			continue;
		if (out_of_use(f, d)) {
			if (log_enabled(LOG_VERBOSE))
				log_verbose("%s: message %u (UID %s) left on "
				    "the server: destination \"%s\" is out of "
				    "use for this run", f->a->name, sm->num,
				    fetch_uid_shown(f, sm), d->name);
			return 1;
		}
		err_clear(&de);
		rc = d->backend->prepare(d, &de) == -1 ? DELIVER_DOWN :
		    d->backend->deliver(d, &f->m, env, NULL, &de);
		if (rc == DELIVER_DOWN) {
			/* Every other message would fail the same way. */
			*e = de;
			err_prefix(e, "message %u (UID %s), left on the server",
			    sm->num, fetch_uid_shown(f, sm));
			return -1;
		}
		if (rc == DELIVER_REFUSED) {
			refused(f, sm, d, &de);
			return 1;
		}
		if (rc != 0) {
			log_error("%s: message %u (UID %s): delivery to \"%s\" "
			    "failed, left on the server: %s", f->a->name,
			    sm->num, fetch_uid_shown(f, sm), d->name, de.msg);
			stats_failure(&f->st, de.cls);
			return 1;
		}
		refusals_clear(f, d);
		done[(*ndone)++] = d;
	}
	return 0;
}

/* Batching destinations: stage the message; a DELIVER_ code when one
 * fails, which is about the destination rather than the message, so the
 * run stops. *commit_now: one of them holds nothing for a batch. */
static int
stage_batching(struct fetch *f, struct staged_msg *staged,
    struct server_msg *sm, const struct verdict *v,
    const struct envelope *env, bool *commit_now, struct err *e)
{
	for (size_t i = 0; i < v->ndests; i++) {
		struct destination *d = v->dests[i];
		const char *name;

		if (!d->backend->batching || already_there(f, sm, d))
			continue;
		int rc = d->backend->prepare(d, e) == -1 ? DELIVER_DOWN :
		    d->backend->deliver(d, &f->m, env, &name, e);

		if (rc != 0) {
			err_prefix(e, "message %u (UID %s): delivery to \"%s\" "
			    "failed, left on the server", sm->num,
			    fetch_uid_shown(f, sm), d->name);
			return rc == DELIVER_SPOILED ? rc : DELIVER_DOWN;
		}
		batch_add_name(&f->batch, staged, d, name);
		if (d->backend->unbatched != NULL && d->backend->unbatched(d))
			*commit_now = true;
	}
	return 0;
}

/*
 * A message reached some destinations and not others: remember those
 * it reached, so the next run delivers it to the others only. (A crash
 * before this record costs a duplicate, as any crash may.)
 */
static void
record_partial(struct fetch *f, const struct server_msg *sm,
    struct destination *const *done, size_t ndone)
{
	struct err e;

	if (sm->uid == STRTAB_NONE || ndone == 0)
		return;
	for (size_t i = 0; i < ndone; i++)
		uidstore_partial(f->store, fetch_uid(f, sm), f->now,
		    done[i]->name);
	err_clear(&e);
	if (uidstore_sync(f->store, &e) == -1)
		log_error("%s: %s", f->a->name, e.msg);
}

/* The multidrop recipients and the Received: field, when the
 * account and the destinations use them. */
static void
envelope_extras(struct fetch *f, const struct server_msg *sm,
    const struct verdict *v, struct envelope *env, char ***rcpt)
{
	bool trace = false;
	char label[400];

	for (size_t i = 0; i < v->ndests; i++)
		trace |= v->dests[i]->received_header;
	if (trace) {
		struct received_info ri = { .account = f->a->name,
		    .server = f->a->server, .uid = fetch_uid(f, sm),
		    .protocol = received_protocol(f->backend->name,
		    f->a->tls != TLS_MODE_NONE), .when = f->now };

		env->trace = received_field(&ri, &env->trace_len);
	}
	if (f->a->envelope != NULL) {
		snprintf(label, sizeof label, "%s: message %u (UID %s)",
		    f->a->name, sm->num, fetch_uid_shown(f, sm));
		env->nrecipients = multidrop_recipients(&f->m, f->a, label,
		    rcpt);
		env->recipients = *rcpt;
	}
}

/*
 * Deliver the message in f->m. Immediate destinations go first, so a
 * failure there leaves nothing staged to undo; a failed destination that
 * would fail every message ends the run (returns -1).
 */
int
fetch_deliver(struct fetch *f, size_t idx, const struct verdict *v,
    struct mf_message *pm, struct err *e)
{
	struct server_msg *sm = &f->list.msgs[idx];
	char *sender = envelope_sender(&f->m);
	struct envelope env = { .sender = sender, .received = f->now,
	    .account = f->a->name };
	struct destination **done = xcalloc(v->ndests + 1, sizeof *done);
	struct staged_msg *staged = NULL;
	char **rcpt = NULL;
	size_t ndone = 0;
	bool commit_now = false;
	int rc;

	envelope_extras(f, sm, v, &env, &rcpt);
	rc = deliver_immediate(f, sm, v, &env, done, &ndone, e);
	if (rc == 0) {
		staged = batch_add(&f->batch, idx);
		rc = stage_batching(f, staged, sm, v, &env, &commit_now, e);
		/* A full disk, say: what was staged before is complete and
		 * is kept. */
		if (rc != 0) {
			batch_keep(f, staged, rc);
			rc = -1;
		}
	}
	free(sender);
	free((char *)env.trace);
	multidrop_free(rcpt, env.nrecipients);
	if (rc != 0) {
		record_partial(f, sm, done, ndone);
		free(done);
		stats_count(&f->st, STAT_FAILED);
		return rc == -1 ? -1 : 0;
	}
	free(done);
	batch_delivered(&f->batch, staged, msg_size(&f->m),
	    !f->a->keep || f->a->move_to != NULL, pm);
	stats_count(&f->st, STAT_DELIVERED);
	/* Immediate deliveries are durable now: record them now too, so a
	 * crash cannot turn them into duplicates. */
	if (ndone > 0 || commit_now || batch_due(&f->batch, clock_ms()))
		return batch_commit(f, e);
	return 0;
}
