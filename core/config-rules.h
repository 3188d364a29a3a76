/* Parsing of `rules` and `plugins` (see config-rules.c). */
#ifndef MF_CONFIG_RULES_H
#define MF_CONFIG_RULES_H

#include "config-parse.h"

void cfg_parse_rules(struct cfg_ctx *cx, config_setting_t *s,
    struct account *a);
/* Load every plugin of the global `plugins` list with its options. */
void cfg_parse_plugins(struct cfg_ctx *cx, config_setting_t *s);

#endif
