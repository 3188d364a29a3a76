build-wip/core/convert.o: core/convert.c core/command.h core/err.h \
 core/convert.h core/config.h core/config-include.h core/tls.h core/log.h \
 core/xmalloc.h
core/command.h:
core/err.h:
core/convert.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/log.h:
core/xmalloc.h:
