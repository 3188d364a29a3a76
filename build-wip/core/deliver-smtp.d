build-wip/core/deliver-smtp.o: core/deliver-smtp.c core/deliver.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/msg.h \
 core/header.h core/spool.h core/multidrop.h core/smtp.h core/xmalloc.h
core/deliver.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/msg.h:
core/header.h:
core/spool.h:
core/multidrop.h:
core/smtp.h:
core/xmalloc.h:
