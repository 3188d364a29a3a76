/*
 * headers: add, set or remove header fields.
 *
 *   { name = "tag"; plugin = "headers";
 *     args = { add = { X-Original-Account = "%a"; };
 *              set = { X-Fetched-By = "mailferry"; };
 *              remove = [ "X-Spam-Flag" ]; }; }
 *
 * In values, %a is the account name, %u the message's UID, %% a "%".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mailferry/plugin.h>

static const struct mf_host *host;

static int
init(const struct mf_host *h, const struct mf_options *options, void **state,
    char *err, size_t errlen)
{
	(void)state;
	host = h;
	if (h->opt_keys(options) > 0) {
		snprintf(err, errlen, "takes no options (its settings go in each "
		    "rule's args)");
		return -1;
	}
	return 0;
}

static int
has_key(const struct mf_options *args, const char *key)
{
	for (size_t i = 0; i < host->opt_keys(args); i++)
		if (strcmp(host->opt_key(args, i), key) == 0)
			return 1;
	return 0;
}

static int
check_args(void *state, const struct mf_options *args, char *err,
    size_t errlen)
{
	static const char *const keys[] = { "add", "set", "remove" };

	(void)state;
	if (host->opt_keys(args) == 0) {
		snprintf(err, errlen, "args needs add, set or remove");
		return -1;
	}
	for (size_t i = 0; i < host->opt_keys(args); i++) {
		const char *key = host->opt_key(args, i);
		int known = 0;

		for (size_t k = 0; k < 3; k++)
			known |= strcmp(key, keys[k]) == 0;
		if (!known) {
			snprintf(err, errlen, "unknown key \"%s\" in args "
			    "(add, set, remove)", key);
			return -1;
		}
	}
	for (size_t k = 0; k < 2; k++) {
		const struct mf_options *g = host->opt_group(args, keys[k]);

		if (g == NULL && has_key(args, keys[k])) {
			snprintf(err, errlen, "\"%s\" must be a group: %s = "
			    "{ Header-Name = \"value\"; }", keys[k], keys[k]);
			return -1;
		}
		for (size_t i = 0; i < host->opt_group_size(g); i++) {
			const char *name = host->opt_group_name(g, i);

			if (host->opt_string(g, name) == NULL) {
				snprintf(err, errlen, "%s: the value of %s must "
				    "be a string", keys[k], name);
				return -1;
			}
		}
	}
	for (size_t i = 0; i < host->opt_count(args, "remove"); i++)
		if (host->opt_item(args, "remove", i) == NULL) {
			snprintf(err, errlen, "remove must list header names");
			return -1;
		}
	return 0;
}

/* The value with %a, %u and %% replaced. */
static char *
expand(const char *value, struct mf_message *m)
{
	const char *account = host->account(m), *uid = host->uid(m);
	size_t cap = strlen(value) + strlen(account) * 4 + 256 + 1, o = 0;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	if (uid == NULL)
		uid = "";
	for (const char *p = value; *p != '\0'; p++) {
		const char *insert = NULL;

		if (*p == '%' && p[1] == 'a')
			insert = account;
		else if (*p == '%' && p[1] == 'u')
			insert = uid;
		else if (*p == '%' && p[1] == '%')
			insert = "%";
		if (insert == NULL) {
			if (o + 1 >= cap)
				break;
			out[o++] = *p;
			continue;
		}
		p++;
		if (o + strlen(insert) >= cap)
			break;
		memcpy(out + o, insert, strlen(insert));
		o += strlen(insert);
	}
	out[o] = '\0';
	return out;
}

static enum mf_verdict
apply_group(struct mf_message *m, const struct mf_options *args,
    const char *key, int replace, char *err, size_t errlen)
{
	const struct mf_options *g = host->opt_group(args, key);

	for (size_t i = 0; i < host->opt_group_size(g); i++) {
		const char *name = host->opt_group_name(g, i);
		char *value = expand(host->opt_string(g, name), m);
		int rc;

		if (value == NULL) {
			snprintf(err, errlen, "out of memory");
			return MF_ERROR;
		}
		rc = replace ? host->header_set(m, name, value) :
		    host->header_add(m, name, value);
		free(value);
		if (rc != 0) {
			snprintf(err, errlen, "cannot %s header %s", key, name);
			return MF_ERROR;
		}
	}
	return MF_CONTINUE;
}

static enum mf_verdict
filter(void *state, struct mf_message *m, const struct mf_options *args,
    char *err, size_t errlen)
{
	enum mf_verdict v;

	(void)state;
	for (size_t i = 0; i < host->opt_count(args, "remove"); i++) {
		const char *name = host->opt_item(args, "remove", i);

		if (name != NULL && host->header_remove(m, name) != 0) {
			snprintf(err, errlen, "cannot remove header %s", name);
			return MF_ERROR;
		}
	}
	if ((v = apply_group(m, args, "set", 1, err, errlen)) != MF_CONTINUE)
		return v;
	return apply_group(m, args, "add", 0, err, errlen);
}

MAILFERRY_PLUGIN(
	.name = "headers",
	.version = "1.0",
	.init = init,
	.check_args = check_args,
	.filter = filter,
);
