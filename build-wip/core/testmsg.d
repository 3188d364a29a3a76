build-wip/core/testmsg.o: core/testmsg.c core/log.h core/msg.h core/err.h \
 core/header.h core/spool.h core/multidrop.h core/config.h \
 core/config-include.h core/tls.h core/plugin.h core/uidstore.h \
 plugins/mailferry/plugin.h core/rules.h core/regex.h core/testmsg.h
core/log.h:
core/msg.h:
core/err.h:
core/header.h:
core/spool.h:
core/multidrop.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/plugin.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/rules.h:
core/regex.h:
core/testmsg.h:
