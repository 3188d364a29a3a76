build-wip/core/plugin.o: core/plugin.c core/command.h core/err.h \
 core/fsutil.h core/log.h core/plugin-guard.h core/plugin.h core/config.h \
 core/config-include.h core/tls.h core/msg.h core/header.h core/spool.h \
 core/uidstore.h plugins/mailferry/plugin.h core/rfc2047.h core/xmalloc.h
core/command.h:
core/err.h:
core/fsutil.h:
core/log.h:
core/plugin-guard.h:
core/plugin.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/msg.h:
core/header.h:
core/spool.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/rfc2047.h:
core/xmalloc.h:
