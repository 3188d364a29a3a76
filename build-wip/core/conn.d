build-wip/core/conn.o: core/conn.c core/clock.h core/conn.h core/err.h \
 core/tls.h core/xmalloc.h
core/clock.h:
core/conn.h:
core/err.h:
core/tls.h:
core/xmalloc.h:
