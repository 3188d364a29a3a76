build-wip/tests/replay-imap: tests/fuzz/replay.c
