build-wip/core/multidrop.o: core/multidrop.c core/config-parse.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/log.h \
 core/multidrop.h core/msg.h core/header.h core/spool.h core/rules.h \
 core/regex.h core/xmalloc.h
core/config-parse.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/log.h:
core/multidrop.h:
core/msg.h:
core/header.h:
core/spool.h:
core/rules.h:
core/regex.h:
core/xmalloc.h:
