#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config-rules.h"
#include "fsutil.h"
#include "log.h"
#include "setup.h"
#include "xmalloc.h"

/* Plugins may keep files in state_dir from init() on (dedup does). When
 * checking, a state_dir not there yet is left for the first run. */
static int
state_dir_ready(const struct config *cfg, enum setup_mode mode)
{
	struct stat st;
	struct err e;

	err_clear(&e);
	if (mode == SETUP_CHECK && stat(cfg->state_dir, &st) == -1 &&
	    errno == ENOENT)
		return 0;
	if ((mode == SETUP_RUN && mkdir_p(cfg->state_dir, 0700, &e) == -1) ||
	    trust_dir("state_dir", cfg->state_dir, &e) == -1) {
		log_error_at(cfg->state_dir_src.file, cfg->state_dir_src.line,
		    "%s", e.msg);
		return -1;
	}
	return 0;
}

/* The plugins of the global `plugins` list, with their options, in the
 * order written. */
static int
load_listed(struct setup *s)
{
	const struct config *cfg = s->cfg;
	int bad = 0;

	for (size_t i = 0; i < cfg->nplugins; i++) {
		const struct plugin_conf *pc = &cfg->plugins[i];
		struct err e;

		if (plugin_load(&s->plugins, pc->name, pc->options, &e) ==
		    NULL) {
			log_error_at(pc->src.file, pc->src.line, "%s", e.msg);
			bad++;
		}
	}
	return bad;
}

/* A rule's plugin (loaded now if the list did not name it), and the
 * rule's args checked by it. */
static int
bind_rule(struct setup *s, const struct account *a, struct rule *r)
{
	struct source at = r->plugin_src;
	struct err e;

	r->plugin = plugin_load(&s->plugins, r->plugin_name,
	    config_plugin_options(s->cfg, r->plugin_name), &e);
	if (r->plugin != NULL) {
		if (plugin_check_args(r->plugin, r->args, &e) == 0)
			return 0;
		at = r->args != NULL ? cfg_source(s->cfg, r->args) : r->src;
	}
	log_error_at(at.file, at.line, "account \"%s\", rule \"%s\": %s",
	    a->name, r->name, e.msg);
	return 1;
}

static int
bind_rules(struct setup *s)
{
	const struct config *cfg = s->cfg;
	int bad = 0;

	for (size_t i = 0; i < cfg->naccounts; i++) {
		const struct account *a = &cfg->accounts[i];

		for (size_t j = 0; j < a->nrules; j++)
			if (a->rules[j].plugin_name != NULL)
				bad += bind_rule(s, a, &a->rules[j]);
	}
	return bad;
}

/* A plugin built before the checking flag cannot promise to leave no
 * trace: say what was not checked. */
static void
warn_unstarted(const struct plugin_set *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->list[i]->unstarted)
			log_warn("plugin \"%s\" (%s) is built for plugin ABI "
			    "%u.%u: loaded but not started, so its options "
			    "and args are checked only when mailferry runs; "
			    "rebuild it to have them checked here",
			    ps->list[i]->name, ps->list[i]->path,
			    ps->list[i]->desc->abi_major,
			    ps->list[i]->desc->abi_minor);
}

struct setup *
setup_open(const char *path, enum setup_mode mode)
{
	struct config *cfg = config_load(path);
	struct plugin_env env;
	struct setup *s;

	if (cfg == NULL)
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->cfg = cfg;
	env = (struct plugin_env){ .plugin_dir = cfg->plugin_dir,
	    .state_dir = cfg->state_dir, .timeout = cfg->timeout,
	    .checking = mode == SETUP_CHECK };
	plugins_init(&s->plugins, &env);
	if (state_dir_ready(cfg, mode) == -1 ||
	    load_listed(s) + bind_rules(s) > 0) {
		setup_close(s);
		return NULL;
	}
	warn_unstarted(&s->plugins);
	return s;
}

void
setup_close(struct setup *s)
{
	if (s == NULL)
		return;
	plugins_unload(&s->plugins);
	config_free(s->cfg);
	free(s);
}
