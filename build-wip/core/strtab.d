build-wip/core/strtab.o: core/strtab.c core/strtab.h core/xmalloc.h
core/strtab.h:
core/xmalloc.h:
