/* Multidrop: envelope recipients from a header (see multidrop.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-parse.h"
#include "log.h"
#include "multidrop.h"
#include "rules.h"
#include "xmalloc.h"

#define LOCAL_PART_MAX	64
#define DOMAIN_MAX	253
#define ADDRESS_MAX	254

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Labels of letters, digits and "-", separated by single dots. */
static bool
domain_valid(const char *d, size_t len)
{
	if (len == 0 || len > DOMAIN_MAX || d[0] == '.' || d[0] == '-' ||
	    d[len - 1] == '.' || d[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '.' && d[i + 1] == '.')
			return false;
		if (!is_alnum(d[i]) && d[i] != '.' && d[i] != '-')
			return false;
	}
	return true;
}

bool
multidrop_domain_valid(const char *domain)
{
	return domain_valid(domain, strlen(domain));
}

static bool
local_part_valid(const char *s, size_t len)
{
	if (len == 0 || len > LOCAL_PART_MAX || s[0] == '.' || s[0] == '-' ||
	    s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.' && i + 1 < len && s[i + 1] == '.')
			return false;
		if (!is_alnum(s[i]) && strchr("._+=-", s[i]) == NULL)
			return false;
	}
	return true;
}

bool
multidrop_address_valid(const char *addr, size_t len)
{
	const char *at = memchr(addr, '@', len);

	if (len > ADDRESS_MAX || at == NULL)
		return false;
	return local_part_valid(addr, (size_t)(at - addr)) &&
	    domain_valid(at + 1, len - (size_t)(at - addr) - 1);
}

static bool
header_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 76)
		return false;
	for (; *name != '\0'; name++)
		if ((unsigned char)*name < 33 || (unsigned char)*name > 126 ||
		    *name == ':')
			return false;
	return true;
}

void
multidrop_parse_account(struct cfg_ctx *cx, config_setting_t *s,
    struct account *a, const char *where)
{
	config_setting_t *env = cfg_member(s, "envelope");
	config_setting_t *doms = cfg_member(s, "local_domains");

	cfg_get_string(cx, s, "envelope", &a->envelope);
	cfg_get_string_list(cx, s, "local_domains", &a->local_domains,
	    &a->nlocal_domains);
	if (a->envelope != NULL && !header_name_valid(a->envelope))
		cfg_report(cx, env, "%s: envelope \"%s\" is not a header "
		    "name (for example \"X-Original-To\")", where,
		    a->envelope);
	for (size_t i = 0; i < a->nlocal_domains; i++)
		if (!multidrop_domain_valid(a->local_domains[i]))
			cfg_report(cx, doms, "%s: local_domains: \"%s\" is not "
			    "a domain name", where, a->local_domains[i]);
	if (a->envelope != NULL && doms == NULL)
		cfg_report(cx, env, "%s: envelope needs local_domains (the "
		    "domains whose recipients are delivered)", where);
	if (doms != NULL && env == NULL)
		cfg_report(cx, doms, "%s: local_domains needs envelope (the "
		    "header naming the recipient)", where);
}

static bool
uses_token(const struct destination *d)
{
	for (size_t i = 0; i < d->nto; i++)
		if (strcmp(d->to[i], MULTIDROP_TOKEN) == 0)
			return true;
	return false;
}

static const struct destination *
first_multidrop_dest(const struct account *a)
{
	for (size_t i = 0; i < a->ndeliver; i++)
		if (uses_token(a->deliver[i]))
			return a->deliver[i];
	for (size_t r = 0; r < a->nrules; r++)
		for (size_t i = 0; i < a->rules[r].ndeliver; i++)
			if (uses_token(a->rules[r].deliver[i]))
				return a->rules[r].deliver[i];
	return NULL;
}

void
multidrop_check_account(const struct account *a)
{
	const struct destination *d = first_multidrop_dest(a);

	if (d != NULL && a->envelope == NULL)
		log_warn("%s:%d: account \"%s\" delivers to \"%s\", whose to "
		    "holds \"%s\", but has no envelope: all its mail goes to "
		    "the fallback", a->src.file, a->src.line, a->name,
		    d->name, MULTIDROP_TOKEN);
	if (d == NULL && a->envelope != NULL)
		log_warn("%s:%d: account \"%s\" has an envelope but none of "
		    "its destinations has \"%s\" in its to list", a->src.file,
		    a->src.line, a->name, MULTIDROP_TOKEN);
}

int
multidrop_token_index(char *const *to, size_t nto, int *index, char *why,
    size_t whylen)
{
	*index = -1;
	for (size_t i = 0; i < nto; i++) {
		if (strcmp(to[i], MULTIDROP_TOKEN) != 0)
			continue;
		if (*index != -1) {
			snprintf(why, whylen, "\"%s\" is in \"to\" twice",
			    MULTIDROP_TOKEN);
			return -1;
		}
		*index = (int)i;
	}
	if (*index != -1 && (size_t)*index == nto - 1) {
		snprintf(why, whylen, "\"%s\" must be followed in \"to\" by "
		    "the fallback recipients (for example \"postmaster\"), "
		    "used when a message names none", MULTIDROP_TOKEN);
		return -1;
	}
	return 0;
}

static bool
in_local_domains(const struct account *a, const char *domain)
{
	size_t dlen = strlen(domain);

	for (size_t i = 0; i < a->nlocal_domains; i++) {
		const char *ld = a->local_domains[i];
		size_t llen = strlen(ld);

		if (strcasecmp(domain, ld) == 0)
			return true;
		/* A subdomain: "x.example.org" for "example.org". */
		if (dlen > llen && domain[dlen - llen - 1] == '.' &&
		    strcasecmp(domain + dlen - llen, ld) == 0)
			return true;
	}
	return false;
}

struct found {
	char	**list;
	size_t	  n;
	bool	  full_warned;
};

static void
add_recipient(struct found *fd, const char *addr, size_t len,
    const char *label)
{
	for (size_t i = 0; i < fd->n; i++)
		if (strlen(fd->list[i]) == len &&
		    strncasecmp(fd->list[i], addr, len) == 0)
			return;
	if (fd->n == MULTIDROP_MAX) {
		if (!fd->full_warned)
			log_warn("%s: more than %d envelope recipients; the "
			    "others are ignored", label, MULTIDROP_MAX);
		fd->full_warned = true;
		return;
	}
	if (fd->list == NULL)
		fd->list = xcalloc(MULTIDROP_MAX, sizeof *fd->list);
	fd->list[fd->n++] = xstrndup(addr, len);
}

/* One comma-separated item of a field value. */
static void
consider(struct found *fd, const struct account *a, const char *item,
    size_t len, const char *label)
{
	char shown[120], *domain;

	while (len > 0 && (*item == ' ' || *item == '\t'))
		item++, len--;
	while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
		len--;
	if (len == 0)
		return;
	if (len >= 2 && item[0] == '<' && item[len - 1] == '>')
		item++, len -= 2;
	if (!multidrop_address_valid(item, len)) {
		log_escape(shown, sizeof shown, item, len);
		log_warn("%s: %s \"%s\" is not a plain address; ignored", label,
		    a->envelope, shown);
		return;
	}
	/* Valid, hence with one "@"; its domain ends the item, which is
	 * part of a NUL-terminated value. */
	domain = xstrndup(item, len);
	if (in_local_domains(a, strchr(domain, '@') + 1))
		add_recipient(fd, item, len, label);
	free(domain);
}

size_t
multidrop_recipients(struct msg *m, const struct account *a,
    const char *label, char ***out)
{
	struct found fd = { 0 };
	struct header_index *idx;
	struct header_field *f;
	size_t pos = 0;

	*out = NULL;
	if (a->envelope == NULL || a->nlocal_domains == 0)
		return 0;
	idx = msg_headers(m);
	while ((f = header_find(idx, a->envelope, &pos)) != NULL) {
		char *v = xmalloc(f->value_len + 1);
		size_t len = header_unfold(f->value, f->value_len, v);

		for (size_t i = 0; i < len;) {
			const char *comma = memchr(v + i, ',', len - i);
			size_t n = comma != NULL ? (size_t)(comma - (v + i)) :
			    len - i;

			consider(&fd, a, v + i, n, label);
			i += n + 1;
		}
		free(v);
	}
	*out = fd.list;
	return fd.n;
}

void
multidrop_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

char **
multidrop_expand(char *const *to, size_t nto, char *const *env, size_t nenv,
    size_t *n)
{
	char **out = xcalloc(nto + nenv + 1, sizeof *out);

	*n = 0;
	for (size_t i = 0; i < nto; i++) {
		if (strcmp(to[i], MULTIDROP_TOKEN) != 0) {
			out[(*n)++] = to[i];
			continue;
		}
		for (size_t j = 0; j < nenv; j++)
			out[(*n)++] = env[j];
		/* What follows is the fallback, for a message that named
		 * no recipient. */
		if (nenv > 0)
			break;
	}
	return out;
}
