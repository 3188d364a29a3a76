/*
 * An account's protocol and the keys that go with it. A key that makes
 * no sense for the protocol (folders for POP3, apop for IMAP) is an
 * error rather than silently ignored: the user believes it does
 * something.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-imap.h"
#include "imap-utf7.h"
#include "xmalloc.h"

/* A folder name longer than this is surely a mistake; servers limit
 * command lines to a few kilobytes. */
#define FOLDER_NAME_MAX		1000

static const char *const protocol_names[] = {
	[PROTO_POP3] = "pop3",
	[PROTO_IMAP] = "imap",
};

const char *const imap_account_keys[] = {
	"folders", "mark_seen", "move_to", "idle", NULL
};

const char *
protocol_name(enum protocol p)
{
	return protocol_names[p];
}

static int
default_port(enum protocol p, enum tls_mode tls)
{
	if (p == PROTO_IMAP)
		return tls == TLS_MODE_IMPLICIT ? 993 : 143;
	return tls == TLS_MODE_IMPLICIT ? 995 : 110;
}

/* IMAP names the INBOX in any case; every other name is exact. */
static bool
same_folder(const char *x, const char *y)
{
	if (strcasecmp(x, "INBOX") == 0)
		return strcasecmp(y, "INBOX") == 0;
	return strcmp(x, y) == 0;
}

/* Nothing that could end a command line, and UTF-8 (or modified
 * UTF-7, which is ASCII) so that it can be sent either way. *shown
 * says whether the name can be printed in the message. */
static const char *
folder_problem(const char *name, bool *shown)
{
	char *utf7;

	*shown = true;
	if (name[0] == '\0')
		return "is empty";
	if (strlen(name) > FOLDER_NAME_MAX)
		return "is longer than 1000 bytes";
	*shown = false;
	for (const char *p = name; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "holds a control character";
	if ((utf7 = imap_utf7_encode(name)) == NULL)
		return "is not valid UTF-8";
	free(utf7);
	return NULL;
}

/* n: the folder's place in the list, from 1 (0: move_to). */
static void
check_folder_name(struct cfg_ctx *cx, config_setting_t *at, size_t n,
    const char *name, const char *where)
{
	bool shown;
	const char *why = folder_problem(name, &shown);

	if (why == NULL)
		return;
	if (shown)
		cfg_report(cx, at, "%s: %s: the folder name \"%.40s\" %s",
		    where, n ? "folders" : "move_to", name, why);
	else if (n > 0)
		cfg_report(cx, at, "%s: folders: the name of folder %zu %s",
		    where, n, why);
	else
		cfg_report(cx, at, "%s: move_to: the folder name %s", where,
		    why);
}

static void
parse_folders(struct cfg_ctx *cx, config_setting_t *s, struct account *a,
    const char *where)
{
	config_setting_t *fs = cfg_member(s, "folders");

	cfg_get_string_list(cx, s, "folders", &a->folders, &a->nfolders);
	if (a->nfolders > FOLDERS_MAX)
		cfg_report(cx, fs, "%s: more than %d folders", where,
		    FOLDERS_MAX);
	for (size_t i = 0; i < a->nfolders; i++) {
		check_folder_name(cx, fs, i + 1, a->folders[i], where);
		for (size_t j = 0; j < i; j++)
			if (same_folder(a->folders[i], a->folders[j]) &&
			    a->folders[i][0] != '\0')
				cfg_report(cx, fs, "%s: folders names \"%.40s\" "
				    "twice", where, a->folders[i]);
	}
	if (a->nfolders == 0) {
		/* A list holding no string left an empty array behind. */
		free(a->folders);
		a->folders = xcalloc(1, sizeof *a->folders);
		a->folders[0] = xstrdup("INBOX");
		a->nfolders = 1;
	}
}

static void
parse_move_to(struct cfg_ctx *cx, config_setting_t *s, struct account *a,
    const char *where)
{
	config_setting_t *mt = cfg_member(s, "move_to");

	cfg_get_string(cx, s, "move_to", &a->move_to);
	if (a->move_to == NULL)
		return;
	check_folder_name(cx, mt, 0, a->move_to, where);
	/* What is moved there would be fetched again, as new. */
	for (size_t i = 0; i < a->nfolders; i++)
		if (same_folder(a->move_to, a->folders[i]))
			cfg_report(cx, mt, "%s: move_to \"%.40s\" is also one of "
			    "the folders fetched: every message moved there "
			    "would be fetched again", where, a->move_to);
	if (a->keep_days > 0)
		cfg_report(cx, cfg_member(s, "keep_days"), "%s: keep_days "
		    "with move_to: a delivered message leaves the folder at "
		    "once, so keep_days would never apply; keep one of them",
		    where);
}

static void
parse_imap(struct cfg_ctx *cx, config_setting_t *s, struct account *a,
    const char *where)
{
	config_setting_t *auth = cfg_member(s, "auth");

	if (a->auth == AUTH_APOP)
		cfg_report(cx, auth, "%s: auth = \"apop\" is a POP3 login; an "
		    "IMAP account logs in with auto, user (the LOGIN command), "
		    "plain, login, xoauth2 or oauthbearer", where);
	a->idle = true;
	cfg_get_bool(cx, s, "mark_seen", &a->mark_seen);
	cfg_get_bool(cx, s, "idle", &a->idle);
	parse_folders(cx, s, a, where);
	parse_move_to(cx, s, a, where);
}

static void
refuse_imap_keys(struct cfg_ctx *cx, config_setting_t *s,
    const struct account *a, const char *where)
{
	for (size_t i = 0; imap_account_keys[i] != NULL; i++) {
		config_setting_t *k = cfg_member(s, imap_account_keys[i]);

		if (k != NULL)
			cfg_report(cx, k, "%s: \"%s\" is for IMAP accounts "
			    "(protocol = \"imap\")", where,
			    imap_account_keys[i]);
	}
	if (a->auth == AUTH_OAUTHBEARER)
		cfg_report(cx, cfg_member(s, "auth"), "%s: auth = "
		    "\"oauthbearer\" is for IMAP accounts; a POP3 account "
		    "takes a token with xoauth2", where);
}

void
cfg_parse_protocol(struct cfg_ctx *cx, config_setting_t *s,
    struct account *a, const char *where)
{
	a->protocol = (enum protocol)cfg_get_choice(cx, s, "protocol",
	    protocol_names, 2, PROTO_POP3);
	if (cfg_member(s, "port") == NULL)
		a->port = default_port(a->protocol, a->tls);
	if (a->protocol == PROTO_IMAP)
		parse_imap(cx, s, a, where);
	else
		refuse_imap_keys(cx, s, a, where);
}

void
cfg_free_protocol(struct account *a)
{
	cfg_free_string_list(a->folders, a->nfolders);
	free(a->move_to);
}
