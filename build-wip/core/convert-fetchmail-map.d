build-wip/core/convert-fetchmail-map.o: core/convert-fetchmail-map.c \
 core/convert-fetchmail.h core/convert.h core/config.h \
 core/config-include.h core/tls.h core/err.h core/xmalloc.h
core/convert-fetchmail.h:
core/convert.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/xmalloc.h:
