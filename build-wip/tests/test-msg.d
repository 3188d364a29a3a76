build-wip/tests/test-msg: tests/unit/test-msg.c core/msg.h core/err.h \
 core/header.h core/spool.h tests/unit/unit.h
core/msg.h:
core/err.h:
core/header.h:
core/spool.h:
tests/unit/unit.h:
