build-wip/tests/test-dotlock: tests/unit/test-dotlock.c core/dotlock.h \
 core/err.h core/log.h core/xmalloc.h
core/dotlock.h:
core/err.h:
core/log.h:
core/xmalloc.h:
