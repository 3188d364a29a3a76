build-wip/core/source-pop3.o: core/source-pop3.c core/log.h \
 core/pop3-listing.h core/pop3.h core/conn.h core/err.h core/tls.h \
 core/msg.h core/header.h core/spool.h core/session.h core/config.h \
 core/config-include.h core/source.h core/fetch-list.h core/strtab.h \
 core/uidstore.h core/xmalloc.h
core/log.h:
core/pop3-listing.h:
core/pop3.h:
core/conn.h:
core/err.h:
core/tls.h:
core/msg.h:
core/header.h:
core/spool.h:
core/session.h:
core/config.h:
core/config-include.h:
core/source.h:
core/fetch-list.h:
core/strtab.h:
core/uidstore.h:
core/xmalloc.h:
