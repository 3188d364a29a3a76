build-wip/tests/test-imap: tests/unit/test-imap.c core/imap-internal.h \
 core/err.h core/imap-parse.h core/conn.h core/tls.h core/imap.h \
 core/msg.h core/header.h core/spool.h core/imap-session.h core/config.h \
 core/config-include.h core/imap.h core/imap-utf7.h core/log.h core/msg.h \
 core/sasl.h core/xmalloc.h
core/imap-internal.h:
core/err.h:
core/imap-parse.h:
core/conn.h:
core/tls.h:
core/imap.h:
core/msg.h:
core/header.h:
core/spool.h:
core/imap-session.h:
core/config.h:
core/config-include.h:
core/imap.h:
core/imap-utf7.h:
core/log.h:
core/msg.h:
core/sasl.h:
core/xmalloc.h:
