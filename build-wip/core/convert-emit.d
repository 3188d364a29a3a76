build-wip/core/convert-emit.o: core/convert-emit.c core/convert.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/xmalloc.h
core/convert.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/xmalloc.h:
