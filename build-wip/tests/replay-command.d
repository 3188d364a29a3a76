build-wip/tests/replay-command: tests/fuzz/replay.c
