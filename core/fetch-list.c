/* The listing of the selected mailbox: see fetch-list.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch-list.h"
#include "log.h"
#include "xmalloc.h"

void
listing_init(struct listing *l, const char *account)
{
	*l = (struct listing){ .account = account };
}

void
listing_clear(struct listing *l)
{
	const char *account = l->account;

	strtab_free(&l->uids);
	free(l->msgs);
	listing_init(l, account);
}

int
listing_prefix(const char *name, uint32_t validity, char *buf, size_t size)
{
	size_t o = 0;
	int n;

	buf[0] = '\0';
	if (name == NULL)
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0';
	    p++) {
		bool plain = *p >= 0x21 && *p <= 0x7e && *p != '%' &&
		    *p != ':';

		if (o + (plain ? 1 : 3) >= size)
			goto too_long;
		if (plain)
			buf[o++] = (char)*p;
		else
			o += (size_t)snprintf(buf + o, size - o, "%%%02X", *p);
	}
	n = snprintf(buf + o, size - o, ":%" PRIu32 ":", validity);
	if (n < 0 || (size_t)n >= size - o)
		goto too_long;
	return 0;
too_long:
	buf[0] = '\0';
	return -1;
}

void
listing_set_prefix(struct listing *l, const char *prefix)
{
	snprintf(l->prefix, sizeof l->prefix, "%s", prefix);
}

struct server_msg *
listing_add(struct listing *l, unsigned num, const char *label,
    struct err *e)
{
	if (l->n == MAX_MESSAGES) {
		err_set(e, ERR_TEMP, "%s: the server lists more than %d "
		    "messages", label, MAX_MESSAGES);
		return NULL;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->msgs = xreallocarray(l->msgs, l->cap, sizeof *l->msgs);
	}
	l->msgs[l->n] = (struct server_msg){ .num = num, .uid = STRTAB_NONE };
	return &l->msgs[l->n++];
}

bool
listing_set_uid(struct listing *l, struct server_msg *sm, const char *uid,
    size_t len)
{
	char key[UID_MAX_LEN + 1];
	size_t plen = strlen(l->prefix);

	if (plen == 0) {
		if (!uid_valid(uid, len))
			return false;
		sm->uid = strtab_add(&l->uids, uid, len);
		return true;
	}
	if (len > UID_MAX_LEN - plen || !uid_valid(uid, len))
		return false;
	memcpy(key, l->prefix, plen);
	memcpy(key + plen, uid, len);
	sm->uid = strtab_add(&l->uids, key, plen + len);
	return true;
}

struct server_msg *
listing_find_in(const struct listing *l, size_t n, unsigned num)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (l->msgs[mid].num == num)
			return &l->msgs[mid];
		if (l->msgs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct server_msg *
listing_find(const struct listing *l, unsigned num)
{
	return listing_find_in(l, l->n, num);
}

static int
compare_num(const void *a, const void *b)
{
	const struct server_msg *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

void
listing_sort(struct listing *l)
{
	size_t o = 0;

	for (size_t i = 1; i < l->n; i++)
		if (l->msgs[i - 1].num >= l->msgs[i].num)
			goto unsorted;
	return;
unsorted:
	qsort(l->msgs, l->n, sizeof *l->msgs, compare_num);
	for (size_t i = 0; i < l->n; i++) {
		if (o > 0 && l->msgs[o - 1].num == l->msgs[i].num)
			continue;
		l->msgs[o++] = l->msgs[i];
	}
	if (o != l->n)
		log_warn("%s: the server listed some messages twice",
		    l->account);
	l->n = o;
}

void
listing_keep_listed(struct listing *l)
{
	size_t kept = 0;

	for (size_t i = 0; i < l->n; i++)
		if (l->msgs[i].listed)
			l->msgs[kept++] = l->msgs[i];
	l->n = kept;
}

static int
compare_uid(const void *a, const void *b, void *arg)
{
	const struct listing *l = arg;
	const struct server_msg *const *x = a, *const *y = b;

	return strcmp(listing_uid(l, *x), listing_uid(l, *y));
}

/* What listing_drop_repeated_uids() found, told in one warning however
 * many there are: a hostile server can repeat a million UIDs. */
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

void
listing_drop_repeated_uids(struct listing *l)
{
	struct server_msg **v = xcalloc(l->n + 1, sizeof *v);
	struct repeats rp = { 0 };
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		if (l->msgs[i].uid != STRTAB_NONE)
			v[n++] = &l->msgs[i];
	qsort_r(v, n, sizeof *v, compare_uid, l);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && strcmp(listing_uid(l, v[i]),
		    listing_uid(l, v[j])) == 0)
			j++;
		if (j - i > 1) {
			note_repeat(&rp, listing_uid(l, v[i]), j - i);
			for (size_t k = i; k < j; k++)
				v[k]->uid = STRTAB_NONE;
		}
		i = j;
	}
	free(v);
	if (rp.uids > 0)
		log_warn("%s: %zu UID%s shared by several messages (%zu "
		    "messages), which are treated as having none: %s%s",
		    l->account, rp.uids, rp.uids == 1 ? " is" : "s are",
		    rp.messages, rp.examples, rp.uids > 3 ? " and more" : "");
}

