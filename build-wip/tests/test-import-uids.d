build-wip/tests/test-import-uids: tests/unit/test-import-uids.c \
 core/import-uids.h core/config.h core/config-include.h core/tls.h \
 core/err.h
core/import-uids.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
