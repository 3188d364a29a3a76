build-wip/core/convert-fetchmail.o: core/convert-fetchmail.c \
 core/convert-fetchmail.h core/convert.h core/config.h \
 core/config-include.h core/tls.h core/err.h core/convert-rclex.h \
 core/xmalloc.h
core/convert-fetchmail.h:
core/convert.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/convert-rclex.h:
core/xmalloc.h:
