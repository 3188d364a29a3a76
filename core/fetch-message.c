/*
 * One message in hand, its data (or header) in f->m: the rules decide
 * (rules.c, plugins through plugin-guard.c), and the verdict is carried
 * out: delivered (fetch-deliver.c), deleted, skipped or deferred. Also
 * what happens to a message that broke the session or went over
 * max_size while it came.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "fetch-internal.h"
#include "log.h"
#include "plugin.h"
#include "rules.h"
#include "uidstore.h"

/* This message broke the session: fetch it last from now on, and not
 * again in this run. */
void
message_broke_session(struct fetch *f, struct server_msg *sm)
{
	struct err e;

	f->broken = true;
	sm->handled = true;
	stats_message_failed(&f->st, ERR_TEMP);
	if (sm->uid == STRTAB_NONE || f->opt->dry_run)
		return;
	uidstore_troublesome(f->store, fetch_uid(f, sm), f->now);
	err_clear(&e);
	(void)uidstore_sync(f->store, &e);
}

/* More data than max_size, although announced smaller: leave it on the
 * server, and have later runs leave it too. */
void
message_too_large(struct fetch *f, struct server_msg *sm, struct err *e)
{
	char limit[32];
	struct err se;

	f->broken = true;
	sm->handled = true;
	stats_set_aside_late(&f->st);
	stats_failure(&f->st, ERR_TEMP);
	err_set(e, ERR_TEMP, "message %u (UID %s) is larger than max_size "
	    "(%jd bytes) although the server announced %jd bytes: left on "
	    "the server%s", sm->num, fetch_uid_shown(f, sm),
	    (intmax_t)f->a->max_size, (intmax_t)sm->size,
	    sm->uid != STRTAB_NONE ? " and set aside" : "");
	if (sm->uid == STRTAB_NONE || f->opt->dry_run)
		return;
	snprintf(limit, sizeof limit, "%jd", (intmax_t)f->a->max_size);
	uidstore_set_aside(f->store, 'L', fetch_uid(f, sm), f->now, limit);
	err_clear(&se);
	if (uidstore_sync(f->store, &se) == -1)
		log_error("%s: %s", f->a->name, se.msg);
}

static void
report_decision(struct fetch *f, const struct server_msg *sm,
    const struct verdict *v, bool on_header)
{
	char where[256];

	if (v->why[0] != '\0' && v->kind != VERDICT_DEFER)
		log_warn("%s: message %u (UID %s): %s", f->a->name, sm->num,
		    fetch_uid_shown(f, sm), v->why);
	/* A dry run is for seeing what would happen: always say it. */
	if (!f->opt->dry_run && !log_enabled(LOG_VERBOSE))
		return;
	fetch_describe_dests(v, where, sizeof where);
	(f->opt->dry_run ? log_info : log_verbose)(
	    "%s: message %u (UID %s, %jd bytes)%s%s%s%s: %s%s%s%s",
	    f->a->name, sm->num, fetch_uid_shown(f, sm), (intmax_t)sm->size,
	    v->rule ? ", rule \"" : "", v->rule ? v->rule->name : "",
	    v->rule ? "\"" : "", on_header ? " (on its header)" : "",
	    f->opt->dry_run ? "would " : "",
	    v->kind == VERDICT_DELIVER ? (f->opt->dry_run ? "deliver to " :
	    "delivering to ") : v->kind == VERDICT_DELETE ?
	    "delete from the server" : v->kind == VERDICT_SKIP ?
	    "skip (left on the server)" : "defer",
	    v->kind == VERDICT_DELIVER ? where : "",
	    v->kind == VERDICT_DELIVER && !f->a->keep && f->opt->dry_run ?
	    ", then delete it from the server (keep = false)" : "");
}

/* Do what the verdict says with the message in f->m. */
static int
act(struct fetch *f, size_t idx, const struct verdict *v,
    struct mf_message *pm, struct err *e)
{
	struct server_msg *sm = &f->list.msgs[idx];

	switch (v->kind) {
	case VERDICT_DELIVER:
		if (!f->opt->dry_run)
			return fetch_deliver(f, idx, v, pm, e);
		stats_count(&f->st, STAT_DELIVERED);
		/* Counted as a run would once the server removed (or
		 * moved) it. */
		if (!f->a->keep || f->a->move_to != NULL)
			plan_count_removal(f, idx);
		break;
	case VERDICT_DELETE:
		stats_count(&f->st, STAT_DELETED_BY_RULES);
		sm->rule_delete = true;
		if (!f->opt->dry_run)
			plan_delete(f, idx);
		else if (!f->a->keep)
			stats_count(&f->st, STAT_REMOVED);
		break;
	case VERDICT_SKIP:
		stats_count(&f->st, STAT_SKIPPED);
		if (!f->opt->dry_run)
			batch_add(&f->batch, idx)->skipped = true;
		break;
	case VERDICT_DEFER:
		log_warn("%s: message %u (UID %s) left on the server for the "
		    "next run: %s", f->a->name, sm->num,
		    fetch_uid_shown(f, sm), v->why);
		stats_message_failed(&f->st, ERR_TEMP);
		break;
	}
	return 0;
}

/* The verdict its header gave a message (header_arrived). */
static void
predecided(struct fetch *f, const struct server_msg *sm, struct verdict *v)
{
	const struct rule *r = sm->rule > 0 ? &f->a->rules[sm->rule - 1] :
	    NULL;

	*v = (struct verdict){ .kind = VERDICT_DELIVER, .rule = r };
	if (r == NULL || sm->to_account || r->ndeliver == 0) {
		v->dests = f->a->deliver;
		v->ndests = f->a->ndeliver;
	} else {
		v->dests = r->deliver;
		v->ndests = r->ndeliver;
	}
}

int
message_arrived(struct fetch *f, size_t idx, struct err *e)
{
	struct server_msg *sm = &f->list.msgs[idx];
	struct mf_message pm;
	struct verdict v;
	int rc;

	mf_message_init(&pm, &f->m, f->cfg, f->a, fetch_uid(f, sm), sm->size);
	pm.store = f->store;
	sm->handled = true;
	if (sm->predecided)
		predecided(f, sm, &v);
	else {
		rules_run(f->a, &pm, &v, NULL);
		report_decision(f, sm, &v, false);
	}
	rc = act(f, idx, &v, &pm, e);
	mf_message_clear(&pm);
	return rc;
}

/*
 * The rules decide on the header alone. What they delete or skip is
 * never downloaded; what they deliver is fetched whole next, to the
 * destinations decided now.
 */
int
header_arrived(struct fetch *f, size_t idx, struct err *e)
{
	struct server_msg *sm = &f->list.msgs[idx];
	struct mf_message pm;
	struct verdict v;
	int rc = 0;

	mf_message_init(&pm, &f->m, f->cfg, f->a, fetch_uid(f, sm), sm->size);
	rules_run(f->a, &pm, &v, NULL);
	report_decision(f, sm, &v, true);
	sm->handled = v.kind != VERDICT_DELIVER;
	if (v.kind == VERDICT_DELIVER) {
		sm->predecided = true;
		sm->rule = v.rule != NULL ? (uint16_t)(v.rule - f->a->rules + 1) :
		    0;
		sm->to_account = v.dests == f->a->deliver;
		queue_push(&f->plan.fetch, idx);
	} else
		rc = act(f, idx, &v, &pm, e);
	mf_message_clear(&pm);
	return rc;
}
