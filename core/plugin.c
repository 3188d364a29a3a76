#include <sys/stat.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "command.h"
#include "config-rules.h"
#include "fsutil.h"
#include "log.h"
#include "plugin-guard.h"
#include "plugin.h"
#include "rfc2047.h"
#include "xmalloc.h"

#define NOTE_MAX	1024
/* The ABI minor version that brought mf_host.checking. */
#define ABI_MINOR_CHECKING	1

/* The plugin being called: its name for log lines, its environment for
 * the services (the host API has no handle for them). */
static struct plugin *calling;

/* ---- options ---------------------------------------------------------- */

static const config_setting_t *
opt(const struct mf_options *o)
{
	return (const config_setting_t *)o;
}

static config_setting_t *
opt_member(const struct mf_options *o, const char *key)
{
	if (o == NULL || config_setting_type(opt(o)) != CONFIG_TYPE_GROUP)
		return NULL;
	return config_setting_get_member(opt(o), key);
}

static const char *
host_opt_string(const struct mf_options *o, const char *key)
{
	config_setting_t *s = opt_member(o, key);

	return s != NULL && config_setting_type(s) == CONFIG_TYPE_STRING ?
	    config_setting_get_string(s) : NULL;
}

static int
host_opt_int(const struct mf_options *o, const char *key, long long *value)
{
	config_setting_t *s = opt_member(o, key);

	if (s == NULL)
		return -1;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		*value = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		*value = config_setting_get_int64(s);
	else
		return -1;
	return 0;
}

static int
host_opt_bool(const struct mf_options *o, const char *key, int *value)
{
	config_setting_t *s = opt_member(o, key);

	if (s == NULL || config_setting_type(s) != CONFIG_TYPE_BOOL)
		return -1;
	*value = config_setting_get_bool(s);
	return 0;
}

static size_t
host_opt_count(const struct mf_options *o, const char *key)
{
	config_setting_t *s = opt_member(o, key);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return 1;
	if (config_setting_type(s) == CONFIG_TYPE_ARRAY ||
	    config_setting_type(s) == CONFIG_TYPE_LIST)
		return (size_t)config_setting_length(s);
	return 0;
}

static const char *
host_opt_item(const struct mf_options *o, const char *key, size_t i)
{
	config_setting_t *s = opt_member(o, key), *el;

	if (s == NULL)
		return NULL;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return i == 0 ? config_setting_get_string(s) : NULL;
	el = config_setting_get_elem(s, (unsigned)i);
	return el != NULL && config_setting_type(el) == CONFIG_TYPE_STRING ?
	    config_setting_get_string(el) : NULL;
}

static const struct mf_options *
host_opt_group(const struct mf_options *o, const char *key)
{
	config_setting_t *s = opt_member(o, key);

	return s != NULL && config_setting_type(s) == CONFIG_TYPE_GROUP ?
	    (const struct mf_options *)s : NULL;
}

static size_t
host_opt_group_size(const struct mf_options *g)
{
	return g != NULL ? (size_t)config_setting_length(opt(g)) : 0;
}

static const char *
host_opt_group_name(const struct mf_options *g, size_t i)
{
	config_setting_t *el = g != NULL ?
	    config_setting_get_elem(opt(g), (unsigned)i) : NULL;

	return el != NULL ? config_setting_name(el) : NULL;
}

static size_t
host_opt_keys(const struct mf_options *o)
{
	return o != NULL && config_setting_type(opt(o)) == CONFIG_TYPE_GROUP ?
	    (size_t)config_setting_length(opt(o)) : 0;
}

static const char *
host_opt_key(const struct mf_options *o, size_t i)
{
	return host_opt_group_name(o, i);
}

/* ---- the message ------------------------------------------------------ */

/* Keep a string handed to the plugin until its call returns. */
static const char *
hand_out(struct mf_message *pm, char *s)
{
	*ARRAY_ADD(pm->strings, pm->nstrings, pm->capstrings) = s;
	return s;
}

static void
free_handed_out(struct mf_message *pm)
{
	for (size_t i = 0; i < pm->nstrings; i++)
		free(pm->strings[i]);
	free(pm->strings);
	pm->strings = NULL;
	pm->nstrings = pm->capstrings = 0;
}

static const char *
host_account(const struct mf_message *pm)
{
	return pm->account->name;
}

static int
host_account_keeps(const struct mf_message *pm)
{
	return pm->account->keep;
}

static const char *
host_uid(const struct mf_message *pm)
{
	return pm->uid;
}

static off_t
host_size(const struct mf_message *pm)
{
	return msg_size(pm->m);
}

static ssize_t
host_read(struct mf_message *pm, void *buf, size_t len, off_t offset)
{
	return msg_read(pm->m, buf, len, offset);
}

static size_t
host_header_count(struct mf_message *pm, const char *name)
{
	struct header_index *idx = msg_headers(pm->m);
	size_t pos = 0, n = 0;

	while (header_find(idx, name, &pos) != NULL)
		n++;
	return n;
}

static const char *
host_header_value(struct mf_message *pm, const char *name, size_t i,
    int decoded)
{
	struct header_index *idx = msg_headers(pm->m);
	struct header_field *f;
	size_t pos = 0;
	char *s;

	do
		f = header_find(idx, name, &pos);
	while (f != NULL && i-- > 0);
	if (f == NULL)
		return NULL;
	if (decoded)
		return hand_out(pm, xstrdup(msg_field_decoded(f)));
	s = xmalloc(f->value_len + 1);
	header_unfold(f->value, f->value_len, s);
	return hand_out(pm, s);
}

static int
host_header_add(struct mf_message *pm, const char *name, const char *value)
{
	return msg_header_add(pm->m, name, value);
}

static int
host_header_set(struct mf_message *pm, const char *name, const char *value)
{
	if (msg_header_remove(pm->m, name) == -1)
		return -1;
	return msg_header_add(pm->m, name, value);
}

static int
host_header_remove(struct mf_message *pm, const char *name)
{
	return msg_header_remove(pm->m, name);
}

static int
host_replace_begin(struct mf_message *pm)
{
	if (pm->replacement != NULL)
		return -1;
	pm->replacement = xcalloc(1, sizeof *pm->replacement);
	msg_init(pm->replacement, pm->m->spool.dir);
	pm->replace_failed = false;
	/* A filter gone wild must not fill the disk. */
	pm->replacement_limit = msg_size(pm->m) * 2 + 64 * 1024 * 1024;
	return 0;
}

static int
host_replace_write(struct mf_message *pm, const void *data, size_t len)
{
	struct err e;

	if (pm->replacement == NULL || pm->replace_failed)
		return -1;
	if (msg_size(pm->replacement) + (off_t)len > pm->replacement_limit) {
		log_warn("plugin %s: replacement message too large",
		    calling != NULL ? calling->name : "?");
		pm->replace_failed = true;
		return -1;
	}
	err_clear(&e);
	if (msg_append(pm->replacement, data, len, &e) == -1) {
		log_error("plugin %s: %s", calling != NULL ? calling->name :
		    "?", e.msg);
		pm->replace_failed = true;
		return -1;
	}
	return 0;
}

static int
host_replace_end(struct mf_message *pm, int commit)
{
	int rc = 0;

	if (pm->replacement == NULL)
		return -1;
	if (commit && !pm->replace_failed &&
	    msg_size(pm->replacement) > 0) {
		msg_finish(pm->replacement);
		msg_swap(pm->m, pm->replacement);
		pm->replaced = true;
	} else if (commit)
		rc = -1;	/* failed or empty: keep the original */
	msg_free(pm->replacement);
	free(pm->replacement);
	pm->replacement = NULL;
	return rc;
}

static int
host_set_destinations(struct mf_message *pm, const char *const *names,
    size_t n)
{
	struct destination **d = xcalloc(n ? n : 1, sizeof *d);

	for (size_t i = 0; i < n; i++) {
		d[i] = config_destination(pm->cfg, names[i]);
		if (d[i] == NULL) {
			log_error("plugin %s: no destination named \"%s\"",
			    calling != NULL ? calling->name : "?", names[i]);
			free(d);
			return -1;
		}
	}
	free(pm->dests);
	pm->dests = d;
	pm->ndests = n;
	return 0;
}

static int
host_set_note(struct mf_message *pm, const char *note)
{
	if (calling == NULL || strlen(note) > NOTE_MAX)
		return -1;
	for (size_t i = 0; i < pm->nnotes; i++)
		if (pm->notes[i].plugin == calling) {
			free(pm->notes[i].text);
			pm->notes[i].text = xstrdup(note);
			return 0;
		}
	*ARRAY_ADD(pm->notes, pm->nnotes, pm->capnotes) =
	    (struct plugin_note){ calling, xstrdup(note) };
	return 0;
}

/* ---- services --------------------------------------------------------- */

static void
host_log(enum mf_log_level level, const char *fmt, ...)
{
	char line[2048];
	const char *name = calling != NULL ? calling->name : "?";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	switch (level) {
	case MF_LOG_ERROR:
		log_error("plugin %s: %s", name, line);
		break;
	case MF_LOG_WARNING:
		log_warn("plugin %s: %s", name, line);
		break;
	case MF_LOG_INFO:
		log_verbose("plugin %s: %s", name, line);
		break;
	case MF_LOG_DEBUG:
		log_trace("plugin %s: %s", name, line);
		break;
	}
}

static const char *
host_state_dir(void)
{
	return calling != NULL ? calling->env->state_dir : "/nonexistent";
}

static int
host_timeout(void)
{
	return calling != NULL ? calling->env->timeout : 60;
}

static char **
host_split_command(const char *line)
{
	const char *why;

	return command_split(line, &why);
}

struct filter_io {
	struct mf_message	*pm;
	off_t			 offset;
	bool			 held_cr;	/* output ended with a CR */
};

static int
feed_message(void *arg, char *buf, size_t size, size_t *len, struct err *e)
{
	struct filter_io *io = arg;
	ssize_t n = msg_read(io->pm->m, buf, size, io->offset);

	if (n < 0)
		return err_set(e, ERR_TEMP, "reading the message");
	io->offset += n;
	*len = (size_t)n;
	return 0;
}

/* The filter's output becomes the message, with CRLF line ends made LF
 * as mailferry stores messages. */
static int
take_output(void *arg, const char *data, size_t len, struct err *e)
{
	struct filter_io *io = arg;
	char buf[8192];
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (io->held_cr && data[i] != '\n')
			buf[o++] = '\r';
		io->held_cr = data[i] == '\r';
		if (!io->held_cr)
			buf[o++] = data[i];
		if (o >= sizeof buf - 2 || i + 1 == len) {
			if (host_replace_write(io->pm, buf, o) == -1)
				return err_set(e, ERR_TEMP, "the filter's "
				    "output could not be stored");
			o = 0;
		}
	}
	return 0;
}

static int
host_run_filter(struct mf_message *pm, char *const argv[], int timeout,
    int flags, int *status, char *errbuf, size_t errlen)
{
	struct filter_io io = { .pm = pm };
	struct command_result res;
	bool replace = flags & MF_RUN_REPLACE;
	struct err e;
	int rc;

	err_clear(&e);
	if (replace && host_replace_begin(pm) == -1) {
		snprintf(errbuf, errlen, "a replacement is already under way");
		return -1;
	}
	/* The program's own timeout bounds this part. */
	guard_pause();
	rc = command_run(argv, timeout, feed_message, &io,
	    replace ? take_output : NULL, &io, &res, &e);
	guard_resume();
	if (rc == -1 || res.timed_out || !res.exited) {
		if (replace)
			host_replace_end(pm, 0);
		if (rc == -1)
			snprintf(errbuf, errlen, "%s: %s", argv[0], e.msg);
		else if (res.timed_out)
			snprintf(errbuf, errlen, "%s did not finish within "
			    "%d s", argv[0], timeout);
		else
			snprintf(errbuf, errlen, "%s was killed by a signal",
			    argv[0]);
		return -1;
	}
	*status = res.status;
	if (res.stderr_text[0] != '\0') {
		/* What a failing filter says is the best clue to why. */
		if (res.status != 0)
			log_warn("plugin %s: %s exited with status %d and said: "
			    "%s", calling != NULL ? calling->name : "?", argv[0],
			    res.status, res.stderr_text);
		else
			log_verbose("plugin %s: %s said: %s", calling != NULL ?
			    calling->name : "?", argv[0], res.stderr_text);
	}
	if (replace && io.held_cr)
		(void)host_replace_write(pm, "\r", 1);
	if (replace && host_replace_end(pm, res.status == 0) == -1 &&
	    res.status == 0) {
		snprintf(errbuf, errlen, "%s printed no usable message",
		    argv[0]);
		return -1;
	}
	return 0;
}

static const struct mf_host host = {
	.abi_major = MAILFERRY_PLUGIN_ABI_MAJOR,
	.abi_minor = MAILFERRY_PLUGIN_ABI_MINOR,
	.opt_string = host_opt_string,
	.opt_int = host_opt_int,
	.opt_bool = host_opt_bool,
	.opt_count = host_opt_count,
	.opt_item = host_opt_item,
	.opt_group = host_opt_group,
	.opt_group_size = host_opt_group_size,
	.opt_group_name = host_opt_group_name,
	.opt_keys = host_opt_keys,
	.opt_key = host_opt_key,
	.account = host_account,
	.account_keeps = host_account_keeps,
	.uid = host_uid,
	.size = host_size,
	.read = host_read,
	.header_count = host_header_count,
	.header_value = host_header_value,
	.header_add = host_header_add,
	.header_set = host_header_set,
	.header_remove = host_header_remove,
	.replace_begin = host_replace_begin,
	.replace_write = host_replace_write,
	.replace_end = host_replace_end,
	.set_destinations = host_set_destinations,
	.set_note = host_set_note,
	.log = host_log,
	.state_dir = host_state_dir,
	.timeout = host_timeout,
	.split_command = host_split_command,
	.free_argv = command_free_argv,
	.run_filter = host_run_filter,
};

/* ---- the message handle ---------------------------------------------- */

void
mf_message_init(struct mf_message *pm, struct msg *m, struct config *cfg,
    const struct account *a, const char *uid, off_t server_size)
{
	*pm = (struct mf_message){ .m = m, .cfg = cfg, .account = a,
	    .uid = uid, .server_size = server_size, .filter = plugin_filter };
}

void
mf_message_clear(struct mf_message *pm)
{
	if (pm->replacement != NULL)
		host_replace_end(pm, 0);
	free(pm->dests);
	pm->dests = NULL;
	pm->ndests = 0;
	plugin_notes_free(pm->notes, pm->nnotes);
	pm->notes = NULL;
	pm->nnotes = pm->capnotes = 0;
	free_handed_out(pm);
}

/* ---- loading ---------------------------------------------------------- */

void
plugins_init(struct plugin_set *ps, const struct plugin_env *env)
{
	memset(ps, 0, sizeof *ps);
	ps->env = *env;
}

/*
 * Code another user could have written must not run as us: plugin_dir
 * and the plugin itself are checked before dlopen runs anything of it
 * (its constructors run at load, even for --check-config). A missing
 * file is left for dlopen to explain.
 */
static int
plugin_trusted(const struct plugin_env *env, const char *path,
    struct err *e)
{
	struct stat st;

	if (trust_dir("plugin_dir", env->plugin_dir, e) == -1)
		return -1;
	if (stat(path, &st) == -1)
		return 0;
	return trust_file("plugin", path, &st, e);
}

/* dlopen the plugin and check its descriptor; nothing of it is called. */
static int
plugin_open(struct plugin *p, struct err *e)
{
	const struct mf_plugin *d;

	if (plugin_trusted(p->env, p->path, e) == -1)
		return -1;
	p->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
	if (p->handle == NULL)
		return err_set(e, ERR_CONFIG, "plugin \"%s\" does not load: %s",
		    p->name, dlerror());
	d = p->desc = dlsym(p->handle, "mailferry_plugin");
	if (d == NULL)
		return err_set(e, ERR_CONFIG, "plugin \"%s\" (%s) is not a "
		    "mailferry plugin: it has no mailferry_plugin symbol",
		    p->name, p->path);
	if (d->abi_major != MAILFERRY_PLUGIN_ABI_MAJOR ||
	    d->abi_minor > MAILFERRY_PLUGIN_ABI_MINOR)
		return err_set(e, ERR_CONFIG, "plugin \"%s\" (%s) was built "
		    "for plugin ABI %u.%u, but this mailferry provides %u.%u; "
		    "rebuild it against this mailferry's <mailferry/plugin.h>",
		    p->name, p->path, d->abi_major, d->abi_minor,
		    MAILFERRY_PLUGIN_ABI_MAJOR, MAILFERRY_PLUGIN_ABI_MINOR);
	if (d->filter == NULL)
		return err_set(e, ERR_CONFIG, "plugin \"%s\" has no filter "
		    "function", p->name);
	return 0;
}

/* The host a plugin is started with: while checking, the same functions
 * with the checking flag up. */
static const struct mf_host *
host_for(const struct plugin_env *env)
{
	static struct mf_host checking;

	if (!env->checking)
		return &host;
	checking = host;
	checking.checking = 1;
	return &checking;
}

static int
plugin_start(struct plugin *p, const config_setting_t *options,
    struct err *e)
{
	char reason[256] = "";
	int rc;

	/* Only a plugin that knows the checking flag can honour it. */
	if (p->env->checking && p->desc->abi_minor < ABI_MINOR_CHECKING) {
		p->unstarted = true;
		return 0;
	}
	if (p->desc->init == NULL)
		return 0;
	calling = p;
	rc = p->desc->init(host_for(p->env),
	    (const struct mf_options *)options, &p->state, reason,
	    sizeof reason);
	calling = NULL;
	if (rc != 0)
		return err_set(e, ERR_CONFIG, "plugin \"%s\" failed to start: "
		    "%s", p->name, reason[0] ? reason : "(no reason given)");
	return 0;
}

struct plugin *
plugin_load(struct plugin_set *ps, const char *name,
    const config_setting_t *options, struct err *e)
{
	struct plugin *p;

	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->list[i]->name, name) == 0) {
			if (ps->list[i]->initialized)
				return ps->list[i];
			err_set(e, ERR_CONFIG, "plugin \"%s\" is not usable "
			    "(see above)", name);
			return NULL;
		}
	if (!plugin_name_valid(name)) {
		err_set(e, ERR_CONFIG, "\"%s\" is not a plugin name (letters, "
		    "digits, - and _)", name);
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->name = xstrdup(name);
	p->path = xasprintf("%s/%s.so", ps->env.plugin_dir, name);
	p->env = &ps->env;
	/* Kept even when it fails, so that later references to it are not
	 * reported as if it were a new problem. */
	*ARRAY_ADD(ps->list, ps->n, ps->cap) = p;
	if (plugin_open(p, e) == -1 || plugin_start(p, options, e) == -1) {
		if (p->handle != NULL)
			dlclose(p->handle);
		p->handle = NULL;
		return NULL;
	}
	p->initialized = true;
	return p;
}

int
plugin_check_args(struct plugin *p, const config_setting_t *args,
    struct err *e)
{
	char reason[256] = "";
	int rc;

	if (p->desc->check_args == NULL || p->unstarted)
		return 0;
	calling = p;
	rc = p->desc->check_args(p->state, (const struct mf_options *)args,
	    reason, sizeof reason);
	calling = NULL;
	if (rc != 0)
		return err_set(e, ERR_CONFIG, "plugin \"%s\": %s", p->name,
		    reason[0] ? reason : "invalid args");
	return 0;
}

/* Should the plugin crash or hang on this message, set it aside. */
static void
arm_guard(struct plugin *p, struct mf_message *pm)
{
	char record[UID_MAX_LEN + 128];
	struct guard_call c = { .fd = -1, .record = record,
	    .account = pm->account->name, .plugin = p->name, .uid = pm->uid,
	    .seconds = p->env->timeout };
	struct err e;

	err_clear(&e);
	if (pm->store != NULL && pm->uid != NULL) {
		c.recordlen = uidstore_format_aside(record, sizeof record, 'C',
		    pm->uid, time(NULL), p->name);
		c.fd = c.recordlen > 0 ? uidstore_signal_fd(pm->store, &e) : -1;
		if (e.cls != ERR_NONE)
			log_error("%s: %s", pm->account->name, e.msg);
	}
	/* Lines printed so far must not be lost with the process. */
	fflush(stdout);
	guard_arm(&c);
}

enum mf_verdict
plugin_filter(struct plugin *p, struct mf_message *pm,
    const config_setting_t *args, char *why, size_t whylen)
{
	enum mf_verdict v;

	why[0] = '\0';
	calling = p;
	arm_guard(p, pm);
	v = p->desc->filter(p->state, pm, (const struct mf_options *)args, why,
	    whylen);
	guard_disarm();
	calling = NULL;
	free_handed_out(pm);
	if (pm->replacement != NULL) {
		/* Left half-done: drop it, keep the original. */
		host_replace_end(pm, 0);
	}
	if (v > MF_ERROR) {
		snprintf(why, whylen, "returned an unknown verdict %d", (int)v);
		v = MF_ERROR;
	}
	if (v == MF_ERROR && why[0] == '\0')
		snprintf(why, whylen, "failed (no reason given)");
	return v;
}

void
plugin_notes_delivered(const struct plugin_note *notes, size_t n,
    const char *account)
{
	for (size_t i = 0; i < n; i++) {
		struct plugin *p = notes[i].plugin;

		if (p->desc->delivered == NULL)
			continue;
		calling = p;
		p->desc->delivered(p->state, account, notes[i].text);
		calling = NULL;
	}
}

void
plugin_notes_free(struct plugin_note *notes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(notes[i].text);
	free(notes);
}

void
plugins_unload(struct plugin_set *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		struct plugin *p = ps->list[i];

		if (p->initialized && !p->unstarted && p->desc->fini != NULL) {
			calling = p;
			p->desc->fini(p->state);
			calling = NULL;
		}
		if (p->handle != NULL)
			dlclose(p->handle);
		free(p->path);
		free(p->name);
		free(p);
	}
	free(ps->list);
	ps->list = NULL;
	ps->n = ps->cap = 0;
}
