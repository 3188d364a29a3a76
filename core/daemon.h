/*
 * Daemon mode (-d SECONDS): poll every account every SECONDS, each fetch
 * in a process of its own. A failing account backs off, doubling its
 * delay up to an hour, without delaying the others. SIGTERM or SIGINT:
 * the fetches under way finish the messages in hand, record them, QUIT,
 * and the daemon exits 0. SIGHUP: read the configuration again (a broken
 * one is reported and the old one kept). SIGUSR1: poll at once.
 *
 * An IMAP account with idle = true keeps its process between polls,
 * waiting in IDLE (daemon-idle.h); the signals are passed on to it, and
 * it does not count against `parallel`.
 */
#ifndef MF_DAEMON_H
#define MF_DAEMON_H

#include "fetch.h"
#include "overrides.h"
#include "setup.h"

/* Runs until SIGTERM/SIGINT; *setup is replaced on SIGHUP (the caller
 * closes the last one, and ovr is applied to each new one). The accounts
 * are those named (or all when there are none). */
int daemon_run(struct setup **setup, int interval, const char *const *only,
    size_t nonly, const struct run_overrides *ovr,
    const struct run_options *opt);

#endif
