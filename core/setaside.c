#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "lock.h"
#include "log.h"
#include "config-rules.h"
#include "setaside.h"
#include "uidstore.h"

static bool
calls_plugin(const struct account *a, const char *name)
{
	for (size_t i = 0; i < a->nrules; i++)
		if (a->rules[i].plugin_name != NULL &&
		    strcmp(a->rules[i].plugin_name, name) == 0)
			return true;
	return false;
}

static void
describe(const struct account *a, const char *uid, const struct uid_aside *m,
    char *why, size_t whylen)
{
	char when[32] = "?";
	struct tm tm;
	time_t t = m->when;

	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
	if (m->kind == 'C')
		snprintf(why, whylen, "plugin %s crashed or hung on it (%s); "
		    "\"mailferry -a %s --release %s\" gives it another try",
		    m->arg, when, a->name, uid);
	else
		snprintf(why, whylen, "it was larger than max_size (%s bytes) "
		    "although the server announced less (%s); it is fetched "
		    "once max_size is raised above that", m->arg, when);
}

bool
setaside_check(const struct uidstore *s, const struct account *a,
    const char *uid, char *why, size_t whylen)
{
	struct uid_aside m;

	for (size_t i = 0; uidstore_aside(s, uid, i, &m); i++) {
		if (m.kind == 'C' && !calls_plugin(a, m.arg))
			continue;
		if (m.kind == 'L' && a->max_size > strtoll(m.arg, NULL, 10))
			continue;
		describe(a, uid, &m, why, whylen);
		return true;
	}
	return false;
}

static int
release(struct uidstore *s, const struct account *a, const char *uid,
    struct err *e)
{
	if (uidstore_release(s, uid, time(NULL)) == 0)
		return err_set(e, ERR_USAGE, "%s: no message with UID %s is "
		    "set aside", a->name, uid);
	return uidstore_sync(s, e);
}

int
setaside_release(const struct config *cfg, const struct account *a,
    const char *uid)
{
	struct uidstore *s = NULL;
	struct err e;
	int lock_fd;

	err_clear(&e);
	if (!uid_valid(uid, strlen(uid))) {
		err_set(&e, ERR_USAGE, "--release: \"%.60s\" is not a UID "
		    "(1 to %d printable ASCII characters, no space)", uid,
		    UID_MAX_LEN);
		goto done;
	}
	lock_fd = lock_account(cfg->state_dir, a->name, cfg->timeout, &e);
	if (lock_fd == -1)
		goto done;
	s = uidstore_open(cfg->state_dir, a->name, false, &e);
	if (s != NULL && release(s, a, uid, &e) == 0)
		printf("%s: released the message with UID %s: the next run "
		    "fetches it\n", a->name, uid);
	uidstore_close(s);
	unlock_account(lock_fd);
done:
	if (e.cls != ERR_NONE)
		log_error("%s", e.msg);
	return err_exitcode(e.cls);
}
