build-wip/core/imap-untagged.o: core/imap-untagged.c core/imap-internal.h \
 core/err.h core/imap-parse.h core/conn.h core/tls.h core/imap.h \
 core/msg.h core/header.h core/spool.h core/log.h
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
