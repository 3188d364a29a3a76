build-wip/core/main.o: core/main.c core/config.h core/config-include.h \
 core/tls.h core/err.h core/convert.h core/deliver.h core/msg.h \
 core/header.h core/spool.h core/fetch.h core/fsutil.h core/daemon.h \
 core/import-uids.h core/log.h core/plugin.h core/uidstore.h \
 plugins/mailferry/plugin.h core/progress.h core/rules.h core/regex.h \
 core/secret.h core/setaside.h core/testmsg.h core/xmalloc.h
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/convert.h:
core/deliver.h:
core/msg.h:
core/header.h:
core/spool.h:
core/fetch.h:
core/fsutil.h:
core/daemon.h:
core/import-uids.h:
core/log.h:
core/plugin.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/progress.h:
core/rules.h:
core/regex.h:
core/secret.h:
core/setaside.h:
core/testmsg.h:
core/xmalloc.h:
