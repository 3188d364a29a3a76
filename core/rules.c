#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rules.h"

/* What evaluating one message needs: the body is mapped at most once,
 * and all its matches share one CPU budget. */
struct eval {
	struct mf_message	*pm;
	const struct rules_trace *trace;
	bool			 body_mapped;
	const char		*body, *mapped;
	size_t			 body_len, mapped_len;
	struct regex_budget	 budget;
	struct err		 e;
};

static void
trace(const struct eval *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
trace(const struct eval *ev, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (ev->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	ev->trace->line(ev->trace->arg, "%s", line);
}

static const char *
yes_no(enum regex_result r)
{
	return r == REGEX_MATCH ? "yes" : r == REGEX_NO_MATCH ? "no" : "error";
}

static enum regex_result
eval_header(struct eval *ev, const struct cond *c, int depth)
{
	struct header_index *idx = msg_headers(ev->pm->m);
	struct header_field *f;
	size_t pos = 0;
	bool any = false;

	while ((f = header_find(idx, c->header, &pos)) != NULL) {
		const char *v = msg_field_decoded(f);
		enum regex_result r = regex_match(c->re, v, f->decoded_len,
		    &ev->budget, &ev->e);

		any = true;
		trace(ev, "%*sheader %s \"%.200s\" =~ /%s/: %s", depth * 2, "",
		    c->header, v, regex_pattern(c->re), yes_no(r));
		if (r != REGEX_NO_MATCH)
			return r;
	}
	if (!any)
		trace(ev, "%*sheader %s: absent", depth * 2, "", c->header);
	return REGEX_NO_MATCH;
}

static enum regex_result
eval_body(struct eval *ev, const struct cond *c, int depth)
{
	enum regex_result r;

	if (!ev->body_mapped) {
		if (msg_map_body(ev->pm->m, &ev->body, &ev->body_len,
		    &ev->mapped, &ev->mapped_len, &ev->e) == -1)
			return REGEX_ERROR;
		ev->body_mapped = true;
	}
	r = regex_match(c->re, ev->body, ev->body_len, &ev->budget, &ev->e);
	trace(ev, "%*sbody =~ /%s/: %s", depth * 2, "", regex_pattern(c->re),
	    yes_no(r));
	return r;
}

static enum regex_result
eval_cond(struct eval *ev, const struct cond *c, int depth)
{
	enum regex_result r, worst;

	switch (c->kind) {
	case COND_HEADER:
		return eval_header(ev, c, depth);
	case COND_BODY:
		return eval_body(ev, c, depth);
	case COND_SIZE_OVER:
		r = ev->pm->server_size > c->size ? REGEX_MATCH : REGEX_NO_MATCH;
		trace(ev, "%*ssize %jd over %jd: %s", depth * 2, "",
		    (intmax_t)ev->pm->server_size, (intmax_t)c->size,
		    yes_no(r));
		return r;
	case COND_ALL:
		trace(ev, "%*sall of:", depth * 2, "");
		for (size_t i = 0; i < c->nkids; i++) {
			r = eval_cond(ev, &c->kids[i], depth + 1);
			if (r != REGEX_MATCH)
				return r;
		}
		return REGEX_MATCH;
	case COND_ANY:
		/* One match is enough, even if another errs. */
		trace(ev, "%*sany of:", depth * 2, "");
		worst = REGEX_NO_MATCH;
		for (size_t i = 0; i < c->nkids; i++) {
			r = eval_cond(ev, &c->kids[i], depth + 1);
			if (r == REGEX_MATCH)
				return r;
			if (r == REGEX_ERROR)
				worst = r;
		}
		return worst;
	case COND_NOT:
		trace(ev, "%*snot:", depth * 2, "");
		r = eval_cond(ev, &c->kids[0], depth + 1);
		return r == REGEX_ERROR ? r : r == REGEX_MATCH ?
		    REGEX_NO_MATCH : REGEX_MATCH;
	}
	return REGEX_ERROR;
}

static void
decide(struct verdict *v, enum verdict_kind kind, struct destination **d,
    size_t n, const struct rule *r)
{
	v->kind = kind;
	v->dests = d;
	v->ndests = n;
	v->rule = r;
}

/* Deliver to the rule's destinations, else the account's. */
static void
decide_deliver(struct verdict *v, const struct account *a,
    const struct rule *r)
{
	if (r->ndeliver > 0)
		decide(v, VERDICT_DELIVER, r->deliver, r->ndeliver, r);
	else
		decide(v, VERDICT_DELIVER, a->deliver, a->ndeliver, r);
}

/* Run the rule's plugin; true when its verdict ends processing. */
static bool
run_plugin(struct eval *ev, const struct account *a, const struct rule *r,
    struct verdict *v)
{
	char why[512] = "";
	enum mf_verdict pv = ev->pm->filter(r->plugin, ev->pm, r->args, why,
	    sizeof why);

	switch (pv) {
	case MF_CONTINUE:
		trace(ev, "  plugin %s: continue", r->plugin_name);
		return false;
	case MF_DELIVER:
		if (ev->pm->ndests > 0)
			decide(v, VERDICT_DELIVER, ev->pm->dests,
			    ev->pm->ndests, r);
		else
			decide_deliver(v, a, r);
		trace(ev, "  plugin %s: deliver", r->plugin_name);
		return true;
	case MF_DELETE:
		decide(v, VERDICT_DELETE, NULL, 0, r);
		trace(ev, "  plugin %s: delete", r->plugin_name);
		return true;
	case MF_SKIP:
		decide(v, VERDICT_SKIP, NULL, 0, r);
		trace(ev, "  plugin %s: skip", r->plugin_name);
		return true;
	case MF_DEFER:
	case MF_ERROR:
		decide(v, VERDICT_DEFER, NULL, 0, r);
		snprintf(v->why, sizeof v->why, "plugin %s %s: %.400s",
		    r->plugin_name, pv == MF_DEFER ? "deferred the message" :
		    "failed", why[0] ? why : "no reason given");
		trace(ev, "  %s", v->why);
		return true;
	}
	return false;
}

void
rules_run(const struct account *a, struct mf_message *pm, struct verdict *v,
    const struct rules_trace *tr)
{
	struct eval ev = { .pm = pm, .trace = tr,
	    .budget = REGEX_BUDGET(pm->cfg != NULL ? pm->cfg->rules_cpu_limit :
	    RULES_CPU_LIMIT_DEFAULT) };
	bool decided = false;

	v->why[0] = '\0';
	for (size_t i = 0; i < a->nrules && !decided; i++) {
		const struct rule *r = &a->rules[i];
		enum regex_result res;

		trace(&ev, "rule %zu \"%s\" (%s:%d):", i + 1, r->name,
		    r->src.file, r->src.line);
		err_clear(&ev.e);
		res = r->match != NULL ? eval_cond(&ev, r->match, 1) :
		    REGEX_MATCH;
		if (res == REGEX_ERROR) {
			/* Never hide or lose a message over a filter that
			 * could not decide: it goes to the account's
			 * destinations, and the user hears why. */
			decide(v, VERDICT_DELIVER, a->deliver, a->ndeliver, r);
			snprintf(v->why, sizeof v->why, "rule \"%.100s\" could not "
			    "be evaluated (%.300s); delivered to the account's "
			    "destination", r->name, ev.e.msg);
			trace(&ev, "  %s", v->why);
			decided = true;
			break;
		}
		if (res == REGEX_NO_MATCH) {
			trace(&ev, "  no match");
			continue;
		}
		trace(&ev, "  matched");
		if (r->plugin_name != NULL && run_plugin(&ev, a, r, v)) {
			decided = true;
			break;
		}
		switch (r->action) {
		case ACTION_DELIVER:
			decide_deliver(v, a, r);
			decided = true;
			break;
		case ACTION_DELETE:
			decide(v, VERDICT_DELETE, NULL, 0, r);
			decided = true;
			break;
		case ACTION_SKIP:
			decide(v, VERDICT_SKIP, NULL, 0, r);
			decided = true;
			break;
		case ACTION_NONE:
			if (r->stop) {
				decide_deliver(v, a, r);
				decided = true;
			}
			break;
		}
	}
	if (!decided)
		decide(v, VERDICT_DELIVER, a->deliver, a->ndeliver, NULL);
	if (ev.body_mapped)
		spool_unmap(&pm->m->spool, ev.mapped, ev.mapped_len);
}

static bool
cond_needs_body(const struct cond *c)
{
	if (c->kind == COND_BODY)
		return true;
	for (size_t i = 0; i < c->nkids; i++)
		if (cond_needs_body(&c->kids[i]))
			return true;
	return false;
}

bool
rules_need_body(const struct account *a)
{
	for (size_t i = 0; i < a->nrules; i++) {
		const struct rule *r = &a->rules[i];

		if (r->plugin_name != NULL || (r->match != NULL &&
		    cond_needs_body(r->match)))
			return true;
	}
	return false;
}

bool
rules_can_drop(const struct account *a)
{
	for (size_t i = 0; i < a->nrules; i++)
		if (a->rules[i].action == ACTION_DELETE ||
		    a->rules[i].action == ACTION_SKIP)
			return true;
	return false;
}
