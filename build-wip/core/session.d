build-wip/core/session.o: core/session.c core/log.h core/pop3-auth.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/pop3.h \
 core/conn.h core/msg.h core/header.h core/spool.h core/session.h \
 core/xmalloc.h
core/log.h:
core/pop3-auth.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/pop3.h:
core/conn.h:
core/msg.h:
core/header.h:
core/spool.h:
core/session.h:
core/xmalloc.h:
