build-merge/tests/replay-encoders: tests/fuzz/replay.c
