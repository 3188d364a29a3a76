build-wip/core/config-include.o: core/config-include.c \
 core/config-include.h core/fsutil.h core/err.h core/log.h core/xmalloc.h
core/config-include.h:
core/fsutil.h:
core/err.h:
core/log.h:
core/xmalloc.h:
