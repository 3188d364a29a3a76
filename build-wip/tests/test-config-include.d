build-wip/tests/test-config-include: tests/unit/test-config-include.c \
 core/config-include.h core/log.h tests/unit/unit.h
core/config-include.h:
core/log.h:
tests/unit/unit.h:
