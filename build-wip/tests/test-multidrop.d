build-wip/tests/test-multidrop: tests/unit/test-multidrop.c core/log.h \
 core/msg.h core/err.h core/header.h core/spool.h core/multidrop.h \
 core/config.h core/config-include.h core/tls.h core/msg.h
core/log.h:
core/msg.h:
core/err.h:
core/header.h:
core/spool.h:
core/multidrop.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/msg.h:
