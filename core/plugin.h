/*
 * Loading filter plugins (dlopen, ABI check) and the host side of the
 * plugin ABI (plugins/mailferry/plugin.h): the message handle plugins
 * see, and the functions they call.
 */
#ifndef MF_PLUGIN_H
#define MF_PLUGIN_H

#include <libconfig.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "err.h"
#include "msg.h"
#include "uidstore.h"
#include "mailferry/plugin.h"

struct plugin {
	char			*name;
	char			*path;
	void			*handle;
	const struct mf_plugin	*desc;
	void			*state;
	bool			 initialized;
};

struct plugin_note {
	struct plugin	*plugin;
	char		*text;
};

/* The message as a plugin sees it: mailferry's side of the handle. */
struct mf_message {
	struct msg		*m;
	struct config		*cfg;
	const struct account	*account;
	const char		*uid;
	off_t			 server_size;
	/* Where a plugin crashing or hanging on the message sets it aside
	 * (NULL: nowhere, as for --test-message). */
	struct uidstore		*store;

	struct destination	**dests;	/* from set_destinations */
	size_t			 ndests;
	struct msg		*replacement;	/* between replace_begin/end */
	off_t			 replacement_limit;
	bool			 replace_failed;
	bool			 replaced;	/* a plugin replaced it */

	struct plugin		*current;	/* the plugin being called */
	struct plugin_note	*notes;
	size_t			 nnotes;
	char			**strings;	/* handed out during a call */
	size_t			 nstrings;
};

void mf_message_init(struct mf_message *pm, struct msg *m,
    struct config *cfg, const struct account *a, const char *uid,
    off_t server_size);
/* Forget per-message state (notes are taken with mf_message_take_notes
 * first when the message is delivered). */
void mf_message_clear(struct mf_message *pm);

/* Load `name` from cfg->plugin_dir, check its ABI and run its init()
 * with `options` (may be NULL). Returns the loaded plugin (kept in cfg,
 * loaded once whatever the number of rules naming it). */
struct plugin *plugin_load(struct config *cfg, const char *name,
    const config_setting_t *options, struct err *e);
int plugin_check_args(struct plugin *p, const config_setting_t *args,
    struct err *e);
/* Call the plugin's filter(). Should it crash or not return within the
 * configured timeout, the message is set aside in pm->store and the
 * process ends (see plugin-guard.h). */
enum mf_verdict plugin_filter(struct plugin *p, struct mf_message *pm,
    const config_setting_t *args, char *why, size_t whylen);
/* Hand the notes of a durably delivered message back to their plugins. */
void plugin_notes_delivered(const struct plugin_note *notes, size_t n,
    const char *account);
void plugin_notes_free(struct plugin_note *notes, size_t n);
void plugins_unload(struct config *cfg);

/* Is `name` a plugin name (letters, digits, "-", "_")? */
bool plugin_name_valid(const char *name);

#endif
