build-wip/tests/test-fetch-stats: tests/unit/test-fetch-stats.c \
 core/fetch-stats.h core/err.h
core/fetch-stats.h:
core/err.h:
