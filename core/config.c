#include <sys/stat.h>

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "deliver.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

#ifndef PLUGIN_DIR
#define PLUGIN_DIR	"/usr/local/lib/mailferry"
#endif

/* A configuration file larger than this is surely not one. */
#define CONFIG_SIZE_MAX	(16 * 1024 * 1024)

struct ctx {
	struct config	*cfg;
	int		 errors;
};

static const char *const global_keys[] = {
	"state_dir", "plugin_dir", "timeout", "parallel", "destinations",
	"accounts", NULL
};

static const char *const account_keys[] = {
	"name", "server", "port", "tls", "allow_plaintext_auth",
	"tls_ca_file", "tls_fingerprint", "user", "password",
	"password_command", "auth", "keep", "keep_days", "max_size",
	"deliver", NULL
};

static const char *const tls_mode_names[] = {
	[TLS_MODE_IMPLICIT] = "implicit",
	[TLS_MODE_STARTTLS] = "starttls",
	[TLS_MODE_NONE] = "none",
};

static const char *const auth_names[] = {
	[AUTH_AUTO] = "auto",
	[AUTH_USER] = "user",
	[AUTH_APOP] = "apop",
	[AUTH_PLAIN] = "plain",
	[AUTH_LOGIN] = "login",
	[AUTH_XOAUTH2] = "xoauth2",
};

const char *
tls_mode_name(enum tls_mode mode)
{
	return tls_mode_names[mode];
}

/* Where a setting was written: included files name themselves, the main
 * file's lines go through the preprocessing map. */
static struct source
source_of(struct config *cfg, const config_setting_t *s)
{
	struct source src;
	int line = s != NULL ? (int)config_setting_source_line(s) : 0;
	const char *file = s != NULL ? config_setting_source_file(s) : NULL;

	if (file != NULL) {
		src.file = file;
		src.line = line;
	} else {
		src.file = cfg->path;
		src.line = line > 0 && (size_t)line < cfg->nline_map ?
		    cfg->line_map[line] : line;
	}
	return src;
}

static void
report(struct ctx *cx, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct ctx *cx, const config_setting_t *s, const char *fmt, ...)
{
	struct source src = source_of(cx->cfg, s);
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_error_at(src.file, src.line, "%s", msg);
	cx->errors++;
}

static bool
in_list(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/* Report every member of group not in keys (libconfig accepts any). */
static void
check_members(struct ctx *cx, const config_setting_t *group,
    const char *const *keys, const char *where)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);

		if (name != NULL && !in_list(name, keys))
			report(cx, m, "unknown key \"%s\" in %s", name, where);
	}
}

static config_setting_t *
member(const config_setting_t *group, const char *key)
{
	return config_setting_get_member(group, key);
}

static void
get_string(struct ctx *cx, const config_setting_t *group, const char *key,
    char **out)
{
	config_setting_t *s = member(group, key);

	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		report(cx, s, "\"%s\" must be a string in quotes", key);
		return;
	}
	free(*out);
	*out = xstrdup(config_setting_get_string(s));
}

static void
get_path(struct ctx *cx, const config_setting_t *group, const char *key,
    char **out)
{
	char *raw = NULL;

	get_string(cx, group, key, &raw);
	if (raw == NULL)
		return;
	if (raw[0] == '\0') {
		report(cx, member(group, key), "\"%s\" is empty", key);
		free(raw);
		return;
	}
	free(*out);
	*out = expand_path(raw);
	free(raw);
}

static void
get_int(struct ctx *cx, const config_setting_t *group, const char *key,
    int64_t min, int64_t max, int64_t *out)
{
	config_setting_t *s = member(group, key);
	int64_t v;

	if (s == NULL)
		return;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		report(cx, s, "\"%s\" must be a whole number", key);
		return;
	}
	if (v < min || v > max) {
		report(cx, s, "\"%s\" must be between %jd and %jd", key,
		    (intmax_t)min, (intmax_t)max);
		return;
	}
	*out = v;
}

static void
get_int32(struct ctx *cx, const config_setting_t *group, const char *key,
    int min, int max, int *out)
{
	int64_t v = *out;

	get_int(cx, group, key, min, max, &v);
	*out = (int)v;
}

static void
get_bool(struct ctx *cx, const config_setting_t *group, const char *key,
    bool *out)
{
	config_setting_t *s = member(group, key);

	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		report(cx, s, "\"%s\" must be true or false", key);
		return;
	}
	*out = config_setting_get_bool(s);
}

/* An enumeration written as a string: index into names, or -1. */
static int
get_choice(struct ctx *cx, const config_setting_t *group, const char *key,
    const char *const *names, size_t nnames, int dflt)
{
	config_setting_t *s = member(group, key);
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
	report(cx, s, "\"%s\" must be one of: %s", key, choices);
	return dflt;
}

/* A string or a list of strings. */
static void
get_string_list(struct ctx *cx, const config_setting_t *group,
    const char *key, char ***out, size_t *n)
{
	config_setting_t *s = member(group, key);
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
		report(cx, s, "\"%s\" must be a string or a list of strings",
		    key);
		return;
	}
	len = config_setting_length(s);
	if (len == 0) {
		report(cx, s, "\"%s\" is an empty list", key);
		return;
	}
	*out = xcalloc((size_t)len, sizeof **out);
	for (int i = 0; i < len; i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			report(cx, el, "\"%s\" must list strings only", key);
			continue;
		}
		(*out)[(*n)++] = xstrdup(config_setting_get_string(el));
	}
}

static void
free_string_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void
parse_destination(struct ctx *cx, config_setting_t *s, struct destination *d)
{
	char *type = NULL;
	char where[300];
	static const char *const type_key[] = { "type", NULL };

	d->name = xstrdup(config_setting_name(s));
	d->src = source_of(cx->cfg, s);
	d->port = 0;
	snprintf(where, sizeof where, "destination \"%s\"", d->name);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		report(cx, s, "%s must be a group { type = ...; ... }", where);
		return;
	}
	get_string(cx, s, "type", &type);
	if (type == NULL) {
		report(cx, s, "%s has no \"type\" (one of: %s)", where,
		    deliver_type_names());
		return;
	}
	d->backend = deliver_backend(type);
	if (d->backend == NULL) {
		report(cx, member(s, "type"), "%s: unknown type \"%s\" (one "
		    "of: %s)", where, type, deliver_type_names());
		free(type);
		return;
	}
	free(type);
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(m);

		if (!in_list(name, type_key) && !in_list(name, d->backend->keys))
			report(cx, m, "unknown key \"%s\" in %s (type %s)",
			    name, where, d->backend->type);
	}
	get_path(cx, s, "path", &d->path);
	get_string(cx, s, "host", &d->host);
	get_int32(cx, s, "port", 1, 65535, &d->port);
	get_path(cx, s, "socket", &d->socket);
	d->tls = (enum tls_mode)get_choice(cx, s, "tls", tls_mode_names, 3,
	    TLS_MODE_NONE);
	get_path(cx, s, "tls_ca_file", &d->tls_ca_file);
	get_string(cx, s, "tls_fingerprint", &d->tls_fingerprint);
	get_bool(cx, s, "allow_plaintext_auth", &d->allow_plaintext_auth);
	get_string_list(cx, s, "to", &d->to, &d->nto);
	get_string(cx, s, "from", &d->from);
	get_string(cx, s, "user", &d->user);
	get_string(cx, s, "password", &d->password);
	get_string(cx, s, "password_command", &d->password_command);
	get_string(cx, s, "command", &d->command);
	if (in_list("path", d->backend->keys) && d->path == NULL)
		report(cx, s, "%s has no \"path\"", where);
}

static void
parse_destinations(struct ctx *cx, config_setting_t *s)
{
	struct config *cfg = cx->cfg;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		report(cx, s, "\"destinations\" must be a group: "
		    "destinations = { name = { type = ...; }; };");
		return;
	}
	cfg->ndests = (size_t)config_setting_length(s);
	cfg->dests = xcalloc(cfg->ndests, sizeof *cfg->dests);
	for (size_t i = 0; i < cfg->ndests; i++)
		parse_destination(cx, config_setting_get_elem(s, (unsigned)i),
		    &cfg->dests[i]);
}

static void
resolve_deliver(struct ctx *cx, config_setting_t *group, struct account *a)
{
	char **names;
	size_t n;

	get_string_list(cx, group, "deliver", &names, &n);
	if (member(group, "deliver") == NULL) {
		report(cx, group, "account \"%s\" has no \"deliver\" (the "
		    "destination of its messages)", a->name);
		return;
	}
	a->deliver = xcalloc(n ? n : 1, sizeof *a->deliver);
	for (size_t i = 0; i < n; i++) {
		struct destination *d = config_destination(cx->cfg, names[i]);
		bool repeated = false;

		if (d == NULL) {
			report(cx, member(group, "deliver"), "account \"%s\": "
			    "destination \"%s\" is not defined in "
			    "\"destinations\"", a->name, names[i]);
			continue;
		}
		for (size_t j = 0; j < a->ndeliver; j++)
			repeated |= a->deliver[j] == d;
		if (!repeated)
			a->deliver[a->ndeliver++] = d;
	}
	free_string_list(names, n);
}

static void
parse_account(struct ctx *cx, config_setting_t *s, struct account *a)
{
	char where[300];

	a->src = source_of(cx->cfg, s);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		report(cx, s, "each account must be a group { name = ...; }");
		a->name = xstrdup("?");
		return;
	}
	get_string(cx, s, "name", &a->name);
	if (a->name == NULL || a->name[0] == '\0') {
		report(cx, s, "account without a \"name\"");
		free(a->name);
		a->name = xstrdup("?");
	}
	snprintf(where, sizeof where, "account \"%s\"", a->name);
	check_members(cx, s, account_keys, where);

	a->tls = (enum tls_mode)get_choice(cx, s, "tls", tls_mode_names, 3,
	    TLS_MODE_IMPLICIT);
	a->port = a->tls == TLS_MODE_IMPLICIT ? 995 : 110;
	a->keep = true;
	a->auth = (enum auth_method)get_choice(cx, s, "auth", auth_names, 6,
	    AUTH_AUTO);
	get_string(cx, s, "server", &a->server);
	get_int32(cx, s, "port", 1, 65535, &a->port);
	get_bool(cx, s, "allow_plaintext_auth", &a->allow_plaintext_auth);
	get_path(cx, s, "tls_ca_file", &a->tls_ca_file);
	get_string(cx, s, "tls_fingerprint", &a->tls_fingerprint);
	get_string(cx, s, "user", &a->user);
	get_string(cx, s, "password", &a->password);
	get_string(cx, s, "password_command", &a->password_command);
	get_bool(cx, s, "keep", &a->keep);
	get_int32(cx, s, "keep_days", 0, 100000, &a->keep_days);
	get_int(cx, s, "max_size", 0, INT64_MAX, &a->max_size);

	if (a->server == NULL || a->server[0] == '\0')
		report(cx, s, "%s has no \"server\"", where);
	if (a->user == NULL || a->user[0] == '\0')
		report(cx, s, "%s has no \"user\"", where);
	if (a->password != NULL && a->password_command != NULL)
		report(cx, member(s, "password_command"), "%s has both "
		    "\"password\" and \"password_command\"; keep one", where);
	if (a->password == NULL && a->password_command == NULL)
		report(cx, s, "%s has neither \"password\" nor "
		    "\"password_command\"", where);
	if (a->tls_fingerprint != NULL &&
	    !tls_fingerprint_valid(a->tls_fingerprint))
		report(cx, member(s, "tls_fingerprint"), "%s: tls_fingerprint "
		    "must be \"sha256:\" and 32 hex bytes", where);
	if (a->tls_fingerprint != NULL && a->tls == TLS_MODE_NONE)
		report(cx, member(s, "tls_fingerprint"), "%s: tls_fingerprint "
		    "is set but tls = \"none\"", where);
	resolve_deliver(cx, s, a);
}

static void
parse_accounts(struct ctx *cx, config_setting_t *s)
{
	struct config *cfg = cx->cfg;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		report(cx, s, "\"accounts\" must be a list: accounts = "
		    "( { name = ...; }, ... );");
		return;
	}
	cfg->naccounts = (size_t)config_setting_length(s);
	cfg->accounts = xcalloc(cfg->naccounts, sizeof *cfg->accounts);
	for (size_t i = 0; i < cfg->naccounts; i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);

		parse_account(cx, el, &cfg->accounts[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->accounts[j].name,
			    cfg->accounts[i].name) == 0)
				report(cx, el, "account \"%s\" is defined "
				    "twice (first at line %d)",
				    cfg->accounts[i].name,
				    cfg->accounts[j].src.line);
	}
}

/* The password rule: a file holding a password is for its owner only. */
static void
check_password_permissions(struct ctx *cx)
{
	struct config *cfg = cx->cfg;
	struct stat st;
	const char *file = NULL;

	for (size_t i = 0; i < cfg->naccounts && file == NULL; i++)
		if (cfg->accounts[i].password != NULL)
			file = cfg->path;
	for (size_t i = 0; i < cfg->ndests && file == NULL; i++)
		if (cfg->dests[i].password != NULL)
			file = cfg->path;
	if (file == NULL || stat(file, &st) == -1)
		return;
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_error_at(file, 0, "holds a password but can be read by "
		    "others (mode %03o); run: chmod 600 %s",
		    (unsigned)(st.st_mode & 0777), file);
		cx->errors++;
	}
}

/*
 * libconfig 1.5 only honours @include at the start of a line, but writing
 * `rules = ( @include "x.rules" );` is natural: put a line break before
 * every @include that does not start its line, and remember which written
 * line each resulting line came from.
 */
static char *
preprocess(struct config *cfg, const char *text, size_t len)
{
	char *out = xmalloc(len * 2 + 1);
	size_t o = 0, line_out = 1, line_in = 1;
	bool only_space = true;
	enum { NORMAL, STRING, LINE_COMMENT, BLOCK_COMMENT } st = NORMAL;

	cfg->nline_map = 2;
	cfg->line_map = xcalloc(cfg->nline_map, sizeof *cfg->line_map);
	cfg->line_map[1] = 1;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (st == NORMAL && c == '@' && strncmp(text + i, "@include",
		    8) == 0 && !only_space) {
			out[o++] = '\n';
			line_out++;
			only_space = true;
			cfg->line_map = xreallocarray(cfg->line_map,
			    line_out + 1, sizeof *cfg->line_map);
			cfg->nline_map = line_out + 1;
			cfg->line_map[line_out] = (int)line_in;
		}
		out[o++] = c;
		switch (st) {
		case NORMAL:
			if (c == '"')
				st = STRING;
			else if (c == '#' || (c == '/' && i + 1 < len &&
			    text[i + 1] == '/'))
				st = LINE_COMMENT;
			else if (c == '/' && i + 1 < len && text[i + 1] == '*')
				st = BLOCK_COMMENT;
			break;
		case STRING:
			if (c == '\\' && i + 1 < len && text[i + 1] != '\n')
				out[o++] = text[++i];
			else if (c == '"')
				st = NORMAL;
			break;
		case LINE_COMMENT:
			if (c == '\n')
				st = NORMAL;
			break;
		case BLOCK_COMMENT:
			if (c == '*' && i + 1 < len && text[i + 1] == '/') {
				out[o++] = text[++i];
				st = NORMAL;
			}
			break;
		}
		if (c == '\n') {
			line_in++;
			line_out++;
			only_space = true;
			cfg->line_map = xreallocarray(cfg->line_map,
			    line_out + 1, sizeof *cfg->line_map);
			cfg->nline_map = line_out + 1;
			cfg->line_map[line_out] = (int)line_in;
		} else if (c != ' ' && c != '\t' && c != '\r')
			only_space = false;
	}
	out[o] = '\0';
	return out;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	struct stat st;

	if (fp == NULL)
		return NULL;
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_SIZE_MAX) {
		fclose(fp);
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	*len = fread(buf, 1, (size_t)st.st_size, fp);
	buf[*len] = '\0';
	fclose(fp);
	return buf;
}

static char *
default_state_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");

	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/mailferry", xdg);
	return expand_path("~/.local/state/mailferry");
}

char *
config_default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	char *path;

	if (xdg != NULL && xdg[0] == '/')
		path = xasprintf("%s/mailferry/mailferry.conf", xdg);
	else
		path = expand_path("~/.config/mailferry/mailferry.conf");
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return expand_path("~/.mailferry.conf");
}

struct config *
config_load(const char *path)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	struct ctx cx = { .cfg = cfg };
	config_setting_t *root, *s;
	char *text, *pre, *dir;
	size_t len;

	cfg->path = xstrdup(path);
	config_init(&cfg->lc);
	text = read_file(path, &len);
	if (text == NULL) {
		log_error("cannot read configuration %s: %s", path,
		    strerror(errno));
		config_free(cfg);
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		log_error_at(path, 0, "not a text file");
		free(text);
		config_free(cfg);
		return NULL;
	}
	pre = preprocess(cfg, text, len);
	free(text);
	dir = xstrdup(path);
	config_set_include_dir(&cfg->lc, dirname(dir));
	free(dir);
	if (config_read_string(&cfg->lc, pre) != CONFIG_TRUE) {
		const char *file = config_error_file(&cfg->lc);
		int line = config_error_line(&cfg->lc);

		if (file == NULL && line > 0 && (size_t)line < cfg->nline_map)
			line = cfg->line_map[line];
		log_error_at(file != NULL ? file : path, line, "%s",
		    config_error_text(&cfg->lc));
		free(pre);
		config_free(cfg);
		return NULL;
	}
	free(pre);

	root = config_root_setting(&cfg->lc);
	check_members(&cx, root, global_keys, "the global settings");
	cfg->timeout = 60;
	cfg->parallel = 1;
	get_path(&cx, root, "state_dir", &cfg->state_dir);
	if (cfg->state_dir == NULL)
		cfg->state_dir = default_state_dir();
	get_path(&cx, root, "plugin_dir", &cfg->plugin_dir);
	if (cfg->plugin_dir == NULL)
		cfg->plugin_dir = xstrdup(PLUGIN_DIR);
	get_int32(&cx, root, "timeout", 1, 86400, &cfg->timeout);
	get_int32(&cx, root, "parallel", 1, 256, &cfg->parallel);
	if ((s = member(root, "destinations")) != NULL)
		parse_destinations(&cx, s);
	if ((s = member(root, "accounts")) != NULL)
		parse_accounts(&cx, s);
	else
		log_error_at(path, 0, "no \"accounts\" defined"), cx.errors++;
	check_password_permissions(&cx);
	if (cx.errors > 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void
free_destination(struct destination *d)
{
	free(d->name);
	free(d->path);
	free(d->host);
	free(d->socket);
	free(d->tls_ca_file);
	free(d->tls_fingerprint);
	free_string_list(d->to, d->nto);
	free(d->from);
	free(d->user);
	freezero_str(d->password);
	free(d->password_command);
	free(d->command);
}

static void
free_account(struct account *a)
{
	free(a->name);
	free(a->server);
	free(a->tls_ca_file);
	free(a->tls_fingerprint);
	free(a->user);
	freezero_str(a->password);
	free(a->password_command);
	free(a->deliver);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->naccounts; i++)
		free_account(&cfg->accounts[i]);
	free(cfg->accounts);
	for (size_t i = 0; i < cfg->ndests; i++)
		free_destination(&cfg->dests[i]);
	free(cfg->dests);
	config_destroy(&cfg->lc);
	free(cfg->line_map);
	free(cfg->state_dir);
	free(cfg->plugin_dir);
	free(cfg->path);
	free(cfg);
}

struct account *
config_account(struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->naccounts; i++)
		if (strcmp(cfg->accounts[i].name, name) == 0)
			return &cfg->accounts[i];
	return NULL;
}

struct destination *
config_destination(struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ndests; i++)
		if (cfg->dests[i].name != NULL &&
		    strcmp(cfg->dests[i].name, name) == 0)
			return &cfg->dests[i];
	return NULL;
}
