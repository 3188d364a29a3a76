build-wip/core/pop3.o: core/pop3.c core/dotstuff.h core/log.h core/pop3.h \
 core/conn.h core/err.h core/tls.h core/msg.h core/header.h core/spool.h \
 core/xmalloc.h
core/dotstuff.h:
core/log.h:
core/pop3.h:
core/conn.h:
core/err.h:
core/tls.h:
core/msg.h:
core/header.h:
core/spool.h:
core/xmalloc.h:
