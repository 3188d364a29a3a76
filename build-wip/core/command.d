build-wip/core/command.o: core/command.c core/clock.h core/command.h \
 core/err.h core/log.h core/xmalloc.h
core/clock.h:
core/command.h:
core/err.h:
core/log.h:
core/xmalloc.h:
