build-wip/tests/replay-header: tests/fuzz/replay.c
