build-merge/tests/replay-fetchmailrc: tests/fuzz/replay.c
