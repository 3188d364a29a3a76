"""Crash safety (mailferry(1), GUARANTEES): mailferry SIGKILLed at random moments,
then run again, loses no message and duplicates at most one per kill.

For each destination kind (a Maildir, an mbox, SMTP to a recording sink),
with keep = false, rounds go like this: fill alice's Dovecot mailbox with
MAILFERRY_CRASH_MESSAGES generated messages (unique Message-IDs, a fresh
destination), start mailferry and SIGKILL it after a random delay (up to
the duration of a clean run, measured once in a first round without
kills, and lowered when a later whole run beats its kill: the machine may
have been busy at the first measurement), maybe again a few times in a
row, then run it to completion and check:

- every message that was on the server was delivered, byte for byte;
- nothing was delivered that is not one of them (no partial message);
- duplicates <= kills of the round;
- the server is empty (keep = false) and the UID store holds no records
  (their UIDs left the server);
- no file is left in the Maildir's tmp/; the mbox parses, ends with its
  blank line and has no dotlock left.

Right after every kill: each message is still on the server or completely
delivered (no loss at any moment), every Maildir file in new/ is complete,
and only the mbox's last message may be partial (the next run cuts it).

test_kill_at_chosen_point does the same with kills at exact steps of the
delivery (strace injects SIGKILL at the Nth call of a syscall on a given
file: before the journal, between journal and rename, mid-append, between
delivery and record, ...), so the riskiest instants are always covered;
test_kills_in_the_commit_path kills at randomly chosen calls of the
commit of Maildir and mbox batches, where no kill may cost a duplicate.

Knobs (environment):
  MAILFERRY_CRASH_KILLS     kills over the whole file (default 50), split
                            40/30/30 % between maildir, mbox and smtp
  MAILFERRY_CRASH_MESSAGES  messages per round (default 200)
  MAILFERRY_CRASH_SEED      seed of the random delays and bursts (default
                            below); printed with every failure
  MAILFERRY_CRASH_COMMIT_KILLS  kills in the commit path (default 20),
                            half Maildir, half mbox

Run with -s to see a summary line per destination kind.
"""

import os
import random
import re
import shutil
import time

import pytest

import mailgen
import mfconf
from crashkit import (EX_OK, describe, digest, env_int, read_maildir,
                      read_mbox, server_messages, sink_messages,
                      sized_messages, start, store_records, strace_kill,
                      strace_supported, tally, without_leak_check)
from harness import write_config
from smtpsink import SmtpSink

TOTAL_KILLS = env_int("MAILFERRY_CRASH_KILLS", 50, minimum=1)
MESSAGES = env_int("MAILFERRY_CRASH_MESSAGES", 200, minimum=1)
SEED = os.environ.get("MAILFERRY_CRASH_SEED") or "mailferry-crash-1"

SHARES = {"maildir": 0.4, "mbox": 0.3, "smtp": 0.3}
# Kills in a row before the clean run of a round, drawn from this.
BURSTS = (1, 1, 1, 2, 2, 3)
# Messages per round over SMALL_LIMIT bytes (mailgen makes one in twelve
# 100 KB to 1 MB).
SMALL_LIMIT = 100_000
LARGE_PER_ROUND = 3
# A clean run (or one that outlives its kill) longer than this hangs.
RUN_LIMIT = 90.0


def kills_for(kind):
    """This kind's share of TOTAL_KILLS (20/15/15 of 50), at least 1."""
    kinds = list(SHARES)
    shares = [int(TOTAL_KILLS * SHARES[k]) for k in kinds]
    # Hand out what rounding left over, in order.
    for i in range(TOTAL_KILLS - sum(shares)):
        shares[i % len(kinds)] += 1
    return max(1, shares[kinds.index(kind)])


def round_messages(tag):
    """MESSAGES generated messages (mailgen: dot lines, From lines, 8-bit,
    MIME), mostly small: at most LARGE_PER_ROUND of those over
    SMALL_LIMIT bytes are kept, so a run takes well under a second or
    two and kills still land in the middle of a large one now and then."""
    out, large, k = [], 0, 0
    while len(out) < MESSAGES:
        seed = tag if k == 0 else "%s+%d" % (tag, k)
        k += 1
        for m in mailgen.generate(MESSAGES - len(out), seed=seed):
            if len(m) > SMALL_LIMIT:
                if large >= LARGE_PER_ROUND:
                    continue
                large += 1
            out.append(m)
            if len(out) == MESSAGES:
                break
    return out


class World:
    """One destination kind's setup: a Dovecot, a state_dir used by every
    round, and per round a fresh destination and configuration."""

    def __init__(self, kind, dovecot, tmp_path, sink, timeout=10):
        self.kind = kind
        self.timeout = timeout
        self.dovecot = dovecot
        self.dir = tmp_path
        self.sink = sink
        self.state = tmp_path / "state"
        self.conf = tmp_path / "mailferry.conf"

    def new_round(self, n, messages=None):
        r = Round(self, n)
        if self.kind == "maildir":
            dest = mfconf.maildir(r.dir / "Maildir")
        elif self.kind == "mbox":
            dest = {"type": "mbox", "path": str(r.dir / "mail.mbox")}
        else:
            dest = {"type": "smtp", "host": "127.0.0.1",
                    "port": self.sink.port, "tls": "none",
                    "to": ["alice@example.com"], "timeout": self.timeout,
                    "received_header": False}
        acct = mfconf.account("alice", self.dovecot, keep=False)
        write_config(self.conf, mfconf.config(self.state, {"inbox": dest},
                                              [acct],
                                              timeout=self.timeout))
        r.fill(messages)
        return r


class Round:
    def __init__(self, world, n):
        self.w = world
        self.n = n
        self.dir = world.dir / ("round%03d" % n)
        self.dir.mkdir()
        self.tag = "%s-%s-r%d" % (SEED, world.kind, n)
        self.originals = []
        self.results = []
        self.kills = 0
        self.problems = []

    def fill(self, messages=None):
        left = server_messages(self.w.dovecot)
        assert left == [], ("round %d: %d messages left on the server by "
                            "the round before" % (self.n, len(left)))
        self.originals = (round_messages(self.tag) if messages is None
                          else messages)
        for m in self.originals:
            self.w.dovecot.deliver("alice", m)
        if self.w.sink is not None:
            # The round before ended with a clean run: nothing of its
            # killed runs is still arriving.
            self.w.sink.reset()

    def run(self, kill_after=None, prefix=()):
        log = self.dir / ("run%d" % len(self.results))
        log.mkdir()
        res = start(self.w.conf, log_dir=str(log), prefix=prefix).finish(
            kill_after=kill_after, limit=RUN_LIMIT)
        self.results.append(res)
        if res.killed:
            self.kills += 1
        return res

    # -- reading the destination --------------------------------------

    def delivered(self, after_kill=False):
        """(complete messages delivered, problems); AFTER_KILL: an mbox
        may end in a partial message, which is left out."""
        problems = []
        kind = self.w.kind
        if kind == "maildir":
            md = read_maildir(self.dir / "Maildir")
            if md.other:
                problems.append("unexpected entries in the Maildir: %s"
                                % md.other[:5])
            if md.tmp and not after_kill:
                problems.append("%d files left in Maildir tmp/: %s" % (
                    len(md.tmp), md.tmp[:3]))
            return md.new, problems
        if kind == "mbox":
            mb = read_mbox(self.dir / "mail.mbox",
                           allow_partial_tail=after_kill)
            problems += mb.problems
            msgs = mb.messages
            if after_kill:
                orig = set(map(digest, self.originals))
                bad = [i for i, m in enumerate(msgs)
                       if digest(m) not in orig]
                # Only the last one may be cut short by the kill.
                if bad and bad[-1] == len(msgs) - 1:
                    msgs = msgs[:-1]
                    bad = bad[:-1]
                for i in bad:
                    problems.append("mbox message %d of %d after a kill is "
                                    "no original: %s" % (i + 1, len(msgs),
                                                          describe(msgs[i])))
            elif mb.lock_left:
                problems.append("the dotlock %s.lock was left behind"
                                % (self.dir / "mail.mbox"))
            return msgs, problems
        return sink_messages(self.w.sink), problems

    # -- checks ---------------------------------------------------------

    def check_after_kill(self):
        """No loss at this instant: every original is on the server or
        completely delivered; everything delivered is an original."""
        got, problems = self.delivered(after_kill=True)
        on_server = server_messages(self.w.dovecot)
        t = tally(self.originals, got, also_present=on_server)
        what = "after kill %d" % self.kills
        for p in problems:
            self.problems.append("%s: %s" % (what, p))
        for m in t.lost[:5]:
            self.problems.append("%s: LOST, neither on the server nor "
                                 "delivered: %s" % (what, describe(m)))
        if len(t.lost) > 5:
            self.problems.append("%s: ... %d lost in all" % (what,
                                                             len(t.lost)))
        for m in t.unknown[:5]:
            self.problems.append("%s: delivered message is no original "
                                 "(partial or altered): %s"
                                 % (what, describe(m)))

    def check_final(self, res):
        """After the clean run: exit 0, everything delivered, duplicates
        within the number of kills, server empty, store empty."""
        if res.hung or res.rc != EX_OK:
            self.problems.append("the clean run failed: " + res.outcome())
        got, problems = self.delivered()
        self.problems += problems
        left = server_messages(self.w.dovecot)
        t = tally(self.originals, got, also_present=left)
        for m in t.lost[:5]:
            self.problems.append("LOST, neither delivered nor on the "
                                 "server: " + describe(m))
        if len(t.lost) > 5:
            self.problems.append("... %d lost in all" % len(t.lost))
        undelivered = len(self.originals) - t.delivered - len(t.lost)
        if undelivered:
            self.problems.append("%d messages never delivered (still on "
                                 "the server)" % undelivered)
        for m in t.unknown[:5]:
            self.problems.append("delivered message is no original "
                                 "(partial or altered): " + describe(m))
        if t.duplicates > self.kills:
            self.problems.append(
                "%d duplicates after %d kills (at most one per kill): %s"
                % (t.duplicates, self.kills,
                   "; ".join("%s x%d" % (describe(m), c)
                             for m, c in t.duplicated[:5])))
        if left:
            delivered = set(map(digest, got))
            self.problems.append(
                "%d messages still on the server with keep = false (%d of "
                "them delivered), e.g. %s" % (
                    len(left), sum(digest(m) in delivered for m in left),
                    describe(left[0])))
        else:
            recs = store_records(self.w.state)
            if recs:
                self.problems.append(
                    "the UID store still holds %d records although the "
                    "server is empty: %s" % (len(recs), recs[:3]))
        return t

    def path(self, name):
        """Paths to trace for kill points: "store" (the UID store),
        "new" (Maildir/new), "mbox", "lock" (the mbox dotlock), "mboxdir"
        (the directory holding both)."""
        return {"store": self.w.state / "alice.uids",
                "new": self.dir / "Maildir" / "new",
                "mbox": self.dir / "mail.mbox",
                "lock": self.dir / "mail.mbox.lock",
                "mboxdir": self.dir}[name]

    def describe_state(self):
        """What the destination and the UID store hold now, in words."""
        recs = store_records(self.w.state)
        store = "UID store: %d P, %d + records" % (
            sum(l.startswith("P ") for l in recs),
            sum(l.startswith("+ ") for l in recs))
        if self.w.kind == "maildir":
            md = read_maildir(self.dir / "Maildir")
            return "%d in new/, %d in tmp/; %s" % (len(md.new), len(md.tmp),
                                                    store)
        if self.w.kind == "mbox":
            path = self.dir / "mail.mbox"
            mb = read_mbox(path, allow_partial_tail=True)
            orig = set(map(digest, self.originals))
            partial = sum(digest(m) not in orig for m in mb.messages)
            lock = (os.path.getsize(str(path) + ".lock")
                    if mb.lock_left else None)
            return ("mbox of %d bytes, %d complete and %d partial "
                    "messages, dotlock %s; %s" % (
                        mb.size, len(mb.messages) - partial, partial,
                        "absent" if lock is None else "of %d bytes" % lock,
                        store))
        return "%d accepted by the sink; %s" % (
            len(sink_messages(self.w.sink)), store)

    def history(self):
        return ", ".join(
            ("kill at %.3f s" % r.delay if r.delay is not None
             else "killed") if r.killed else
            "hung" if r.hung else
            "exit %d in %.3f s%s" % (
                r.rc, r.elapsed,
                " (kill at %.3f s too late)" % r.delay
                if r.delay is not None else "")
            for r in self.results)


