build-wip/core/msg.o: core/msg.c core/msg.h core/err.h core/header.h \
 core/spool.h core/rfc2047.h core/xmalloc.h
core/msg.h:
core/err.h:
core/header.h:
core/spool.h:
core/rfc2047.h:
core/xmalloc.h:
