build-merge/tests/replay-smtp: tests/fuzz/replay.c
