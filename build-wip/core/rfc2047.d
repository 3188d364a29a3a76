build-wip/core/rfc2047.o: core/rfc2047.c core/rfc2047.h core/xmalloc.h
core/rfc2047.h:
core/xmalloc.h:
