build-wip/tests/test-uidstore: tests/unit/test-uidstore.c core/uidstore.h \
 core/err.h core/xmalloc.h
core/uidstore.h:
core/err.h:
core/xmalloc.h:
