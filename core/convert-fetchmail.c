/*
 * fetchmail's run control file (fetchmail(1), "THE RUN CONTROL FILE")
 * read into struct conv. Statements are `set ...`, `defaults ...` and
 * `poll NAME ...` (or `skip`, or `server`), each followed by server
 * options, then `user` descriptions with their user options. Options are
 * collected in layers (defaults, the poll entry, the user) and merged
 * for each user into one account (convert-fetchmail-map.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert-fetchmail.h"
#include "convert-rclex.h"
#include "xmalloc.h"

enum arity {
	ARG_NONE,
	ARG_ONE,		/* a string or a number */
	ARG_LIST,		/* one or more values */
	ARG_ENVELOPE,		/* [number] string */
};

enum opt {
	O_VIA, O_PROTO, O_PORT, O_SERVICE, O_AUTH, O_TIMEOUT, O_ENVELOPE,
	O_LOCALDOMAINS, O_AKA, O_USER, O_IS, O_PASSWORD, O_SSL, O_SSLPROTO,
	O_SSLCERTCK, O_SSLCERTFILE, O_SSLCERTPATH, O_SSLFINGERPRINT, O_MDA,
	O_SMTPHOST, O_LMTP, O_SMTPADDRESS, O_SMTPNAME, O_BSMTP, O_KEEP,
	O_FETCHALL, O_FLUSH, O_LIMITFLUSH, O_LIMIT, O_FETCHLIMIT, O_FOLDER,
	O_ESMTPNAME, O_ESMTPPASSWORD, O_IDLE, O_IGNORED, O_NOTED,
};

struct keyword {
	const char	*name;
	enum opt	 opt;
	enum arity	 arity;
};

/* Every keyword of fetchmail 6.4's grammar that takes part in entries;
 * O_NOTED ones cannot be carried over, O_IGNORED ones need not be. */
static const struct keyword keywords[] = {
	{ "via", O_VIA, ARG_ONE },
	{ "proto", O_PROTO, ARG_ONE }, { "protocol", O_PROTO, ARG_ONE },
	{ "port", O_PORT, ARG_ONE }, { "service", O_SERVICE, ARG_ONE },
	{ "auth", O_AUTH, ARG_ONE }, { "authenticate", O_AUTH, ARG_ONE },
	{ "preauth", O_AUTH, ARG_ONE }, { "preauthenticate", O_AUTH, ARG_ONE },
	{ "timeout", O_TIMEOUT, ARG_ONE },
	{ "envelope", O_ENVELOPE, ARG_ENVELOPE },
	{ "local", O_LOCALDOMAINS, ARG_LIST },
	{ "localdomains", O_LOCALDOMAINS, ARG_LIST },
	{ "aka", O_AKA, ARG_LIST },
	{ "user", O_USER, ARG_ONE }, { "username", O_USER, ARG_ONE },
	{ "is", O_IS, ARG_LIST }, { "to", O_IS, ARG_LIST },
	{ "pass", O_PASSWORD, ARG_ONE }, { "password", O_PASSWORD, ARG_ONE },
	{ "ssl", O_SSL, ARG_NONE },
	{ "sslproto", O_SSLPROTO, ARG_ONE },
	{ "sslcertck", O_SSLCERTCK, ARG_NONE },
	{ "sslcertfile", O_SSLCERTFILE, ARG_ONE },
	{ "sslcertpath", O_SSLCERTPATH, ARG_ONE },
	{ "sslfingerprint", O_SSLFINGERPRINT, ARG_ONE },
	{ "mda", O_MDA, ARG_ONE },
	{ "smtp", O_SMTPHOST, ARG_LIST }, { "smtphost", O_SMTPHOST, ARG_LIST },
	{ "lmtp", O_LMTP, ARG_NONE },
	{ "smtpaddress", O_SMTPADDRESS, ARG_ONE },
	{ "smtpname", O_SMTPNAME, ARG_ONE },
	{ "bsmtp", O_BSMTP, ARG_ONE },
	{ "keep", O_KEEP, ARG_NONE }, { "fetchall", O_FETCHALL, ARG_NONE },
	{ "flush", O_FLUSH, ARG_NONE },
	{ "limitflush", O_LIMITFLUSH, ARG_NONE },
	{ "limit", O_LIMIT, ARG_ONE }, { "fetchlimit", O_FETCHLIMIT, ARG_ONE },
	{ "folder", O_FOLDER, ARG_LIST }, { "folders", O_FOLDER, ARG_LIST },
	{ "esmtpname", O_ESMTPNAME, ARG_ONE },
	{ "esmtppassword", O_ESMTPPASSWORD, ARG_ONE },
	/* Not needed: mailferry always uses UIDL, sizes, its own batches. */
	{ "uidl", O_IGNORED, ARG_NONE },
	{ "fetchsizelimit", O_IGNORED, ARG_ONE },
	{ "fastuidl", O_IGNORED, ARG_ONE },
	{ "batchlimit", O_IGNORED, ARG_ONE },
	{ "dns", O_IGNORED, ARG_NONE }, { "checkalias", O_IGNORED, ARG_NONE },
	{ "stripcr", O_IGNORED, ARG_NONE }, { "forcecr", O_IGNORED, ARG_NONE },
	{ "pass8bits", O_IGNORED, ARG_NONE }, { "pass8", O_IGNORED, ARG_NONE },
	{ "properties", O_IGNORED, ARG_ONE },
	/* Not carried over. */
	{ "qvirtual", O_NOTED, ARG_ONE }, { "interface", O_NOTED, ARG_ONE },
	{ "monitor", O_NOTED, ARG_ONE }, { "plugin", O_NOTED, ARG_ONE },
	{ "plugout", O_NOTED, ARG_ONE }, { "interval", O_NOTED, ARG_ONE },
	{ "tracepolls", O_NOTED, ARG_NONE },
	{ "principal", O_NOTED, ARG_ONE },
	{ "bad-header", O_NOTED, ARG_ONE },
	{ "sslcert", O_NOTED, ARG_ONE }, { "sslkey", O_NOTED, ARG_ONE },
	{ "sslcommonname", O_NOTED, ARG_ONE },
	{ "fetchdomains", O_NOTED, ARG_LIST },
	{ "antispam", O_NOTED, ARG_LIST },
	{ "preconnect", O_NOTED, ARG_ONE }, { "pre", O_NOTED, ARG_ONE },
	{ "postconnect", O_NOTED, ARG_ONE }, { "post", O_NOTED, ARG_ONE },
	{ "rewrite", O_NOTED, ARG_NONE },
	{ "dropstatus", O_NOTED, ARG_NONE },
	{ "dropdelivered", O_NOTED, ARG_NONE },
	{ "mimedecode", O_NOTED, ARG_NONE }, { "mimedec", O_NOTED, ARG_NONE },
	{ "idle", O_IDLE, ARG_NONE },
	{ "warnings", O_NOTED, ARG_ONE }, { "expunge", O_NOTED, ARG_ONE },
	{ "retrieve-error", O_NOTED, ARG_ONE }, { "netsec", O_NOTED, ARG_ONE },
};

#define NKEYWORDS	(sizeof keywords / sizeof keywords[0])

/* Words that only make an entry read like English. */
static const char *const noise[] = {
	"and", "with", "has", "wants", "options", "using", "here", "there",
	NULL
};

struct parser {
	struct conv	*c;
	struct rctok	*t;
	size_t		 n, i;
	struct fm_layer	 defaults;
	struct fm_global global;
};

static bool
is_word(const struct rctok *t, const char *w)
{
	return t->kind == RCTOK_WORD && strcasecmp(t->text, w) == 0;
}

static bool
is_noise(const struct rctok *t)
{
	for (size_t i = 0; noise[i] != NULL; i++)
		if (is_word(t, noise[i]))
			return true;
	return false;
}

static const struct keyword *
keyword_named(const char *name)
{
	for (size_t i = 0; i < NKEYWORDS; i++)
		if (strcasecmp(name, keywords[i].name) == 0)
			return &keywords[i];
	return NULL;
}

static const struct keyword *
keyword(const struct rctok *t)
{
	return t->kind == RCTOK_WORD ? keyword_named(t->text) : NULL;
}

static bool
starts_statement(const struct rctok *t)
{
	return is_word(t, "poll") || is_word(t, "skip") ||
	    is_word(t, "server") || is_word(t, "defaults") ||
	    is_word(t, "set");
}

/* "nokeep", "nodns"...: fetchmail's one-word negations. */
static const struct keyword *
negation(const struct rctok *t)
{
	const struct keyword *k;

	if (t->kind != RCTOK_WORD || strncasecmp(t->text, "no", 2) != 0 ||
	    (k = keyword_named(t->text + 2)) == NULL)
		return NULL;
	return k->arity == ARG_NONE || k->opt == O_ENVELOPE ? k : NULL;
}

/* Can t be the value of an option (not a keyword or a statement)? */
static bool
is_value(const struct rctok *t)
{
	return t->kind != RCTOK_EQUALS && keyword(t) == NULL &&
	    negation(t) == NULL && !starts_statement(t) &&
	    !is_word(t, "no") && !is_noise(t);
}

static void
layer_note(struct fm_layer *l, const char *fmt, const char *a, int line)
{
	char buf[300];

	snprintf(buf, sizeof buf, fmt, a, line);
	conv_list_add(&l->notes, &l->nnotes, &l->capnotes, buf);
}

/* "is NAME NAME... [here]", with "a=b" mappings and "*". */
static void
take_locals(struct parser *p, struct fm_layer *l)
{
	while (p->i < p->n && (is_value(&p->t[p->i]) ||
	    p->t[p->i].kind == RCTOK_EQUALS)) {
		struct rctok *t = &p->t[p->i++];

		if (t->kind == RCTOK_EQUALS) {
			l->mapped = true;
			continue;
		}
		if (strcmp(t->text, "*") == 0)
			l->star = true;
		else
			conv_list_add(&l->locals, &l->nlocals, &l->caplocals,
			    t->text);
	}
	l->locals_set = true;
}

static void
set_string(char **field, const struct rctok *t)
{
	conv_set(field, t->text);
}

static void
set_number(struct fm_layer *l, int64_t *field, const struct rctok *t)
{
	char *end;
	long long v = strtoll(t->text, &end, 10);

	if (t->kind != RCTOK_NUMBER || *end != '\0' || v < 0) {
		layer_note(l, "\"%s\" (line %d) is not a number: ignored",
		    t->text, t->line);
		return;
	}
	*field = v;
}

static enum fm_list
list_of(enum opt opt)
{
	switch (opt) {
	case O_LOCALDOMAINS:
		return FM_LOCALDOMAINS;
	case O_AKA:
		return FM_AKA;
	case O_SMTPHOST:
		return FM_SMTPHOST;
	default:
		return FM_FOLDER;
	}
}

static void
add_list(struct fm_layer *l, enum fm_list which, const struct rctok *t,
    size_t n)
{
	for (size_t i = 0; i < n; i++)
		conv_list_add(&l->lists[which], &l->nlists[which],
		    &l->caplists[which], t[i].text);
}

/* One option with its value(s) t[0..n) into layer l. */
static void
apply(struct fm_layer *l, const struct keyword *k, bool no,
    const struct rctok *t, size_t n, int line)
{
	int tri = no ? 0 : 1;

	switch (k->opt) {
	case O_VIA: set_string(&l->via, &t[0]); break;
	case O_PROTO: set_string(&l->proto, &t[0]); break;
	case O_PORT:
	case O_SERVICE: set_string(&l->service, &t[0]); break;
	case O_AUTH: set_string(&l->auth, &t[0]); break;
	case O_TIMEOUT: set_number(l, &l->timeout, &t[0]); break;
	case O_ENVELOPE:
		if (no) {
			l->no_envelope = 1;
			break;
		}
		l->no_envelope = 0;
		if (n == 2)
			set_number(l, &l->envelope_skip, &t[0]);
		set_string(&l->envelope, &t[n - 1]);
		break;
	case O_LOCALDOMAINS:
	case O_AKA:
	case O_SMTPHOST:
	case O_FOLDER:
		add_list(l, list_of(k->opt), t, n);
		break;
	case O_PASSWORD: l->password = 1; break;
	case O_SSL: l->ssl = tri; break;
	case O_SSLPROTO: set_string(&l->sslproto, &t[0]); break;
	case O_SSLCERTCK: l->sslcertck = tri; break;
	case O_SSLCERTFILE: set_string(&l->sslcertfile, &t[0]); break;
	case O_SSLCERTPATH: set_string(&l->sslcertpath, &t[0]); break;
	case O_SSLFINGERPRINT: set_string(&l->sslfingerprint, &t[0]); break;
	case O_MDA: set_string(&l->mda, &t[0]); break;
	case O_LMTP: l->lmtp = tri; break;
	case O_SMTPADDRESS: set_string(&l->smtpaddress, &t[0]); break;
	case O_SMTPNAME: set_string(&l->smtpname, &t[0]); break;
	case O_BSMTP: set_string(&l->bsmtp, &t[0]); break;
	case O_KEEP: l->keep = tri; break;
	case O_FETCHALL: l->fetchall = tri; break;
	case O_FLUSH: l->flush = tri; break;
	case O_LIMITFLUSH: l->limitflush = tri; break;
	case O_LIMIT: set_number(l, &l->limit, &t[0]); break;
	case O_FETCHLIMIT: set_number(l, &l->fetchlimit, &t[0]); break;
	case O_ESMTPNAME: set_string(&l->esmtpname, &t[0]); break;
	case O_ESMTPPASSWORD: l->esmtppassword = 1; break;
	case O_IDLE: l->idle = tri; break;
	case O_IGNORED: break;
	case O_NOTED:
		if (!no)
			layer_note(l, "\"%s\" (line %d) has no equivalent in "
			    "mailferry", k->name, line);
		break;
	case O_USER:
	case O_IS:
		break;		/* handled by the caller */
	}
}

/* The values after keyword k at p->i: 0, or -1 when a value is
 * missing (noted, and the keyword skipped). */
static int
values(struct parser *p, struct fm_layer *l, const struct keyword *k,
    bool no, size_t *n)
{
	size_t start = p->i;

	*n = 0;
	if (k->arity == ARG_NONE || (no && k->opt == O_ENVELOPE))
		return 0;
	/* "auth password": the types of auth are words of their own. */
	if (k->opt == O_AUTH && p->i < p->n && p->t[p->i].kind == RCTOK_WORD &&
	    !starts_statement(&p->t[p->i])) {
		p->i++;
		*n = 1;
		return 0;
	}
	while (p->i < p->n && is_value(&p->t[p->i]) && (k->arity ==
	    ARG_LIST || *n < (k->arity == ARG_ENVELOPE ? 2 : 1))) {
		/* envelope takes a number only before its header name. */
		if (k->arity == ARG_ENVELOPE && *n == 1 &&
		    p->t[start].kind != RCTOK_NUMBER)
			break;
		p->i++;
		(*n)++;
	}
	if (*n == 0) {
		layer_note(l, "\"%s\" (line %d) without a value: ignored",
		    k->name, p->t[start - 1].line);
		return -1;
	}
	return 0;
}

/* Options until the next user description or statement. A word that
 * is no option is an error, as it is for fetchmail: it is most likely
 * not a run control file at all. */
static int
options(struct parser *p, struct fm_layer *l, struct err *e)
{
	while (p->i < p->n && !starts_statement(&p->t[p->i]) &&
	    !is_word(&p->t[p->i], "user") &&
	    !is_word(&p->t[p->i], "username")) {
		struct rctok *t = &p->t[p->i++];
		bool no = false;
		const struct keyword *k;
		size_t n;

		if (is_noise(t))
			continue;
		if (is_word(t, "no") && p->i < p->n) {
			no = true;
			t = &p->t[p->i++];
		}
		k = keyword(t);
		if (k == NULL && !no && (k = negation(t)) != NULL)
			no = true;
		if (k == NULL)
			return err_set(e, ERR_DATA, "%s:%d: \"%s\" is not a "
			    "fetchmail option: not a fetchmail run control "
			    "file", p->c->path, t->line, t->text);
		if (k->opt == O_IS) {
			take_locals(p, l);
			continue;
		}
		if (values(p, l, k, no, &n) == 0)
			apply(l, k, no, &p->t[p->i - n], n, t->line);
	}
	return 0;
}

/* "user NAME [there|here] [is NAMES [here|there]]" and its options. */
static int
user_entry(struct parser *p, struct fm_layer *u, struct err *e)
{
	struct rctok *name;

	p->i++;
	if (p->i >= p->n || !is_value(&p->t[p->i]))
		return err_set(e, ERR_DATA, "%s:%d: \"user\" without a name",
		    p->c->path, p->t[p->i - 1].line);
	name = &p->t[p->i++];
	if (p->i < p->n && is_word(&p->t[p->i], "here")) {
		/* "user esr here is eric there": the local name first. */
		p->i++;
		conv_list_add(&u->locals, &u->nlocals, &u->caplocals,
		    name->text);
		u->locals_set = true;
		while (p->i < p->n && is_noise(&p->t[p->i]))
			p->i++;
		if (p->i < p->n && keyword(&p->t[p->i]) != NULL &&
		    keyword(&p->t[p->i])->opt == O_IS && p->i + 1 < p->n &&
		    is_value(&p->t[p->i + 1])) {
			set_string(&u->remote, &p->t[p->i + 1]);
			p->i += 2;
		}
	} else
		set_string(&u->remote, name);
	return options(p, u, e);
}

static int
poll_entry(struct parser *p, bool skip, struct err *e)
{
	struct rctok *kw = &p->t[p->i++];
	struct fm_layer entry = { 0 };
	size_t users = 0;
	int rc = 0;

	fm_layer_init(&entry);
	if (p->i >= p->n || !is_value(&p->t[p->i])) {
		fm_layer_free(&entry);
		return err_set(e, ERR_DATA, "%s:%d: \"%s\" without a server "
		    "name", p->c->path, kw->line, kw->text);
	}
	entry.pollname = xstrdup(p->t[p->i++].text);
	entry.line = kw->line;
	entry.skip = skip;
	rc = options(p, &entry, e);
	while (rc == 0 && p->i < p->n && !starts_statement(&p->t[p->i])) {
		struct fm_layer u;

		fm_layer_init(&u);
		u.line = p->t[p->i].line;
		rc = user_entry(p, &u, e);
		if (rc == 0)
			rc = fm_add_account(p->c, &p->global, &p->defaults,
			    &entry, &u, e);
		fm_layer_free(&u);
		users++;
	}
	/* No user description: the remote and local user are the one
	 * running fetchmail. */
	if (rc == 0 && users == 0)
		rc = fm_add_account(p->c, &p->global, &p->defaults, &entry,
		    NULL, e);
	fm_layer_free(&entry);
	return rc;
}

static int
defaults_entry(struct parser *p, struct err *e)
{
	int rc;

	p->i++;
	rc = options(p, &p->defaults, e);
	/* A user description in defaults: its options are for all. */
	while (rc == 0 && p->i < p->n && !starts_statement(&p->t[p->i])) {
		p->i++;
		if (p->i < p->n && is_value(&p->t[p->i]))
			p->i++;
		rc = options(p, &p->defaults, e);
	}
	return rc;
}

/* "set [no] NAME [VALUE]". */
static void
set_statement(struct parser *p)
{
	static const char *const with_value[] = { "daemon", "postmaster",
	    "logfile", "pidfile", "idfile", "properties", NULL };
	struct rctok *name;
	bool no = false, value = false;

	p->i++;
	if (p->i < p->n && is_word(&p->t[p->i], "no")) {
		no = true;
		p->i++;
	}
	if (p->i >= p->n)
		return;
	name = &p->t[p->i++];
	/* "set nobouncemail": fetchmail's one-word form. */
	if (!no && name->kind == RCTOK_WORD &&
	    strncasecmp(name->text, "no", 2) == 0 &&
	    (strcasecmp(name->text + 2, "bouncemail") == 0 ||
	    strcasecmp(name->text + 2, "spambounce") == 0 ||
	    strcasecmp(name->text + 2, "softbounce") == 0 ||
	    strcasecmp(name->text + 2, "syslog") == 0)) {
		no = true;
		memmove(name->text, name->text + 2, strlen(name->text + 2) + 1);
	}
	for (size_t k = 0; with_value[k] != NULL; k++)
		value |= is_word(name, with_value[k]);
	if (value && p->i < p->n && is_value(&p->t[p->i]))
		fm_global_set(p->c, &p->global, name->text,
		    p->t[p->i++].text, name->line);
	else
		fm_global_set(p->c, &p->global, name->text, no ? "no" : "yes",
		    name->line);
}

int
convert_fetchmailrc(struct conv *c, const char *text, size_t len,
    struct err *e)
{
	struct parser p = { .c = c };
	int rc = 0;

	if (rclex(c->path, text, len, &p.t, &p.n, e) == -1)
		return -1;
	fm_layer_init(&p.defaults);
	while (rc == 0 && p.i < p.n) {
		struct rctok *t = &p.t[p.i];

		if (is_word(t, "poll") || is_word(t, "server"))
			rc = poll_entry(&p, false, e);
		else if (is_word(t, "skip"))
			rc = poll_entry(&p, true, e);
		else if (is_word(t, "defaults"))
			rc = defaults_entry(&p, e);
		else if (is_word(t, "set"))
			set_statement(&p);
		else
			rc = err_set(e, ERR_DATA, "%s:%d: \"%s\" where poll, skip, "
			    "defaults or set was expected: not a fetchmail run "
			    "control file", c->path, t->line, t->text);
	}
	fm_layer_free(&p.defaults);
	free(p.global.postmaster);
	rclex_free(p.t, p.n);
	return rc;
}
