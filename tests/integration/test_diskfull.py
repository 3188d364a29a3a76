"""A full disk (mailferry(1), GUARANTEES: whatever happens, "a full disk
at any moment" included, "every message is on the server, or delivered,
or both"), on tiny tmpfs mounts (root only; skipped elsewhere).

1. The destination fills up mid-run (a Maildir or an mbox on a 2 MB
   tmpfs, more mail than fits, keep = false; UID store and state_dir on
   the normal disk): the run stops with exit 75 and an error naming the
   full disk; every message gone from the server is byte-identical at
   the destination, nothing partial is there (new/ holds only complete
   messages, tmp/ nothing, the mbox parses and ends where its last
   complete message ends); with the file system grown, the next run
   delivers the rest without duplicates and empties the server.

2. The state_dir (UID store, locks, spool of large messages) is on a full
   or nearly full tmpfs and the Maildir on the normal disk: the run exits
   75 with a clear error, no message leaves the server unless its UID is
   recorded and it is in the Maildir; once there is room again the next
   run completes, nothing lost, at most one duplicate per failed run.
"""

import os
import re

import pytest

import mfconf
from crashkit import (EX_OK, EX_TEMPFAIL, NO_SPACE_RE, Tmpfs, describe,
                      digest, message_id, mount_supported, read_maildir,
                      read_mbox, run_clean, server_messages, sized_messages,
                      store_records, tally)
from harness import write_config

RUN_LIMIT = 120.0
# Over mailferry's 1 MB in-memory spool: spooled to a file in state_dir.
BIG = 1_500_000


@pytest.fixture(scope="module")
def can_mount():
    why = mount_supported()
    if why is not None:
        pytest.skip(why)


@pytest.fixture
def tmpfs(can_mount):
    """mount(dir, size) -> Tmpfs; every mount is undone after the test,
    whatever happened."""
    mounts = []

    def mount(dir, size):
        fs = Tmpfs(dir, size)
        mounts.append(fs)
        return fs

    try:
        yield mount
    finally:
        for fs in reversed(mounts):
            fs.close()


def config(path, state, dest, dovecot):
    acct = mfconf.account("alice", dovecot, keep=False)
    write_config(path, mfconf.config(state, {"inbox": dest}, [acct],
                                     timeout=10))
    return path


def fill_server(dovecot, msgs):
    for m in msgs:
        dovecot.deliver("alice", m)


def dest_messages(kind, path, problems):
    """Complete messages at the destination; format problems appended to
    PROBLEMS."""
    if kind == "maildir":
        md = read_maildir(path)
        if md.tmp:
            problems.append("%d files left in Maildir tmp/: %s"
                            % (len(md.tmp), md.tmp[:3]))
        if md.other:
            problems.append("unexpected entries in the Maildir: %s"
                            % md.other[:5])
        return md.new
    mb = read_mbox(path)
    problems += mb.problems
    if mb.lock_left:
        problems.append("the dotlock %s.lock was left behind" % path)
    return mb.messages


def check(msgs, got, on_server, problems, max_duplicates=0):
    """Nothing lost (gone from the server means delivered), nothing
    partial or altered delivered, duplicates within the bound."""
    t = tally(msgs, got, also_present=on_server)
    for m in t.lost[:5]:
        problems.append("LOST: gone from the server, not delivered: "
                        + describe(m))
    if len(t.lost) > 5:
        problems.append("... %d lost in all" % len(t.lost))
    for m in t.unknown[:5]:
        problems.append("delivered message is no original (partial or "
                        "altered): " + describe(m))
    if t.duplicates > max_duplicates:
        problems.append("%d duplicates (at most %d allowed): %s" % (
            t.duplicates, max_duplicates,
            "; ".join("%s x%d" % (describe(m), c)
                      for m, c in t.duplicated[:5])))
    return t


def all_gone_from_server(dovecot, state, problems):
    """After a completed run with keep = false: nothing on the server and
    nothing in the UID store."""
    left = server_messages(dovecot)
    if left:
        problems.append("%d messages still on the server with keep = "
                        "false, e.g. %s" % (len(left), describe(left[0])))
    recs = store_records(state)
    if recs:
        problems.append("the UID store still holds %d records with the "
                        "server empty: %s" % (len(recs), recs[:3]))


def error_lines(stderr):
    return [l for l in stderr.splitlines() if l.strip()]


# ---- 1. the destination fills up --------------------------------------------

SUMMARY = re.compile(r"^alice: (\d+) new, (\d+) delivered, 0 deleted by "
                     r"rules, (\d+) failed, [^,]*(?:, (\d+) left for the "
                     r"next run)?", re.M)


def kept_what_fitted(res, count, size, delivered, on_server):
    """The messages complete at the destination before the disk filled
    are kept (not rolled back with the batch they were in), and the run
    says how many wait for the next one: its summary adds up."""
    # 2 MB of room: all but the last message or two of those that fit.
    assert delivered >= 2_000_000 // size // 2, (
        "only %d of %d messages kept when the disk filled: the batch "
        "complete before it was rolled back?\n%s"
        % (delivered, count, res.outcome()))
    m = SUMMARY.search(res.stdout)
    assert m, "no summary line: " + res.outcome()
    new, done, failed, left = (int(g or 0) for g in m.groups())
    assert (new, done, failed + left) == (count, delivered, on_server), (
        "summary against what happened (%d delivered, %d on the "
        "server): %s" % (delivered, on_server, m.group(0)))
    assert ("alice: %d new messages wait on the server for the next run"
            % on_server) in res.stderr, res.outcome()

@pytest.mark.parametrize("kind,count,size", [
    ("maildir", 40, 100_000),
    # Small messages: whole batches are committed before the disk fills.
    ("maildir", 300, 12_000),
    ("mbox", 40, 100_000),
])
def test_destination_disk_fills_mid_run(kind, count, size, dovecot,
                                        tmp_path, tmpfs):
    msgs = sized_messages(count, size, "diskfull-%s-%d" % (kind, count))
    fill_server(dovecot, msgs)
    fs = tmpfs(tmp_path / "disk", "2m")
    path = os.path.join(fs.dir, "Maildir" if kind == "maildir"
                        else "mail.mbox")
    dest = (mfconf.maildir(path) if kind == "maildir"
            else {"type": "mbox", "path": path})
    state = tmp_path / "state"             # on the normal disk
    conf = config(tmp_path / "mailferry.conf", state, dest, dovecot)

    res = run_clean(conf, log_dir=str(tmp_path), limit=RUN_LIMIT)
    assert not res.hung, res.outcome()
    assert res.rc == EX_TEMPFAIL, (
        "a full destination disk must end the run with exit 75: "
        + res.outcome())
    assert NO_SPACE_RE.search(res.stderr), (
        "the error should say the disk is full: " + res.outcome())

    problems = []
    on_server = server_messages(dovecot)
    got = dest_messages(kind, path, problems)
    t = check(msgs, got, on_server, problems)
    first = len(got)
    assert not problems, "after the disk filled (%s):\n  %s\n%s" % (
        "%d of %d messages at the destination, %d on the server"
        % (len(got), count, len(on_server)), "\n  ".join(problems),
        res.outcome())
    kept_what_fitted(res, count, size, first, len(on_server))

    # Room again: the next run delivers the rest, each message once.
    fs.resize("64m")
    res2 = run_clean(conf, log_dir=str(tmp_path), limit=RUN_LIMIT)
    assert not res2.hung and res2.rc == EX_OK, (
        "after growing the file system: " + res2.outcome())
    problems = []
    got = dest_messages(kind, path, problems)
    t = check(msgs, got, [], problems)
    all_gone_from_server(dovecot, state, problems)
    if t.delivered != count:
        problems.append("%d of %d messages delivered" % (t.delivered,
                                                         count))
    assert not problems, "after the second run:\n  %s\nfirst run:\n%s\n" \
        "second run:\n%s" % ("\n  ".join(problems), res.outcome(),
                             res2.outcome())
    print("diskfull %s: %d x %d bytes on a 2 MB tmpfs: first run exit %d "
          "with %d delivered (%s), second run delivered the rest, "
          "0 duplicates" % (kind, count, size, res.rc, first,
                            error_lines(res.stderr)[-1:]))


def test_second_destination_fills_first_keeps_its_copy(dovecot, tmp_path,
                                                      tmpfs):
    """Each message goes to two Maildirs, the second on the small disk.
    The message the disk fills on has reached the first: that copy is
    kept and remembered, so the next run delivers it to the second only;
    in the end each Maildir holds every message once."""
    count, size = 40, 100_000
    msgs = sized_messages(count, size, "diskfull-two")
    fill_server(dovecot, msgs)
    fs = tmpfs(tmp_path / "disk", "2m")
    roomy, small = tmp_path / "Roomy", os.path.join(fs.dir, "Small")
    state = tmp_path / "state"
    acct = mfconf.account("alice", dovecot, keep=False,
                          deliver=["roomy", "small"])
    conf = tmp_path / "mailferry.conf"
    write_config(conf, mfconf.config(
        state, {"roomy": mfconf.maildir(roomy),
                "small": mfconf.maildir(small)}, [acct], timeout=10))

    res = run_clean(conf, log_dir=str(tmp_path), limit=RUN_LIMIT)
    assert not res.hung and res.rc == EX_TEMPFAIL, res.outcome()
    problems = []
    on_server = server_messages(dovecot)
    got_small = dest_messages("maildir", small, problems)
    got_roomy = dest_messages("maildir", roomy, problems)
    check(msgs, got_small, on_server, problems)
    assert not problems, "\n".join(problems) + res.outcome()
    # The first destination got one more: the message the disk filled on.
    assert len(got_roomy) == len(got_small) + 1, (
        len(got_roomy), len(got_small), res.outcome())
    kept_what_fitted(res, count, size, len(got_small), len(on_server))

    fs.resize("64m")
    res2 = run_clean(conf, log_dir=str(tmp_path), limit=RUN_LIMIT)
    assert not res2.hung and res2.rc == EX_OK, res2.outcome()
    problems = []
    for path in (roomy, small):
        t = check(msgs, dest_messages("maildir", path, problems), [],
                  problems)
        if t.delivered != count:
            problems.append("%s: %d of %d messages" % (path, t.delivered,
                                                      count))
    all_gone_from_server(dovecot, state, problems)
    assert not problems, "after the second run:\n  %s\n%s\n%s" % (
        "\n  ".join(problems), res.outcome(), res2.outcome())


# ---- 2. the state_dir fills up ----------------------------------------------

def server_uids(dovecot):
    """{UID: Message-ID} of alice's mailbox, through POP3 (UIDL, TOP n 0);
    read-only: the session ends with QUIT but deletes nothing."""
    pop = dovecot.pop3()
    try:
        _, lines, _ = pop.uidl()
        out = {}
        for line in lines:
            num, uid = line.decode().split()
            _, head, _ = pop.top(int(num), 0)
            mid = None
            for h in head:
                m = re.match(rb"Message-ID:\s*(\S+)", h, re.I)
                if m:
                    mid = m.group(1).decode()
            out[uid] = mid
        return out
    finally:
        pop.quit()


def store_plus(state):
    """UIDs with a "+" (delivered) record in alice's UID store."""
    return {l.split()[1] for l in store_records(state)
            if l.startswith("+ ")}


