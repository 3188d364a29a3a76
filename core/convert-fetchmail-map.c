/*
 * From the layers of fetchmail options that apply to one user (the
 * `defaults` entry, the poll entry, the user description) to one
 * mailferry account and its destination, with a note for whatever has
 * no equivalent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert-fetchmail.h"
#include "xmalloc.h"

void
fm_layer_init(struct fm_layer *l)
{
	memset(l, 0, sizeof *l);
	l->timeout = l->envelope_skip = l->limit = l->fetchlimit = -1;
	l->no_envelope = l->password = l->ssl = l->sslcertck = -1;
	l->lmtp = l->keep = l->fetchall = l->flush = l->limitflush = -1;
	l->idle = -1;
	l->esmtppassword = -1;
}

static void
free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
fm_layer_free(struct fm_layer *l)
{
	char **strings[] = { &l->pollname, &l->via, &l->proto, &l->service,
	    &l->auth, &l->envelope, &l->remote, &l->sslproto,
	    &l->sslcertfile, &l->sslcertpath, &l->sslfingerprint, &l->mda,
	    &l->smtpaddress, &l->smtpname, &l->bsmtp, &l->esmtpname };

	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		free(*strings[i]);
	for (size_t i = 0; i < FM_NLISTS; i++)
		free_list(l->lists[i], l->nlists[i]);
	free_list(l->locals, l->nlocals);
	free_list(l->notes, l->nnotes);
}

/* The options in effect: each from the most specific layer that gives
 * it. m borrows the layers' strings. */
static void
merge(struct fm_layer *m, const struct fm_layer *const l[3])
{
	fm_layer_init(m);
	for (size_t i = 0; i < 3; i++) {
		const struct fm_layer *x = l[i];

		if (x == NULL)
			continue;
#define S(f)	if (x->f != NULL) m->f = x->f
#define N(f)	if (x->f != -1) m->f = x->f
		S(via); S(proto); S(service); S(auth); N(timeout);
		S(envelope); N(envelope_skip); N(no_envelope); S(remote);
		N(password); N(ssl); S(sslproto); N(sslcertck);
		S(sslcertfile); S(sslcertpath); S(sslfingerprint); S(mda);
		N(lmtp); S(smtpaddress); S(smtpname); S(bsmtp); N(keep);
		N(fetchall); N(flush); N(limitflush); N(limit); N(idle);
		N(fetchlimit); S(esmtpname); N(esmtppassword);
#undef S
#undef N
		for (size_t k = 0; k < FM_NLISTS; k++)
			if (x->nlists[k] > 0) {
				m->lists[k] = x->lists[k];
				m->nlists[k] = x->nlists[k];
				m->caplists[k] = x->caplists[k];
			}
		if (x->locals_set) {
			m->locals = x->locals;
			m->nlocals = x->nlocals;
			m->caplocals = x->caplocals;
			m->locals_set = true;
			m->star = x->star;
			m->mapped = x->mapped;
		}
	}
}

void
fm_global_set(struct conv *c, struct fm_global *g, const char *name,
    const char *value, int line)
{
	const char *no = strcmp(value, "no") == 0 ? "no " : "";

	if (strcasecmp(name, "postmaster") == 0)
		conv_set(&g->postmaster, value);
	else if (strcasecmp(name, "daemon") == 0)
		conv_note(c, NULL, "set daemon %s (line %d): run mailferry -d "
		    "%s, or its systemd timer", value, line, value);
	else if (strcasecmp(name, "idfile") == 0)
		conv_note(c, NULL, "set idfile (line %d): import the UIDs with "
		    "--import-uids fetchmail:%s", line, value);
	else if (strcasecmp(name, "logfile") == 0 ||
	    strcasecmp(name, "syslog") == 0)
		conv_note(c, NULL, "set %s%s (line %d): mailferry logs to "
		    "standard error, or to syslog with --syslog (the default "
		    "with -d)", no, name, line);
	else if (strcasecmp(name, "bouncemail") == 0 ||
	    strcasecmp(name, "spambounce") == 0 ||
	    strcasecmp(name, "softbounce") == 0)
		conv_note(c, NULL, "set %s%s (line %d): mailferry never "
		    "bounces; a message that cannot be delivered stays on the "
		    "server", no, name, line);
	else if (strcasecmp(name, "pidfile") != 0 &&
	    strcasecmp(name, "properties") != 0 &&
	    strcasecmp(name, "invisible") != 0 &&
	    strcasecmp(name, "showdots") != 0)
		conv_note(c, NULL, "set %s%s (line %d) is not carried over", no,
		    name, line);
}

static void
disable(struct conv_account *a, const char *why)
{
	if (a->disabled)
		return;
	a->disabled = true;
	conv_set(&a->why_disabled, why);
}

/* proto and auth: POP3 (or APOP) and IMAP. */
static void
protocol(struct conv *c, struct conv_account *a, const struct fm_layer *m)
{
	const char *p = m->proto != NULL ? m->proto : "auto";

	if (strcasecmp(p, "apop") == 0)
		a->auth = "apop";
	else if (strcasecmp(p, "imap") == 0)
		a->imap = true;
	else if (strcasecmp(p, "auto") == 0 && m->proto != NULL)
		conv_note(c, a, "proto auto: converted as POP3");
	else if (strcasecmp(p, "pop3") != 0 && strcasecmp(p, "auto") != 0)
		disable(a, "this protocol is neither POP3 nor IMAP: mailferry "
		    "cannot fetch it");
	if (m->auth == NULL || strcasecmp(m->auth, "any") == 0 ||
	    strcasecmp(m->auth, "password") == 0)
		return;
	if (a->imap)
		conv_note(c, a, "auth %s: mailferry logs in to IMAP with LOGIN "
		    "or AUTHENTICATE PLAIN, LOGIN, XOAUTH2 or OAUTHBEARER "
		    "(auth = \"auto\" picks one)", m->auth);
	else
		conv_note(c, a, "auth %s: mailferry logs in with USER/PASS, "
		    "APOP, SASL PLAIN, LOGIN or XOAUTH2 (auth = \"auto\" picks "
		    "one)", m->auth);
}

static void
service_port(struct conv *c, struct conv_account *a, const char *service)
{
	char *end;
	long v;

	if (service == NULL)
		return;
	v = strtol(service, &end, 10);
	if (*end == '\0' && v > 0 && v <= 65535)
		a->port = (int)v;
	else if (strcasecmp(service, "pop3") == 0)
		a->port = 110;
	else if (strcasecmp(service, "pop3s") == 0)
		a->port = 995;
	else if (strcasecmp(service, "imap") == 0)
		a->port = 143;
	else if (strcasecmp(service, "imaps") == 0)
		a->port = 993;
	else
		conv_note(c, a, "service %s: give the port number instead",
		    service);
}

/* ssl, sslproto, sslcertck, sslcertfile/path, sslfingerprint. */
static void
transport(struct conv *c, struct conv_account *a, const struct fm_layer *m)
{
	const char *proto = m->sslproto;

	if (m->ssl == 1)
		a->tls = TLS_MODE_IMPLICIT;
	else if (proto != NULL && proto[0] == '\0') {
		a->tls = TLS_MODE_NONE;
		a->plaintext = true;
	} else {
		a->tls = TLS_MODE_STARTTLS;
		if (proto == NULL)
			conv_note(c, a, "neither ssl nor sslproto: converted as "
			    "tls = \"starttls\", which never falls back to "
			    "plain text");
	}
	if (proto != NULL && (strcasecmp(proto, "tls1") == 0 ||
	    strcasecmp(proto, "tls1.1") == 0 || strncasecmp(proto, "ssl3", 4)
	    == 0))
		conv_note(c, a, "sslproto %s: mailferry speaks TLS 1.2 or newer",
		    proto);
	if (a->tls == TLS_MODE_NONE)
		return;
	if (m->sslcertfile != NULL)
		conv_set(&a->tls_ca_file, m->sslcertfile);
	if (m->sslcertpath != NULL)
		conv_note(c, a, "sslcertpath %s: mailferry takes a file of CA "
		    "certificates (tls_ca_file), not a directory",
		    m->sslcertpath);
	if (m->sslfingerprint != NULL) {
		a->tls_fingerprint = conv_sha256_pin(m->sslfingerprint);
		if (a->tls_fingerprint == NULL)
			conv_note(c, a, "sslfingerprint %s is not a SHA-256 "
			    "digest; mailferry pins with one (tls_fingerprint = "
			    "\"sha256:...\"): openssl s_client -connect %s:%d "
			    "</dev/null | openssl x509 -noout -fingerprint "
			    "-sha256", m->sslfingerprint, a->server, a->port ?
			    a->port : conv_default_port(a));
	}
	if (m->sslcertck == 0 && a->tls_fingerprint == NULL)
		conv_note(c, a, "no sslcertck: mailferry always verifies the "
		    "server's certificate; for a self-signed one, pin it with "
		    "tls_fingerprint");
}