def empty_server(dovecot):
    """Delete alice's mail through POP3 (after a failed round)."""
    pop = dovecot.pop3()
    try:
        count, _ = pop.stat()
        for i in range(1, count + 1):
            pop.dele(i)
    finally:
        pop.quit()


@pytest.fixture
def smtp_sink():
    with SmtpSink() as sink:
        yield sink


@pytest.mark.parametrize("kind", list(SHARES))
def test_sigkill_loses_nothing(kind, dovecot, tmp_path, request):
    target = kills_for(kind)
    rng = random.Random("%s:%s" % (SEED, kind))
    sink = (request.getfixturevalue("smtp_sink") if kind == "smtp"
            else None)
    world = World(kind, dovecot, tmp_path, sink)
    repro = ("seed %r (MAILFERRY_CRASH_SEED=%s MAILFERRY_CRASH_KILLS=%d "
             "MAILFERRY_CRASH_MESSAGES=%d)" % (SEED, SEED, TOTAL_KILLS,
                                               MESSAGES))
    print("crash %s: %d kills wanted, %d messages a round, %s"
          % (kind, target, MESSAGES, repro))
    started = time.monotonic()

    # Round 0: no kill; measures how long a run takes.
    r = world.new_round(0)
    res = r.run()
    typical = measured = res.elapsed
    t = r.check_final(res)
    assert not r.problems, (
        "%s, round 0 (no kill) already fails:\n  %s\n%s" % (
            kind, "\n  ".join(r.problems), repro))
    assert t.duplicates == 0
    shutil.rmtree(r.dir)

    kills = duplicates = messages = rounds = attempts = stuck = 0
    failures = []
    n = 0
    while kills < target:
        n += 1
        r = world.new_round(n)
        burst = min(rng.choice(BURSTS), target - kills)
        for i in range(burst):
            attempts += 1
            res = r.run(kill_after=rng.uniform(0, typical))
            if res.hung:
                r.problems.append("a run hung: " + res.outcome())
                break
            if not res.killed:
                if res.rc != EX_OK:
                    r.problems.append("a run not killed failed: "
                                      + res.outcome())
                elif i == 0:
                    # A whole run, faster than the first measurement (a
                    # load spike then would waste most kills).
                    typical = min(typical, res.elapsed)
                break           # done before the kill: nothing left
            r.check_after_kill()
        res = r.run()
        t = r.check_final(res)
        kills += r.kills
        duplicates += t.duplicates
        messages += len(r.originals)
        rounds += 1
        if r.problems:
            failures.append("round %d (%s; %d kills, %d duplicates):\n  %s"
                            % (n, r.history(), r.kills, t.duplicates,
                               "\n  ".join(r.problems)))
            # Leftovers on the server would spoil the next round: empty
            # it ourselves and go on, unless that keeps happening.
            if server_messages(dovecot):
                stuck += 1
                if stuck == 3:
                    failures.append("stopped after 3 rounds that left "
                                    "mail on the server")
                    break
                empty_server(dovecot)
        else:
            shutil.rmtree(r.dir)        # kept for inspection on failure
        if attempts > 6 * target + 20:
            failures.append("only %d kills landed in %d attempts (typical "
                            "run %.3f s)" % (kills, attempts, typical))
            break

    summary = ("crash %s: %d kills, %d duplicates observed, %d messages "
               "in %d rounds (+1 without kill), typical run %.2f s "
               "(first measured %.2f s), %.1f s in all, seed %r"
               % (kind, kills, duplicates, messages, rounds, typical,
                  measured, time.monotonic() - started, SEED))
    print(summary)
    assert not failures, "%s\n%s\n%s" % (
        summary, "\n".join(failures[:10]), repro)


# ---- kills at chosen points -------------------------------------------------

# (id, kind, messages, traced path, syscall, which call, what it tests).
# strace SIGKILLs mailferry as it enters that call, before it runs.
KILL_POINTS = [
    # A batch's files are synced by syncfs (core/syncer.c): at the end of
    # the batch, and in the background every 4 MB while it is written.
    ("maildir-background-sync", "maildir", "many-large", None, "syncfs", 1,
     "a background pass of the syncer, the batch still being written"),
    ("maildir-batch-sync", "maildir", "small", None, "syncfs", 1,
     "a whole batch staged in tmp/, the syncfs that makes it durable "
     "about to run"),
    ("maildir-staged-not-journalled", "maildir", "small", "store", "write",
     1, "a batch staged in tmp/ and synced, its names not yet journalled"),
    ("maildir-journalled-not-moved", "maildir", "small", "new", "renameat2",
     1, "names journalled (P lines), nothing moved to new/ yet"),
    ("maildir-mid-commit", "maildir", "small", "new", "renameat2", 20,
     "19 of a batch moved to new/, the rest still in tmp/"),
    ("maildir-moved-dir-not-synced", "maildir", "small", "new", "fsync", 1,
     "a whole batch moved to new/, the directory not yet synced"),
    ("maildir-moved-not-recorded", "maildir", "small", "store", "write", 2,
     "a whole batch in new/, its + records not written"),
    # mbox: a batch is appended under one lock, synced, journalled, then
    # unlocked (the dotlock removed, its directory synced), then recorded.
    # The lock is made whole and linked into place (pid, offset -1);
    # the offset is then recorded by renaming a new record over it: the
    # run's first rename (strace's -P does not match rename's target, so
    # no path filter here).
    ("mbox-dotlock-without-record", "mbox", "small", None,
     "rename,renameat,renameat2", 1,
     "the dotlock taken, the batch's offset not yet recorded in it"),
    ("mbox-mid-append", "mbox", "large", "mbox", "write", 2,
     "the first 128 KB of a 600 KB message appended"),
    # Each 600 KB message takes five writes of at most 128 KB.
    ("mbox-mid-batch", "mbox", "large", "mbox", "write", 7,
     "a batch's first message appended, its second partly, nothing "
     "synced or journalled"),
    ("mbox-synced-not-journalled", "mbox", "small", "store", "write", 1,
     "a batch appended and synced, the dotlock still held, no P record"),
    ("mbox-journalled-not-unlocked", "mbox", "small", "lock", "unlink", 1,
     "a batch synced and journalled (P lines), the dotlock still held"),
    ("mbox-unlocked-dir-not-synced", "mbox", "small", "mboxdir", "fsync", 1,
     "a batch journalled, the dotlock removed, its directory not synced"),
    ("mbox-unlocked-not-recorded", "mbox", "small", "store", "write", 2,
     "a batch journalled and unlocked, no + record"),
    ("smtp-accepted-not-recorded", "smtp", "small", "store", "write", 1,
     "a message accepted with 250, no + record"),
]


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p[0] for p in
                                                     KILL_POINTS])
