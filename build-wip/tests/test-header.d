build-wip/tests/test-header: tests/unit/test-header.c core/header.h
core/header.h:
