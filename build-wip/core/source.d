build-wip/core/source.o: core/source.c core/command.h core/err.h \
 core/source.h core/config.h core/config-include.h core/tls.h \
 core/fetch-list.h core/strtab.h core/uidstore.h core/msg.h core/header.h \
 core/spool.h core/xmalloc.h
core/command.h:
core/err.h:
core/source.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/fetch-list.h:
core/strtab.h:
core/uidstore.h:
core/msg.h:
core/header.h:
core/spool.h:
core/xmalloc.h:
