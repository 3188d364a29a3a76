/*
 * Settings the command line overrides for one run (-k, -K,
 * --fetch-limit), applied to every account of a configuration after it
 * is read, and again after a daemon reads it anew.
 */
#ifndef MF_OVERRIDES_H
#define MF_OVERRIDES_H

#include "config.h"

#define OVERRIDE_NONE	(-1)

struct run_overrides {
	int	keep;		/* 1: -k, 0: -K, OVERRIDE_NONE */
	int	fetch_limit;	/* --fetch-limit, or OVERRIDE_NONE */
};

/* -k keeps every fetched message on the server: keep_days deletes
 * nothing either. A rule that deletes still deletes. */
void overrides_apply(const struct run_overrides *ovr, struct config *cfg);

#endif
