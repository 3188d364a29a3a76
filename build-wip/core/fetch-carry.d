build-wip/core/fetch-carry.o: core/fetch-carry.c core/fetch-carry.h \
 core/fetch-list.h core/err.h core/strtab.h core/uidstore.h \
 core/xmalloc.h
core/fetch-carry.h:
core/fetch-list.h:
core/err.h:
core/strtab.h:
core/uidstore.h:
core/xmalloc.h:
