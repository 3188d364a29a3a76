build-wip/tests/test-dotstuff: tests/unit/test-dotstuff.c core/dotstuff.h
core/dotstuff.h:
