build-wip/core/regex.o: core/regex.c core/regex.h core/err.h \
 core/xmalloc.h
core/regex.h:
core/err.h:
core/xmalloc.h:
