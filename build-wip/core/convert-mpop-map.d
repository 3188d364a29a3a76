build-wip/core/convert-mpop-map.o: core/convert-mpop-map.c \
 core/convert-mpop.h core/convert.h core/config.h core/config-include.h \
 core/tls.h core/err.h core/xmalloc.h
core/convert-mpop.h:
core/convert.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/xmalloc.h:
