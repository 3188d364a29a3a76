/*
 * The `rules` of an account (SPEC section 4): conditions compiled once,
 * destinations and plugins resolved, every mistake reported with its
 * FILE:LINE before anything connects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-parse.h"
#include "config-rules.h"
#include "plugin.h"
#include "regex.h"
#include "rules.h"
#include "xmalloc.h"

/* A rule is named by a 16-bit index while a message waits for its
 * body (the TOP prefilter); far more than anyone writes. */
#define RULES_MAX	10000
/* Deeper nesting of all/any/not is surely a mistake. */
#define COND_DEPTH_MAX	32

static const char *const rule_keys[] = {
	"name", "match", "action", "deliver", "plugin", "args", "stop", NULL
};
static const char *const match_keys[] = {
	"header", "regex", "body", "size_over", "all", "any", "not", NULL
};
static const char *const action_names[] = {
	[ACTION_NONE] = "none",
	[ACTION_DELIVER] = "deliver",
	[ACTION_DELETE] = "delete",
	[ACTION_SKIP] = "skip",
};

static void parse_cond(struct cfg_ctx *cx, config_setting_t *s,
    struct cond *c, const char *where, int depth);

static struct regex *
compile(struct cfg_ctx *cx, config_setting_t *s, const char *where)
{
	struct regex *re;
	struct err e;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_report(cx, s, "%s: a regex must be a string", where);
		return NULL;
	}
	re = regex_compile(config_setting_get_string(s), &e);
	if (re == NULL)
		cfg_report(cx, s, "%s: %s", where, e.msg);
	return re;
}

static void
parse_cond_list(struct cfg_ctx *cx, config_setting_t *s, struct cond *c,
    const char *key, const char *where, int depth)
{
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		cfg_report(cx, s, "%s: \"%s\" must be a list of conditions: "
		    "%s = ( { ... }, { ... } )", where, key, key);
		return;
	}
	n = config_setting_length(s);
	if (n == 0) {
		cfg_report(cx, s, "%s: \"%s\" is empty", where, key);
		return;
	}
	c->kids = xcalloc((size_t)n, sizeof *c->kids);
	c->nkids = (size_t)n;
	for (int i = 0; i < n; i++)
		parse_cond(cx, config_setting_get_elem(s, (unsigned)i),
		    &c->kids[i], where, depth + 1);
}

static void
parse_cond(struct cfg_ctx *cx, config_setting_t *s, struct cond *c,
    const char *where, int depth)
{
	static const char *const kinds[] = {
		"header", "body", "size_over", "all", "any", "not"
	};
	config_setting_t *k;
	int found = 0;

	c->src = cfg_source(cx->cfg, s);
	if (depth > COND_DEPTH_MAX) {
		cfg_report(cx, s, "%s: conditions nested too deep", where);
		return;
	}
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		cfg_report(cx, s, "%s: a condition must be a group, such as "
		    "{ header = \"Subject\"; regex = \"...\"; }", where);
		return;
	}
	cfg_check_members(cx, s, match_keys, where);
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (cfg_member(s, kinds[i]) != NULL) {
			c->kind = (enum cond_kind)i;
			found++;
		}
	if (found != 1) {
		cfg_report(cx, s, "%s: a condition needs exactly one of header, "
		    "body, size_over, all, any, not", where);
		return;
	}
	if (c->kind != COND_HEADER && cfg_member(s, "regex") != NULL)
		cfg_report(cx, cfg_member(s, "regex"), "%s: \"regex\" goes with "
		    "\"header\" only (body = \"...\" is itself the regex)",
		    where);
	switch (c->kind) {
	case COND_HEADER:
		cfg_get_string(cx, s, "header", &c->header);
		if (c->header != NULL && (c->header[0] == '\0' ||
		    strpbrk(c->header, ": \t") != NULL))
			cfg_report(cx, cfg_member(s, "header"), "%s: \"%s\" is "
			    "not a header name", where, c->header);
		if ((k = cfg_member(s, "regex")) == NULL)
			cfg_report(cx, s, "%s: header = \"%s\" needs a regex = "
			    "\"...\"", where, c->header ? c->header : "");
		else
			c->re = compile(cx, k, where);
		break;
	case COND_BODY:
		c->re = compile(cx, cfg_member(s, "body"), where);
		break;
	case COND_SIZE_OVER:
		cfg_get_int(cx, s, "size_over", 0, INT64_MAX, &c->size);
		break;
	case COND_ALL:
	case COND_ANY:
		k = cfg_member(s, kinds[c->kind]);
		parse_cond_list(cx, k, c, kinds[c->kind], where, depth);
		break;
	case COND_NOT:
		c->kids = xcalloc(1, sizeof *c->kids);
		c->nkids = 1;
		parse_cond(cx, cfg_member(s, "not"), c->kids, where, depth + 1);
		break;
	}
}

static void
resolve_destinations(struct cfg_ctx *cx, config_setting_t *s,
    struct rule *r, const char *where)
{
	char **names;
	size_t n;

	cfg_get_string_list(cx, s, "deliver", &names, &n);
	if (n == 0)
		return;
	r->deliver = xcalloc(n, sizeof *r->deliver);
	for (size_t i = 0; i < n; i++) {
		struct destination *d = config_destination(cx->cfg, names[i]);

		bool repeated = false;

		for (size_t j = 0; j < r->ndeliver; j++)
			repeated |= r->deliver[j] == d;
		if (d == NULL)
			cfg_report(cx, cfg_member(s, "deliver"), "%s: "
			    "destination \"%s\" is not defined in "
			    "\"destinations\"", where, names[i]);
		else if (!repeated)
			r->deliver[r->ndeliver++] = d;
	}
	cfg_free_string_list(names, n);
}

/* The `options` of a plugin from the global `plugins` list, if any. */
static const config_setting_t *
plugin_options(struct cfg_ctx *cx, const char *name)
{
	config_setting_t *list = config_lookup(&cx->cfg->lc, "plugins");

	for (int i = 0; list != NULL && i < config_setting_length(list); i++) {
		config_setting_t *p = config_setting_get_elem(list, (unsigned)i);
		const char *pname = NULL;

		if (config_setting_lookup_string(p, "name", &pname) &&
		    strcmp(pname, name) == 0)
			return config_setting_get_member(p, "options");
	}
	return NULL;
}

static void
parse_plugin(struct cfg_ctx *cx, config_setting_t *s, struct rule *r,
    const char *where)
{
	char *name = NULL;
	struct err e;

	cfg_get_string(cx, s, "plugin", &name);
	if (name == NULL)
		return;
	r->plugin = plugin_load(cx->cfg, name, plugin_options(cx, name), &e);
	if (r->plugin == NULL)
		cfg_report(cx, cfg_member(s, "plugin"), "%s: %s", where, e.msg);
	free(name);
	r->args = cfg_member(s, "args");
	if (r->args != NULL && config_setting_type(r->args) !=
	    CONFIG_TYPE_GROUP) {
		cfg_report(cx, r->args, "%s: \"args\" must be a group "
		    "{ key = value; ... }", where);
		r->args = NULL;
	}
	if (r->plugin != NULL && plugin_check_args(r->plugin, r->args,
	    &e) == -1)
		cfg_report(cx, r->args != NULL ? r->args : s, "%s: %s", where,
		    e.msg);
}

static void
parse_rule(struct cfg_ctx *cx, config_setting_t *s, struct rule *r,
    size_t index, const struct account *a)
{
	char where[300];
	config_setting_t *m;

	r->src = cfg_source(cx->cfg, s);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		cfg_report(cx, s, "account \"%s\": each rule must be a group "
		    "{ name = ...; match = ...; action = ...; }", a->name);
		r->name = xasprintf("rule %zu", index + 1);
		return;
	}
	cfg_get_string(cx, s, "name", &r->name);
	if (r->name == NULL)
		r->name = xasprintf("rule %zu", index + 1);
	snprintf(where, sizeof where, "account \"%s\", rule \"%s\"", a->name,
	    r->name);
	cfg_check_members(cx, s, rule_keys, where);
	if ((m = cfg_member(s, "match")) != NULL) {
		r->match = xcalloc(1, sizeof *r->match);
		parse_cond(cx, m, r->match, where, 0);
	}
	r->action = (enum rule_action)cfg_get_choice(cx, s, "action",
	    action_names + 1, 3, -1) + 1;
	resolve_destinations(cx, s, r, where);
	parse_plugin(cx, s, r, where);
	cfg_get_bool(cx, s, "stop", &r->stop);

	if (cfg_member(s, "args") != NULL && cfg_member(s, "plugin") == NULL)
		cfg_report(cx, cfg_member(s, "args"), "%s: \"args\" without "
		    "\"plugin\"", where);
	if (r->deliver != NULL && (r->action == ACTION_DELETE ||
	    r->action == ACTION_SKIP))
		cfg_report(cx, cfg_member(s, "deliver"), "%s: \"deliver\" with "
		    "action = \"%s\" makes no sense", where,
		    action_names[r->action]);
	/* `deliver` alone routes the message: an implied action. */
	if (r->action == ACTION_NONE && cfg_member(s, "plugin") == NULL &&
	    cfg_member(s, "deliver") != NULL)
		r->action = ACTION_DELIVER;
	if (r->action == ACTION_NONE && cfg_member(s, "plugin") == NULL &&
	    !r->stop)
		cfg_report(cx, s, "%s: the rule does nothing (give it an "
		    "action, a plugin, deliver or stop)", where);
}

void
cfg_parse_rules(struct cfg_ctx *cx, config_setting_t *s, struct account *a)
{
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		cfg_report(cx, s, "account \"%s\": \"rules\" must be a list: "
		    "rules = ( { ... }, { ... } );", a->name);
		return;
	}
	n = config_setting_length(s);
	if (n > RULES_MAX) {
		cfg_report(cx, s, "account \"%s\" has %d rules; at most %d",
		    a->name, n, RULES_MAX);
		return;
	}
	a->rules = xcalloc((size_t)n + 1, sizeof *a->rules);
	a->nrules = (size_t)n;
	for (int i = 0; i < n; i++)
		parse_rule(cx, config_setting_get_elem(s, (unsigned)i),
		    &a->rules[i], (size_t)i, a);
}

void
cfg_parse_plugins(struct cfg_ctx *cx, config_setting_t *s)
{
	static const char *const plugin_keys[] = { "name", "options", NULL };

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		cfg_report(cx, s, "\"plugins\" must be a list: plugins = "
		    "( { name = \"...\"; options = { ... }; } );");
		return;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *p = config_setting_get_elem(s, (unsigned)i);
		config_setting_t *opts;
		char *name = NULL;
		struct err e;

		if (config_setting_type(p) != CONFIG_TYPE_GROUP) {
			cfg_report(cx, p, "each plugin must be a group "
			    "{ name = \"...\"; options = { ... }; }");
			continue;
		}
		cfg_check_members(cx, p, plugin_keys, "a plugin");
		cfg_get_string(cx, p, "name", &name);
		if (name == NULL) {
			cfg_report(cx, p, "plugin without a \"name\"");
			continue;
		}
		opts = cfg_member(p, "options");
		if (opts != NULL && config_setting_type(opts) !=
		    CONFIG_TYPE_GROUP)
			cfg_report(cx, opts, "plugin \"%s\": \"options\" must be "
			    "a group", name);
		else if (plugin_load(cx->cfg, name, opts, &e) == NULL)
			cfg_report(cx, p, "%s", e.msg);
		free(name);
	}
}
