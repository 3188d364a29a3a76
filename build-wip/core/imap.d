build-wip/core/imap.o: core/imap.c core/imap-internal.h core/err.h \
 core/imap-parse.h core/conn.h core/tls.h core/imap.h core/msg.h \
 core/header.h core/spool.h core/imap-utf7.h core/log.h core/xmalloc.h
core/imap-internal.h:
core/err.h:
core/imap-parse.h:
core/conn.h:
core/tls.h:
core/imap.h:
core/msg.h:
core/header.h:
core/spool.h:
core/imap-utf7.h:
core/log.h:
core/xmalloc.h:
