build-wip/core/setaside.o: core/setaside.c core/err.h core/lock.h \
 core/log.h core/plugin.h core/config.h core/config-include.h core/tls.h \
 core/msg.h core/header.h core/spool.h core/uidstore.h \
 plugins/mailferry/plugin.h core/rules.h core/regex.h core/setaside.h
core/err.h:
core/lock.h:
core/log.h:
core/plugin.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/msg.h:
core/header.h:
core/spool.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/rules.h:
core/regex.h:
core/setaside.h:
