build-wip/core/config.o: core/config.c core/config.h \
 core/config-include.h core/tls.h core/err.h core/config-parse.h \
 core/command.h core/config-rules.h core/deliver.h core/msg.h \
 core/header.h core/spool.h core/fsutil.h core/log.h core/multidrop.h \
 core/plugin.h core/uidstore.h plugins/mailferry/plugin.h core/rules.h \
 core/regex.h core/xmalloc.h
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/config-parse.h:
core/command.h:
core/config-rules.h:
core/deliver.h:
core/msg.h:
core/header.h:
core/spool.h:
core/fsutil.h:
core/log.h:
core/multidrop.h:
core/plugin.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/rules.h:
core/regex.h:
core/xmalloc.h:
