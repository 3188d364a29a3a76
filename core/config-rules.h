/*
 * The `rules` of an account and the global `plugins` list, as data: what
 * the configuration says, checked and compiled (regexes), destinations
 * resolved, plugins named but not loaded. setup.c loads the plugins;
 * rules.c evaluates the rules.
 */
#ifndef MF_CONFIG_RULES_H
#define MF_CONFIG_RULES_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>

#include "config-parse.h"

struct plugin;
struct regex;

enum cond_kind {
	COND_HEADER,
	COND_BODY,
	COND_SIZE_OVER,
	COND_ALL,
	COND_ANY,
	COND_NOT,
};

struct cond {
	enum cond_kind	 kind;
	struct source	 src;
	char		*header;	/* COND_HEADER */
	struct regex	*re;		/* COND_HEADER, COND_BODY */
	int64_t		 size;		/* COND_SIZE_OVER */
	struct cond	*kids;		/* COND_ALL, COND_ANY, COND_NOT */
	size_t		 nkids;
};

enum rule_action {
	ACTION_NONE,
	ACTION_DELIVER,
	ACTION_DELETE,
	ACTION_SKIP,
};

struct rule {
	char			*name;
	struct source		 src;
	struct cond		*match;		/* NULL: always applies */
	enum rule_action	 action;
	struct destination	**deliver;	/* NULL: the account's */
	size_t			 ndeliver;
	char			*plugin_name;	/* NULL: no plugin */
	struct source		 plugin_src;	/* where it is named */
	const config_setting_t	*args;
	bool			 stop;
	/* The loaded plugin, once setup.c has loaded it. */
	struct plugin		*plugin;
};

/* An entry of the global `plugins` list. */
struct plugin_conf {
	char			*name;
	struct source		 src;
	const config_setting_t	*options;	/* NULL: none */
};

void cfg_parse_rules(struct cfg_ctx *cx, config_setting_t *s,
    struct account *a);
void cfg_free_rules(struct rule *rules, size_t n);
/* Read the global `plugins` list into cfg->plugins. */
void cfg_parse_plugins(struct cfg_ctx *cx, config_setting_t *s);
void cfg_free_plugins(struct plugin_conf *p, size_t n);
/* Is `name` a plugin name (letters, digits, "-", "_"; it becomes a file
 * name)? */
bool plugin_name_valid(const char *name);
/* The options the `plugins` list gives plugin `name`, or NULL. */
const config_setting_t *config_plugin_options(const struct config *cfg,
    const char *name);

#endif
