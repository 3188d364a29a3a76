build-wip/core/sasl.o: core/sasl.c core/sasl.h core/xmalloc.h
core/sasl.h:
core/xmalloc.h:
