build-wip/tests/test-imap-parse: tests/unit/test-imap-parse.c core/conn.h \
 core/err.h core/tls.h core/imap-parse.h core/conn.h core/log.h \
 core/xmalloc.h
core/conn.h:
core/err.h:
core/tls.h:
core/imap-parse.h:
core/conn.h:
core/log.h:
core/xmalloc.h:
