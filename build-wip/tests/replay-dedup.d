build-wip/tests/replay-dedup: tests/fuzz/replay.c
