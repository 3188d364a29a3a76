/*
 * The dedup plugin (plugins/dedup.c, included here with a small fake
 * host): what makes two messages duplicates, and how it treats its file
 * (locks with a deadline, no planted links, a replaced file followed).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define LOCK_WAIT_MS	300
#include "../../plugins/dedup.c"

#include "xmalloc.h"

struct mf_message {
	const char	*text;
	char		 note[1025];
};

static char *state;

static const char *
fake_state_dir(void)
{
	return state;
}

static size_t
fake_opt_keys(const struct mf_options *o)
{
	(void)o;
	return 0;
}

static const char *
fake_account(const struct mf_message *m)
{
	(void)m;
	return "acct";
}

static int
fake_keeps(const struct mf_message *m)
{
	(void)m;
	return 0;
}

static ssize_t
fake_read(struct mf_message *m, void *buf, size_t len, off_t offset)
{
	size_t size = strlen(m->text);

	if ((size_t)offset >= size)
		return 0;
	if (len > size - (size_t)offset)
		len = size - (size_t)offset;
	memcpy(buf, m->text + offset, len);
	return (ssize_t)len;
}

/* The first value of a field, unfolded enough for these messages. */
static const char *
fake_header_value(struct mf_message *m, const char *name, size_t i,
    int decoded)
{
	static char value[256];
	size_t nlen = strlen(name);

	(void)i;
	(void)decoded;
	for (const char *p = m->text; *p != '\0' && *p != '\n';
	    p = strchr(p, '\n') + 1) {
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1 + strspn(p + nlen + 1, " ");
			size_t vlen = strcspn(v, "\r\n");

			snprintf(value, sizeof value, "%.*s", (int)vlen, v);
			return value;
		}
	}
	return NULL;
}

static int
fake_set_note(struct mf_message *m, const char *note)
{
	snprintf(m->note, sizeof m->note, "%s", note);
	return 0;
}

static void
fake_log(enum mf_log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

static const struct mf_host fake_host = {
	.opt_keys = fake_opt_keys,
	.account = fake_account,
	.account_keeps = fake_keeps,
	.read = fake_read,
	.header_value = fake_header_value,
	.set_note = fake_set_note,
	.log = fake_log,
	.state_dir = fake_state_dir,
};

static int
setup(void **st)
{
	state = xstrdup("/tmp/test-dedup.XXXXXX");
	if (mkdtemp(state) == NULL)
		return -1;
	*st = NULL;
	return 0;
}

static int
teardown(void **st)
{
	char *cmd = xasprintf("rm -rf '%s'", state);
	int rc = system(cmd);

	(void)st;
	free(cmd);
	free(state);
	return rc == 0 ? 0 : -1;
}

static struct dedup *
start(void)
{
	char err[256];
	void *d = NULL;

	assert_int_equal(init(&fake_host, NULL, &d, err, sizeof err), 0);
	return d;
}

static char *
db_path(const char *suffix)
{
	return xasprintf("%s/dedup.db%s", state, suffix);
}

/* Filter m; when let through, deliver it (remember it). */
static enum mf_verdict
pass(struct dedup *d, const char *text)
{
	struct mf_message m = { .text = text };
	char err[256];
	enum mf_verdict v = filter(d, &m, NULL, err, sizeof err);

	if (v == MF_CONTINUE)
		delivered(d, "acct", m.note);
	return v;
}

#define HEAD	"From: a@example.org\nTo: b@example.org\n" \
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: s\n"

static void
test_forged_message_id_drops_nothing(void **st)
{
	struct dedup *d = start();

	(void)st;
	assert_int_equal(pass(d, HEAD "Message-ID: <x@bank>\n\nforged\n"),
	    MF_CONTINUE);
	assert_int_equal(pass(d, HEAD "Message-ID: <x@bank>\n\ngenuine\n"),
	    MF_CONTINUE);
	/* A real copy: trace fields of its own, CRLF line ends. */
	assert_int_equal(pass(d, "Received: from mx by box; now\r\n"
	    "Delivered-To: other@example.net\r\n"
	    "From: a@example.org\r\nTo: b@example.org\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: s\r\n"
	    "Message-ID: <x@bank>\r\n\r\ngenuine\r\n"), MF_DELETE);
	/* Same content, another Message-ID: not the same message. */
	assert_int_equal(pass(d, HEAD "Message-ID: <y@bank>\n\ngenuine\n"),
	    MF_CONTINUE);
	/* No Message-ID: the content alone. */
	assert_int_equal(pass(d, HEAD "\nno id\n"), MF_CONTINUE);
	assert_int_equal(pass(d, "Received: x\n" HEAD "\nno id\n"), MF_DELETE);
	assert_int_equal(pass(d, HEAD "\nno id, other body\n"), MF_CONTINUE);
	fini(d);
}

static void
test_remembered_across_runs(void **st)
{
	struct dedup *d = start();

	(void)st;
	assert_int_equal(pass(d, HEAD "Message-ID: <r@x>\n\nbody\n"),
	    MF_CONTINUE);
	fini(d);
	d = start();
	assert_int_equal(pass(d, HEAD "Message-ID: <r@x>\n\nbody\n"),
	    MF_DELETE);
	fini(d);
}

static void
test_planted_links_are_not_followed(void **st)
{
	char *db = db_path(""), *target = xasprintf("%s/precious", state);
	char err[256], buf[64];
	void *d = NULL;
	FILE *fp;

	(void)st;
	fp = fopen(target, "w");
	fputs("precious\n", fp);
	fclose(fp);
	assert_int_equal(symlink(target, db), 0);
	assert_int_equal(init(&fake_host, NULL, &d, err, sizeof err), -1);
	assert_non_null(strstr(err, db));
	assert_int_equal(unlink(db), 0);
	/* Writable by others: refused too. */
	fp = fopen(db, "w");
	fclose(fp);
	assert_int_equal(chmod(db, 0666), 0);
	assert_int_equal(init(&fake_host, NULL, &d, err, sizeof err), -1);
	assert_int_equal(chmod(db, 0600), 0);
	fp = fopen(target, "r");
	assert_non_null(fgets(buf, sizeof buf, fp));
	fclose(fp);
	assert_string_equal(buf, "precious\n");
	free(db);
	free(target);
}

/* Compaction writes dedup.db.new: a link planted there is removed, not
 * written through. */
static void
test_compaction_does_not_follow_planted_link(void **st)
{
	char *tmp = db_path(".new"), *target = xasprintf("%s/precious", state);
	struct dedup *d = start();
	char buf[64];
	FILE *fp;

	(void)st;
	fp = fopen(target, "w");
	fputs("precious\n", fp);
	fclose(fp);
	assert_int_equal(symlink(target, tmp), 0);
	/* Enough expired entries for fini() to compact. */
	for (int i = 0; i < 1100; i++) {
		char key[KEY_HEX + 1];

		snprintf(key, sizeof key, "%064x", i);
		assert_int_equal(remember(d, key, 1), 0);
	}
	fini(d);
	fp = fopen(target, "r");
	assert_non_null(fgets(buf, sizeof buf, fp));
	fclose(fp);
	assert_string_equal(buf, "precious\n");
	free(tmp);
	free(target);
}

/* Another process holds the lock and does not let go: a deadline, not a
 * wait forever. */
static void
test_lock_wait_has_a_deadline(void **st)
{
	char *db = db_path("");
	struct dedup *d = start();
	struct mf_message m = { .text = HEAD "\nx\n" };
	char err[256];
	int other = open(db, O_RDWR);

	(void)st;
	assert_true(other != -1);
	assert_int_equal(flock(other, LOCK_EX), 0);
	assert_int_equal(filter(d, &m, NULL, err, sizeof err), MF_ERROR);
	assert_non_null(strstr(err, "cannot lock"));
	close(other);
	assert_int_equal(filter(d, &m, NULL, err, sizeof err), MF_CONTINUE);
	fini(d);
	free(db);
}

/* The file was replaced (compacted by another process) since it was
 * opened: what is appended goes to the file now at the path. */
static void
test_replaced_file_is_followed(void **st)
{
	char *db = db_path(""), *tmp = db_path(".other");
	struct dedup *d = start();
	struct mf_message m = { .text = HEAD "Message-ID: <f@x>\n\nf\n" };
	char err[256], line[256];
	FILE *fp;

	(void)st;
	fp = fopen(tmp, "w");
	fclose(fp);
	assert_int_equal(chmod(tmp, 0600), 0);
	assert_int_equal(rename(tmp, db), 0);
	assert_int_equal(filter(d, &m, NULL, err, sizeof err), MF_CONTINUE);
	delivered(d, "acct", m.note);
	fp = fopen(db, "r");
	assert_non_null(fgets(line, sizeof line, fp));
	fclose(fp);
	assert_memory_equal(line, m.note, KEY_HEX);
	fini(d);
	free(db);
	free(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_forged_message_id_drops_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remembered_across_runs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_planted_links_are_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_compaction_does_not_follow_planted_link, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lock_wait_has_a_deadline,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_file_is_followed,
		    setup, teardown),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
