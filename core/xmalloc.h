/*
 * Checked allocation: every function here either succeeds or ends the
 * program with a message, so callers never handle NULL, and size
 * computations cannot overflow silently.
 */
#ifndef MF_XMALLOC_H
#define MF_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Wipe then free: for anything that held a credential. */
void freezero_str(char *s);

#endif
