#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "err.h"

int
err_set(struct err *e, enum err_class cls, const char *fmt, ...)
{
	va_list ap;

	e->cls = cls;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
err_sys(struct err *e, enum err_class cls, const char *fmt, ...)
{
	int saved = errno;
	size_t len;
	va_list ap;

	e->cls = cls;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	len = strlen(e->msg);
	snprintf(e->msg + len, sizeof e->msg - len, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

void
err_prefix(struct err *e, const char *fmt, ...)
{
	char joined[sizeof e->msg];
	size_t len, oldlen = strnlen(e->msg, sizeof e->msg - 1);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(joined, sizeof joined, fmt, ap);
	va_end(ap);
	len = n < 0 ? 0 : (size_t)n < sizeof joined - 3 ? (size_t)n :
	    sizeof joined - 3;
	memcpy(joined + len, ": ", 2);
	len += 2;
	if (oldlen > sizeof joined - 1 - len)
		oldlen = sizeof joined - 1 - len;
	memcpy(joined + len, e->msg, oldlen);
	joined[len + oldlen] = '\0';
	memcpy(e->msg, joined, len + oldlen + 1);
}

void
err_clear(struct err *e)
{
	e->cls = ERR_NONE;
	e->msg[0] = '\0';
}

int
err_exitcode(enum err_class cls)
{
	switch (cls) {
	case ERR_NONE:
		return EX_OK;
	case ERR_TEMP:
		return EX_TEMPFAIL;
	case ERR_AUTH:
		return EX_NOPERM;
	case ERR_UNAVAIL:
		return EX_UNAVAILABLE;
	case ERR_CONFIG:
		return EX_CONFIG;
	case ERR_USAGE:
		return EX_USAGE;
	case ERR_DATA:
		return EX_DATAERR;
	case ERR_NOINPUT:
		return EX_NOINPUT;
	case ERR_IO:
		return EX_IOERR;
	case ERR_INTERNAL:
		return EX_SOFTWARE;
	}
	return EX_SOFTWARE;
}
