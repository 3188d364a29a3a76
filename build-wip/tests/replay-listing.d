build-wip/tests/replay-listing: tests/fuzz/replay.c
