build-merge/tests/replay-listing: tests/fuzz/replay.c
