build-merge/tests/replay-uidstore: tests/fuzz/replay.c
