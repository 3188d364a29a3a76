/* Reading SMTP and LMTP replies (see smtp-reply.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "smtp-reply.h"
#include "xmalloc.h"

/* One EHLO keyword line ("SIZE 1000", "AUTH PLAIN LOGIN"). */
static void
parse_extension(struct smtp_ext *ext, const char *kw)
{
	size_t len = strcspn(kw, " ");

	if (len == 10 && strncasecmp(kw, "PIPELINING", 10) == 0)
		ext->flags |= SMTP_EXT_PIPELINING;
	else if (len == 8 && strncasecmp(kw, "8BITMIME", 8) == 0)
		ext->flags |= SMTP_EXT_8BITMIME;
	else if (len == 8 && strncasecmp(kw, "STARTTLS", 8) == 0)
		ext->flags |= SMTP_EXT_STARTTLS;
	else if (len == 4 && strncasecmp(kw, "SIZE", 4) == 0) {
		ext->flags |= SMTP_EXT_SIZE;
		ext->max_size = kw[4] == ' ' ? strtoll(kw + 5, NULL, 10) : 0;
	} else if (len == 4 && strncasecmp(kw, "AUTH", 4) == 0) {
		ext->flags |= SMTP_EXT_AUTH;
		free(ext->auth);
		ext->auth = xstrdup(kw + 4);
	}
}

/* Is line a reply line: three digits from 200 to 599, then the end, a
 * space or a "-"? */
static bool
well_formed(const char *line, size_t len)
{
	return len >= 3 && line[0] >= '2' && line[0] <= '5' &&
	    line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
	    line[2] <= '9' && (len == 3 || line[3] == ' ' || line[3] == '-');
}

int
smtp_read_reply(struct conn *c, const char *proto, struct smtp_reply *r,
    struct smtp_ext *ext, struct err *e)
{
	unsigned lines = 0;

	if (c->wlen > 0 && conn_flush(c, e) == -1)
		return -1;
	if (ext != NULL)
		smtp_ext_clear(ext);
	conn_begin_reply(c);
	for (;;) {
		char *line, shown[200];
		size_t len;
		int code;

		if (conn_read_line(c, SMTP_LINE_MAX, &line, &len, e) == -1)
			return -1;
		if (log_tracing())
			log_trace("%s < %.*s", c->label, (int)len, line);
		if (!well_formed(line, len)) {
			log_escape(shown, sizeof shown, line, len);
			return err_set(e, ERR_TEMP, "%s: garbled %s reply "
			    "\"%s\"", c->label, proto, shown);
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (lines > 0 && code != r->code)
			return err_set(e, ERR_TEMP, "%s: inconsistent %s reply",
			    c->label, proto);
		r->code = code;
		if (lines == 0)
			log_escape(r->text, sizeof r->text, line, len);
		else if (ext != NULL && len > 4)
			parse_extension(ext, line + 4);
		if (++lines > SMTP_LINES_MAX)
			return err_set(e, ERR_TEMP, "%s: endless %s reply",
			    c->label, proto);
		if (len == 3 || line[3] == ' ')
			break;
	}
	/* Only a successful EHLO/LHLO lists extensions. */
	if (ext != NULL && r->code != 250)
		smtp_ext_clear(ext);
	return 0;
}

bool
smtp_ext_offers(const struct smtp_ext *ext, const char *mech)
{
	size_t len = strlen(mech);

	for (const char *p = ext->auth; p != NULL && *p != '\0';) {
		p += strspn(p, " ");
		if (strncasecmp(p, mech, len) == 0 &&
		    (p[len] == ' ' || p[len] == '\0'))
			return true;
		p += strcspn(p, " ");
	}
	return false;
}

void
smtp_ext_clear(struct smtp_ext *ext)
{
	free(ext->auth);
	memset(ext, 0, sizeof *ext);
}
