build-merge/tests/replay-header: tests/fuzz/replay.c
