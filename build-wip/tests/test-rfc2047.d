build-wip/tests/test-rfc2047: tests/unit/test-rfc2047.c core/rfc2047.h
core/rfc2047.h:
