build-wip/core/plugin-guard.o: core/plugin-guard.c core/err.h \
 core/plugin-guard.h
core/err.h:
core/plugin-guard.h:
