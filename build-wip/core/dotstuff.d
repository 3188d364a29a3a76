build-wip/core/dotstuff.o: core/dotstuff.c core/dotstuff.h
core/dotstuff.h:
