build-wip/core/imap-parse.o: core/imap-parse.c core/imap-parse.h \
 core/conn.h core/err.h core/tls.h core/log.h core/xmalloc.h
core/imap-parse.h:
core/conn.h:
core/err.h:
core/tls.h:
core/log.h:
core/xmalloc.h:
