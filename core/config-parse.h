/*
 * Typed access to libconfig settings for the configuration parser. Each
 * getter leaves *out alone when the key is absent, and reports a wrong
 * type or value as "FILE:LINE: ..." (counted in cx->errors), so parsing
 * goes on and every mistake in a file is shown at once.
 */
#ifndef MF_CONFIG_PARSE_H
#define MF_CONFIG_PARSE_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct cfg_ctx {
	struct config	*cfg;
	int		 errors;
	const char	*checked[16];	/* files checked for the password rule */
	size_t		 nchecked;
};

/* Where a setting was written (included files name themselves). */
struct source cfg_source(struct config *cfg, const config_setting_t *s);
void cfg_report(struct cfg_ctx *cx, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

bool cfg_in_list(const char *name, const char *const *list);
/* Report every member of group that is not in keys. */
void cfg_check_members(struct cfg_ctx *cx, const config_setting_t *group,
    const char *const *keys, const char *where);
config_setting_t *cfg_member(const config_setting_t *group, const char *key);

void cfg_get_string(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, char **out);
/* A string with ~ and $HOME expanded. */
void cfg_get_path(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, char **out);
void cfg_get_int(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, int64_t min, int64_t max, int64_t *out);
void cfg_get_int32(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, int min, int max, int *out);
void cfg_get_bool(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, bool *out);
/* A string naming one of names[]: its index, or dflt. */
int cfg_get_choice(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, const char *const *names, size_t nnames, int dflt);
/* A string or a list of strings. */
void cfg_get_string_list(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, char ***out, size_t *n);
void cfg_free_string_list(char **list, size_t n);
/* The destinations a `deliver` key names, each once (NULL, 0 when it is
 * absent); a name not in `destinations` is reported. */
void cfg_get_destinations(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, const char *where, struct destination ***out,
    size_t *n);

#endif
