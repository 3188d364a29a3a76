build-wip/tests/test-command: tests/unit/test-command.c core/command.h \
 core/err.h
core/command.h:
core/err.h:
