build-wip/core/fetch-stats.o: core/fetch-stats.c core/fetch-stats.h \
 core/err.h core/log.h core/progress.h
core/fetch-stats.h:
core/err.h:
core/log.h:
core/progress.h:
