/*
 * Progress of a long fetch on a terminal: messages done/total, bytes,
 * rate, time left, redrawn in place on stderr. Nothing at all when stderr
 * is not a terminal, with -q, with syslog, or when several accounts are
 * fetched at once (their lines would fight).
 */
#ifndef MF_PROGRESS_H
#define MF_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decide once per run whether progress may be shown at all. */
void progress_allow(bool allowed);
void progress_start(const char *account, size_t total, uint64_t bytes);
void progress_update(size_t done, uint64_t bytes);
void progress_end(void);

#endif
