build-wip/core/config-rules.o: core/config-rules.c core/config-parse.h \
 core/config.h core/config-include.h core/tls.h core/err.h \
 core/config-rules.h core/plugin.h core/msg.h core/header.h core/spool.h \
 core/uidstore.h plugins/mailferry/plugin.h core/regex.h core/rules.h \
 core/xmalloc.h
core/config-parse.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/config-rules.h:
core/plugin.h:
core/msg.h:
core/header.h:
core/spool.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/regex.h:
core/rules.h:
core/xmalloc.h:
