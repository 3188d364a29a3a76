build-wip/core/fsutil.o: core/fsutil.c core/fsutil.h core/err.h \
 core/xmalloc.h
core/fsutil.h:
core/err.h:
core/xmalloc.h:
