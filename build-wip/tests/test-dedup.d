build-wip/tests/test-dedup: tests/unit/test-dedup.c \
 tests/unit/../../plugins/dedup.c plugins/mailferry/plugin.h \
 core/xmalloc.h
tests/unit/../../plugins/dedup.c:
plugins/mailferry/plugin.h:
core/xmalloc.h:
