build-wip/tests/test-lock: tests/unit/test-lock.c core/clock.h \
 core/lock.h core/err.h core/xmalloc.h
core/clock.h:
core/lock.h:
core/err.h:
core/xmalloc.h:
