/*
 * Getting a run ready once the configuration is read: state_dir made
 * and checked, the plugins loaded and started, each rule pointed at its
 * plugin and its args checked by it. For --check-config the same checks
 * without side effects: state_dir is not created, and a plugin is
 * started only if it can be without leaving a trace (plugin.h).
 */
#ifndef MF_SETUP_H
#define MF_SETUP_H

#include <stddef.h>

#include "config.h"
#include "plugin.h"

enum setup_mode {
	SETUP_RUN,		/* fetch, --test-message, ... */
	SETUP_CHECK,		/* --check-config: create nothing */
};

struct setup {
	struct config		*cfg;
	struct plugin_set	 plugins;
};

/* Read the configuration at path and get it ready. Every problem is
 * printed as FILE:LINE: ...; NULL when there was any. */
struct setup *setup_open(const char *path, enum setup_mode mode);
/* Stop the plugins (fini) and free everything. */
void setup_close(struct setup *s);

#endif
