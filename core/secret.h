/*
 * Keeping secrets (passwords, tokens) out of core dumps: the process is
 * made non-dumpable with no core size from the start, before the
 * configuration (which may hold passwords) is read. Buffers that held a
 * secret are wiped with explicit_bzero where they are freed.
 */
#ifndef MF_SECRET_H
#define MF_SECRET_H

#include "err.h"

/* No core dump, and no ptrace or /proc/PID/mem access by other
 * processes of the user; -1 with e set when the kernel refuses. */
int secret_no_dumps(struct err *e);

#endif
