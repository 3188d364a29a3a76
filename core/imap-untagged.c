#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-internal.h"
#include "log.h"

/* What a server may send in one ESEARCH answer, at most. */
#define SEARCH_RESULTS_MAX	10000000

/* ---- capabilities ------------------------------------------------------ */

static unsigned
cap_flag(const char *word, size_t len)
{
	static const struct {
		const char	*name;
		unsigned	 flag;
	} known[] = {
		{ "IMAP4REV1", IMAP_CAP_IMAP4REV1 },
		{ "IMAP4REV2", IMAP_CAP_IMAP4REV2 },
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
		{ "UTF8=ONLY", IMAP_CAP_UTF8_ACCEPT },
		{ "AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN },
		{ "AUTH=LOGIN", IMAP_CAP_AUTH_LOGIN },
		{ "AUTH=XOAUTH2", IMAP_CAP_AUTH_XOAUTH2 },
		{ "AUTH=OAUTHBEARER", IMAP_CAP_AUTH_OAUTHBEARER },
		{ "ESEARCH", IMAP_CAP_ESEARCH },
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i].name) == len &&
		    strncasecmp(word, known[i].name, len) == 0)
			return known[i].flag;
	return 0;
}

/* A new list replaces the old one (RFC 3501 7.2.1). */
static void
caps_from_text(struct imap *im, const char *s)
{
	im->caps = im->caps_implied;
	while (*s != '\0') {
		size_t len = strcspn(s, " ");

		im->caps |= cap_flag(s, len);
		s += len;
		s += strspn(s, " ");
	}
	im->caps_known = true;
}

static void
caps_from_items(struct imap *im, const struct imap_item *it)
{
	im->caps = im->caps_implied;
	for (; it != NULL; it = it->next)
		if (it->type == IMAP_ATOM)
			im->caps |= cap_flag(it->s, it->len);
	im->caps_known = true;
}

/* ENABLED (RFC 5161): IMAP4rev2 brings UIDPLUS, MOVE, IDLE and LITERAL-
 * into the base protocol; it and UTF8=ACCEPT make mailbox names UTF-8. */
static void
enabled(struct imap *im, const struct imap_item *it)
{
	for (; it != NULL; it = it->next) {
		if (imap_item_is(it, "IMAP4rev2")) {
			im->utf8 = true;
			im->caps_implied |= IMAP_CAP_UIDPLUS | IMAP_CAP_MOVE |
			    IMAP_CAP_IDLE | IMAP_CAP_LITERALMINUS;
			im->caps |= im->caps_implied;
		} else if (imap_item_is(it, "UTF8=ACCEPT"))
			im->utf8 = true;
	}
}

/* ---- status responses -------------------------------------------------- */

/* UIDVALIDITY and UIDNEXT count only in answer to SELECT or EXAMINE; a
 * different UIDVALIDITY at any other time would make every UID we hold
 * name another message. */
static int
folder_code(struct imap *im, const struct imap_resp *r, struct err *e)
{
	struct imap_item it = { .type = IMAP_ATOM, .s = r->code_args,
	    .len = strlen(r->code_args) };
	bool selecting = imap_cmd_pending(im, IMAP_CMD_SELECT) ||
	    imap_cmd_pending(im, IMAP_CMD_EXAMINE);
	uint32_t n;

	if (!imap_item_u32(&it, &n))
		return 0;
	if (strcmp(r->code, "UIDNEXT") == 0) {
		if (selecting)
			im->folder.uidnext = n;
		return 0;
	}
	if (selecting)
		im->folder.uidvalidity = n;
	else if (im->selected && n != im->folder.uidvalidity)
		return err_set(e, ERR_TEMP, "%s: the server changed the "
		    "folder's UIDVALIDITY during the session", im->conn->label);
	return 0;
}

int
imap_status_code(struct imap *im, const struct imap_resp *r, struct err *e)
{
	const char *code = r->code;
	char shown[600];

	if (strcmp(code, "ALERT") == 0) {
		/* RFC 3501 7.1: the user must see it, even under -q. */
		log_escape(shown, sizeof shown, r->text, strlen(r->text));
		log_warn_always("%s: alert from the server: %s", im->conn->label,
		    shown);
	} else if (strcmp(code, "CAPABILITY") == 0)
		caps_from_text(im, r->code_args);
	else if (strcmp(code, "UIDVALIDITY") == 0 ||
	    strcmp(code, "UIDNEXT") == 0)
		return folder_code(im, r, e);
	else if (strcmp(code, "READ-ONLY") == 0)
		im->folder.read_only = true;
	else if (strcmp(code, "READ-WRITE") == 0)
		im->folder.read_only = false;
	return 0;
}

static int
untagged_status(struct imap *im, const struct imap_resp *r, struct err *e)
{
	char shown[600];

	if (imap_status_code(im, r, e) == -1)
		return -1;
	log_escape(shown, sizeof shown, r->text, strlen(r->text));
	switch (r->status) {
	case IMAP_ST_BYE:
		im->bye = true;
		if (im->logging_out)
			return 0;
		return err_set(e, ERR_TEMP, "%s: the server ended the "
		    "session: BYE %s", im->conn->label, shown);
	case IMAP_ST_NO:
		if (strcmp(r->code, "ALERT") != 0)
			log_info("%s: warning from the server: %s",
			    im->conn->label, shown);
		return 0;
	case IMAP_ST_BAD:
		log_info("%s: the server reports a protocol error: %s",
		    im->conn->label, shown);
		return 0;
	default:
		return 0;
	}
}

/* ---- searches ----------------------------------------------------------- */

/* How many messages "1:3,7,9:12" names (RFC 4731 ESEARCH ALL); -1 when
 * it is not a set. */
static int
set_size(const char *s, uint64_t *count)
{
	*count = 0;
	while (*s != '\0') {
		char *end;
		unsigned long lo = strtoul(s, &end, 10), hi = lo;

		if (end == s || lo == 0 || lo > UINT32_MAX)
			return -1;
		if (*end == ':') {
			s = end + 1;
			hi = strtoul(s, &end, 10);
			if (end == s || hi == 0 || hi > UINT32_MAX)
				return -1;
		}
		*count += (lo > hi ? lo - hi : hi - lo) + 1;
		if (*end != ',' && *end != '\0')
			return -1;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* SEARCH (RFC 3501) and ESEARCH (RFC 4731): only how many messages
 * they name is kept. */
static int
search(struct imap *im, const struct imap_resp *r, struct err *e)
{
	const struct imap_item *it;
	uint64_t n;
	uint32_t uid;

	for (it = r->args; it != NULL; it = it->next) {
		if (strcmp(r->name, "SEARCH") == 0) {
			if (!imap_item_u32(it, &uid))
				goto bad;
			im->search_hits++;
			continue;
		}
		if (imap_item_is(it, "COUNT") || imap_item_is(it, "ALL")) {
			if (it->next == NULL || it->next->type != IMAP_ATOM)
				goto bad;
			if (imap_item_is(it, "COUNT") ?
			    !imap_item_u64(it->next, &n) :
			    set_size(it->next->s, &n) == -1)
				goto bad;
			im->search_hits += n;
			it = it->next;
		}
	}
	return 0;
bad:
	return err_set(e, ERR_TEMP, "%s: malformed %s response",
	    im->conn->label, r->name);
}

/* ---- FETCH -------------------------------------------------------------- */

static unsigned
parse_flags(const struct imap_item *list)
{
	static const struct {
		const char	*name;
		unsigned	 flag;
	} known[] = {
		{ "\\Seen", IMAP_FLAG_SEEN },
		{ "\\Answered", IMAP_FLAG_ANSWERED },
		{ "\\Flagged", IMAP_FLAG_FLAGGED },
		{ "\\Deleted", IMAP_FLAG_DELETED },
		{ "\\Draft", IMAP_FLAG_DRAFT },
	};
	unsigned flags = 0;

	if (list->type != IMAP_LIST)
		return 0;
	for (const struct imap_item *it = list->child; it; it = it->next)
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			if (imap_item_is(it, known[i].name))
				flags |= known[i].flag;
	return flags;
}

/* A message's data has all arrived: check it answers what we asked. */
static int
body_done(struct imap *im, uint32_t uid, struct imap_event *ev,
    struct err *e)
{
	struct imap_pending *t = im->target, *right;

	im->target = NULL;
	if (uid == 0)
		return err_set(e, ERR_TEMP, "%s: the server sent message data "
		    "without its UID", im->conn->label);
	if (uid != t->uid) {
		/* The UID came after the data, and the data was for another
		 * FETCH than the oldest: fine if it went to the same place. */
		right = imap_find_fetch(im, uid, t->section);
		if (right == NULL || right->msg != t->msg)
			return err_set(e, ERR_TEMP, "%s: the server sent "
			    "message UID %" PRIu32 ", which was not asked for",
			    im->conn->label, uid);
		if (msg_size(t->msg) > right->limit)
			return err_set(e, ERR_TEMP, "%s: message UID %" PRIu32
			    " is larger than its limit of %jd bytes",
			    im->conn->label, uid, (intmax_t)right->limit);
		t = right;
	}
	t->got_body = true;
	memset(ev, 0, sizeof *ev);
	ev->kind = IMAP_EV_MESSAGE;
	ev->cmd = IMAP_CMD_FETCH;
	ev->cookie = t->cookie;
	ev->uid = uid;
	ev->section = t->section;
	ev->size = (uint64_t)msg_size(t->msg);
	return 1;
}

static int
fetch(struct imap *im, const struct imap_resp *r, struct imap_event *ev,
    struct err *e)
{
	const struct imap_item *it, *v, *body = NULL;
	uint64_t size = 0;
	uint32_t uid = 0;
	unsigned flags = 0;
	bool has_size = false;

	/* Names and values in pairs: a literal shorter than its data
	 * leaves the rest unpaired. */
	if (r->args == NULL || r->args->type != IMAP_LIST || r->args->next ||
	    r->args->len % 2 != 0)
		return err_set(e, ERR_TEMP, "%s: malformed FETCH response",
		    im->conn->label);
	for (it = r->args->child; it != NULL && (v = it->next) != NULL;
	    it = v->next) {
		if (it->type != IMAP_ATOM)
			return err_set(e, ERR_TEMP, "%s: malformed FETCH "
			    "response", im->conn->label);
		if (v->type == IMAP_BODY)
			body = v;
		else if (imap_item_is(it, "UID") && !imap_item_u32(v, &uid))
			return err_set(e, ERR_TEMP, "%s: bad UID in a FETCH "
			    "response", im->conn->label);
		else if (imap_item_is(it, "RFC822.SIZE"))
			has_size = imap_item_u64(v, &size);
		else if (imap_item_is(it, "FLAGS"))
			flags = parse_flags(v);
	}
	if (body != NULL)
		return body_done(im, uid, ev, e);
	/* Without a size it is a flag change, not the listing. */
	if (im->listing == 0 || uid == 0 || !has_size)
		return 0;
	*ev = (struct imap_event){ .kind = IMAP_EV_LISTED,
	    .cmd = IMAP_CMD_LIST, .uid = uid, .size = size, .flags = flags };
	return 1;
}

/* ---- every untagged response --------------------------------------------- */

int
imap_untagged(struct imap *im, const struct imap_resp *r,
    struct imap_event *ev, struct err *e)
{
	if (r->status != IMAP_ST_NONE)
		return untagged_status(im, r, e);
	if (r->has_num) {
		if (strcmp(r->name, "EXISTS") == 0) {
			if (r->num > im->folder.exists)
				im->new_mail = true;
			im->folder.exists = r->num;
			im->exists_seen = true;
		} else if (strcmp(r->name, "EXPUNGE") == 0) {
			if (im->folder.exists > 0)
				im->folder.exists--;
		} else if (strcmp(r->name, "FETCH") == 0)
			return fetch(im, r, ev, e);
		return 0;
	}
	if (strcmp(r->name, "CAPABILITY") == 0)
		caps_from_items(im, r->args);
	else if (strcmp(r->name, "ENABLED") == 0)
		enabled(im, r->args);
	else if (strcmp(r->name, "SEARCH") == 0 ||
	    strcmp(r->name, "ESEARCH") == 0)
		return search(im, r, e);
	return 0;
}

/* ---- message data ------------------------------------------------------- */

size_t
imap_crlf_to_lf(bool *held_cr, const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;

	if (len > 0 && *held_cr) {
		*held_cr = false;
		if (in[0] != '\n')
			out[o++] = '\r';
	}
	while (i < len) {
		const char *cr = memchr(in + i, '\r', len - i);
		size_t run = cr != NULL ? (size_t)(cr - (in + i)) : len - i;

		memcpy(out + o, in + i, run);
		o += run;
		i += run;
		if (cr == NULL)
			break;
		if (++i == len) {
			*held_cr = true;
			break;
		}
		if (in[i] != '\n')
			out[o++] = '\r';
	}
	return o;
}

static int
section_of(const char *key, enum imap_section *s)
{
	if (strcasecmp(key, "BODY[]") == 0 || strcasecmp(key, "RFC822") == 0)
		*s = IMAP_SECTION_WHOLE;
	else if (strcasecmp(key, "BODY[HEADER]") == 0 ||
	    strcasecmp(key, "RFC822.HEADER") == 0)
		*s = IMAP_SECTION_HEADER;
	else
		return -1;
	return 0;
}

static int
sink_begin(void *arg, const struct imap_body_info *bi, struct err *e)
{
	struct imap *im = arg;
	const char *label = im->conn->label;
	enum imap_section section;
	struct imap_pending *p;

	if (section_of(bi->key, &section) == -1 || im->target != NULL)
		return err_set(e, ERR_TEMP, "%s: the server sent message data "
		    "that was not asked for (%s of message %" PRIu32 ")",
		    label, bi->key, bi->seq);
	p = imap_find_fetch(im, bi->uid, section);
	if (p == NULL)
		return err_set(e, ERR_TEMP, "%s: the server sent message %"
		    PRIu32 " (UID %" PRIu32 "), which was not asked for",
		    label, bi->seq, bi->uid);
	if (bi->nil)
		return err_set(e, ERR_TEMP, "%s: the server has no data for "
		    "message UID %" PRIu32 " (NIL)", label, p->uid);
	if (bi->size > (uint64_t)p->limit) {
		im->too_large = p->uid;
		return err_set(e, ERR_TEMP, "%s: the server announces %" PRIu64
		    " bytes for message UID %" PRIu32 ", more than its limit of "
		    "%jd; giving up on it", label, bi->size, p->uid,
		    (intmax_t)p->limit);
	}
	msg_reset(p->msg);
	im->target = p;
	im->held_cr = false;
	return 0;
}

static int
sink_data(void *arg, const char *p, size_t len, struct err *e)
{
	struct imap *im = arg;
	size_t n = imap_crlf_to_lf(&im->held_cr, p, len, im->decoded);

	return msg_append(im->target->msg, im->decoded, n, e);
}

static int
sink_end(void *arg, struct err *e)
{
	struct imap *im = arg;

	if (im->held_cr && msg_append(im->target->msg, "\r", 1, e) == -1)
		return -1;
	im->held_cr = false;
	msg_finish(im->target->msg);
	return 0;
}

void
imap_sink_setup(struct imap *im, struct imap_sink *sink)
{
	sink->begin = sink_begin;
	sink->data = sink_data;
	sink->end = sink_end;
	sink->arg = im;
}
