build-wip/core/smtp.o: core/smtp.c core/command.h core/err.h core/conn.h \
 core/tls.h core/dotstuff.h core/log.h core/sasl.h core/smtp.h \
 core/config.h core/config-include.h core/msg.h core/header.h \
 core/spool.h core/smtp-reply.h core/xmalloc.h
core/command.h:
core/err.h:
core/conn.h:
core/tls.h:
core/dotstuff.h:
core/log.h:
core/sasl.h:
core/smtp.h:
core/config.h:
core/config-include.h:
core/msg.h:
core/header.h:
core/spool.h:
core/smtp-reply.h:
core/xmalloc.h:
