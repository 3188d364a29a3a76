build-wip/tests/test-spool: tests/unit/test-spool.c core/spool.h \
 core/err.h tests/unit/unit.h
core/spool.h:
core/err.h:
tests/unit/unit.h:
