build-wip/core/convert-mpop.o: core/convert-mpop.c core/convert-mpop.h \
 core/convert.h core/config.h core/config-include.h core/tls.h core/err.h \
 core/xmalloc.h
core/convert-mpop.h:
core/convert.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/xmalloc.h:
