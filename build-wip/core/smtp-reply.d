build-wip/core/smtp-reply.o: core/smtp-reply.c core/log.h \
 core/smtp-reply.h core/conn.h core/err.h core/tls.h core/xmalloc.h
core/log.h:
core/smtp-reply.h:
core/conn.h:
core/err.h:
core/tls.h:
core/xmalloc.h:
