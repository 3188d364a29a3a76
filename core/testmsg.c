#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"
#include "multidrop.h"
#include "plugin.h"
#include "rules.h"
#include "testmsg.h"

static void
print_line(void *arg, const char *fmt, ...)
{
	char line[1200], shown[1300];
	va_list ap;

	(void)arg;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_escape(shown, sizeof shown, line, strlen(line));
	printf("%s\n", shown);
}

static void
print_block(const char *text, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - text) : len;

		if (n > 0)
			print_line(NULL, "  %.*s", (int)n, text);
		if (nl == NULL)
			break;
		len -= n + 1;
		text = nl + 1;
	}
}

/* Every line goes through print_line: a plugin's reason may quote the
 * message. */
static void
print_verdict(const struct verdict *v)
{
	char dests[600];
	size_t o = 0;

	switch (v->kind) {
	case VERDICT_DELIVER:
		dests[0] = '\0';
		for (size_t i = 0; i < v->ndests && o < sizeof dests; i++)
			o += (size_t)snprintf(dests + o, sizeof dests - o,
			    "%s%s", i ? ", " : "", v->dests[i]->name);
		print_line(NULL, "result: deliver to %s (%s)", dests,
		    v->rule != NULL ? v->rule->name :
		    "no rule decided: the account's deliver");
		break;
	case VERDICT_DELETE:
		print_line(NULL, "result: delete from the server, not "
		    "delivered (rule %s)", v->rule->name);
		break;
	case VERDICT_SKIP:
		print_line(NULL, "result: skip, left on the server (rule %s)",
		    v->rule->name);
		break;
	case VERDICT_DEFER:
		print_line(NULL, "result: defer, left on the server for the "
		    "next run (%s)", v->why);
		break;
	}
}

/*
 * Does this look like a message: a header whose first line is a field
 * (or an mbox "From " line followed by one), no NUL bytes in it?
 */
static bool
looks_like_message(struct msg *m, const char **why)
{
	struct header_index *idx;
	const char *h = m->hdr;
	size_t len = m->hdrlen;

	if (msg_size(m) == 0) {
		*why = "the file is empty";
		return false;
	}
	if (memchr(h, '\0', len) != NULL) {
		*why = "it holds NUL bytes (a binary file?)";
		return false;
	}
	idx = msg_headers(m);
	if (idx->n == 0) {
		*why = "it has no header fields";
		return false;
	}
	if (strncmp(h, "From ", 5) == 0) {
		const char *nl = memchr(h, '\n', len);

		if (nl == NULL)
			return false;
		h = nl + 1;
	}
	if (h != idx->fields[0].name) {
		*why = "its first line is not a header field";
		return false;
	}
	return true;
}

static enum err_class
load(struct msg *m, const char *path)
{
	char buf[64 * 1024];
	struct err e;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		log_error("%s: %s", path, strerror(errno));
		return ERR_NOINPUT;
	}
	err_clear(&e);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (msg_append(m, buf, (size_t)n, &e) == -1) {
			log_error("%s: %s", path, e.msg);
			close(fd);
			return ERR_TEMP;
		}
	if (n == -1) {
		log_error("%s: %s", path, strerror(errno));
		close(fd);
		return ERR_IO;
	}
	close(fd);
	msg_finish(m);
	return ERR_NONE;
}

/* Multidrop: whom "%envelope" would stand for. */
static void
print_envelope(struct msg *m, const struct account *a)
{
	char list[1024] = "";
	char **rcpt;
	size_t n, o = 0;

	if (a->envelope == NULL)
		return;
	n = multidrop_recipients(m, a, "envelope", &rcpt);
	for (size_t i = 0; i < n && o < sizeof list; i++)
		o += (size_t)snprintf(list + o, sizeof list - o, "%s %s",
		    i ? "," : "", rcpt[i]);
	print_line(NULL, "envelope recipients (%s):%s", a->envelope,
	    n == 0 ? " none in local_domains: the fallback" : list);
	multidrop_free(rcpt, n);
}

int
test_message(struct config *cfg, struct account *a, const char *path)
{
	struct rules_trace trace = { .line = print_line };
	struct mf_message pm;
	struct verdict v;
	struct msg m;
	const char *why = "";
	enum err_class rc;

	msg_init(&m, cfg->state_dir);
	rc = load(&m, path);
	if (rc != ERR_NONE)
		goto done;
	if (!looks_like_message(&m, &why)) {
		log_error("%s is not a message: %s", path, why);
		rc = ERR_DATA;
		goto done;
	}
	print_line(NULL, "message %s (%jd bytes), account %s, %zu rule%s",
	    path, (intmax_t)msg_size(&m), a->name, a->nrules,
	    a->nrules == 1 ? "" : "s");
	mf_message_init(&pm, &m, cfg, a, NULL, msg_size(&m));
	rules_run(a, &pm, &v, &trace);
	print_verdict(&v);
	if (v.kind == VERDICT_DELIVER)
		print_envelope(&m, a);
	if (m.hdr_modified || pm.replaced) {
		print_line(NULL, "header after the rules:");
		print_block(m.hdr, m.hdrlen);
	}
	mf_message_clear(&pm);
	fflush(stdout);
done:
	msg_free(&m);
	return err_exitcode(rc);
}
