/* Ending a forked child without running the parent's exit handlers. */
#ifndef MF_CHILD_EXIT_H
#define MF_CHILD_EXIT_H

#include <unistd.h>

#ifdef MF_COVERAGE
void __gcov_dump(void);
#endif

/* _exit(code); a coverage build first writes the child's line counts,
 * which only exit() would otherwise write. */
static inline void
child_exit(int code)
{
#ifdef MF_COVERAGE
	__gcov_dump();
#endif
	_exit(code);
}

#endif
