build-wip/tests/test-tls: tests/unit/test-tls.c core/tls.h core/err.h \
 tests/unit/unit.h
core/tls.h:
core/err.h:
tests/unit/unit.h:
