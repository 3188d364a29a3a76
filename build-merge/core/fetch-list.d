build-merge/core/fetch-list.o: core/fetch-list.c core/fetch-internal.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/fetch.h \
 core/msg.h core/header.h core/spool.h core/plugin.h core/uidstore.h \
 plugins/mailferry/plugin.h core/rules.h core/regex.h core/strtab.h \
 core/log.h core/pop3-listing.h core/pop3.h core/conn.h core/setaside.h \
 core/xmalloc.h
core/fetch-internal.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/fetch.h:
core/msg.h:
core/header.h:
core/spool.h:
core/plugin.h:
core/uidstore.h:
plugins/mailferry/plugin.h:
core/rules.h:
core/regex.h:
core/strtab.h:
core/log.h:
core/pop3-listing.h:
core/pop3.h:
core/conn.h:
core/setaside.h:
core/xmalloc.h:
