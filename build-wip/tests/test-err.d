build-wip/tests/test-err: tests/unit/test-err.c core/err.h
core/err.h:
