build-wip/core/spool.o: core/spool.c core/spool.h core/err.h \
 core/xmalloc.h
core/spool.h:
core/err.h:
core/xmalloc.h:
