/*
 * dedup: drop a message already delivered within a window, across all
 * accounts (the consolidation case, where one message reaches several
 * mailboxes).
 *
 *   plugins = ( { name = "dedup"; options = { window_days = 30; }; } );
 *   rules = ( { name = "dedup"; plugin = "dedup"; }, ... );
 *
 * A message is known by its Message-ID, or, without one, by a hash of its
 * body and its From, To, Cc, Date and Subject. A duplicate is skipped
 * (left on the server) when the account keeps its mail, and deleted from
 * the server otherwise. A message is remembered only once it is durably
 * delivered, in STATE_DIR/dedup.db: one "SHA256HEX EPOCH" line per
 * message, appended with fsync under a lock, so a crash can cost a
 * duplicate but never a message.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <mailferry/plugin.h>

#define KEY_HEX		64	/* sha256 in hex */
#define LINE_MAX_LEN	128
#define NOTED_TTL	3600	/* seconds a let-through key blocks copies */

struct entry {
	char	key[KEY_HEX + 1];
	time_t	when;
};

struct dedup {
	char		*path;
	pid_t		 pid;		/* the process that opened fd */
	struct entry	*noted;		/* keys passed this run, not yet */
	size_t		 nnoted, capnoted;	/* known delivered */
	int		 fd;
	ino_t		 ino;
	off_t		 offset;	/* read up to here */
	time_t		 window;	/* seconds */
	struct entry	*table;		/* open addressing */
	size_t		 nslots, count;
};

static const struct mf_host *host;

static uint64_t
slot_hash(const char *key)
{
	uint64_t h = 0;

	/* The key is already a uniform hash: its first 16 hex digits do. */
	for (int i = 0; i < 16; i++)
		h = h << 4 | (uint64_t)(key[i] <= '9' ? key[i] - '0' :
		    key[i] - 'a' + 10);
	return h;
}

static struct entry *
slot(struct dedup *d, const char *key)
{
	size_t i = (size_t)slot_hash(key) & (d->nslots - 1);

	while (d->table[i].key[0] != '\0' && strcmp(d->table[i].key, key) != 0)
		i = (i + 1) & (d->nslots - 1);
	return &d->table[i];
}

static int
remember(struct dedup *d, const char *key, time_t when)
{
	struct entry *e;

	if ((d->count + 1) * 10 >= d->nslots * 7) {
		size_t old = d->nslots;
		struct entry *t = d->table;

		d->nslots = old ? old * 2 : 4096;
		d->table = calloc(d->nslots, sizeof *d->table);
		if (d->table == NULL)
			return -1;
		d->count = 0;
		for (size_t i = 0; i < old; i++)
			if (t[i].key[0] != '\0')
				*slot(d, t[i].key) = t[i], d->count++;
		free(t);
	}
	e = slot(d, key);
	if (e->key[0] == '\0') {
		memcpy(e->key, key, KEY_HEX + 1);
		d->count++;
	}
	if (when > e->when)
		e->when = when;
	return 0;
}

static int
valid_key(const char *s)
{
	for (int i = 0; i < KEY_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return s[KEY_HEX] == ' ';
}

/*
 * Our own descriptor for the file: mailferry forks a process per account
 * when fetching several at once, and a descriptor inherited from the
 * parent would share its flock with the other children.
 */
static int
own_descriptor(struct dedup *d)
{
	int fd;

	if (d->pid == getpid())
		return 0;
	fd = open(d->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	close(d->fd);
	d->fd = fd;
	d->pid = getpid();
	return 0;
}

/* Read lines appended since the last look (by any process); a torn last
 * line, from a crash mid-append, is ignored. */
static int
catch_up(struct dedup *d)
{
	char buf[64 * 1024], line[LINE_MAX_LEN];
	size_t ll = 0;
	struct stat st;
	ssize_t n;

	/* Compacted by another process: start over on the new file. */
	if (stat(d->path, &st) == 0 && st.st_ino != d->ino) {
		int fd = open(d->path, O_RDWR | O_APPEND | O_CLOEXEC);

		if (fd == -1)
			return -1;
		close(d->fd);
		d->fd = fd;
		d->ino = st.st_ino;
		d->offset = 0;
	}
	while ((n = pread(d->fd, buf, sizeof buf, d->offset)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof line - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			if (ll > KEY_HEX && valid_key(line)) {
				char *end;
				long long when = strtoll(line + KEY_HEX + 1,
				    &end, 10);

				line[KEY_HEX] = '\0';
				if (*end == '\0' && remember(d, line,
				    (time_t)when) == -1)
					return -1;
			}
			ll = 0;
		}
		/* Stop before a partial line; read it again next time. */
		d->offset += n - (ssize_t)ll;
		ll = 0;
		if ((size_t)n < sizeof buf)
			break;
	}
	return n < 0 ? -1 : 0;
}

static int
init(const struct mf_host *h, const struct mf_options *options, void **state,
    char *err, size_t errlen)
{
	struct dedup *d;
	long long days = 30;
	struct stat st;

	host = h;
	for (size_t i = 0; i < h->opt_keys(options); i++)
		if (strcmp(h->opt_key(options, i), "window_days") != 0) {
			snprintf(err, errlen, "unknown option \"%s\" "
			    "(window_days)", h->opt_key(options, i));
			return -1;
		}
	if (h->opt_keys(options) > 0 &&
	    (h->opt_int(options, "window_days", &days) != 0 || days < 1 ||
	    days > 36500)) {
		snprintf(err, errlen, "window_days must be a whole number of "
		    "days, at least 1");
		return -1;
	}
	d = calloc(1, sizeof *d);
	if (d == NULL || asprintf(&d->path, "%s/dedup.db",
	    h->state_dir()) == -1) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->window = (time_t)days * 86400;
	d->fd = open(d->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (d->fd == -1 || fstat(d->fd, &st) == -1) {
		snprintf(err, errlen, "cannot open %s: %s", d->path,
		    strerror(errno));
		free(d->path);
		free(d);
		return -1;
	}
	d->ino = st.st_ino;
	d->pid = getpid();
	*state = d;
	return 0;
}

static void
hex(const unsigned char *md, char *out)
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The key of the message: sha256 of its Message-ID, or of its content. */
static int
message_key(struct mf_message *m, char key[KEY_HEX + 1])
{
	static const char *const fields[] = {
		"From", "To", "Cc", "Date", "Subject"
	};
	const char *id = host->header_value(m, "Message-ID", 0, 0);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32], buf[64 * 1024];
	unsigned int mdlen;
	int rc = -1;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	if (id != NULL && strspn(id, " \t") != strlen(id)) {
		EVP_DigestUpdate(ctx, "id:", 3);
		EVP_DigestUpdate(ctx, id, strlen(id));
	} else {
		ssize_t n;
		off_t off = 0;
		int in_body = 0, nl = 1;

		EVP_DigestUpdate(ctx, "content:", 8);
		for (size_t i = 0; i < 5; i++) {
			const char *v = host->header_value(m, fields[i], 0, 0);

			EVP_DigestUpdate(ctx, v != NULL ? v : "", v != NULL ?
			    strlen(v) + 1 : 1);
		}
		/* The body: what follows the first empty line. */
		while ((n = host->read(m, buf, sizeof buf, off)) > 0) {
			ssize_t start = 0;

			for (ssize_t i = 0; i < n && !in_body; i++) {
				if (buf[i] == '\n' && nl) {
					in_body = 1;
					start = i + 1;
				}
				nl = buf[i] == '\n';
			}
			if (in_body)
				EVP_DigestUpdate(ctx, buf + start,
				    (size_t)(n - start));
			off += n;
		}
		if (n < 0)
			goto done;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto done;
	hex(md, key);
	rc = 0;
done:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * A message let through earlier in this run is only remembered in the
 * file once its delivery is durable, in a batch; until then a second
 * copy in the same run must count as a duplicate too. (If the first copy
 * then fails to be delivered, it stays on the server and comes back.)
 */
static int
noted(struct dedup *d, const char *key)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < d->nnoted;) {
		/* A copy let through long ago and never delivered (deleted
		 * by a later rule, deferred) must not hold back a retry. */
		if (now - d->noted[i].when > NOTED_TTL) {
			d->noted[i] = d->noted[--d->nnoted];
			continue;
		}
		if (strcmp(d->noted[i].key, key) == 0)
			return 1;
		i++;
	}
	return 0;
}

static void
forget_noted(struct dedup *d, const char *key)
{
	for (size_t i = 0; i < d->nnoted; i++)
		if (strcmp(d->noted[i].key, key) == 0) {
			d->noted[i] = d->noted[--d->nnoted];
			return;
		}
}

static int
note(struct dedup *d, const char *key)
{
	if (d->nnoted == d->capnoted) {
		size_t cap = d->capnoted ? d->capnoted * 2 : 64;
		struct entry *n = realloc(d->noted, cap * sizeof *n);

		if (n == NULL)
			return -1;
		d->noted = n;
		d->capnoted = cap;
	}
	memcpy(d->noted[d->nnoted].key, key, KEY_HEX + 1);
	d->noted[d->nnoted++].when = time(NULL);
	return 0;
}

static enum mf_verdict
filter(void *state, struct mf_message *m, const struct mf_options *args,
    char *err, size_t errlen)
{
	struct dedup *d = state;
	char key[KEY_HEX + 1];
	struct entry *e;
	int rc;

	(void)args;
	if (message_key(m, key) == -1) {
		snprintf(err, errlen, "cannot compute the message's key");
		return MF_ERROR;
	}
	if (own_descriptor(d) == -1) {
		snprintf(err, errlen, "cannot open %s: %s", d->path,
		    strerror(errno));
		return MF_ERROR;
	}
	flock(d->fd, LOCK_SH);
	rc = catch_up(d);
	flock(d->fd, LOCK_UN);
	if (rc == -1) {
		snprintf(err, errlen, "cannot read %s: %s", d->path,
		    strerror(errno));
		return MF_ERROR;
	}
	e = d->nslots > 0 ? slot(d, key) : NULL;
	if (e != NULL && (e->key[0] == '\0' || time(NULL) - e->when >=
	    d->window))
		e = NULL;
	if (e != NULL || noted(d, key)) {
		if (e != NULL)
			host->log(MF_LOG_INFO, "%s: duplicate of a message "
			    "delivered %lld s ago; %s", host->account(m),
			    (long long)(time(NULL) - e->when),
			    host->account_keeps(m) ? "skipped" : "deleted");
		else
			host->log(MF_LOG_INFO, "%s: duplicate of a message "
			    "fetched earlier in this run; %s", host->account(m),
			    host->account_keeps(m) ? "skipped" : "deleted");
		return host->account_keeps(m) ? MF_SKIP : MF_DELETE;
	}
	if (host->set_note(m, key) != 0 || note(d, key) == -1) {
		snprintf(err, errlen, "cannot attach a note");
		return MF_ERROR;
	}
	return MF_CONTINUE;
}

static void
delivered(void *state, const char *account, const char *note)
{
	struct dedup *d = state;
	char line[LINE_MAX_LEN];
	time_t now = time(NULL);
	int n;

	(void)account;
	if (strlen(note) != KEY_HEX)
		return;
	n = snprintf(line, sizeof line, "%s %lld\n", note, (long long)now);
	if (own_descriptor(d) == -1)
		return;
	flock(d->fd, LOCK_EX);
	catch_up(d);
	if (write(d->fd, line, (size_t)n) != n || fsync(d->fd) != 0)
		host->log(MF_LOG_WARNING, "cannot record in %s: %s", d->path,
		    strerror(errno));
	else
		d->offset += n;
	flock(d->fd, LOCK_UN);
	remember(d, note, now);
	forget_noted(d, note);
}

/* Rewrite the file without the entries older than the window. */
static void
compact(struct dedup *d)
{
	char *tmp;
	FILE *fp;
	time_t now = time(NULL);
	size_t live = 0;
	int fd;

	for (size_t i = 0; i < d->nslots; i++)
		live += d->table[i].key[0] != '\0' &&
		    now - d->table[i].when < d->window;
	if (live * 2 + 1000 > d->count)
		return;
	if (asprintf(&tmp, "%s.new", d->path) == -1)
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fp = fd != -1 ? fdopen(fd, "w") : NULL;
	if (fp != NULL) {
		for (size_t i = 0; i < d->nslots; i++)
			if (d->table[i].key[0] != '\0' &&
			    now - d->table[i].when < d->window)
				fprintf(fp, "%s %lld\n", d->table[i].key,
				    (long long)d->table[i].when);
		if (fflush(fp) == 0 && fsync(fileno(fp)) == 0)
			rename(tmp, d->path);
		fclose(fp);
	}
	unlink(tmp);
	free(tmp);
}

static void
fini(void *state)
{
	struct dedup *d = state;

	if (own_descriptor(d) == 0 && flock(d->fd, LOCK_EX | LOCK_NB) == 0) {
		if (catch_up(d) == 0)
			compact(d);
		flock(d->fd, LOCK_UN);
	}
	close(d->fd);
	free(d->noted);
	free(d->table);
	free(d->path);
	free(d);
}

MAILFERRY_PLUGIN(
	.name = "dedup",
	.version = "1.0",
	.init = init,
	.filter = filter,
	.delivered = delivered,
	.fini = fini,
);
