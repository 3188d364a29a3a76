build-wip/tests/test-plugin-guard: tests/unit/test-plugin-guard.c \
 core/plugin-guard.h
core/plugin-guard.h:
