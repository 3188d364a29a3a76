"""Crash safety of IMAP accounts: mailferry SIGKILLed at random moments
while it fetches two folders of the private Dovecot into a Maildir and
removes what it delivered (keep = false: \\Deleted and UID EXPUNGE), or
moves it (move_to, UID MOVE), then run again, loses no message and
duplicates at most one per kill, as test_crash.py shows for POP3.

Each round fills the INBOX and Lists/dev, kills a run after a random
delay (up to a clean run's duration, measured in round 0), sometimes
twice in a row, then runs to completion and checks:

- right after each kill, every message is still on the server (in its
  folder, or already in the Archive) or completely delivered;
- at the end, every message was delivered byte for byte, nothing else
  was, duplicates <= kills; the folders are empty (with move_to, the
  Archive holds every message: twice at times, as Dovecot may still run
  a killed session's MOVEs while the next session moves the same
  message); the UID store has no "+"
  records left (their UIDs left the server); Maildir/tmp is empty.

Knobs: MAILFERRY_IMAP_CRASH_KILLS (default 16, split between the two
modes), MAILFERRY_CRASH_SEED.
"""

import os
import random
import time

import pytest

import imapkit
import mailgen
import mfconf
from crashkit import (EX_OK, describe, env_int, read_maildir, start,
                      store_records, tally)
from harness import write_config

KILLS = env_int("MAILFERRY_IMAP_CRASH_KILLS", 16, minimum=2)
SEED = os.environ.get("MAILFERRY_CRASH_SEED") or "mailferry-imap-crash-1"
PER_FOLDER = 60
BURSTS = (1, 1, 2)


def fill(dovecot, tag):
    msgs = mailgen.generate(2 * PER_FOLDER, seed=tag, big=False)
    dovecot.append(msgs[:PER_FOLDER], "INBOX")
    dovecot.append(msgs[PER_FOLDER:], "Lists/dev")
    return msgs


def on_server(dovecot, mode):
    folders = ["INBOX", "Lists/dev"] + (["Archive"] if mode == "move" else [])
    return {f: dovecot.folder_bytes(f) for f in folders}


class Round:
    def __init__(self, dovecot, ca, tmp_path, mode, n):
        self.dc = dovecot
        self.mode = mode
        self.dir = tmp_path / ("round-%d" % n)
        self.dir.mkdir()
        self.state = tmp_path / "state"
        self.conf = self.dir / "mailferry.conf"
        self.maildir = self.dir / "Maildir"
        extra = {"keep": False} if mode == "delete" else {
            "move_to": "Archive"}
        acct = imapkit.account("alice", dovecot, tls="implicit",
                               tls_ca_file=ca.ca_file,
                               folders=["INBOX", "Lists/dev"], **extra)
        write_config(self.conf, mfconf.config(
            self.state, {"inbox": mfconf.maildir(self.maildir)}, [acct]))
        self.originals = fill(dovecot, "%s:%s:%d" % (SEED, mode, n))
        self.kills = 0
        self.problems = []

    def run(self, kill_after=None):
        return start(self.conf, log_dir=str(self.dir)).finish(
            kill_after=kill_after, limit=90)

    def check_after_kill(self):
        md = read_maildir(self.maildir)
        server = on_server(self.dc, self.mode)
        present = [m for msgs in server.values() for m in msgs]
        t = tally(self.originals, md.new, also_present=present)
        for m in t.lost:
            self.problems.append("after kill %d: lost %s" % (self.kills,
                                                             describe(m)))
        for m in t.unknown:
            self.problems.append("after kill %d: delivered but no original:"
                                 " %s" % (self.kills, describe(m)))

    def check_final(self, res):
        # Dovecot may still be running the MOVEs a killed session had
        # pipelined while the next session lists the folder: those are
        # refused then ("no longer exist"), and the run after it is clean.
        if res.rc == 75 and self.mode == "move" and all(
                "no longer exist" in l for l in res.stderr.splitlines()
                if l.strip()):
            res = self.run()
        if res.rc != EX_OK:
            self.problems.append("the final run failed: " + res.outcome())
        md = read_maildir(self.maildir)
        t = tally(self.originals, md.new)
        self.problems += ["lost %s" % describe(m) for m in t.lost]
        self.problems += ["not an original: %s" % describe(m)
                          for m in t.unknown]
        if t.duplicates > self.kills:
            self.problems.append("%d duplicates for %d kills" % (
                t.duplicates, self.kills))
        if md.tmp:
            self.problems.append("left in tmp/: %s" % md.tmp)
        server = on_server(self.dc, self.mode)
        for f in ("INBOX", "Lists/dev"):
            if server[f]:
                self.problems.append("%d messages left in %s" % (
                    len(server[f]), f))
        if self.mode == "move":
            # Copies in the Archive may repeat: a killed session's MOVEs
            # and the next session's can both copy a message before
            # either expunges it (the Maildir, above, has no such copy).
            a = tally(self.originals, server["Archive"])
            if a.lost or a.unknown:
                self.problems.append(
                    "Archive: %d missing, %d unknown" % (
                        len(a.lost), len(a.unknown)))
        recs = [r for r in store_records(self.state) if r.startswith("+ ")]
        if recs:
            self.problems.append("UID store still has %d + records, such "
                                 "as %s" % (len(recs), recs[0]))
        return t


def empty_folders(dovecot, mode):
    """Empty the folders as another client would (between rounds, or
    after a failed round left mail behind)."""
    folders = ["INBOX", "Lists/dev"] + (["Archive"] if mode == "move"
                                        else [])
    with dovecot.imap() as c:
        for f in folders:
            typ, data = c.select('"%s"' % f)
            assert typ == "OK", (f, data)
            if int(data[0]) > 0:
                c.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
                c.expunge()


@pytest.mark.parametrize("mode", ["delete", "move"])
def test_sigkill_loses_nothing(mode, dovecot, ca, tmp_path):
    rng = random.Random("%s:%s" % (SEED, mode))
    target = KILLS // 2
    dovecot.create_folder("Lists/dev")
    if mode == "move":
        dovecot.create_folder("Archive")

    r = Round(dovecot, ca, tmp_path, mode, 0)
    res = r.run()
    typical = res.elapsed
    r.check_final(res)
    assert not r.problems, "round 0 (no kill): %s" % r.problems

    kills = duplicates = attempts = 0
    failures = []
    n = 0
    started = time.monotonic()
    while kills < target and attempts < 6 * target + 10:
        n += 1
        if mode == "move":
            empty_folders(dovecot, mode)
        r = Round(dovecot, ca, tmp_path, mode, n)
        for i in range(min(rng.choice(BURSTS), target - kills)):
            attempts += 1
            res = r.run(kill_after=rng.uniform(0, typical))
            if not res.killed:
                if res.rc != EX_OK:
                    r.problems.append("a run not killed failed: "
                                      + res.outcome())
                elif i == 0:
                    typical = min(typical, res.elapsed)
                break
            r.kills += 1
            r.check_after_kill()
        t = r.check_final(r.run())
        kills += r.kills
        duplicates += t.duplicates
        if r.problems:
            failures.append("round %d (%d kills): %s" % (
                n, r.kills, "\n  ".join(r.problems[:10])))
            empty_folders(dovecot, mode)
    print("imap crash %s: %d kills in %d attempts, %d duplicates, %d rounds,"
          " typical run %.2f s, %.1f s in all, seed %r" % (
              mode, kills, attempts, duplicates, n, typical,
              time.monotonic() - started, SEED))
    assert kills >= 1, "no kill landed (typical run %.3f s)" % typical
    assert not failures, "\n".join(failures[:5])
