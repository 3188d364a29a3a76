/*
 * --check-config's look beyond the configuration's own rules, at what is
 * certain to fail once a run starts: a login the account itself forbids
 * (no TLS, and credentials never sent in clear text), and programs that
 * cannot be started (password_command lines /bin/sh cannot parse, or
 * whose command is not in PATH; the commands of pipe filter rules).
 * Delivery programs are the mda back end's own check.
 */
#ifndef MF_CHECK_RUNTIME_H
#define MF_CHECK_RUNTIME_H

#include "config.h"

/* Report each problem as FILE:LINE: ...; returns how many there were. */
int check_runtime(const struct config *cfg);

#endif
