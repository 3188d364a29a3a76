/*
 * Printing a converted configuration as mailferry.conf: the
 * destinations the accounts need (one per distinct setting), then the
 * accounts, each with the notes about what could not be carried over.
 * Every string is written as a libconfig string with its quotes,
 * backslashes and control characters escaped; every note is a comment
 * of its own, so nothing from the source file can start a setting.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "xmalloc.h"

#define KIND_COUNT	5

static const char *const kind_type[KIND_COUNT] = {
	[CONV_SMTP] = "smtp",
	[CONV_LMTP] = "lmtp",
	[CONV_MDA] = "mda",
	[CONV_MAILDIR] = "maildir",
	[CONV_MBOX] = "mbox",
};

static const char *const kind_name[KIND_COUNT] = {
	[CONV_SMTP] = "mta",
	[CONV_LMTP] = "lmtp",
	[CONV_MDA] = "mda",
	[CONV_MAILDIR] = "maildir",
	[CONV_MBOX] = "mbox",
};

struct emitter {
	FILE		*out;
	const char	*prefix;	/* "" or "# " for a disabled account */
	/* Distinct destinations, and each account's. */
	const struct conv_dest **dests;
	char		**names;
	size_t		 ndests;
	size_t		*dest_of;	/* per account */
};

static void
put_string(FILE *out, const char *s)
{
	putc('"', out);
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < ' ' || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			putc(c, out);
	}
	putc('"', out);
}

static void
put_key_string(struct emitter *em, const char *indent, const char *key,
    const char *value)
{
	fprintf(em->out, "%s%s%s = ", em->prefix, indent, key);
	put_string(em->out, value);
	fputs(";\n", em->out);
}

static void
put_list(struct emitter *em, const char *indent, const char *key,
    char *const *list, size_t n)
{
	fprintf(em->out, "%s%s%s = [ ", em->prefix, indent, key);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", em->out);
		put_string(em->out, list[i]);
	}
	fputs(" ];\n", em->out);
}

/* Text from the source in a comment: a control character could end
 * the comment's line, so it is shown as "?". */
static void
put_comment_text(FILE *out, const char *s)
{
	for (; *s != '\0'; s++)
		putc((unsigned char)*s < ' ' || *s == 0x7f ? '?' : *s, out);
}

/* A note as comment lines of at most about 76 columns. */
static void
put_note(FILE *out, const char *indent, const char *text)
{
	const char *p = text;
	size_t width = 76 - strlen(indent) - 8;
	bool first = true;

	while (*p != '\0') {
		size_t n = strlen(p);

		if (n > width) {
			n = width;
			while (n > 0 && p[n] != ' ')
				n--;
			if (n == 0)
				n = strcspn(p, " ");
		}
		fprintf(out, "%s# %s%.*s\n", indent, first ? "NOTE: " : "      ",
		    (int)n, p);
		first = false;
		p += n;
		p += strspn(p, " ");
	}
}

static bool
same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL &&
	    strcmp(a, b) == 0);
}

static bool
same_dest(const struct conv_dest *a, const struct conv_dest *b)
{
	return a->kind == b->kind && same_str(a->path, b->path) &&
	    same_str(a->command, b->command) && same_str(a->host, b->host) &&
	    a->port == b->port && same_str(a->socket, b->socket) &&
	    same_str(a->user, b->user) && a->received_header ==
	    b->received_header && same_list(a->to, a->nto, b->to, b->nto);
}

static void
collect_dests(struct emitter *em, const struct conv *c)
{
	size_t count[KIND_COUNT] = { 0 };

	em->dests = xcalloc(c->naccounts + 1, sizeof *em->dests);
	em->names = xcalloc(c->naccounts + 1, sizeof *em->names);
	em->dest_of = xcalloc(c->naccounts + 1, sizeof *em->dest_of);
	for (size_t i = 0; i < c->naccounts; i++) {
		const struct conv_dest *d = &c->accounts[i].dest;
		size_t j;

		if (!c->accounts[i].has_dest)
			continue;
		for (j = 0; j < em->ndests; j++)
			if (same_dest(em->dests[j], d))
				break;
		if (j == em->ndests) {
			em->dests[j] = d;
			em->names[j] = count[d->kind]++ == 0 ?
			    xstrdup(kind_name[d->kind]) :
			    xasprintf("%s-%zu", kind_name[d->kind],
			    count[d->kind]);
			em->ndests++;
		}
		em->dest_of[i] = j;
	}
}

static void
put_dest(struct emitter *em, size_t i)
{
	const struct conv_dest *d = em->dests[i];
	const char *in = "    ";

	fprintf(em->out, "  %s = {\n", em->names[i]);
	put_key_string(em, in, "type", kind_type[d->kind]);
	if (d->path != NULL)
		put_key_string(em, in, "path", d->path);
	if (d->command != NULL)
		put_key_string(em, in, "command", d->command);
	if (d->socket != NULL)
		put_key_string(em, in, "socket", d->socket);
	if (d->host != NULL)
		put_key_string(em, in, "host", d->host);
	if (d->port != 0)
		fprintf(em->out, "%sport = %d;\n", in, d->port);
	if (d->nto > 0)
		put_list(em, in, "to", d->to, d->nto);
	if (d->user != NULL) {
		put_key_string(em, in, "user", d->user);
		fprintf(em->out, "%s# The password for the server: fill it in, "
		    "or use password_command.\n%s#password = \"\";\n", in, in);
	}
	if (d->received_header != -1)
		fprintf(em->out, "%sreceived_header = %s;\n", in,
		    d->received_header ? "true" : "false");
	fputs("  };\n", em->out);
}

static void
put_password(struct emitter *em, const struct conv *c,
    const struct conv_account *a)
{
	const char *in = "    ";

	if (a->password_command != NULL) {
		put_key_string(em, in, "password_command", a->password_command);
		return;
	}
	if (a->had_password)
		fprintf(em->out, "%s%s# The password was in %s; it is not copied "
		    "here.\n%s%s# Fill it in (and chmod 600 this file), or use "
		    "password_command.\n", em->prefix, in, c->format,
		    em->prefix, in);
	else
		fprintf(em->out, "%s%s# %s had no password for this account "
		    "(it asked, or\n%s%s# read ~/.netrc): fill it in, or use "
		    "password_command.\n", em->prefix, in, c->format,
		    em->prefix, in);
	fprintf(em->out, "%s%s#password = \"\";\n", em->prefix, in);
}

static void
put_connection(struct emitter *em, const struct conv_account *a)
{
	static const char *const tls[] = {
		[TLS_MODE_IMPLICIT] = "implicit",
		[TLS_MODE_STARTTLS] = "starttls",
		[TLS_MODE_NONE] = "none",
	};
	const char *in = "    ";
	int dflt = conv_default_port(a);

	if (a->imap)
		put_key_string(em, in, "protocol", "imap");
	put_key_string(em, in, "server", a->server);
	if (a->port != 0 && a->port != dflt)
		fprintf(em->out, "%s%sport = %d;\n", em->prefix, in, a->port);
	put_key_string(em, in, "tls", tls[a->tls]);
	if (a->plaintext)
		fprintf(em->out, "%s%s# The old configuration logged in "
		    "without TLS.\n%s%sallow_plaintext_auth = true;\n",
		    em->prefix, in, em->prefix, in);
	if (a->tls_ca_file != NULL)
		put_key_string(em, in, "tls_ca_file", a->tls_ca_file);
	if (a->tls_fingerprint != NULL)
		put_key_string(em, in, "tls_fingerprint", a->tls_fingerprint);
	put_key_string(em, in, "user", a->user);
}

static void
put_fetching(struct emitter *em, const struct conv_account *a)
{
	const char *in = "    ";

	if (a->auth != NULL)
		put_key_string(em, in, "auth", a->auth);
	fprintf(em->out, "%s%skeep = %s;\n", em->prefix, in,
	    a->keep == 1 ? "true" : "false");
	if (a->max_size > 0)
		fprintf(em->out, "%s%smax_size = %jd;\n", em->prefix, in,
		    (intmax_t)a->max_size);
	if (a->fetch_limit > 0)
		fprintf(em->out, "%s%sfetch_limit = %d;\n", em->prefix, in,
		    a->fetch_limit);
	if (a->nfolders > 0)
		put_list(em, in, "folders", a->folders, a->nfolders);
	if (a->mark_seen)
		fprintf(em->out, "%s%smark_seen = true;\n", em->prefix, in);
	if (a->idle)
		fprintf(em->out, "%s%sidle = true;\n", em->prefix, in);
	if (a->envelope != NULL)
		put_key_string(em, in, "envelope", a->envelope);
	if (a->nlocal_domains > 0)
		put_list(em, in, "local_domains", a->local_domains,
		    a->nlocal_domains);
	if (a->kill_size > 0)
		fprintf(em->out, "%s%srules = (\n%s%s  { name = \"killsize\"; "
		    "match = { size_over = %jd; };\n%s%s    action = \"%s\"; }"
		    "\n%s%s);\n", em->prefix, in, em->prefix, in,
		    (intmax_t)a->kill_size, em->prefix, in,
		    a->keep == 1 ? "skip" : "delete", em->prefix, in);
}

static void
put_account(struct emitter *em, const struct conv *c, size_t i, bool comma)
{
	const struct conv_account *a = &c->accounts[i];
	const char *in = "    ";

	em->prefix = a->disabled ? "# " : "";
	fputs("  # ", em->out);
	put_comment_text(em->out, a->name);
	fputs(", from ", em->out);
	put_comment_text(em->out, a->origin);
	fputc('\n', em->out);
	if (a->disabled)
		put_note(em->out, "  ", a->why_disabled);
	fprintf(em->out, "%s  {\n", em->prefix);
	put_key_string(em, in, "name", a->name);
	put_connection(em, a);
	put_password(em, c, a);
	put_fetching(em, a);
	if (a->has_dest)
		put_key_string(em, in, "deliver", em->names[em->dest_of[i]]);
	else
		fprintf(em->out, "%s%s# No delivery could be carried over: name "
		    "a destination.\n%s%s#deliver = \"\";\n", em->prefix, in,
		    em->prefix, in);
	for (size_t n = 0; n < a->nnotes; n++)
		put_note(em->out, a->disabled ? "#     " : in, a->notes[n]);
	fprintf(em->out, "%s  }%s\n", em->prefix, comma ? "," : "");
	em->prefix = "";
}

static void
put_header(const struct conv *c, FILE *out)
{
	fputs("# mailferry.conf converted from ", out);
	put_comment_text(out, c->path);
	fprintf(out, " (%s) by mailferry --convert.\n", c->format);
	fputs("#\n"
	    "# Passwords are not copied: fill in each account's password "
	    "(and chmod 600\n"
	    "# this file), or use password_command. Then check it with\n"
	    "#   mailferry -f FILE --check-config\n"
	    "# \"NOTE:\" comments are settings that could not be carried "
	    "over as they were.\n"
	    "# To take over what was already fetched, before the first run:\n"
	    "#   mailferry -f FILE -a ACCOUNT --import-uids ", out);
	fputs(strcmp(c->format, "fetchmailrc") == 0 ?
	    "fetchmail:~/.fetchids\n" :
	    "mpop:~/.mpop_uidls/USER_at_HOST\n", out);
	for (size_t i = 0; i < c->nnotes; i++)
		put_note(out, "", c->notes[i]);
	fputc('\n', out);
	if (c->timeout > 0)
		fprintf(out, "timeout = %d;\n\n", c->timeout);
}

void
convert_emit(const struct conv *c, FILE *out)
{
	struct emitter em = { .out = out, .prefix = "" };
	size_t last = c->naccounts;

	collect_dests(&em, c);
	put_header(c, out);
	fputs("destinations = {\n", out);
	for (size_t i = 0; i < em.ndests; i++)
		put_dest(&em, i);
	fputs("};\n\naccounts = (\n", out);
	for (size_t i = 0; i < c->naccounts; i++)
		if (!c->accounts[i].disabled)
			last = i;
	for (size_t i = 0; i < c->naccounts; i++)
		put_account(&em, c, i, !c->accounts[i].disabled &&
		    i < last && last != c->naccounts);
	fputs(");\n", out);
	for (size_t i = 0; i < em.ndests; i++)
		free(em.names[i]);
	free(em.names);
	free(em.dests);
	free(em.dest_of);
}
