build-wip/tests/replay-sasl: tests/fuzz/replay.c
