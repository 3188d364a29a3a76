build-wip/core/secret.o: core/secret.c core/secret.h core/err.h
core/secret.h:
core/err.h:
