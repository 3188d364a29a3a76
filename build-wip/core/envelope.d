build-wip/core/envelope.o: core/envelope.c core/envelope.h core/msg.h \
 core/err.h core/header.h core/spool.h core/xmalloc.h
core/envelope.h:
core/msg.h:
core/err.h:
core/header.h:
core/spool.h:
core/xmalloc.h:
