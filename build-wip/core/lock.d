build-wip/core/lock.o: core/lock.c core/clock.h core/fsutil.h core/err.h \
 core/lock.h core/xmalloc.h
core/clock.h:
core/fsutil.h:
core/err.h:
core/lock.h:
core/xmalloc.h:
