build-wip/core/deliver-mda.o: core/deliver-mda.c core/command.h \
 core/err.h core/deliver.h core/config.h core/config-include.h core/tls.h \
 core/msg.h core/header.h core/spool.h core/envelope.h core/multidrop.h \
 core/xmalloc.h
core/command.h:
core/err.h:
core/deliver.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/msg.h:
core/header.h:
core/spool.h:
core/envelope.h:
core/multidrop.h:
core/xmalloc.h:
