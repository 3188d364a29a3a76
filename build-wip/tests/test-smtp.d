build-wip/tests/test-smtp: tests/unit/test-smtp.c core/config.h \
 core/config-include.h core/tls.h core/err.h core/conn.h core/msg.h \
 core/header.h core/spool.h core/smtp.h core/config.h core/msg.h \
 core/smtp-reply.h core/conn.h tests/unit/unit.h core/xmalloc.h
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/conn.h:
core/msg.h:
core/header.h:
core/spool.h:
core/smtp.h:
core/config.h:
core/msg.h:
core/smtp-reply.h:
core/conn.h:
tests/unit/unit.h:
core/xmalloc.h:
