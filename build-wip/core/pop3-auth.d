build-wip/core/pop3-auth.o: core/pop3-auth.c core/log.h core/pop3-auth.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/pop3.h \
 core/conn.h core/msg.h core/header.h core/spool.h core/sasl.h \
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
core/sasl.h:
core/xmalloc.h:
