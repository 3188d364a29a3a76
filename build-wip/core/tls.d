build-wip/core/tls.o: core/tls.c core/tls.h core/err.h core/xmalloc.h
core/tls.h:
core/err.h:
core/xmalloc.h:
