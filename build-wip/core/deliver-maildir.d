build-wip/core/deliver-maildir.o: core/deliver-maildir.c core/deliver.h \
 core/config.h core/config-include.h core/tls.h core/err.h core/msg.h \
 core/header.h core/spool.h core/fsutil.h core/xmalloc.h
core/deliver.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/msg.h:
core/header.h:
core/spool.h:
core/fsutil.h:
core/xmalloc.h:
