build-wip/tests/replay-fetchmailrc: tests/fuzz/replay.c
