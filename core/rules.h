/*
 * The rule engine: an account's rules (config-rules.h) run in order on
 * each new message; the first that ends processing decides, and a
 * message no rule ends goes to the account's `deliver`. A rule's plugin
 * is called through the message view (msgview.h), so the engine needs
 * nothing of plugin.c.
 */
#ifndef MF_RULES_H
#define MF_RULES_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "config-rules.h"
#include "msg.h"
#include "msgview.h"
#include "regex.h"

enum verdict_kind {
	VERDICT_DELIVER,
	VERDICT_DELETE,
	VERDICT_SKIP,
	VERDICT_DEFER,
};

struct verdict {
	enum verdict_kind	 kind;
	struct destination	**dests;	/* VERDICT_DELIVER */
	size_t			 ndests;
	const struct rule	*rule;		/* the rule that decided */
	char			 why[512];	/* VERDICT_DEFER, or a warning */
};

/* Reports, for --test-message and -v, what each rule did. */
struct rules_trace {
	void	(*line)(void *arg, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
	void	*arg;
};

/*
 * Run the account's rules on the message. `pm` is the plugin view of the
 * message (account, UID, size on the server). Never fails: a rule that
 * cannot be evaluated (a regex over its match limit) ends processing with
 * delivery to the account's destinations and a warning in v->why; a
 * plugin failure is a deferral.
 */
void rules_run(const struct account *a, struct mf_message *pm,
    struct verdict *v, const struct rules_trace *trace);

/* Do the account's rules ever need more than the header (a body
 * condition, or a plugin, which may read anything)? */
bool rules_need_body(const struct account *a);
/* Can the account's rules keep a message from being delivered (delete,
 * skip)? Only then is looking at headers first worth it. */
bool rules_can_drop(const struct account *a);

#endif
