build-wip/core/import-uids.o: core/import-uids.c core/fsutil.h core/err.h \
 core/import-uids.h core/config.h core/config-include.h core/tls.h \
 core/lock.h core/log.h core/uidstore.h core/xmalloc.h
core/fsutil.h:
core/err.h:
core/import-uids.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/lock.h:
core/log.h:
core/uidstore.h:
core/xmalloc.h:
