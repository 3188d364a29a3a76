/*
 * Rules (SPEC section 4): run in order on each new message; the first
 * that ends processing decides, and a message no rule ends goes to the
 * account's `deliver`.
 */
#ifndef MF_RULES_H
#define MF_RULES_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "msg.h"
#include "regex.h"

struct plugin;
struct mf_message;

enum cond_kind {
	COND_HEADER,
	COND_BODY,
	COND_SIZE_OVER,
	COND_ALL,
	COND_ANY,
	COND_NOT,
};

struct cond {
	enum cond_kind	 kind;
	struct source	 src;
	char		*header;	/* COND_HEADER */
	struct regex	*re;		/* COND_HEADER, COND_BODY */
	int64_t		 size;		/* COND_SIZE_OVER */
	struct cond	*kids;		/* COND_ALL, COND_ANY, COND_NOT */
	size_t		 nkids;
};

enum rule_action {
	ACTION_NONE,
	ACTION_DELIVER,
	ACTION_DELETE,
	ACTION_SKIP,
};

struct rule {
	char			*name;
	struct source		 src;
	struct cond		*match;		/* NULL: always applies */
	enum rule_action	 action;
	struct destination	**deliver;	/* NULL: the account's */
	size_t			 ndeliver;
	struct plugin		*plugin;
	const config_setting_t	*args;
	bool			 stop;
};

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

void rules_free(struct rule *rules, size_t n);

#endif
