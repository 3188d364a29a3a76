/*
 * The account keys that follow from its protocol: `protocol` itself, the
 * default port, which logins make sense, and IMAP's folders, mark_seen,
 * move_to and idle.
 */
#ifndef MF_CONFIG_IMAP_H
#define MF_CONFIG_IMAP_H

#include <libconfig.h>

#include "config-parse.h"
#include "config.h"

/* The account keys only IMAP accounts take. */
extern const char *const imap_account_keys[];

/* Read `protocol` and what depends on it into a (whose tls, port and
 * auth are already read); problems are reported as FILE:LINE. */
void cfg_parse_protocol(struct cfg_ctx *cx, config_setting_t *s,
    struct account *a, const char *where);
void cfg_free_protocol(struct account *a);

#endif
