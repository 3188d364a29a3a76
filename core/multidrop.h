/*
 * Multidrop: one mailbox holding the mail of several people (a domain's
 * catch-all), delivered to each through an SMTP or LMTP server. The
 * account names the header in which its provider recorded the envelope
 * recipient (`envelope`, e.g. X-Original-To or Delivered-To) and the
 * domains that are ours (`local_domains`); a destination's `to` list
 * holds "%envelope", which stands for those recipients, followed by the
 * fallback used when there is none.
 *
 * A recipient taken from a header is used only when it is a plain
 * address in a local domain: a local part of letters, digits and
 * . _ + = - (not starting with - or .), one @, and a domain of letters,
 * digits, . and -. Anything else (CR, LF, spaces, angle brackets, %, !,
 * quotes, routes, a leading -) is ignored, so a sender cannot make the
 * MTA relay elsewhere or a program take an address for an option.
 */
#ifndef MF_MULTIDROP_H
#define MF_MULTIDROP_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "msg.h"

#define MULTIDROP_TOKEN		"%envelope"
/* Recipients taken from one message, at most. */
#define MULTIDROP_MAX		100

struct cfg_ctx;

/* The account keys `envelope` and `local_domains`. */
void multidrop_parse_account(struct cfg_ctx *cx, config_setting_t *s,
    struct account *a, const char *where);
/* After the account's destinations are known: warn about a multidrop
 * setup that would send everything to the fallback. */
void multidrop_check_account(const struct account *a);
/* Where "%envelope" is in a `to` list: its index, or -1. For a back
 * end's configure(): -1 with why set when it is used wrongly (twice, or
 * without a fallback after it). */
int multidrop_token_index(char *const *to, size_t nto, int *index,
    char *why, size_t whylen);

bool multidrop_domain_valid(const char *domain);
/* Is addr a plain address (see above)? */
bool multidrop_address_valid(const char *addr, size_t len);

/*
 * The envelope recipients of message m for account a: the addresses in
 * every `envelope` header field (a field may list several, separated by
 * commas) that are plain and within local_domains, each once. `label`
 * names the message in warnings about refused addresses. Returns the
 * count; *out is NULL when there are none.
 */
size_t multidrop_recipients(struct msg *m, const struct account *a,
    const char *label, char ***out);
void multidrop_free(char **list, size_t n);

/*
 * The RCPT list of a destination for one message: `to` with
 * "%envelope" replaced by the envelope recipients, or by the entries
 * after it when there are none (the fallback). The strings are not
 * copied; free the array only.
 */
char **multidrop_expand(char *const *to, size_t nto, char *const *env,
    size_t nenv, size_t *n);

#endif
