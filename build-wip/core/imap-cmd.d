build-wip/core/imap-cmd.o: core/imap-cmd.c core/imap-internal.h \
 core/err.h core/imap-parse.h core/conn.h core/tls.h core/imap.h \
 core/msg.h core/header.h core/spool.h
core/imap-internal.h:
core/err.h:
core/imap-parse.h:
core/conn.h:
core/tls.h:
core/imap.h:
core/msg.h:
core/header.h:
core/spool.h:
