build-wip/tests/replay-config: tests/fuzz/replay.c
