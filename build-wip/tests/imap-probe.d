build-wip/tests/imap-probe: tests/unit/imap-probe.c core/imap-session.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/imap.h \
 core/conn.h core/imap-parse.h core/msg.h core/header.h core/spool.h \
 core/imap.h core/log.h core/msg.h core/xmalloc.h
core/imap-session.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/imap.h:
core/conn.h:
core/imap-parse.h:
core/msg.h:
core/header.h:
core/spool.h:
core/imap.h:
core/log.h:
core/msg.h:
core/xmalloc.h:
