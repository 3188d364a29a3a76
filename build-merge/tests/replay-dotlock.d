build-merge/tests/replay-dotlock: tests/fuzz/replay.c
