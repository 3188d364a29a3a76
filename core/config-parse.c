/* Typed access to libconfig settings, reporting every problem as
 * FILE:LINE: ... (see config-parse.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-parse.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

/* Where a setting was written: included files name themselves, the main
 * file's lines go through the preprocessing map. */
struct source
cfg_source(struct config *cfg, const config_setting_t *s)
{
	return config_text_source(&cfg->text, s != NULL ?
	    (int)config_setting_source_line(s) : 0);
}

void
cfg_report(struct cfg_ctx *cx, const config_setting_t *s, const char *fmt, ...)
{
	struct source src = cfg_source(cx->cfg, s);
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_error_at(src.file, src.line, "%s", msg);
	cx->errors++;
}

bool
cfg_in_list(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/* Report every member of group not in keys (libconfig accepts any). */
void
cfg_check_members(struct cfg_ctx *cx, const config_setting_t *group,
    const char *const *keys, const char *where)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);

		if (name != NULL && !cfg_in_list(name, keys))
			cfg_report(cx, m, "unknown key \"%s\" in %s", name, where);
	}
}

config_setting_t *
cfg_member(const config_setting_t *group, const char *key)
{
	return config_setting_get_member(group, key);
}

/* The member `key` if it is there and of this type; a member of
 * another type is reported ("KEY" must be `must`). */
static config_setting_t *
typed_member(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, int type, const char *must)
{
	config_setting_t *s = cfg_member(group, key);

	if (s != NULL && config_setting_type(s) != type) {
		cfg_report(cx, s, "\"%s\" must be %s", key, must);
		return NULL;
	}
	return s;
}

void
cfg_get_string(struct cfg_ctx *cx, const config_setting_t *group, const char *key,
    char **out)
{
	config_setting_t *s = typed_member(cx, group, key, CONFIG_TYPE_STRING,
	    "a string in quotes");

	if (s == NULL)
		return;
	free(*out);
	*out = xstrdup(config_setting_get_string(s));
}

void
cfg_get_path(struct cfg_ctx *cx, const config_setting_t *group, const char *key,
    char **out)
{
	char *raw = NULL;

	cfg_get_string(cx, group, key, &raw);
	if (raw == NULL)
		return;
	if (raw[0] == '\0') {
		cfg_report(cx, cfg_member(group, key), "\"%s\" is empty", key);
		free(raw);
		return;
	}
	free(*out);
	*out = expand_path(raw);
	free(raw);
}

void
cfg_get_int(struct cfg_ctx *cx, const config_setting_t *group, const char *key,
    int64_t min, int64_t max, int64_t *out)
{
	config_setting_t *s = cfg_member(group, key);
	int64_t v;

	if (s == NULL)
		return;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		cfg_report(cx, s, "\"%s\" must be a whole number", key);
		return;
	}
	if (v < min || v > max) {
		cfg_report(cx, s, "\"%s\" must be between %jd and %jd", key,
		    (intmax_t)min, (intmax_t)max);
		return;
	}
	*out = v;
}

void
cfg_get_int32(struct cfg_ctx *cx, const config_setting_t *group, const char *key,
    int min, int max, int *out)
{
	int64_t v = *out;

	cfg_get_int(cx, group, key, min, max, &v);
	*out = (int)v;
}

void
cfg_get_bool(struct cfg_ctx *cx, const config_setting_t *group, const char *key,
    bool *out)
{
	config_setting_t *s = typed_member(cx, group, key, CONFIG_TYPE_BOOL,
	    "true or false");

	if (s != NULL)
		*out = config_setting_get_bool(s);
}

/* An enumeration written as a string: index into names, or -1. */
int
cfg_get_choice(struct cfg_ctx *cx, const config_setting_t *group, const char *key,
    const char *const *names, size_t nnames, int dflt)
{
	config_setting_t *s = cfg_member(group, key);
	char choices[256] = "";
	const char *v;

	if (s == NULL)
		return dflt;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		v = config_setting_get_string(s);
		for (size_t i = 0; i < nnames; i++)
			if (strcmp(v, names[i]) == 0)
				return (int)i;
	}
	for (size_t i = 0; i < nnames; i++) {
		strncat(choices, i ? ", " : "", sizeof choices -
		    strlen(choices) - 1);
		strncat(choices, names[i], sizeof choices -
		    strlen(choices) - 1);
	}
	cfg_report(cx, s, "\"%s\" must be one of: %s", key, choices);
	return dflt;
}

/* A string or a list of strings. */
void
cfg_get_string_list(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, char ***out, size_t *n)
{
	config_setting_t *s = cfg_member(group, key);
	int len;

	*out = NULL;
	*n = 0;
	if (s == NULL)
		return;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		*out = xcalloc(1, sizeof **out);
		(*out)[0] = xstrdup(config_setting_get_string(s));
		*n = 1;
		return;
	}
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST) {
		cfg_report(cx, s, "\"%s\" must be a string or a list of strings",
		    key);
		return;
	}
	len = config_setting_length(s);
	if (len == 0) {
		cfg_report(cx, s, "\"%s\" is an empty list", key);
		return;
	}
	*out = xcalloc((size_t)len, sizeof **out);
	for (int i = 0; i < len; i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			cfg_report(cx, el, "\"%s\" must list strings only", key);
			continue;
		}
		(*out)[(*n)++] = xstrdup(config_setting_get_string(el));
	}
}

void
cfg_free_string_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
cfg_get_destinations(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, const char *where, struct destination ***out,
    size_t *n)
{
	char **names;
	size_t nnames;

	*out = NULL;
	*n = 0;
	cfg_get_string_list(cx, group, key, &names, &nnames);
	if (nnames > 0)
		*out = xcalloc(nnames, sizeof **out);
	for (size_t i = 0; i < nnames; i++) {
		struct destination *d = config_destination(cx->cfg, names[i]);
		bool repeated = false;

		for (size_t j = 0; j < *n; j++)
			repeated |= (*out)[j] == d;
		if (d == NULL)
			cfg_report(cx, cfg_member(group, key), "%s: "
			    "destination \"%s\" is not defined in "
			    "\"destinations\"", where, names[i]);
		else if (!repeated)
			(*out)[(*n)++] = d;
	}
	cfg_free_string_list(names, nnames);
}
