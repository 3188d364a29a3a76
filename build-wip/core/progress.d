build-wip/core/progress.o: core/progress.c core/clock.h core/log.h \
 core/progress.h
core/clock.h:
core/log.h:
core/progress.h:
