build-wip/core/daemon.o: core/daemon.c core/clock.h core/daemon.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/fetch.h \
 core/log.h core/xmalloc.h
core/clock.h:
core/daemon.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/fetch.h:
core/log.h:
core/xmalloc.h:
