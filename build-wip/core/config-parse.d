build-wip/core/config-parse.o: core/config-parse.c core/config-parse.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/fsutil.h \
 core/log.h core/xmalloc.h
core/config-parse.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/fsutil.h:
core/log.h:
core/xmalloc.h:
