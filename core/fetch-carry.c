/* What a broken session hands to the next one: see fetch-carry.h. */
#include <stdlib.h>
#include <string.h>

#include "fetch-carry.h"
#include "xmalloc.h"

static const char *
carried_uid(const struct carry *c, const struct carried *cd)
{
	return strtab_get(&c->uids, cd->uid);
}

static int
compare_carried(const void *a, const void *b, void *arg)
{
	return strcmp(carried_uid(arg, a), carried_uid(arg, b));
}

const struct carried *
carry_find(const struct carry *c, const char *uid)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(uid, carried_uid(c, &c->v[mid]));

		if (cmp == 0)
			return &c->v[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void
add(struct carry *to, const char *uid, bool rule_delete)
{
	to->v[to->n++] = (struct carried){ .rule_delete = rule_delete,
	    .uid = strtab_add(&to->uids, uid, strlen(uid)) };
}

void
carry_save(struct carry *c, const struct listing *l,
    const struct uidstore *store)
{
	size_t plen = strlen(l->prefix);
	struct carry next = { 0 };

	if (!l->complete)
		return;
	next.v = xcalloc(c->n + l->n + 1, sizeof *next.v);
	for (size_t i = 0; i < c->n && plen > 0; i++)
		if (strncmp(carried_uid(c, &c->v[i]), l->prefix, plen) != 0)
			add(&next, carried_uid(c, &c->v[i]),
			    c->v[i].rule_delete);
	for (size_t i = 0; i < l->n; i++) {
		const struct server_msg *sm = &l->msgs[i];
		const char *uid = listing_uid(l, sm);

		if (sm->handled && uid != NULL && !uidstore_known(store, uid))
			add(&next, uid, sm->rule_delete);
	}
	carry_free(c);
	c->v = next.v;
	c->n = next.n;
	c->uids = next.uids;
	qsort_r(c->v, c->n, sizeof *c->v, compare_carried, c);
}

void
carry_free(struct carry *c)
{
	free(c->v);
	strtab_free(&c->uids);
	c->v = NULL;
	c->n = 0;
}
