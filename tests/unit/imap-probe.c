/*
 * A test driver for the IMAP layer (core/imap*.h) against a real server,
 * before the fetch loop uses it: each word on the command line after the
 * options is a step, run in order on one session.
 *
 *   imap-probe --host H --port P --tls implicit|starttls|none [--ca FILE]
 *       --user U [--auth METHOD] [--plaintext] [--timeout S] [-v]...
 *       STEP...
 *
 * The password (or token) comes from $IMAP_PROBE_SECRET. Steps:
 *   caps                 print the capabilities the layer knows
 *   select F, examine F  open folder F; print its UIDVALIDITY, UIDNEXT,
 *                        EXISTS
 *   list                 print "uid U size S flags F" per message
 *   fetch DIR            fetch every listed message whole into DIR/UID,
 *                        pipelined; "headers DIR": their headers only
 *   store-deleted UIDS, store-seen UIDS    (UIDS: "1,5,7")
 *   expunge UIDS         print "expunged" or "left-flagged N"
 *   move UIDS F, copy UIDS F
 *   idle S               print "new-mail" or "no-new-mail"
 *   noop, logout
 * Exits with the layer's exit code (err_exitcode) after an error.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap-session.h"
#include "imap.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"

#define WINDOW	64

struct probe {
	struct imap	*im;
	uint32_t	*uids;		/* of the last listing */
	uint64_t	*sizes;
	size_t		 n, cap;
	struct msg	 m;
};

static int
listed(void *arg, uint32_t uid, uint64_t size, unsigned flags, struct err *e)
{
	struct probe *p = arg;

	(void)e;
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 256;
		p->uids = xreallocarray(p->uids, p->cap, sizeof *p->uids);
		p->sizes = xreallocarray(p->sizes, p->cap, sizeof *p->sizes);
	}
	p->uids[p->n] = uid;
	p->sizes[p->n++] = size;
	printf("uid %" PRIu32 " size %" PRIu64 " flags%s%s%s%s%s\n", uid, size,
	    flags & IMAP_FLAG_SEEN ? " seen" : "",
	    flags & IMAP_FLAG_ANSWERED ? " answered" : "",
	    flags & IMAP_FLAG_FLAGGED ? " flagged" : "",
	    flags & IMAP_FLAG_DELETED ? " deleted" : "",
	    flags & IMAP_FLAG_DRAFT ? " draft" : "");
	return 0;
}

static int
write_fd(void *arg, const char *data, size_t len, struct err *e)
{
	int fd = *(int *)arg;

	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0)
			return err_sys(e, ERR_TEMP, "write");
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
save(struct probe *p, const char *dir, uint32_t uid, struct err *e)
{
	char path[4096];
	int fd, rc;

	snprintf(path, sizeof path, "%s/%" PRIu32, dir, uid);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1)
		return err_sys(e, ERR_TEMP, "%s", path);
	rc = msg_write(&p->m, write_fd, &fd, e);
	close(fd);
	return rc;
}

/* Every listed message, a window of WINDOW fetches in flight. */
static int
fetch_all(struct probe *p, const char *dir, enum imap_section sec,
    struct err *e)
{
	struct imap_event ev;
	size_t next = 0, done = 0;

	while (done < p->n) {
		while (next < p->n && imap_in_flight(p->im) < WINDOW) {
			imap_fetch(p->im, p->uids[next], sec,
			    (off_t)p->sizes[next] + 1024 * 1024, &p->m, next);
			next++;
		}
		if (imap_read(p->im, &ev, e) == -1)
			return -1;
		if (ev.kind == IMAP_EV_MESSAGE) {
			if (save(p, dir, ev.uid, e) == -1)
				return -1;
			continue;
		}
		if (ev.kind != IMAP_EV_DONE)
			continue;
		done++;
		if (ev.status != IMAP_ST_OK)
			printf("failed %" PRIu32 "\n", ev.uid);
		else if (!ev.fetched)
			printf("vanished %" PRIu32 "\n", ev.uid);
	}
	printf("fetched %zu\n", done);
	return 0;
}

static size_t
parse_uids(const char *s, uint32_t **out)
{
	size_t n = 0, cap = 16;
	uint32_t *u = xreallocarray(NULL, cap, sizeof *u);

	while (*s != '\0') {
		if (n == cap)
			u = xreallocarray(u, cap *= 2, sizeof *u);
		u[n++] = (uint32_t)strtoul(s, (char **)&s, 10);
		if (*s == ',')
			s++;
	}
	*out = u;
	return n;
}

/* Pipelined STORE/MOVE/COPY of a whole set, every command answered OK. */
static int
set_command(struct probe *p, const char *step, const char *uidlist,
    const char *folder, struct err *e)
{
	struct imap_event ev;
	uint32_t *uids;
	size_t n = parse_uids(uidlist, &uids), i = 0;
	int rc = 0;

	while (i < n) {
		if (strcmp(step, "store-deleted") == 0)
			i += imap_store(p->im, uids + i, n - i,
			    IMAP_FLAG_DELETED, 0);
		else if (strcmp(step, "store-seen") == 0)
			i += imap_store(p->im, uids + i, n - i, IMAP_FLAG_SEEN,
			    0);
		else if (strcmp(step, "move") == 0)
			i += imap_move(p->im, uids + i, n - i, folder, 0);
		else
			i += imap_copy(p->im, uids + i, n - i, folder, 0);
	}
	while (rc == 0 && imap_in_flight(p->im) > 0) {
		if ((rc = imap_read(p->im, &ev, e)) == 0 &&
		    ev.kind == IMAP_EV_DONE && ev.status != IMAP_ST_OK)
			rc = imap_fail(p->im, &ev, step, ERR_TEMP, e);
	}
	free(uids);
	if (rc == 0)
		printf("%s done\n", step);
	return rc;
}

static int
step_expunge(struct probe *p, const char *uidlist, struct err *e)
{
	enum imap_expunged res;
	uint32_t *uids;
	size_t n = parse_uids(uidlist, &uids), others;
	int rc = imap_expunge(p->im, uids, n, &res, &others, e);

	free(uids);
	if (rc == 0 && res == IMAP_EXPUNGED)
		printf("expunged\n");
	else if (rc == 0 && res == IMAP_LEFT_FLAGGED)
		printf("left-flagged %zu\n", others);
	else if (rc == 0)
		printf("left-unchecked\n");
	return rc;
}

static int
step_caps(struct probe *p)
{
	static const struct {
		const char	*name;
		unsigned	 flag;
	} names[] = {
		{ "IMAP4rev1", IMAP_CAP_IMAP4REV1 },
		{ "IMAP4rev2", IMAP_CAP_IMAP4REV2 },
		{ "STARTTLS", IMAP_CAP_STARTTLS },
		{ "LOGINDISABLED", IMAP_CAP_LOGINDISABLED },
		{ "SASL-IR", IMAP_CAP_SASL_IR },
		{ "IDLE", IMAP_CAP_IDLE },
		{ "UIDPLUS", IMAP_CAP_UIDPLUS },
		{ "MOVE", IMAP_CAP_MOVE },
		{ "LITERAL+", IMAP_CAP_LITERALPLUS },
		{ "LITERAL-", IMAP_CAP_LITERALMINUS },
		{ "ENABLE", IMAP_CAP_ENABLE },
		{ "UTF8=ACCEPT", IMAP_CAP_UTF8_ACCEPT },
		{ "AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN },
		{ "AUTH=LOGIN", IMAP_CAP_AUTH_LOGIN },
	};

	printf("caps");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (imap_has(p->im, names[i].flag))
			printf(" %s", names[i].name);
	printf("%s\n", p->im->conn->tls != NULL ? " (tls)" : "");
	return 0;
}

/* One step and its arguments; returns how many words it used, -1 on
 * error. */
static int
step(struct probe *p, char **argv, int argc, struct err *e)
{
	const char *s = argv[0], *a1 = argc > 1 ? argv[1] : NULL;
	const char *a2 = argc > 2 ? argv[2] : NULL;
	struct imap_folder f;
	struct imap_event ev;

	if (strcmp(s, "caps") == 0)
		return step_caps(p) + 1;
	if (strcmp(s, "noop") == 0) {
		imap_noop(p->im, 0);
		return imap_read(p->im, &ev, e) == -1 ? -1 : 1;
	}
	if (strcmp(s, "logout") == 0) {
		int rc = imap_logout(p->im, e);

		p->im = NULL;
		return rc == -1 ? -1 : 1;
	}
	if (strcmp(s, "list") == 0) {
		p->n = 0;
		return imap_list(p->im, listed, p, e) == -1 ? -1 : 1;
	}
	if (a1 == NULL)
		return err_set(e, ERR_USAGE, "%s: missing argument", s);
	if (strcmp(s, "select") == 0 || strcmp(s, "examine") == 0) {
		if (imap_select(p->im, a1, s[0] == 'e', &f, e) == -1)
			return -1;
		printf("folder %s uidvalidity %" PRIu32 " uidnext %" PRIu32
		    " exists %" PRIu32 "%s\n", a1, f.uidvalidity, f.uidnext,
		    f.exists, f.read_only ? " read-only" : "");
		return 2;
	}
	if (strcmp(s, "fetch") == 0 || strcmp(s, "headers") == 0)
		return fetch_all(p, a1, s[0] == 'f' ? IMAP_SECTION_WHOLE :
		    IMAP_SECTION_HEADER, e) == -1 ? -1 : 2;
	if (strcmp(s, "expunge") == 0)
		return step_expunge(p, a1, e) == -1 ? -1 : 2;
	if (strcmp(s, "idle") == 0) {
		int rc = imap_idle(p->im, atoi(a1), NULL, e);

		if (rc >= 0)
			printf("%s\n", rc ? "new-mail" : "no-new-mail");
		return rc == -1 ? -1 : 2;
	}
	if (strcmp(s, "store-deleted") == 0 || strcmp(s, "store-seen") == 0)
		return set_command(p, s, a1, NULL, e) == -1 ? -1 : 2;
	if ((strcmp(s, "move") == 0 || strcmp(s, "copy") == 0) && a2)
		return set_command(p, s, a1, a2, e) == -1 ? -1 : 3;
	return err_set(e, ERR_USAGE, "unknown step %s", s);
}

static enum imap_auth
auth_of(const char *s)
{
	static const char *const names[] = { "auto", "login", "plain",
	    "sasl-login", "xoauth2", "oauthbearer" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i]) == 0)
			return (enum imap_auth)i;
	fprintf(stderr, "imap-probe: unknown auth %s\n", s);
	exit(64);
}

static enum tls_mode
tls_of(const char *s)
{
	if (strcmp(s, "implicit") == 0)
		return TLS_MODE_IMPLICIT;
	if (strcmp(s, "starttls") == 0)
		return TLS_MODE_STARTTLS;
	return TLS_MODE_NONE;
}

static void
options(int argc, char **argv, struct imap_open_opts *o, int *verbosity)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'P' },
		{ "tls", required_argument, NULL, 'T' },
		{ "ca", required_argument, NULL, 'C' },
		{ "user", required_argument, NULL, 'U' },
		{ "auth", required_argument, NULL, 'A' },
		{ "plaintext", no_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+v", longopts, NULL)) != -1) {
		switch (c) {
		case 'H': o->host = optarg; break;
		case 'P': o->port = atoi(optarg); break;
		case 'T': o->tls = tls_of(optarg); break;
		case 'C': o->tls_ca_file = optarg; break;
		case 'U': o->user = optarg; break;
		case 'A': o->auth = auth_of(optarg); break;
		case 'p': o->allow_plaintext_auth = true; break;
		case 't': o->timeout = atoi(optarg); break;
		case 'v': (*verbosity)++; break;
		default: exit(64);
		}
	}
}

int
main(int argc, char **argv)
{
	struct imap_open_opts o = { .host = "127.0.0.1", .timeout = 10,
	    .user = "alice", .tls = TLS_MODE_IMPLICIT };
	struct probe p = { 0 };
	struct err e;
	int verbosity = 0, used;

	options(argc, argv, &o, &verbosity);
	o.secret = getenv("IMAP_PROBE_SECRET") ? getenv("IMAP_PROBE_SECRET") :
	    "";
	log_setup(verbosity, false);
	setvbuf(stdout, NULL, _IOLBF, 0);
	err_clear(&e);
	msg_init(&p.m, "/tmp");
	p.im = imap_open(&o, &e);
	for (int i = optind; p.im != NULL && i < argc; i += used) {
		used = step(&p, argv + i, argc - i, &e);
		if (used == -1)
			break;
	}
	if (p.im != NULL)
		imap_abort(p.im);
	msg_free(&p.m);
	free(p.uids);
	free(p.sizes);
	if (e.cls != ERR_NONE) {
		fprintf(stderr, "imap-probe: %s\n", e.msg);
		return err_exitcode(e.cls);
	}
	return 0;
}
