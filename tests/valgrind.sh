#!/bin/sh
# Run mailferry under valgrind's memcheck, for `make valgrind`: any invalid
# access or definite leak makes it exit 99, which the tests report as a
# wrong exit status. Commands it runs (filters, password helpers) are not
# traced; its forked account processes are.
# Valgrind cannot follow PCRE2's JIT code; the interpreter it can.
export MAILFERRY_NO_JIT=1
exec valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --child-silent-after-fork=no --trace-children=no \
    "$MAILFERRY_REAL_BIN" "$@"
