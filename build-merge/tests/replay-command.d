build-merge/tests/replay-command: tests/fuzz/replay.c
