build-wip/tests/test-fsutil: tests/unit/test-fsutil.c core/fsutil.h \
 core/err.h core/xmalloc.h
core/fsutil.h:
core/err.h:
core/xmalloc.h:
