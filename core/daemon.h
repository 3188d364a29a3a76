/*
 * Daemon mode (-d SECONDS): poll every account every SECONDS, each fetch
 * in a process of its own. A failing account backs off, doubling its
 * delay up to an hour, without delaying the others. SIGTERM or SIGINT:
 * the fetches under way finish the messages in hand, record them, QUIT,
 * and the daemon exits 0. SIGHUP: read the configuration again (a broken
 * one is reported and the old one kept). SIGUSR1: poll at once.
 */
#ifndef MF_DAEMON_H
#define MF_DAEMON_H

#include "fetch.h"
#include "setup.h"

/* Runs until SIGTERM/SIGINT; *setup is replaced on SIGHUP (the caller
 * closes the last one). The accounts are those named (or all when there
 * are none). */
int daemon_run(struct setup **setup, int interval, char *const *only,
    size_t nonly, const struct run_options *opt);

#endif