/* IMAP: folders, idle, and the \Seen flag fetchmail went by. */
static void
imap_fetching(struct conv *c, struct conv_account *a,
    const struct fm_layer *m)
{
	for (size_t i = 0; i < m->nlists[FM_FOLDER]; i++)
		conv_list_add(&a->folders, &a->nfolders, &a->capfolders,
		    m->lists[FM_FOLDER][i]);
	a->idle = m->idle == 1;
	if (a->keep != 1)
		return;
	/* fetchmail kept what it fetched and flagged it \Seen, and took
	 * only unseen messages: the flag is how the user saw it. */
	a->mark_seen = true;
	conv_note(c, a, "fetchmail found new IMAP mail by its \\Seen flag; "
	    "mailferry knows it by its UID, so its first run fetches every "
	    "message of the folders, also those fetchmail already delivered; "
	    "mark_seen = true flags what it fetches, as fetchmail did");
}

/* user, password, keep, limits. */
static void
fetching(struct conv *c, struct conv_account *a, const struct fm_layer *m)
{
	conv_set(&a->user, m->remote != NULL ? m->remote : conv_local_user());
	a->had_password = m->password == 1;
	a->keep = m->keep == 1 ? 1 : 0;
	if (m->fetchall == 1)
		conv_note(c, a, "fetchall: mailferry fetches new messages only "
		    "(mailferry --all fetches every message once)");
	if (a->imap)
		imap_fetching(c, a, m);
	if (m->flush == 1 || m->limitflush == 1)
		conv_note(c, a, "%s: mailferry deletes a message from the "
		    "server only once it is delivered (keep = false), or by a "
		    "rule", m->flush == 1 ? "flush" : "limitflush");
	if (m->limit > 0)
		a->max_size = m->limit;
	if (m->fetchlimit > 0)
		a->fetch_limit = m->fetchlimit > 1000000 ? 1000000 :
		    (int)m->fetchlimit;
	if (m->nlists[FM_FOLDER] > 0 && !a->imap)
		conv_note(c, a, "folder %s: POP3 has no folders",
		    m->lists[FM_FOLDER][0]);
	if (m->idle == 1 && !a->imap)
		conv_note(c, a, "idle: IDLE is an IMAP command; this POP3 "
		    "account is polled");
	if (m->timeout > 0 && m->timeout <= 86400 && m->timeout > c->timeout)
		c->timeout = (int)m->timeout;
}

static bool
is_multidrop(const struct fm_layer *m)
{
	return m->star || m->nlocals > 1;
}

/* envelope, localdomains, aka: set both or neither (mailferry needs
 * both). */
static void
multidrop(struct conv *c, struct conv_account *a, const struct fm_layer *m)
{
	const char *env = m->envelope;

	if (m->mapped)
		conv_note(c, a, "name mappings (is a=b): mailferry delivers to "
		    "each envelope recipient as it is");
	if (!is_multidrop(m))
		return;
	if (m->no_envelope == 1)
		env = NULL;
	if (env == NULL || strcasecmp(env, "Received") == 0) {
		conv_note(c, a, "fetchmail took the recipients from %s; "
		    "mailferry reads them from one header: set envelope "
		    "(X-Original-To, Delivered-To, Envelope-To...) and "
		    "local_domains; until then all goes to the fallback",
		    m->no_envelope == 1 ? "To and Cc" : "Received lines");
		return;
	}
	if (m->envelope_skip > 0)
		conv_note(c, a, "envelope %jd %s: mailferry reads every %s "
		    "field", (intmax_t)m->envelope_skip, env, env);
	if (m->nlists[FM_LOCALDOMAINS] + m->nlists[FM_AKA] == 0) {
		conv_note(c, a, "envelope %s without localdomains: set "
		    "envelope and local_domains (the domains whose recipients "
		    "are delivered); until then all goes to the fallback", env);
		return;
	}
	conv_set(&a->envelope, env);
	for (size_t i = 0; i < m->nlists[FM_LOCALDOMAINS]; i++)
		conv_list_add(&a->local_domains, &a->nlocal_domains,
		    &a->caplocal_domains, m->lists[FM_LOCALDOMAINS][i]);
	for (size_t i = 0; i < m->nlists[FM_AKA]; i++)
		conv_list_add(&a->local_domains, &a->nlocal_domains,
		    &a->caplocal_domains, m->lists[FM_AKA][i]);
	if (m->nlocals > 0)
		conv_note(c, a, "the local names after \"is\" are not used: "
		    "mailferry delivers to every envelope recipient within "
		    "local_domains");
}

/* An RCPT TO address, as fetchmail made it. */
static char *
recipient(const struct fm_layer *m, const char *local, const char *domain)
{
	if (m->smtpname != NULL)
		return xstrdup(m->smtpname);
	if (strchr(local, '@') != NULL)
		return xstrdup(local);
	return xasprintf("%s@%s", local, m->smtpaddress != NULL ?
	    m->smtpaddress : domain);
}

/* smtphost (and lmtp): "host", "host/port" or "/socket". */
static void
smtp_dest(struct conv *c, struct conv_account *a, const struct fm_layer *m,
    const char *local, const char *fallback)
{
	struct conv_dest *d = &a->dest;
	const char *host = m->nlists[FM_SMTPHOST] > 0 ?
	    m->lists[FM_SMTPHOST][0] : "localhost";
	char *slash, *rcpt;

	if (m->nlists[FM_SMTPHOST] > 1)
		conv_note(c, a, "smtphost: mailferry forwards to %s only, not "
		    "to the other hosts of the list", host);
	d->kind = m->lmtp == 1 || host[0] == '/' ? CONV_LMTP : CONV_SMTP;
	if (host[0] == '/')
		conv_set(&d->socket, host);
	else {
		conv_set(&d->host, host);
		if ((slash = strchr(d->host, '/')) != NULL) {
			*slash = '\0';
			d->port = atoi(slash + 1);
			if (d->port <= 0 || d->port > 65535)
				d->port = 0;
		}
	}
	if (is_multidrop(m)) {
		conv_list_add(&d->to, &d->nto, &d->capto, "%envelope");
		rcpt = recipient(m, fallback, d->socket ? "localhost" : d->host);
	} else
		rcpt = recipient(m, local, d->socket ? "localhost" : d->host);
	conv_list_add(&d->to, &d->nto, &d->capto, rcpt);
	free(rcpt);
	if (m->esmtpname != NULL)
		conv_set(&d->user, m->esmtpname);
}

static void
delivery(struct conv *c, struct conv_account *a, const struct fm_layer *m,
    const struct fm_global *g)
{
	const char *me = conv_local_user();
	const char *local = m->nlocals > 0 ? m->locals[0] : me;
	const char *fallback = g->postmaster != NULL ? g->postmaster :
	    strcmp(me, "root") == 0 ? "postmaster" : me;
	bool uses_to;

	a->has_dest = true;
	if (m->bsmtp != NULL) {
		a->has_dest = false;
		disable(a, "bsmtp (SMTP batches written to a file) has no "
		    "equivalent in mailferry");
		return;
	}
	if (m->mda == NULL) {
		smtp_dest(c, a, m, local, fallback);
		return;
	}
	a->dest.kind = CONV_MDA;
	a->dest.command = conv_mda_command(m->mda, &uses_to);
	if (uses_to)
		conv_list_add(&a->dest.to, &a->dest.nto, &a->dest.capto,
		    is_multidrop(m) ? fallback : local);
	if (is_multidrop(m))
		conv_note(c, a, "multidrop through an mda: mailferry runs it "
		    "once per message (%%T is %s); forward through an smtp or "
		    "lmtp destination to reach each recipient", fallback);
}

static void
name_account(struct conv *c, struct conv_account *a, const char *pollname)
{
	char *name = xstrdup(pollname);

	for (unsigned n = 2;; n++) {
		bool taken = false;

		for (size_t i = 0; i + 1 < c->naccounts; i++)
			taken |= strcmp(c->accounts[i].name, name) == 0;
		if (!taken)
			break;
		free(name);
		name = n == 2 ? xasprintf("%s@%s", a->user, pollname) :
		    xasprintf("%s@%s-%u", a->user, pollname, n - 1);
	}
	a->name = name;
}

int
fm_add_account(struct conv *c, const struct fm_global *g,
    const struct fm_layer *defaults, const struct fm_layer *entry,
    const struct fm_layer *u, struct err *e)
{
	const struct fm_layer *const l[3] = { defaults, entry, u };
	struct conv_account *a;
	struct fm_layer m;
	char origin[512];

	snprintf(origin, sizeof origin, "%s:%d", c->path,
	    u != NULL ? u->line : entry->line);
	if ((a = conv_add_account(c, origin, e)) == NULL)
		return -1;
	merge(&m, l);
	for (size_t i = 0; i < 3; i++)
		for (size_t n = 0; l[i] != NULL && n < l[i]->nnotes; n++)
			conv_note(c, a, "%s", l[i]->notes[n]);
	conv_set(&a->server, m.via != NULL ? m.via : entry->pollname);
	service_port(c, a, m.service);
	protocol(c, a, &m);
	transport(c, a, &m);
	fetching(c, a, &m);
	multidrop(c, a, &m);
	delivery(c, a, &m, g);
	name_account(c, a, entry->pollname);
	if (entry->skip)
		disable(a, "skip: fetchmail polled this entry only when named "
		    "on its command line");
	return 0;
}
