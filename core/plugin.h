/*
 * Loading filter plugins (dlopen, ABI check, init) and the host side of
 * the plugin ABI (plugins/mailferry/plugin.h): the functions plugins
 * call on a message (see msgview.h) and the services they use. Plugins
 * see a small environment, not the configuration.
 */
#ifndef MF_PLUGIN_H
#define MF_PLUGIN_H

#include <libconfig.h>
#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "msgview.h"
#include "mailferry/plugin.h"

/* What a plugin may know of the run. */
struct plugin_env {
	const char	*plugin_dir;	/* where NAME.so is looked for */
	const char	*state_dir;	/* mf_host.state_dir() */
	int		 timeout;	/* mf_host.timeout(), and filter()'s
					   bound */
	/* --check-config: a plugin is started only if it promises to
	 * leave no trace (ABI 1.1: mf_host.checking). */
	bool		 checking;
};

struct plugin {
	char			*name;
	char			*path;
	void			*handle;
	const struct mf_plugin	*desc;
	const struct plugin_env	*env;
	void			*state;
	bool			 initialized;
	/* Loaded, but not started: checking a plugin built before the
	 * checking flag existed. */
	bool			 unstarted;
};

/* The plugins of one run, each loaded once. */
struct plugin_set {
	struct plugin_env	 env;
	struct plugin		**list;
	size_t			 n, cap;
};

/* env is copied; its strings must outlive the set, and the set must not
 * move once a plugin is loaded (plugins point at its env). */
void plugins_init(struct plugin_set *ps, const struct plugin_env *env);
/* Load `name` from the environment's plugin_dir, check its ABI and run
 * its init() with `options` (may be NULL). Each plugin is loaded once,
 * whatever the number of rules naming it; a plugin that failed stays
 * failed ("not usable"). */
struct plugin *plugin_load(struct plugin_set *ps, const char *name,
    const config_setting_t *options, struct err *e);
int plugin_check_args(struct plugin *p, const config_setting_t *args,
    struct err *e);
/* Run every fini() and unload. */
void plugins_unload(struct plugin_set *ps);

void mf_message_init(struct mf_message *pm, struct msg *m,
    struct config *cfg, const struct account *a, const char *uid,
    off_t server_size);
/* Forget per-message state (notes are moved out first when the message
 * is delivered: see plugin_notes_delivered). */
void mf_message_clear(struct mf_message *pm);

/* Call the plugin's filter(). Should it crash or not return within the
 * configured timeout, the message is set aside in pm->store and the
 * process ends (see plugin-guard.h). */
enum mf_verdict plugin_filter(struct plugin *p, struct mf_message *pm,
    const config_setting_t *args, char *why, size_t whylen);
/* Hand the notes of a durably delivered message back to their plugins. */
void plugin_notes_delivered(const struct plugin_note *notes, size_t n,
    const char *account);
void plugin_notes_free(struct plugin_note *notes, size_t n);

#endif
