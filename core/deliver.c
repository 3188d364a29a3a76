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
	return "maildir, mbox, smtp, lmtp, mda";
}
