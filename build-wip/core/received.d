build-wip/core/received.o: core/received.c core/received.h core/xmalloc.h
core/received.h:
core/xmalloc.h:
