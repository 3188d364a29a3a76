build-merge/tests/replay-sasl: tests/fuzz/replay.c
