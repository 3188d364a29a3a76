build-wip/tests/replay-uidstore: tests/fuzz/replay.c
