build-wip/core/fetch-deliver.o: core/fetch-deliver.c core/deliver.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/msg.h \
 core/header.h core/spool.h core/envelope.h core/fetch-internal.h \
 core/fetch-batch.h core/plugin.h core/uidstore.h \
 plugins/mailferry/plugin.h core/fetch-carry.h core/fetch-list.h \
 core/strtab.h core/fetch-plan.h core/fetch-stats.h core/fetch.h \
 core/rules.h core/regex.h core/source.h core/log.h core/multidrop.h \
 core/received.h core/xmalloc.h
core/deliver.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/msg.h:
core/header.h:
core/spool.h:
core/envelope.h:
core/fetch-internal.h:
core/fetch-batch.h:
core/plugin.h:
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
core/multidrop.h:
core/received.h:
core/xmalloc.h:
