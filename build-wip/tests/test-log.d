build-wip/tests/test-log: tests/unit/test-log.c core/log.h
core/log.h:
