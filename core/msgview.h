/*
 * The message as the rules and the plugins see it while it is filtered:
 * the message itself, where it came from, and what the plugins did to it
 * so far. rules.c reads it; plugin.c is the host side of the plugin ABI
 * built on it.
 */
#ifndef MF_MSGVIEW_H
#define MF_MSGVIEW_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "msg.h"
#include "uidstore.h"
#include "mailferry/plugin.h"

struct plugin;

/* A note a plugin attached to the message (mf_host.set_note). */
struct plugin_note {
	struct plugin	*plugin;
	char		*text;
};

/* mailferry's side of the plugins' opaque handle. */
struct mf_message {
	struct msg		*m;
	struct config		*cfg;
	const struct account	*account;
	const char		*uid;
	off_t			 server_size;
	/* Where a plugin crashing or hanging on the message sets it aside
	 * (NULL: nowhere, as for --test-message). */
	struct uidstore		*store;
	/* How the rules call a rule's plugin: plugin_filter(), or a unit
	 * test's stand-in. */
	enum mf_verdict		(*filter)(struct plugin *p,
				    struct mf_message *pm,
				    const config_setting_t *args, char *why,
				    size_t whylen);

	struct destination	**dests;	/* from set_destinations */
	size_t			 ndests;
	struct msg		*replacement;	/* between replace_begin/end */
	off_t			 replacement_limit;
	bool			 replace_failed;
	bool			 replaced;	/* a plugin replaced it */

	struct plugin_note	*notes;
	size_t			 nnotes, capnotes;
	char			**strings;	/* handed out during a call */
	size_t			 nstrings, capstrings;
};

#endif
