build-wip/core/imap-idle.o: core/imap-idle.c core/clock.h \
 core/imap-internal.h core/err.h core/imap-parse.h core/conn.h core/tls.h \
 core/imap.h core/msg.h core/header.h core/spool.h core/log.h
core/clock.h:
core/imap-internal.h:
core/err.h:
core/imap-parse.h:
core/conn.h:
core/tls.h:
core/imap.h:
core/msg.h:
core/header.h:
core/spool.h:
core/log.h:
