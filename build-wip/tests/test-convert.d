build-wip/tests/test-convert: tests/unit/test-convert.c core/convert.h \
 core/config.h core/config-include.h core/tls.h core/err.h \
 core/convert-rclex.h
core/convert.h:
core/config.h:
core/config-include.h:
core/tls.h:
core/err.h:
core/convert-rclex.h:
