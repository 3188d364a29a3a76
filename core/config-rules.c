/*
 * The `rules` of an account: conditions compiled once, destinations
 * resolved, plugins named, every mistake reported with its FILE:LINE
 * before anything connects. Plugins are loaded later, by setup.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-parse.h"
#include "config-rules.h"
#include "regex.h"
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

bool
plugin_name_valid(const char *name)
{
	if (*name == '\0' || strlen(name) > 64)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return true;
}

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

/* A rule's plugin is only named here: setup.c loads it, runs its init()
 * and checks the rule's args with it. */
static void
parse_plugin(struct cfg_ctx *cx, config_setting_t *s, struct rule *r,
    const char *where)
{
	config_setting_t *p = cfg_member(s, "plugin");

	cfg_get_string(cx, s, "plugin", &r->plugin_name);
	if (r->plugin_name != NULL) {
		r->plugin_src = cfg_source(cx->cfg, p);
		if (!plugin_name_valid(r->plugin_name))
			cfg_report(cx, p, "%s: \"%s\" is not a plugin name "
			    "(letters, digits, - and _)", where,
			    r->plugin_name);
	}
	r->args = cfg_member(s, "args");
	if (r->args != NULL && config_setting_type(r->args) !=
	    CONFIG_TYPE_GROUP) {
		cfg_report(cx, r->args, "%s: \"args\" must be a group "
		    "{ key = value; ... }", where);
		r->args = NULL;
	}
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
	cfg_get_destinations(cx, s, "deliver", where, &r->deliver,
	    &r->ndeliver);
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
	struct config *cfg = cx->cfg;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		cfg_report(cx, s, "\"plugins\" must be a list: plugins = "
		    "( { name = \"...\"; options = { ... }; } );");
		return;
	}
	cfg->plugins = xcalloc((size_t)config_setting_length(s) + 1,
	    sizeof *cfg->plugins);
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *p = config_setting_get_elem(s, (unsigned)i);
		struct plugin_conf *pc = &cfg->plugins[cfg->nplugins];
		config_setting_t *opts;

		if (config_setting_type(p) != CONFIG_TYPE_GROUP) {
			cfg_report(cx, p, "each plugin must be a group "
			    "{ name = \"...\"; options = { ... }; }");
			continue;
		}
		cfg_check_members(cx, p, plugin_keys, "a plugin");
		cfg_get_string(cx, p, "name", &pc->name);
		if (pc->name == NULL) {
			cfg_report(cx, p, "plugin without a \"name\"");
			continue;
		}
		pc->src = cfg_source(cfg, p);
		cfg->nplugins++;
		if (!plugin_name_valid(pc->name))
			cfg_report(cx, p, "\"%s\" is not a plugin name "
			    "(letters, digits, - and _)", pc->name);
		opts = cfg_member(p, "options");
		if (opts != NULL && config_setting_type(opts) !=
		    CONFIG_TYPE_GROUP)
			cfg_report(cx, opts, "plugin \"%s\": \"options\" must be "
			    "a group", pc->name);
		else
			pc->options = opts;
	}
}

void
cfg_free_plugins(struct plugin_conf *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

const config_setting_t *
config_plugin_options(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nplugins; i++)
		if (strcmp(cfg->plugins[i].name, name) == 0)
			return cfg->plugins[i].options;
	return NULL;
}

static void
cond_free(struct cond *c)
{
	for (size_t i = 0; i < c->nkids; i++)
		cond_free(&c->kids[i]);
	free(c->kids);
	free(c->header);
	regex_free(c->re);
}

void
cfg_free_rules(struct rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (rules[i].match != NULL) {
			cond_free(rules[i].match);
			free(rules[i].match);
		}
		free(rules[i].deliver);
		free(rules[i].plugin_name);
		free(rules[i].name);
	}
	free(rules);
}
