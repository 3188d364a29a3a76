build-wip/tests/test-strtab: tests/unit/test-strtab.c core/strtab.h \
 tests/unit/unit.h
core/strtab.h:
tests/unit/unit.h:
