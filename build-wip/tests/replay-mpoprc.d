build-wip/tests/replay-mpoprc: tests/fuzz/replay.c
