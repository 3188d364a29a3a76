build-wip/core/fetch-window.o: core/fetch-window.c core/fetch-internal.h \
 core/config.h core/config-include.h core/tls.h core/err.h \
 core/fetch-batch.h core/plugin.h core/msg.h core/header.h core/spool.h \
 core/uidstore.h plugins/mailferry/plugin.h core/fetch-carry.h \
 core/fetch-list.h core/strtab.h core/fetch-plan.h core/fetch-stats.h \
 core/fetch.h core/rules.h core/regex.h core/source.h core/log.h
core/fetch-internal.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/fetch-batch.h:
core/plugin.h:
core/msg.h:
core/header.h:
core/spool.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/fetch-carry.h:
core/fetch-list.h:
core/strtab.h:
core/fetch-plan.h:
core/fetch-stats.h:
core/fetch.h:
core/rules.h:
core/regex.h:
core/source.h:
core/log.h:
