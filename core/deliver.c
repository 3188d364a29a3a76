#include <stdio.h>
#include <string.h>

#include "deliver.h"

extern const struct dest_backend deliver_maildir, deliver_mbox,
    deliver_smtp, deliver_lmtp, deliver_mda;

static const struct dest_backend *const backends[] = {
	&deliver_maildir,
	&deliver_mbox,
	&deliver_smtp,
	&deliver_lmtp,
	&deliver_mda,
};

const struct dest_backend *
deliver_backend(const char *type)
{
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->type, type) == 0)
			return backends[i];
	return NULL;
}

const char *
deliver_type_names(void)
{
	static char names[128];
	size_t o = 0;

	if (names[0] != '\0')
		return names;
	for (size_t i = 0; i < sizeof backends / sizeof backends[0] &&
	    o < sizeof names; i++)
		o += (size_t)snprintf(names + o, sizeof names - o, "%s%s",
		    i > 0 ? ", " : "", backends[i]->type);
	return names;
}
