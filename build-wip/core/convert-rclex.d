build-wip/core/convert-rclex.o: core/convert-rclex.c core/convert-rclex.h \
 core/err.h core/xmalloc.h
core/convert-rclex.h:
core/err.h:
core/xmalloc.h:
