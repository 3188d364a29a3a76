build-wip/tests/test-regex: tests/unit/test-regex.c core/regex.h \
 core/err.h
core/regex.h:
core/err.h:
