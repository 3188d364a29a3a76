build-wip/tests/test-xmalloc: tests/unit/test-xmalloc.c core/xmalloc.h \
 tests/unit/unit.h
core/xmalloc.h:
tests/unit/unit.h:
