build-wip/tests/test-envelope: tests/unit/test-envelope.c core/envelope.h \
 core/msg.h core/err.h core/header.h core/spool.h core/msg.h
core/envelope.h:
core/msg.h:
core/err.h:
core/header.h:
core/spool.h:
core/msg.h:
