build-wip/tests/test-received: tests/unit/test-received.c core/received.h
core/received.h:
