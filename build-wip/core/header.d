build-wip/core/header.o: core/header.c core/header.h core/xmalloc.h
core/header.h:
core/xmalloc.h:
