build-wip/core/imap-session.o: core/imap-session.c core/imap-auth.h \
 core/err.h core/imap-session.h core/config.h core/config-include.h \
 core/tls.h core/imap.h core/conn.h core/imap-parse.h core/msg.h \
 core/header.h core/spool.h core/imap-internal.h core/log.h
core/imap-auth.h:
core/err.h:
core/imap-session.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/imap.h:
core/conn.h:
core/imap-parse.h:
core/msg.h:
core/header.h:
core/spool.h:
core/imap-internal.h:
core/log.h:
