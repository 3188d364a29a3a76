/* What the server holds (LIST, UIDL), and what to do with each message. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch-internal.h"
#include "log.h"
#include "pop3-listing.h"
#include "pop3.h"
#include "setaside.h"
#include "xmalloc.h"

static struct server_msg *
bsearch_msg(struct server_msg *msgs, size_t n, unsigned num)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (msgs[mid].num == num)
			return &msgs[mid];
		if (msgs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct server_msg *
fetch_find_msg(struct fetch *f, unsigned num)
{
	return bsearch_msg(f->msgs, f->nmsgs, num);
}

static int
compare_num(const void *a, const void *b)
{
	const struct server_msg *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

static struct server_msg *
add_msg(struct fetch *f, unsigned num, struct err *e)
{
	if (f->nmsgs == MAX_MESSAGES) {
		err_set(e, ERR_TEMP, "%s: the server lists more than %d "
		    "messages", f->p->conn->label, MAX_MESSAGES);
		return NULL;
	}
	if (f->nmsgs == f->capmsgs) {
		f->capmsgs = f->capmsgs ? f->capmsgs * 2 : 256;
		f->msgs = xreallocarray(f->msgs, f->capmsgs, sizeof *f->msgs);
	}
	f->msgs[f->nmsgs] = (struct server_msg){ .num = num,
	    .uid = STRTAB_NONE };
	return &f->msgs[f->nmsgs++];
}

/* Sort by number (servers list in order; a hostile one may not) and
 * drop repeated numbers. */
static void
sort_msgs(struct fetch *f)
{
	size_t o = 0;

	for (size_t i = 1; i < f->nmsgs; i++)
		if (f->msgs[i - 1].num >= f->msgs[i].num)
			goto unsorted;
	return;
unsorted:
	qsort(f->msgs, f->nmsgs, sizeof *f->msgs, compare_num);
	for (size_t i = 0; i < f->nmsgs; i++) {
		if (o > 0 && f->msgs[o - 1].num == f->msgs[i].num)
			continue;
		f->msgs[o++] = f->msgs[i];
	}
	if (o != f->nmsgs)
		log_warn("%s: the server listed some messages twice",
		    f->a->name);
	f->nmsgs = o;
}

/* LIST: the size of every message (adding any UIDL did not name). */
static int
read_list(struct fetch *f, struct err *e)
{
	size_t from_uidl = f->nmsgs;
	struct pop3_reply r;
	bool end;

	if (pop3_reply(f->p, &r, e) == -1)
		return -1;
	if (!r.ok)
		return pop3_fail(f->p, &r, "LIST failed", ERR_TEMP, e);
	for (;;) {
		struct server_msg *sm;
		char *line;
		size_t len;
		unsigned num;
		uint64_t size;

		if (pop3_listing_line(f->p, &line, &len, &end, e) == -1)
			return -1;
		if (end)
			break;
		if (pop3_parse_list_line(line, len, &num, &size) == -1) {
			char shown[120];

			log_escape(shown, sizeof shown, line, len);
			return err_set(e, ERR_TEMP, "%s: garbled LIST line "
			    "\"%s\"", f->p->conn->label, shown);
		}
		/* UIDL's messages are sorted: look them up; others are
		 * new to us and added at the end. */
		sm = bsearch_msg(f->msgs, from_uidl, num);
		if (sm == NULL && (sm = add_msg(f, num, e)) == NULL)
			return -1;
		sm->size = (off_t)size;
		sm->listed = true;
	}
	sort_msgs(f);
	return 0;
}

static int
compare_uid(const void *a, const void *b, void *arg)
{
	const struct fetch *f = arg;
	const struct server_msg *const *x = a, *const *y = b;

	return strcmp(fetch_uid(f, *x), fetch_uid(f, *y));
}

/* What drop_repeated_uids() found, told in one warning however many
 * there are: a hostile server can repeat a million UIDs. */
struct repeats {
	size_t	 uids, messages;
	char	 examples[256];
	size_t	 len;
};

static void
note_repeat(struct repeats *rp, const char *uid, size_t n)
{
	char shown[48];

	rp->uids++;
	rp->messages += n;
	if (rp->uids > 3 || rp->len >= sizeof rp->examples)
		return;
	log_escape(shown, sizeof shown, uid, strlen(uid));
	rp->len += (size_t)snprintf(rp->examples + rp->len,
	    sizeof rp->examples - rp->len, "%s\"%s%s\" (%zu)",
	    rp->uids > 1 ? ", " : "", shown,
	    strlen(shown) < strlen(uid) ? "..." : "", n);
}

/* A UID carried by several messages identifies none of them. */
static void
drop_repeated_uids(struct fetch *f)
{
	struct server_msg **v = xcalloc(f->nmsgs + 1, sizeof *v);
	struct repeats rp = { 0 };
	size_t n = 0;

	for (size_t i = 0; i < f->nmsgs; i++)
		if (f->msgs[i].uid != STRTAB_NONE)
			v[n++] = &f->msgs[i];
	qsort_r(v, n, sizeof *v, compare_uid, f);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && strcmp(fetch_uid(f, v[i]), fetch_uid(f, v[j]))
		    == 0)
			j++;
		if (j - i > 1) {
			note_repeat(&rp, fetch_uid(f, v[i]), j - i);
			for (size_t k = i; k < j; k++)
				v[k]->uid = STRTAB_NONE;
		}
		i = j;
	}
	free(v);
	if (rp.uids > 0)
		log_warn("%s: %zu UID%s shared by several messages (%zu "
		    "messages), which are treated as having none: %s%s",
		    f->a->name, rp.uids, rp.uids == 1 ? " is" : "s are",
		    rp.messages, rp.examples, rp.uids > 3 ? " and more" : "");
}

/* UIDL: every message and its UID. Returns 0 with *have_uidl false when
 * the server does not do UIDL. */
static int
read_uidl(struct fetch *f, bool *have_uidl, struct err *e)
{
	struct pop3_reply r;
	unsigned bad = 0;
	char first_bad[80];
	bool end;

	*have_uidl = false;
	if (pop3_reply(f->p, &r, e) == -1)
		return -1;
	if (!r.ok) {
		/* A server that has UIDL (it says so, or gives a reason
		 * such as [SYS/TEMP]) failed to answer: try again later,
		 * never fall back to fetching without UIDs. */
		if ((f->p->caps & POP3_CAP_UIDL) || r.code[0] != '\0')
			return pop3_fail(f->p, &r, "UIDL failed", ERR_TEMP, e);
		f->no_uidl = true;
		/* With keep, fetch_plan() says what this means. */
		if (!f->a->keep)
			log_warn("%s: the server does not support UIDL; messages "
			    "are fetched and deleted without being tracked",
			    f->a->name);
		return 0;
	}
	for (;;) {
		struct server_msg *sm;
		const char *uid;
		char *line;
		size_t len, uidlen;
		unsigned num;
		enum uidl_line kind;

		if (pop3_listing_line(f->p, &line, &len, &end, e) == -1)
			return -1;
		if (end)
			break;
		kind = pop3_parse_uidl_line(line, len, &num, &uid, &uidlen);
		if (kind != UIDL_LINE_OK && bad++ == 0)
			log_escape(first_bad, sizeof first_bad, line, len);
		if (kind == UIDL_LINE_BAD_NUMBER)
			continue;
		if ((sm = add_msg(f, num, e)) == NULL)
			return -1;
		/* Odd UIDs make only their message untrackable. */
		if (kind == UIDL_LINE_OK)
			sm->uid = strtab_add(&f->uids, uid, uidlen);
	}
	if (bad > 0)
		log_warn("%s: %u UIDL lines were unusable (odd UIDs or "
		    "numbers, such as \"%s\"); those messages are treated as "
		    "having no UID", f->a->name, bad, first_bad);
	sort_msgs(f);
	*have_uidl = true;
	return 0;
}

/*
 * Sizes are needed only for new messages (max_size, size_over, and
 * bounding what a server may send), and to see every message when UIDL
 * did not name them all: a run with nothing new does without LIST.
 */
static bool
need_list(struct fetch *f, bool have_uidl, uint64_t count)
{
	if (!have_uidl || f->nmsgs != count)
		return true;
	for (size_t i = 0; i < f->nmsgs; i++) {
		struct server_msg *sm = &f->msgs[i];

		/* Numbers run 1..n (RFC 1939): a gap is a message UIDL did
		 * not name. */
		if (sm->num != i + 1 || sm->uid == STRTAB_NONE ||
		    !uidstore_known(f->store, fetch_uid(f, sm)))
			return true;
	}
	return false;
}

/* STAT: how many messages there are, to know whether UIDL named them
 * all. */
static int
read_stat(struct fetch *f, uint64_t *count, struct err *e)
{
	struct pop3_reply r;

	if (pop3_reply(f->p, &r, e) == -1)
		return -1;
	if (!r.ok)
		return pop3_fail(f->p, &r, "STAT failed", ERR_TEMP, e);
	if (pop3_parse_stat(r.text, MAX_MESSAGES, count) == -1)
		return err_set(e, ERR_TEMP, "%s: garbled STAT reply \"%.60s\" "
		    "(or more than %d messages)", f->p->conn->label, r.text,
		    MAX_MESSAGES);
	return 0;
}

int
fetch_list_messages(struct fetch *f, struct err *e)
{
	bool pipelining = f->p->caps & POP3_CAP_PIPELINING;
	uint64_t count;
	bool have_uidl;

	pop3_send(f->p, POP3_STAT, 0, "STAT", SIZE_MAX);
	if (pipelining)
		pop3_send(f->p, POP3_UIDL, 0, "UIDL", SIZE_MAX);
	if (read_stat(f, &count, e) == -1)
		return -1;
	if (!pipelining)
		pop3_send(f->p, POP3_UIDL, 0, "UIDL", SIZE_MAX);
	if (read_uidl(f, &have_uidl, e) == -1)
		return -1;
	if (need_list(f, have_uidl, count)) {
		pop3_send(f->p, POP3_LIST, 0, "LIST", SIZE_MAX);
		if (read_list(f, e) == -1)
			return -1;
		/* Named by UIDL but not by LIST: not a message. */
		size_t kept = 0;

		for (size_t i = 0; i < f->nmsgs; i++)
			if (f->msgs[i].listed)
				f->msgs[kept++] = f->msgs[i];
		f->nmsgs = kept;
	}
	drop_repeated_uids(f);
	f->listed = true;
	return 0;
}

/*
 * Messages whose fetch broke an earlier session (a connection lost in
 * the middle of one, say) go to the end of the line: they are still
 * tried, but no longer hold back everything after them.
 */
static void
last_the_troublesome(struct fetch *f, uint32_t *list, size_t n)
{
	uint32_t *later = xcalloc(n + 1, sizeof *later);
	size_t o = 0, nlater = 0;

	for (size_t i = 0; i < n; i++) {
		const char *uid = fetch_uid(f, &f->msgs[list[i]]);

		if (uid != NULL && uidstore_is_troublesome(f->store, uid))
			later[nlater++] = list[i];
		else
			list[o++] = list[i];
	}
	memcpy(list + o, later, nlater * sizeof *later);
	free(later);
}

static const char *
carried_uid(const struct fetch *f, const struct carried *c)
{
	return strtab_get(&f->carried_uids, c->uid);
}

static int
compare_carried(const void *a, const void *b, void *arg)
{
	return strcmp(carried_uid(arg, a), carried_uid(arg, b));
}

static const struct carried *
find_carried(const struct fetch *f, const char *uid)
{
	size_t lo = 0, hi = f->ncarried;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(uid, carried_uid(f, &f->carried[mid]));

		if (c == 0)
			return &f->carried[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void
fetch_carry_over(struct fetch *f)
{
	struct strtab uids = { 0 };
	struct carried *c;
	size_t n = 0;

	/* Without a whole listing, keep what the last one showed. */
	if (!f->listed)
		return;
	c = xcalloc(f->nmsgs + 1, sizeof *c);
	for (size_t i = 0; i < f->nmsgs; i++) {
		const struct server_msg *sm = &f->msgs[i];
		const char *uid = fetch_uid(f, sm);

		if (!sm->handled || uid == NULL ||
		    uidstore_known(f->store, uid))
			continue;
		c[n++] = (struct carried){ .rule_delete = sm->rule_delete,
		    .uid = strtab_add(&uids, uid, strlen(uid)) };
	}
	free(f->carried);
	strtab_free(&f->carried_uids);
	f->carried = c;
	f->ncarried = n;
	f->carried_uids = uids;
	qsort_r(f->carried, n, sizeof *c, compare_carried, f);
}

static enum plan
plan_known(struct fetch *f, time_t fetched, bool skipped)
{
	const struct account *a = f->a;

	if (skipped)
		return PLAN_NONE;
	if (!a->keep || (a->keep_days > 0 &&
	    f->now - fetched >= (time_t)a->keep_days * 86400))
		return PLAN_DELETE;
	return PLAN_NONE;
}

/* What this session does with one listed message. */
static enum plan
decide(struct fetch *f, struct server_msg *sm, char *why, size_t whylen)
{
	const struct account *a = f->a;
	const char *uid = fetch_uid(f, sm);
	const struct carried *c;
	time_t fetched;
	bool skipped;

	if (uid != NULL && uidstore_recall(f->store, uid, &fetched, &skipped))
		return plan_known(f, fetched, skipped);
	if (uid != NULL && (c = find_carried(f, uid)) != NULL) {
		sm->handled = true;
		sm->rule_delete = c->rule_delete;
		return c->rule_delete ? PLAN_RULE_DELETE : PLAN_NONE;
	}
	/* After a reconnect, a message without a UID cannot be told from
	 * one an earlier session delivered. */
	if (uid == NULL && (a->keep || f->sessions > 1))
		return PLAN_NO_UID;
	if (a->max_size > 0 && sm->size > a->max_size)
		return PLAN_TOO_BIG;
	if (uid != NULL && setaside_check(f->store, a, uid, why, whylen))
		return PLAN_SET_ASIDE;
	return f->dest_failed ? PLAN_NONE : PLAN_FETCH;
}

/* The first session counts and reports; later ones see the same. */
static void
count_plan(struct fetch *f, const struct server_msg *sm, const char *why)
{
	switch (sm->plan) {
	case PLAN_FETCH:
		f->st.new++;
		break;
	case PLAN_TOO_BIG:
		f->st.too_big++;
		if (log_enabled(LOG_VERBOSE))
			log_verbose("%s: message %u (UID %s, %jd bytes) is over "
			    "max_size; left on the server", f->a->name, sm->num,
			    fetch_uid_shown(f, sm), (intmax_t)sm->size);
		break;
	case PLAN_NO_UID:
		f->st.no_uid++;
		break;
	case PLAN_SET_ASIDE:
		f->st.set_aside++;
		log_warn("%s: message %u (UID %s) is set aside and left on the "
		    "server: %s", f->a->name, sm->num, fetch_uid(f, sm), why);
		break;
	default:
		break;
	}
}

static void
fill_queues(struct fetch *f)
{
	for (size_t i = 0; i < f->nmsgs; i++) {
		switch (f->msgs[i].plan) {
		case PLAN_FETCH:
			if (f->prefilter)
				fetch_queue_push(f->top_list, &f->ntop,
				    f->cap_top, i);
			else
				fetch_queue_push(f->fetch_list, &f->nfetch,
				    f->cap_fetch, i);
			break;
		case PLAN_DELETE:
		case PLAN_RULE_DELETE:
			if (!f->opt->dry_run)
				fetch_queue_delete(f, i);
			break;
		default:
			break;
		}
	}
}

/*
 * fetch_limit: the first new messages in fetching order are fetched, the
 * others are left alone (unrecorded) and wait for the next run. After a
 * reconnect, what the earlier sessions of the run took counts too.
 */
static void
apply_fetch_limit(struct fetch *f, uint32_t *list, size_t *n)
{
	size_t limit = (size_t)f->a->fetch_limit, done;

	if (limit == 0)
		return;
	done = (size_t)f->st.delivered + f->st.deleted_by_rules +
	    f->st.skipped + f->st.failed;
	limit = done < limit ? limit - done : 0;
	if (*n <= limit)
		return;
	for (size_t i = limit; i < *n; i++)
		f->msgs[list[i]].plan = PLAN_NONE;
	if (f->sessions <= 1) {
		log_info("%s: fetch_limit %d: %zu more new messages wait for "
		    "the next run", f->a->name, f->a->fetch_limit, *n - limit);
		f->st.new -= (unsigned)(*n - limit);
	}
	*n = limit;
}

/*
 * Messages left on the server for want of a UID. A server without UIDL
 * at all, with keep = true, means nothing is ever fetched: said even
 * under -q, since that is how cron runs it.
 */
static void
warn_no_uid(struct fetch *f)
{
	if (f->no_uidl)
		log_warn_always("%s: the server does not support UIDL, so with "
		    "keep = true its %u messages cannot be tracked and none "
		    "is fetched; set keep = false to fetch them and delete "
		    "them from the server", f->a->name, f->st.no_uid);
	else
		log_warn("%s: %u messages without a usable UID left on the "
		    "server (with keep = true they cannot be tracked)",
		    f->a->name, f->st.no_uid);
}

/* Decide, for every listed message, what this run does with it. */
void
fetch_plan(struct fetch *f)
{
	bool first = f->sessions <= 1;
	size_t nnew = 0, ndel = 0;
	char why[512];

	uidstore_unkeep_all(f->store);
	for (size_t i = 0; i < f->nmsgs; i++) {
		struct server_msg *sm = &f->msgs[i];

		if (sm->uid != STRTAB_NONE)
			uidstore_keep_partials(f->store, fetch_uid(f, sm));
		sm->plan = decide(f, sm, why, sizeof why);
		if (first)
			count_plan(f, sm, why);
		nnew += sm->plan == PLAN_FETCH;
		ndel += sm->plan == PLAN_DELETE || sm->plan == PLAN_RULE_DELETE;
	}
	/* Queues as long as they can get: a new message may be fetched
	 * (once whole, maybe after TOP) and deleted; a known one deleted. */
	f->cap_fetch = nnew;
	f->cap_top = f->prefilter ? nnew : 0;
	f->cap_delete = nnew + ndel;
	f->fetch_list = xcalloc(f->cap_fetch + 1, sizeof *f->fetch_list);
	f->top_list = xcalloc(f->cap_top + 1, sizeof *f->top_list);
	f->delete_queue = xcalloc(f->cap_delete + 1,
	    sizeof *f->delete_queue);
	fill_queues(f);
	if (first && f->st.no_uid > 0)
		warn_no_uid(f);
	last_the_troublesome(f, f->fetch_list, f->nfetch);
	last_the_troublesome(f, f->top_list, f->ntop);
	/* Only one of the two holds new messages at this point. */
	apply_fetch_limit(f, f->fetch_list, &f->nfetch);
	apply_fetch_limit(f, f->top_list, &f->ntop);
}
