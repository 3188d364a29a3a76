build-merge/tests/replay-dedup: tests/fuzz/replay.c
