/* The table of mail sources, and opening a session with a secret. */
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "source.h"
#include "xmalloc.h"

static const struct source_backend *const backends[] = {
	&source_pop3,
	&source_imap,
};

const struct source_backend *
source_backend(const char *protocol)
{
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->protocol, protocol) == 0)
			return backends[i];
	return NULL;
}

const struct source_backend *
source_for(const struct account *a)
{
	return source_backend(protocol_name(a->protocol));
}

static char *
get_secret(const struct config *cfg, const struct account *a, struct err *e)
{
	char what[300];

	if (a->password != NULL)
		return xstrdup(a->password);
	snprintf(what, sizeof what, "account \"%s\": password_command",
	    a->name);
	return command_first_line(a->password_command, cfg->timeout, what, e);
}

struct source_session *
source_open(const struct source_backend *b, const struct config *cfg,
    const struct account *a, int *login_delay, struct err *e)
{
	struct source_session *ss;
	char *secret;

	secret = get_secret(cfg, a, e);
	if (secret == NULL)
		return NULL;
	ss = b->open(cfg, a, secret, login_delay, e);
	freezero_str(secret);
	return ss;
}
