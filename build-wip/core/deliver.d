build-wip/core/deliver.o: core/deliver.c core/deliver.h core/config.h \
 core/config-include.h core/tls.h core/err.h core/msg.h core/header.h \
 core/spool.h
core/deliver.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/msg.h:
core/header.h:
core/spool.h:
