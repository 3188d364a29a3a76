#include <sys/stat.h>

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config-imap.h"
#include "config-include.h"
#include "config-parse.h"
#include "command.h"
#include "config-rules.h"
#include "config-syntax.h"
#include "deliver.h"
#include "fsutil.h"
#include "log.h"
#include "multidrop.h"
#include "xmalloc.h"

#ifndef PLUGIN_DIR
#define PLUGIN_DIR	"/usr/local/lib/mailferry"
#endif

/* A configuration file larger than this is surely not one. */
#define CONFIG_SIZE_MAX	(16 * 1024 * 1024)

static const char *const global_keys[] = {
	"state_dir", "plugin_dir", "timeout", "parallel", "rules_cpu_limit",
	"destinations", "plugins", "accounts", NULL
};

static const char *const account_keys[] = {
	"name", "server", "port", "tls", "allow_plaintext_auth",
	"tls_ca_file", "tls_fingerprint", "user", "password",
	"password_command", "auth", "keep", "keep_days", "max_size",
	"fetch_limit", "envelope", "local_domains", "deliver", "rules",
	"protocol", "folders", "mark_seen", "move_to", "idle", NULL
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
	[AUTH_OAUTHBEARER] = "oauthbearer",
};

const char *
tls_mode_name(enum tls_mode mode)
{
	return tls_mode_names[mode];
}

/*
 * The password rule, as fetchmail has it: a file holding a password (the
 * configuration, or an included file) must give its group and others no
 * access at all; group write would also let them change what runs.
 */
static void
check_secret(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key)
{
	config_setting_t *s = cfg_member(group, key);
	struct source src;
	struct stat st;

	if (s == NULL)
		return;
	src = cfg_source(cx->cfg, s);
	for (size_t i = 0; i < cx->nchecked; i++)
		if (cx->checked[i] == src.file)
			return;		/* reported once per file */
	if (cx->nchecked < sizeof cx->checked / sizeof cx->checked[0])
		cx->checked[cx->nchecked++] = src.file;
	if (stat(src.file, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
		cfg_report(cx, s, "%s holds a password but is %s by others "
		    "(mode %03o); run: chmod 600 %s", src.file,
		    (st.st_mode & (S_IRGRP | S_IROTH)) ? "readable" : "writable",
		    (unsigned)(st.st_mode & 0777), src.file);
}

/* Our copy of a password is made; libconfig's is wiped, so the only
 * one left is freed with freezero_str. */
static void
wipe_setting(const config_setting_t *group, const char *key)
{
	config_setting_t *s = cfg_member(group, key);
	const char *v;

	if (s == NULL || config_setting_type(s) != CONFIG_TYPE_STRING ||
	    (v = config_setting_get_string(s)) == NULL)
		return;
	explicit_bzero((char *)v, strlen(v));
}

/* A shell command line must say something; sh checks the rest. */
static void
check_command(struct cfg_ctx *cx, const config_setting_t *group,
    const char *key, const char *line, const char *where)
{
	if (line != NULL && line[strspn(line, " \t\n")] == '\0')
		cfg_report(cx, cfg_member(group, key), "%s: %s is empty",
		    where, key);
}

static void
parse_destination(struct cfg_ctx *cx, config_setting_t *s, struct destination *d)
{
	char *type = NULL;
	char where[300];
	static const char *const type_key[] = { "type", NULL };

	d->name = xstrdup(config_setting_name(s));
	d->src = cfg_source(cx->cfg, s);
	d->port = 0;
	snprintf(where, sizeof where, "destination \"%s\"", d->name);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		cfg_report(cx, s, "%s must be a group { type = ...; ... }", where);
		return;
	}
	cfg_get_string(cx, s, "type", &type);
	if (type == NULL) {
		cfg_report(cx, s, "%s has no \"type\" (one of: %s)", where,
		    deliver_type_names());
		return;
	}
	d->backend = deliver_backend(type);
	if (d->backend == NULL) {
		cfg_report(cx, cfg_member(s, "type"), "%s: unknown type \"%s\" (one "
		    "of: %s)", where, type, deliver_type_names());
		free(type);
		return;
	}
	free(type);
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(m);

		if (!cfg_in_list(name, type_key) && !cfg_in_list(name, d->backend->keys))
			cfg_report(cx, m, "unknown key \"%s\" in %s (type %s)",
			    name, where, d->backend->type);
	}
	cfg_get_path(cx, s, "path", &d->path);
	cfg_get_string(cx, s, "host", &d->host);
	cfg_get_int32(cx, s, "port", 1, 65535, &d->port);
	d->timeout = cx->cfg->timeout;
	cfg_get_int32(cx, s, "timeout", 1, 86400, &d->timeout);
	d->received_header = d->backend->received_header;
	cfg_get_bool(cx, s, "received_header", &d->received_header);
	cfg_get_path(cx, s, "socket", &d->socket);
	d->tls = (enum tls_mode)cfg_get_choice(cx, s, "tls", tls_mode_names, 3,
	    TLS_MODE_NONE);
	cfg_get_path(cx, s, "tls_ca_file", &d->tls_ca_file);
	cfg_get_string(cx, s, "tls_fingerprint", &d->tls_fingerprint);
	cfg_get_bool(cx, s, "allow_plaintext_auth", &d->allow_plaintext_auth);
	cfg_get_string_list(cx, s, "to", &d->to, &d->nto);
	cfg_get_string(cx, s, "from", &d->from);
	cfg_get_string(cx, s, "user", &d->user);
	cfg_get_string(cx, s, "password", &d->password);
	cfg_get_string(cx, s, "password_command", &d->password_command);
	cfg_get_string(cx, s, "command", &d->command);
	check_secret(cx, s, "password");
	wipe_setting(s, "password");
	check_command(cx, s, "password_command", d->password_command, where);
	if (d->tls_fingerprint != NULL &&
	    !tls_fingerprint_valid(d->tls_fingerprint))
		cfg_report(cx, cfg_member(s, "tls_fingerprint"), "%s: "
		    "tls_fingerprint must be \"sha256:\" and 32 hex bytes",
		    where);
	if (cfg_in_list("path", d->backend->keys) && d->path == NULL)
		cfg_report(cx, s, "%s has no \"path\"", where);
	if (d->backend->configure != NULL) {
		char why[512];

		if (d->backend->configure(d, why, sizeof why) == -1)
			cfg_report(cx, s, "%s: %s", where, why);
	}
}

static void
parse_destinations(struct cfg_ctx *cx, config_setting_t *s)
{
	struct config *cfg = cx->cfg;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		cfg_report(cx, s, "\"destinations\" must be a group: "
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
parse_account(struct cfg_ctx *cx, config_setting_t *s, struct account *a)
{
	char where[300];

	a->src = cfg_source(cx->cfg, s);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		cfg_report(cx, s, "each account must be a group { name = ...; }");
		a->name = xstrdup("?");
		return;
	}
	cfg_get_string(cx, s, "name", &a->name);
	if (a->name == NULL || a->name[0] == '\0') {
		cfg_report(cx, s, "account without a \"name\"");
		free(a->name);
		a->name = xstrdup("?");
	}
	snprintf(where, sizeof where, "account \"%s\"", a->name);
	cfg_check_members(cx, s, account_keys, where);

	a->tls = (enum tls_mode)cfg_get_choice(cx, s, "tls", tls_mode_names, 3,
	    TLS_MODE_IMPLICIT);
	a->port = a->tls == TLS_MODE_IMPLICIT ? 995 : 110;
	a->keep = true;
	a->auth = (enum auth_method)cfg_get_choice(cx, s, "auth", auth_names, 7,
	    AUTH_AUTO);
	cfg_get_string(cx, s, "server", &a->server);
	cfg_get_int32(cx, s, "port", 1, 65535, &a->port);
	cfg_get_bool(cx, s, "allow_plaintext_auth", &a->allow_plaintext_auth);
	cfg_get_path(cx, s, "tls_ca_file", &a->tls_ca_file);
	cfg_get_string(cx, s, "tls_fingerprint", &a->tls_fingerprint);
	cfg_get_string(cx, s, "user", &a->user);
	cfg_get_string(cx, s, "password", &a->password);
	cfg_get_string(cx, s, "password_command", &a->password_command);
	cfg_get_bool(cx, s, "keep", &a->keep);
	cfg_get_int32(cx, s, "keep_days", 0, 100000, &a->keep_days);
	cfg_get_int(cx, s, "max_size", 0, INT64_MAX, &a->max_size);
	/* 0 once meant no limit; a message must have one. */
	if (a->max_size == 0)
		a->max_size = MAX_SIZE_DEFAULT;
	cfg_get_int32(cx, s, "fetch_limit", 0, 1000000, &a->fetch_limit);
	multidrop_parse_account(cx, s, a, where);
	cfg_parse_protocol(cx, s, a, where);

	if (a->server == NULL || a->server[0] == '\0')
		cfg_report(cx, s, "%s has no \"server\"", where);
	if (a->user == NULL || a->user[0] == '\0')
		cfg_report(cx, s, "%s has no \"user\"", where);
	if (a->password != NULL && a->password_command != NULL)
		cfg_report(cx, cfg_member(s, "password_command"), "%s has both "
		    "\"password\" and \"password_command\"; keep one", where);
	if (a->password == NULL && a->password_command == NULL)
		cfg_report(cx, s, "%s has neither \"password\" nor "
		    "\"password_command\"", where);
	check_secret(cx, s, "password");
	wipe_setting(s, "password");
	check_command(cx, s, "password_command", a->password_command, where);
	if (a->tls_fingerprint != NULL &&
	    !tls_fingerprint_valid(a->tls_fingerprint))
		cfg_report(cx, cfg_member(s, "tls_fingerprint"), "%s: tls_fingerprint "
		    "must be \"sha256:\" and 32 hex bytes", where);
	if (a->tls_fingerprint != NULL && a->tls == TLS_MODE_NONE)
		cfg_report(cx, cfg_member(s, "tls_fingerprint"), "%s: tls_fingerprint "
		    "is set but tls = \"none\"", where);
	if (cfg_member(s, "deliver") == NULL)
		cfg_report(cx, s, "%s has no \"deliver\" (the destination of "
		    "its messages)", where);
	cfg_get_destinations(cx, s, "deliver", where, &a->deliver,
	    &a->ndeliver);
	if (cfg_member(s, "rules") != NULL)
		cfg_parse_rules(cx, cfg_member(s, "rules"), a);
	multidrop_check_account(a);
}

static void
parse_accounts(struct cfg_ctx *cx, config_setting_t *s)
{
	struct config *cfg = cx->cfg;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		cfg_report(cx, s, "\"accounts\" must be a list: accounts = "
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
				cfg_report(cx, el, "account \"%s\" is defined "
				    "twice (first at line %d)",
				    cfg->accounts[i].name,
				    cfg->accounts[j].src.line);
	}
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
config_xdg_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");

	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/mailferry/mailferry.conf", xdg);
	return expand_path("~/.config/mailferry/mailferry.conf");
}

char *
config_default_path(void)
{
	char *path = config_xdg_path();

	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return expand_path("~/.mailferry.conf");
}

struct config *
config_load(const char *path)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	struct cfg_ctx cx = { .cfg = cfg };
	config_setting_t *root, *s;
	int rc;

	cfg->path = xstrdup(path);
	config_init(&cfg->lc);
	if (config_text_read(&cfg->text, path) > 0) {
		config_free(cfg);
		return NULL;
	}
	rc = config_read_string(&cfg->lc, cfg->text.text);
	if (rc != CONFIG_TRUE)
		config_report_syntax(&cfg->text, &cfg->lc);
	/* Parsed: only the line map is needed now, and the text may hold
	 * passwords. */
	if (cfg->text.text != NULL)
		explicit_bzero(cfg->text.text, cfg->text.len);
	if (rc != CONFIG_TRUE) {
		config_free(cfg);
		return NULL;
	}

	root = config_root_setting(&cfg->lc);
	cfg_check_members(&cx, root, global_keys, "the global settings");
	cfg->timeout = 60;
	cfg->parallel = 1;
	cfg->rules_cpu_limit = RULES_CPU_LIMIT_DEFAULT;
	cfg_get_path(&cx, root, "state_dir", &cfg->state_dir);
	cfg->state_dir_src = cfg_source(cfg, cfg_member(root, "state_dir"));
	if (cfg->state_dir == NULL)
		cfg->state_dir = default_state_dir();
	cfg_get_path(&cx, root, "plugin_dir", &cfg->plugin_dir);
	if (cfg->plugin_dir == NULL)
		cfg->plugin_dir = xstrdup(PLUGIN_DIR);
	else if (cfg->plugin_dir[0] != '/') {
		/* Beside the file that names it, not wherever mailferry
		 * happens to be started. */
		char *dir = path_beside(cfg_source(cfg, cfg_member(root,
		    "plugin_dir")).file, cfg->plugin_dir);

		free(cfg->plugin_dir);
		cfg->plugin_dir = dir;
	}
	cfg_get_int32(&cx, root, "timeout", 1, 86400, &cfg->timeout);
	cfg_get_int32(&cx, root, "parallel", 1, 256, &cfg->parallel);
	cfg_get_int32(&cx, root, "rules_cpu_limit", 1, 3600,
	    &cfg->rules_cpu_limit);
	if ((s = cfg_member(root, "destinations")) != NULL)
		parse_destinations(&cx, s);
	if ((s = cfg_member(root, "plugins")) != NULL)
		cfg_parse_plugins(&cx, s);
	if ((s = cfg_member(root, "accounts")) != NULL)
		parse_accounts(&cx, s);
	else
		log_error_at(path, 0, "no \"accounts\" defined"), cx.errors++;
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
	cfg_free_string_list(d->to, d->nto);
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
	free(a->envelope);
	cfg_free_string_list(a->local_domains, a->nlocal_domains);
	cfg_free_protocol(a);
	free(a->deliver);
	cfg_free_rules(a->rules, a->nrules);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->naccounts; i++)
		free_account(&cfg->accounts[i]);
	free(cfg->accounts);
	cfg_free_plugins(cfg->plugins, cfg->nplugins);
	for (size_t i = 0; i < cfg->ndests; i++)
		free_destination(&cfg->dests[i]);
	free(cfg->dests);
	config_destroy(&cfg->lc);
	config_text_free(&cfg->text);
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
