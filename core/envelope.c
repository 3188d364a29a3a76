#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "envelope.h"
#include "xmalloc.h"

#define ADDRESS_MAX	254

bool
envelope_address_plain(const char *s, size_t len)
{
	return len <= ADDRESS_MAX && ascii_visible(s, len) &&
	    memchr(s, '<', len) == NULL && memchr(s, '>', len) == NULL;
}

/* The addr-spec of a field value: inside <...> if there is such, else
 * the value itself when it is a bare address. */
static char *
address_of(struct header_field *f, bool *null_sender)
{
	char *v = xmalloc(f->value_len + 1), *lt, *gt, *out = NULL;
	size_t len = header_unfold(f->value, f->value_len, v);

	*null_sender = false;
	lt = strrchr(v, '<');
	gt = lt != NULL ? strchr(lt, '>') : NULL;
	if (lt != NULL && gt != NULL) {
		if (gt == lt + 1)
			*null_sender = true;
		else if (envelope_address_plain(lt + 1, (size_t)(gt - lt - 1)))
			out = xstrndup(lt + 1, (size_t)(gt - lt - 1));
	} else if (len > 0 && strchr(v, '@') != NULL &&
	    envelope_address_plain(v, len))
		out = xstrdup(v);
	free(v);
	return out;
}

char *
envelope_sender(struct msg *m)
{
	static const char *const fields[] = { "Return-Path", "Sender", "From" };
	struct header_index *idx = msg_headers(m);

	for (size_t i = 0; i < 3; i++) {
		size_t pos = 0;
		struct header_field *f = header_find(idx, fields[i], &pos);
		bool null_sender;
		char *addr;

		if (f == NULL)
			continue;
		addr = address_of(f, &null_sender);
		if (addr != NULL)
			return addr;
		if (null_sender && i == 0)
			return xstrdup("");
	}
	return NULL;
}

char **
envelope_argv(char *const *words, const char *sender, const char *recipient,
    const char **refused)
{
	size_t n = 0;
	char **argv;

	while (words[n] != NULL)
		n++;
	argv = xcalloc(n + 1, sizeof *argv);
	for (size_t i = 0; i < n; i++) {
		const char *value = strcmp(words[i], "%F") == 0 ? sender :
		    strcmp(words[i], "%T") == 0 ? recipient : NULL;

		if (value != NULL && value[0] == '-') {
			*refused = value;
			free(argv);
			return NULL;
		}
		argv[i] = value != NULL ? (char *)value : words[i];
	}
	return argv;
}
