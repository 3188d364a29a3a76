build-wip/core/mboxrd.o: core/mboxrd.c core/mboxrd.h
core/mboxrd.h:
