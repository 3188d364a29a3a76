build-merge/tests/replay-mpoprc: tests/fuzz/replay.c