# (name, what is left free on the state_dir's tmpfs, messages, size,
#  one large message over the 1 MB memory spool at this index or None)
STATE_CASES = [
    # The first journal write fails: nothing can be recorded.
    ("full", 0, 150, 10_000, None),
    # The first batch's records fit, the second batch's do not.
    ("fills-mid-run", 8192, 150, 10_000, None),
    # Every record fits, the compaction after QUIT does not: the
    # deletions took effect, so they must all be recorded.
    ("compaction", 4096, 30, 10_000, None),
    # A message too large for memory is spooled in state_dir: the spool
    # file cannot grow.
    ("spool", 8192, 20, 10_000, 10),
]


@pytest.mark.parametrize("case", STATE_CASES, ids=[c[0] for c in
                                                   STATE_CASES])
def test_state_dir_disk_full(case, dovecot, tmp_path, tmpfs):
    name, leave, count, size, big_at = case
    msgs = sized_messages(count, size, "statefull-%s" % name)
    if big_at is not None:
        msgs[big_at] = sized_messages(1, BIG, "statefull-big")[0]
    fill_server(dovecot, msgs)
    before = server_uids(dovecot)
    by_mid = {m: u for u, m in before.items()}
    assert len(by_mid) == count

    fs = tmpfs(tmp_path / "statefs", "4m")
    state = os.path.join(fs.dir, "state")
    os.mkdir(state, 0o700)
    filler = fs.fill(leave=leave)
    maildir = tmp_path / "Maildir"          # on the normal disk
    conf = config(tmp_path / "mailferry.conf", state,
                  mfconf.maildir(maildir), dovecot)

    res = run_clean(conf, log_dir=str(tmp_path), limit=RUN_LIMIT)
    assert not res.hung, res.outcome()
    assert res.rc == EX_TEMPFAIL, (
        "a full state_dir must end the run with exit 75: " + res.outcome())
    assert NO_SPACE_RE.search(res.stderr), (
        "the error should say the disk is full: " + res.outcome())

    problems = []
    on_server = server_messages(dovecot)
    got = dest_messages("maildir", maildir, problems)
    check(msgs, got, on_server, problems, max_duplicates=0)
    # Nothing left the server without being recorded (and delivered).
    now = set(server_uids(dovecot))
    gone = set(before) - now
    recorded = store_plus(state)
    delivered = {digest(m) for m in got}
    mid_of = {message_id(m): m for m in msgs}
    for uid in sorted(gone - recorded)[:5]:
        problems.append("UID %s (%s) left the server but is not recorded "
                        "in the UID store" % (uid, before[uid]))
    for uid in sorted(gone):
        m = mid_of.get(before[uid])
        if m is not None and digest(m) not in delivered:
            problems.append("UID %s (%s) left the server but is not in the "
                            "Maildir" % (uid, before[uid]))
    assert not problems, (
        "state_dir full (%s): %d of %d delivered, %d gone from the server, "
        "%d recorded:\n  %s\n%s" % (name, len(got), count, len(gone),
                                    len(recorded), "\n  ".join(problems[:20]),
                                    res.outcome()))
    first = len(got)

    # Room again.
    os.unlink(filler)
    res2 = run_clean(conf, log_dir=str(tmp_path), limit=RUN_LIMIT)
    assert not res2.hung and res2.rc == EX_OK, (
        "with room in state_dir again: " + res2.outcome())
    problems = []
    got = dest_messages("maildir", maildir, problems)
    t = check(msgs, got, [], problems, max_duplicates=1)
    all_gone_from_server(dovecot, state, problems)
    assert not problems, "after the second run:\n  %s\nfirst run:\n%s\n" \
        "second run:\n%s" % ("\n  ".join(problems), res.outcome(),
                             res2.outcome())
    print("statefull %s: %d messages, %d bytes free: first run exit %d with "
          "%d delivered, %d deleted (%s); second run: rest delivered, %d "
          "duplicates" % (name, count, leave, res.rc, first, len(gone),
                          error_lines(res.stderr)[-1:], t.duplicates))
