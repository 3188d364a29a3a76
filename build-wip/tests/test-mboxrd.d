build-wip/tests/test-mboxrd: tests/unit/test-mboxrd.c core/mboxrd.h
core/mboxrd.h:
