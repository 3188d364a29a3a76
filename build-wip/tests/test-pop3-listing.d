build-wip/tests/test-pop3-listing: tests/unit/test-pop3-listing.c \
 core/conn.h core/err.h core/tls.h core/log.h core/pop3-listing.h \
 core/pop3.h core/conn.h core/msg.h core/header.h core/spool.h \
 core/xmalloc.h
core/conn.h:
core/err.h:
core/tls.h:
core/log.h:
core/pop3-listing.h:
core/pop3.h:
core/conn.h:
core/msg.h:
core/header.h:
core/spool.h:
core/xmalloc.h:
