build-merge/tests/replay-imap: tests/fuzz/replay.c