def test_kill_at_chosen_point(point, dovecot, tmp_path, request):
    """SIGKILL at an exact step of the delivery, then a clean run: the
    same checks as the random kills, at the points that matter most."""
    why = strace_supported()
    if why is not None:
        pytest.skip(why)
    name, kind, size, traced, syscall, when, what = point
    sink = (request.getfixturevalue("smtp_sink") if kind == "smtp"
            else None)
    # A shorter timeout: a dotlock left behind costs that long.
    world = World(kind, dovecot, tmp_path, sink, timeout=5)
    if size == "small":
        # No message over mbox's 256 KB write buffer: one write each.
        msgs = [m for m in mailgen.generate(100, seed="point-" + name)
                if len(m) <= SMALL_LIMIT]
    elif size == "large":
        msgs = sized_messages(6, 600_000, "point-" + name)
    else:
        # Over 4 MB in one batch: the syncer starts a pass on its way.
        msgs = sized_messages(12, 600_000, "point-" + name)
    r = world.new_round(0, msgs)
    res = r.run(prefix=strace_kill([r.path(traced)] if traced else [],
                                   syscall, when))
    assert res.killed, ("the kill point (%s call %d on %s) was never "
                        "reached: %s" % (syscall, when, traced,
                                         res.outcome()))
    state = r.describe_state()
    if name in ("mbox-mid-append", "mbox-mid-batch"):
        assert "partial" in state, "no partial message after the kill: " \
            + state
    if name == "mbox-mid-batch":
        assert "1 complete and 1 partial" in state, "not one complete " \
            "message and a partial one after the kill: " + state
    r.check_after_kill()
    res = r.run()
    t = r.check_final(res)
    assert not r.problems, "killed at %s (%s; then: %s):\n  %s" % (
        name, what, state, "\n  ".join(r.problems))
    print("kill point %s: %d messages, %d duplicates; after the kill: %s"
          % (name, len(msgs), t.duplicates, state))


# ---- kills anywhere in the commit path --------------------------------------

# The system calls of a batch's commit, by kind: (syscall, traced path).
# Durability (syncfs, the mbox's fsync; a Maildir file's pages dropped
# once synced, which only Maildir files get), the journal and the records
# (the UID store's writes and fsyncs), making the batch visible (renames
# into new/ and its fsync; the dotlock's removal and its directory's
# fsync).
COMMIT_CALLS = {
    "maildir": [("syncfs", None), ("fadvise64", None), ("write", "store"),
                ("fsync", "store"), ("renameat2", "new"), ("fsync", "new")],
    "mbox": [("write", "mbox"), ("fsync", "mbox"), ("write", "store"),
             ("fsync", "store"), ("unlink", "lock"), ("fsync", "mboxdir")],
}
COMMIT_KILLS = env_int("MAILFERRY_CRASH_COMMIT_KILLS", 20, minimum=2)


def count_calls(r, trace_file):
    """{(syscall, path name): calls} in an `strace -f -y` output of a
    clean run of round R."""
    with open(trace_file) as f:
        lines = f.read().splitlines()
    counts = {}
    for call, traced in COMMIT_CALLS[r.w.kind]:
        pat = re.compile(r"^(?:\d+ +)?%s\(" % call)
        path = None if traced is None else str(r.path(traced))
        n = 0
        for line in lines:
            if not pat.match(line):
                continue
            # A descriptor shows as FD<PATH>, a path as "PATH".
            if path is None or "<%s>" % path in line or \
                    '"%s"' % path in line:
                n += 1
        counts[(call, traced)] = n
    return counts


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_kills_in_the_commit_path(kind, dovecot, tmp_path):
    """SIGKILL at a random call of a batch's commit (one of
    COMMIT_CALLS, then any one of its calls in a run), then a clean run:
    nothing lost, nothing duplicated (a batch is journalled, so no kill
    in it may cost a duplicate), nothing left behind. Rounds of 150 small
    messages, two or three batches each (the count bound grows from 64
    after a cheap commit); MAILFERRY_CRASH_COMMIT_KILLS kills
    (default 20) split between the two kinds."""
    why = strace_supported()
    if why is not None:
        pytest.skip(why)
    kills = COMMIT_KILLS // 2
    rng = random.Random("%s:commit:%s" % (SEED, kind))
    world = World(kind, dovecot, tmp_path, None, timeout=5)

    def small(tag):
        return [m for m in mailgen.generate(170, seed=tag)
                if len(m) <= SMALL_LIMIT][:150]

    # A clean round under strace: which calls happen, how often.
    r = world.new_round(0, small("commit-%s-0" % kind))
    trace = tmp_path / "trace"
    res = r.run(prefix=without_leak_check() + [
        "strace", "-f", "-qq", "-y", "-o", str(trace), "-e",
        "trace=%s" % ",".join(sorted({c for c, _ in COMMIT_CALLS[kind]}))])
    t = r.check_final(res)
    assert not r.problems and t.duplicates == 0, "\n".join(r.problems)
    counts = count_calls(r, trace)
    assert all(counts.values()), "a commit call never happened: %s" % counts
    failures = []
    for k in range(1, kills + 1):
        # Each kind of call as likely as any other, whatever its count.
        call, traced = rng.choice(sorted(counts, key=str))
        when = rng.randint(1, counts[(call, traced)])
        r = world.new_round(k, small("commit-%s-%d" % (kind, k)))
        res = r.run(prefix=strace_kill([r.path(traced)] if traced else [],
                                       call, when))
        where = "%s call %d%s" % (call, when,
                                  " on %s" % traced if traced else "")
        if not res.killed:
            failures.append("round %d: the kill at %s never happened: %s"
                            % (k, where, res.outcome()))
            continue
        state = r.describe_state()
        r.check_after_kill()
        res = r.run()
        t = r.check_final(res)
        if t.duplicates:
            r.problems.append("%d duplicates" % t.duplicates)
        if r.problems:
            failures.append("round %d, killed at %s (then: %s):\n  %s" % (
                k, where, state, "\n  ".join(r.problems)))
            if server_messages(dovecot):
                empty_server(dovecot)
        else:
            shutil.rmtree(r.dir)
    print("commit path %s: %d kills, at calls of a run of %s" % (
        kind, kills, ", ".join(
            "%s%s x%d" % (c, " " + p if p else "", n)
            for (c, p), n in counts.items())))
    assert not failures, "\n".join(failures[:10])
