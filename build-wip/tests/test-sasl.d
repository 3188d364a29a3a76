build-wip/tests/test-sasl: tests/unit/test-sasl.c core/config.h \
 core/config-include.h core/tls.h core/err.h core/conn.h core/pop3-auth.h \
 core/config.h core/pop3.h core/conn.h core/msg.h core/header.h \
 core/spool.h core/pop3.h core/sasl.h core/xmalloc.h
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/conn.h:
core/pop3-auth.h:
core/config.h:
core/pop3.h:
core/conn.h:
core/msg.h:
core/header.h:
core/spool.h:
core/pop3.h:
core/sasl.h:
core/xmalloc.h:
