build-wip/tests/replay-encoders: tests/fuzz/replay.c
