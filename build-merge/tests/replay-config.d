build-merge/tests/replay-config: tests/fuzz/replay.c
