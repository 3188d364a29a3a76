build-wip/tests/replay-dotlock: tests/fuzz/replay.c
