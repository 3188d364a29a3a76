build-wip/tests/replay-smtp: tests/fuzz/replay.c
