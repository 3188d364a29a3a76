build-wip/core/deliver-mbox.o: core/deliver-mbox.c core/deliver.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/msg.h \
 core/header.h core/spool.h core/dotlock.h core/fsutil.h core/lock.h \
 core/log.h core/mboxrd.h core/xmalloc.h
core/deliver.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/msg.h:
core/header.h:
core/spool.h:
core/dotlock.h:
core/fsutil.h:
core/lock.h:
core/log.h:
core/mboxrd.h:
core/xmalloc.h:
