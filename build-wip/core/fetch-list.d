build-wip/core/fetch-list.o: core/fetch-list.c core/fetch-list.h \
 core/err.h core/strtab.h core/uidstore.h core/log.h core/xmalloc.h
core/fetch-list.h:
core/err.h:
core/strtab.h:
core/uidstore.h:
core/log.h:
core/xmalloc.h:
