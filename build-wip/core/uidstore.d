build-wip/core/uidstore.o: core/uidstore.c core/fsutil.h core/err.h \
 core/strtab.h core/uidstore.h core/xmalloc.h
core/fsutil.h:
core/err.h:
core/strtab.h:
core/uidstore.h:
core/xmalloc.h:
