build-wip/tests/test-secret: tests/unit/test-secret.c core/conn.h \
 core/err.h core/tls.h core/secret.h core/xmalloc.h
core/conn.h:
core/err.h:
core/tls.h:
core/secret.h:
core/xmalloc.h:
