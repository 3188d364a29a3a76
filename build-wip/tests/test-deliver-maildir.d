build-wip/tests/test-deliver-maildir: tests/unit/test-deliver-maildir.c \
 core/deliver.h core/config.h core/config-include.h core/tls.h core/err.h \
 core/msg.h core/header.h core/spool.h tests/unit/unit.h
core/deliver.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/msg.h:
core/header.h:
core/spool.h:
tests/unit/unit.h:
