build-wip/tests/test-config: tests/unit/test-config.c core/config.h \
 core/config-include.h core/tls.h core/err.h core/log.h core/rules.h \
 core/config.h core/msg.h core/header.h core/spool.h core/regex.h \
 tests/unit/unit.h
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/log.h:
core/rules.h:
core/config.h:
core/msg.h:
core/header.h:
core/spool.h:
core/regex.h:
tests/unit/unit.h:
