build-wip/tests/test-setaside: tests/unit/test-setaside.c core/config.h \
 core/config-include.h core/tls.h core/err.h core/plugin.h core/config.h \
 core/msg.h core/header.h core/spool.h core/uidstore.h \
 plugins/mailferry/plugin.h core/rules.h core/regex.h core/setaside.h \
 core/uidstore.h
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/plugin.h:
core/config.h:
core/msg.h:
core/header.h:
core/spool.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/rules.h:
core/regex.h:
core/setaside.h:
core/uidstore.h:
