build-wip/tests/replay-pop3: tests/fuzz/replay.c
