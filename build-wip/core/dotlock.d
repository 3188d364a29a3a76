build-wip/core/dotlock.o: core/dotlock.c core/clock.h core/dotlock.h \
 core/err.h core/fsutil.h core/lock.h core/log.h core/xmalloc.h
core/clock.h:
core/dotlock.h:
core/err.h:
core/fsutil.h:
core/lock.h:
core/log.h:
core/xmalloc.h:
