"""Operations: daemon mode (-d) and the progress line, against a private
Dovecot. What mailferry(1) (DAEMON MODE, OUTPUT:
Progress, EXIT STATUS) promises:

- `-d SECONDS` polls at start and then every SECONDS, each fetch in a
  process of its own; SIGUSR1 polls at once; SIGHUP reads the
  configuration again, keeping the old one when the new one is broken;
  SIGTERM/SIGINT let the fetches under way finish the messages already
  requested, record them, QUIT, and the daemon exits 0.
- A failing account backs off (doubling its delay, up to an hour) while
  the others keep their pace.
- On a terminal, a fetch over a second shows a progress line on stderr,
  redrawn in place and erased at the end; never when stderr is not a
  terminal, nor with -q, nor with several accounts fetched at once.

The daemons run with -d 3600 (or 60), so after the first poll only the
test's signals make them poll. Slow fetches go through lib/daemonkit.py's
DelayProxy, which trickles Dovecot's replies. Terminals come from a
private tmux server.
"""

import base64
import collections
import os
import random
import re
import signal
import socket
import time

import pytest

import imapkit
import mailgen
import mfconf
from daemonkit import (DelayProxy, MailferryDaemon, Tmux, summary_lines,
                       wait_until)
from harness import mailferry_path, run_mailferry, write_config
from msgcheck import digest

EX_OK = 0
STORE_MAGIC = "mailferry-uids 1"
# What the progress line looks like (mailferry(1), OUTPUT: Progress):
# "NAME: D/T messages, X MB of Y MB, R MB/s, M:SS left".
SIZE = r"[\d.]+ [KMG]B"
PROGRESS_RE = (r"(?P<account>[\w.-]+)(?: \"(?P<folder>[^\"]+)\")?: "
               r"(?P<done>\d+)/(?P<total>\d+) "
               r"messages, %s of %s, %s/s(?:, (?P<left>\d+:\d\d) left)?"
               % (SIZE, SIZE, SIZE))


# ---- helpers --------------------------------------------------------------

class World:
    """One test's files: configuration, state directory, Maildir."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.conf = tmp_path / "mailferry.conf"
        self.state = tmp_path / "state"
        self.maildir = tmp_path / "Maildir"

    def write(self, accounts, **globals):
        text = mfconf.config(self.state,
                             {"inbox": mfconf.maildir(self.maildir)},
                             accounts, **globals)
        write_config(self.conf, text)
        return text

    def daemon(self, interval=3600, *args):
        return MailferryDaemon(self.conf, interval, *args, dir=self.dir)


def subject_of(m):
    s = re.search(rb"^Subject: ([^\n]*)", m, re.M)
    return s.group(1).decode(errors="replace") if s else None


def new_messages(maildir):
    """Messages in MAILDIR/new (bytes, by name); [] before it exists."""
    d = os.path.join(maildir, "new")
    if not os.path.isdir(d):
        return []
    out = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out.append(f.read())
    return out


def maildir_files(maildir):
    """{sub: [names]} for tmp, new and cur."""
    out = {}
    for sub in ("tmp", "new", "cur"):
        d = os.path.join(maildir, sub)
        out[sub] = sorted(os.listdir(d)) if os.path.isdir(d) else []
    return out


def fetch_started(maildir):
    """True once a fetch has staged or delivered a message in MAILDIR."""
    return any(maildir_files(maildir)[sub] for sub in ("tmp", "new"))


def subjects(maildir):
    return sorted(subject_of(m) for m in new_messages(maildir))


def store_lines(state_dir, account):
    """The record lines of ACCOUNT's UID store (after the header)."""
    path = os.path.join(state_dir, "%s.uids" % account)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), \
        "%s does not end with a newline" % path
    lines = text.splitlines()
    if not lines:
        return []
    assert lines[0] == STORE_MAGIC, "%s: first line %r" % (path, lines[0])
    return lines[1:]


def server_uid_map(dovecot, user="alice"):
    """{content digest: UID} of the messages on the server now, by a
    read-only POP3 session (UIDL; message n is Dovecot's n-th file)."""
    uids = dovecot.uids(user)
    stored = dovecot.stored_messages(user)
    assert len(uids) == len(stored), "UIDL lists %d, the Maildir holds %d" \
        % (len(uids), len(stored))
    return {digest(m): u for m, u in zip(stored, uids)}


def pop3_logouts(dovecot, user="alice"):
    """Dovecot's log lines for ended POP3 sessions of USER, in order
    ("Disconnected: Logged out top=..., retr=N/BYTES, del=N/TOTAL, ..."
    after a QUIT)."""
    return [l for l in dovecot.log_text().splitlines()
            if re.search(r"pop3\(%s\).*Disconnected" % re.escape(user), l)]


def big_messages(n, seed, lo=50_000, hi=200_000):
    """N distinct messages of LO..HI bytes (a base64 body)."""
    rng = random.Random("daemon:%s" % seed)
    out = []
    for i in range(n):
        body = base64.encodebytes(rng.randbytes(rng.randint(lo, hi) * 3 // 4))
        out.append(mailgen.message(subject="%s %d" % (seed, i),
                                   body=body.decode(),
                                   headers={"X-Index": str(i)}))
    return out


def deliver_all(dovecot, msgs, user="alice"):
    for m in msgs:
        dovecot.deliver(user, m)


def assert_no_duplicates(msgs, what):
    c = collections.Counter(map(digest, msgs))
    dups = [d for d, k in c.items() if k > 1]
    assert not dups, "%s: %d messages delivered more than once" % (
        what, len(dups))


# ---- 1. SIGUSR1 -----------------------------------------------------------

def test_sigusr1_polls_at_once(dovecot, tmp_path):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, keep=True)])
    first = [mailgen.message(subject="before start %d" % i) for i in range(3)]
    deliver_all(dovecot, first)

    with w.daemon(3600) as d:
        # The first poll happens at start.
        s = d.wait_summaries("alice", 1)
        assert (s["new"], s["delivered"], s["failed"]) == ("3", "3", "0"), \
            s.group(0)
        assert subjects(w.maildir) == sorted("before start %d" % i
                                             for i in range(3))
        # Without /dev/log, -d says once that it logs to stderr instead.
        if not os.path.exists("/dev/log"):
            assert d.err().count("no syslog here") == 1, d.report()
        d.wait_idle()

        for round_ in range(1, 3):
            more = [mailgen.message(subject="round %d msg %d" % (round_, i))
                    for i in range(2)]
            deliver_all(dovecot, more)
            d.signal(signal.SIGUSR1)
            d.wait_for(lambda: len(new_messages(w.maildir)) == 3 + 2 * round_,
                       "the SIGUSR1 poll to deliver round %d" % round_)
            s = d.wait_summaries("alice", 1 + round_)
            assert (s["new"], s["delivered"]) == ("2", "2"), s.group(0)
            d.wait_idle()

        got = new_messages(w.maildir)
        assert_no_duplicates(got, "Maildir")
        assert sorted(map(digest, got)) == sorted(
            map(digest, dovecot.stored_messages("alice"))), \
            "the Maildir should hold exactly the server's messages"
        # Nothing polled without being asked: one poll at start, one per
        # SIGUSR1.
        assert len(d.summaries("alice")) == 3, d.report()
        assert "SIGUSR1" in d.err(), d.report()
        rc = d.stop()
    assert rc == EX_OK, d.report()


def test_sigusr1_during_a_fetch_is_not_lost(dovecot, tmp_path):
    """A SIGUSR1 that arrives while the account is being fetched asks for
    a poll that sees mail delivered after that fetch listed the mailbox:
    it must lead to another poll once the fetch ends, not be dropped
    until the next interval (an hour here)."""
    deliver_all(dovecot, big_messages(60, "slow", 20_000, 40_000))
    w = World(tmp_path)
    with DelayProxy(dovecot.pop3_port, delay=0.03, chunk=8192) as proxy:
        w.write([mfconf.account("alice", dovecot, port=proxy.port,
                                keep=True)])
        with w.daemon(3600) as d:
            # The first poll is under way and has listed the mailbox.
            d.wait_for(lambda: fetch_started(w.maildir),
                       "the first poll to start fetching")
            assert not d.summaries("alice"), \
                "the first poll ended too soon for this test:\n" + d.report()
            late = mailgen.message(subject="arrived during the fetch")
            dovecot.deliver("alice", late)
            d.signal(signal.SIGUSR1)
            s = d.wait_summaries("alice", 1, timeout=60)
            assert s["new"] == "60", s.group(0)
            # The poll SIGUSR1 asked for follows.
            d.wait_for(lambda: "arrived during the fetch" in
                       subjects(w.maildir),
                       "the message delivered before SIGUSR1 to be fetched "
                       "by a poll after the one under way", timeout=15)
            assert d.stop() == EX_OK, d.report()


# ---- 2. SIGHUP ------------------------------------------------------------

DROP_RULE = {"name": "drop-subject",
             "match": {"header": "Subject", "regex": "^drop"},
             "action": "delete"}


def test_sighup_rereads_the_configuration_and_keeps_it_when_broken(
        dovecot, tmp_path):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, keep=True)])
    with w.daemon(3600) as d:
        d.wait_summaries("alice", 1)
        d.wait_idle()

        # A rule added: after SIGHUP, it is in force.
        text_with_rule = w.write([mfconf.account("alice", dovecot, keep=True,
                                                 rules=[DROP_RULE])])
        d.signal(signal.SIGHUP)
        d.wait_stderr(r"configuration read again")
        deliver_all(dovecot, [mailgen.message(subject="drop me 1"),
                              mailgen.message(subject="keep me 1")])
        d.signal(signal.SIGUSR1)
        s = d.wait_summaries("alice", 2)
        assert (s["new"], s["delivered"], s["deleted"]) == ("2", "1", "1"), \
            s.group(0)
        assert subjects(w.maildir) == ["keep me 1"]
        on_server = [subject_of(m) for m in dovecot.stored_messages("alice")]
        assert on_server == ["keep me 1"], \
            "the rule deletes from the server even with keep = true"
        d.wait_idle()

        # A broken configuration: reported, and the old one stays.
        broken = text_with_rule.replace("accounts = (", "accounts = ((", 1)
        write_config(w.conf, broken)
        d.signal(signal.SIGHUP)
        m = d.wait_stderr(r"the new configuration has errors.*keeping the "
                          r"old one")
        err = d.err()
        before = err[:m[0].start()]
        assert re.search(r"%s:\d+: " % re.escape(str(w.conf)), before), \
            "the error should name the file and line:\n" + d.report()
        assert d.running()
        deliver_all(dovecot, [mailgen.message(subject="drop me 2"),
                              mailgen.message(subject="keep me 2")])
        d.signal(signal.SIGUSR1)
        s = d.wait_summaries("alice", 3)
        assert (s["new"], s["delivered"], s["deleted"]) == ("2", "1", "1"), \
            "the old configuration (with its rule) should still be in " \
            "force: " + s.group(0)
        assert subjects(w.maildir) == ["keep me 1", "keep me 2"]
        d.wait_idle()

        # A semantic error (an unknown destination) is refused the same way.
        bad_dest = w.write([mfconf.account("alice", dovecot, keep=True,
                                           deliver="nowhere")])
        d.signal(signal.SIGHUP)
        d.wait_stderr(r"keeping the old one", count=2)
        line = mfconf.line_of(bad_dest, '"nowhere"')
        assert re.search(r"%s:%d: " % (re.escape(str(w.conf)), line),
                         d.err()), d.report()

        # A good configuration again (no rule): taken.
        w.write([mfconf.account("alice", dovecot, keep=True)])
        d.signal(signal.SIGHUP)
        d.wait_stderr(r"configuration read again", count=2)
        dovecot.deliver("alice", mailgen.message(subject="drop me 3"))
        d.signal(signal.SIGUSR1)
        s = d.wait_summaries("alice", 4)
        assert (s["new"], s["delivered"], s["deleted"]) == ("1", "1", "0"), \
            s.group(0)
        assert subjects(w.maildir) == ["drop me 3", "keep me 1", "keep me 2"]
        rc = d.stop()
    assert rc == EX_OK, d.report()


def test_sighup_during_a_fetch_applies_from_the_next_poll(dovecot,
                                                         tmp_path):
    """A fetch under way finishes with the configuration it started with;
    the next poll uses the new one."""
    deliver_all(dovecot, [mailgen.message(subject="drop early %d" % i,
                                          body="x" * 30_000)
                          for i in range(60)])
    w = World(tmp_path)
    with DelayProxy(dovecot.pop3_port, delay=0.03, chunk=8192) as proxy:
        w.write([mfconf.account("alice", dovecot, port=proxy.port,
                                keep=True)])
        with w.daemon(3600) as d:
            d.wait_for(lambda: fetch_started(w.maildir),
                       "the first poll to start fetching")
            w.write([mfconf.account("alice", dovecot, port=proxy.port,
                                    keep=True, rules=[DROP_RULE])])
            d.signal(signal.SIGHUP)
            d.wait_stderr(r"configuration read again")
            assert not d.summaries("alice"), \
                "the first poll ended too soon for this test:\n" + d.report()
            s = d.wait_summaries("alice", 1, timeout=60)
            assert (s["new"], s["delivered"], s["deleted"]) == (
                "60", "60", "0"), \
                "the fetch under way should finish with the old " \
                "configuration: " + s.group(0)
            d.wait_idle()
            dovecot.deliver("alice", mailgen.message(subject="drop late"))
            d.signal(signal.SIGUSR1)
            s = d.wait_summaries("alice", 2, timeout=60)
            assert (s["new"], s["delivered"], s["deleted"]) == (
                "1", "0", "1"), s.group(0)
            assert d.stop() == EX_OK, d.report()
    assert "drop late" not in subjects(w.maildir)
    assert len(new_messages(w.maildir)) == 60


def test_account_option_limits_the_daemon(dovecot, tmp_path):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot),
             mfconf.account("bob", dovecot)])
    dovecot.deliver("bob", mailgen.message(subject="for bob"))
    with w.daemon(3600, "-a", "alice") as d:
        d.wait_summaries("alice", 1)
        d.wait_stderr(r"polling every 3600 s: 1 account\(s\)")
        d.wait_idle()
        d.signal(signal.SIGUSR1)
        d.wait_summaries("alice", 2)
        d.wait_idle()
        assert d.summaries("bob") == [], d.report()
        assert d.stop() == EX_OK, d.report()
    assert subjects(w.maildir) == []
    assert dovecot.count("bob") == 1


# ---- 3. SIGTERM during a fetch --------------------------------------------

@pytest.mark.parametrize("sig,keep", [
    (signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, False),
], ids=["SIGTERM-keep-false", "SIGTERM-keep-true", "SIGINT-keep-false"])
def test_stop_signal_during_a_fetch_loses_nothing(dovecot, tmp_path, sig,
                                                   keep):
    total = 400
    msgs = big_messages(total, "stop", 50_000, 150_000)
    deliver_all(dovecot, msgs)
    original = dovecot.stored_messages("alice")
    uid_of = server_uid_map(dovecot)
    assert len(uid_of) == total

    sessions_before = len(pop3_logouts(dovecot))
    w = World(tmp_path)
    # About 40 MB at some 8 MB/s: several seconds of fetching.
    with DelayProxy(dovecot.pop3_port, delay=0.008, chunk=65536) as proxy:
        w.write([mfconf.account("alice", dovecot, port=proxy.port,
                                keep=keep)])
        with w.daemon(3600) as d:
            d.wait_for(lambda: len(maildir_files(w.maildir)["new"]) > 0,
                       "the Maildir to start filling", timeout=60)
            d.signal(sig)
            signalled = time.monotonic()
            rc = d.wait(30)
            took = time.monotonic() - signalled
            report = d.report()
            out = d.out()
            assert rc == EX_OK, report
    assert took < 30, report
    s = summary_lines(out, "alice")
    assert len(s) == 1, report
    # The fetch under way stopped early ...
    files = maildir_files(w.maildir)
    assert files["tmp"] == [], "tmp/ leftovers: %s" % files["tmp"][:5]
    assert files["cur"] == []
    got = new_messages(w.maildir)
    assert 0 < len(got) < total, \
        "the stop should have cut the fetch short: %d of %d fetched\n%s" \
        % (len(got), total, report)
    assert int(s[0]["delivered"]) == len(got), s[0].group(0)
    assert int(s[0]["failed"]) == 0, s[0].group(0)
    # ... whole messages only, each one of the server's, once.
    original_digests = {digest(m) for m in original}
    partial = [m for m in got if digest(m) not in original_digests]
    assert not partial, "%d files in new/ are not messages of the server " \
        "(partial?); first: %d bytes" % (len(partial), len(partial[0]))
    assert_no_duplicates(got, "Maildir after the stop")
    got_digests = {digest(m) for m in got}

    # Recorded: what is in the Maildir, and nothing else.
    lines = store_lines(w.state, "alice")
    bad = [l for l in lines if not re.fullmatch(r"\+ \S+ \d+", l)]
    assert not bad, "unexpected UID store records: %s" % bad[:5]
    recorded = {l.split()[1] for l in lines}
    delivered_uids = {uid_of[h] for h in got_digests}
    left = dovecot.stored_messages("alice")
    left_digests = {digest(m) for m in left}
    left_uids = {uid_of[h] for h in left_digests}
    assert not recorded & (left_uids - delivered_uids), \
        "UIDs recorded for messages that were never delivered (they " \
        "would never be fetched): %s" % sorted(
            recorded & (left_uids - delivered_uids))[:5]
    if keep:
        assert recorded == delivered_uids, \
            "with keep = true every delivered message is recorded: %d " \
            "recorded, %d delivered, %d delivered but not recorded" % (
                len(recorded), len(delivered_uids),
                len(delivered_uids - recorded))
        assert left_digests == original_digests
    else:
        # Delivered, recorded, deleted, and QUIT made the deletions stick.
        assert not got_digests & left_digests, \
            "%d delivered messages are still on the server (no QUIT?)" % len(
                got_digests & left_digests)
        assert got_digests | left_digests == original_digests, \
            "%d messages are neither in the Maildir nor on the server" % len(
                original_digests - got_digests - left_digests)

    # Every RETR sent was answered, its message delivered and recorded
    # (and with keep = false deleted): none was left half-read.
    logout = wait_until(
        lambda: pop3_logouts(dovecot)[sessions_before:],
        10, "Dovecot to log the end of the daemon's session",
        details=dovecot.log_text)
    assert len(logout) == 1, logout
    assert "Logged out" in logout[0], \
        "the session should end with QUIT: " + logout[0]
    retr, dele = (int(x) for x in re.search(r"retr=(\d+)/.*del=(\d+)/",
                                            logout[0]).groups())
    assert retr == len(got), "the server sent %d messages, %d were " \
        "delivered: %s" % (retr, len(got), logout[0])
    assert dele == (0 if keep else len(got)), logout[0]

    # A one-shot run (straight to Dovecot) fetches the rest; nothing
    # twice, nothing missing.
    w.write([mfconf.account("alice", dovecot, keep=keep)])
    rc, out, err = run_mailferry(w.conf)
    assert rc == EX_OK, "exit %s\n%s%s" % (rc, out, err)
    s = summary_lines(out, "alice")
    assert len(s) == 1 and int(s[0]["new"]) == total - len(got), out
    final = new_messages(w.maildir)
    assert_no_duplicates(final, "Maildir after the one-shot run")
    assert {digest(m) for m in final} == original_digests
    assert len(final) == total
    assert maildir_files(w.maildir)["tmp"] == []


def test_sigterm_when_idle_exits_at_once(dovecot, tmp_path):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot)])
    with w.daemon(3600) as d:
        d.wait_summaries("alice", 1)
        d.wait_idle()
        started = time.monotonic()
        rc = d.stop(timeout=10)
        assert rc == EX_OK, d.report()
        assert time.monotonic() - started < 5, d.report()
        assert len(d.summaries("alice")) == 1, "no new poll on the way out"


def test_no_fetch_starts_after_sigterm(dovecot, tmp_path):
    """With parallel = 1, bob waits for alice's fetch; a SIGTERM during
    that fetch ends the daemon without starting bob's."""
    deliver_all(dovecot, big_messages(60, "alice-slow", 20_000, 40_000))
    dovecot.deliver("bob", mailgen.message(subject="for bob"))
    w = World(tmp_path)
    with DelayProxy(dovecot.pop3_port, delay=0.03, chunk=8192) as proxy:
        w.write([mfconf.account("alice", dovecot, port=proxy.port),
                 mfconf.account("bob", dovecot, port=proxy.port)],
                parallel=1)
        with w.daemon(3600) as d:
            d.wait_for(lambda: fetch_started(w.maildir),
                       "alice's fetch to start")
            d.signal(signal.SIGTERM)
            rc = d.wait(30)
            assert rc == EX_OK, d.report()
            assert len(d.summaries("alice")) == 1, d.report()
            assert d.summaries("bob") == [], \
                "a fetch started after SIGTERM:\n" + d.report()
    assert "for bob" not in subjects(w.maildir)
    assert dovecot.count("bob") == 1


# ---- 4. a failing account backs off ---------------------------------------

def test_failing_account_backs_off_while_others_keep_going(dovecot,
                                                           tmp_path):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot),
             mfconf.account("bob", dovecot, password="wrong-password")])
    interval = 60
    with w.daemon(interval) as d:
        d.wait_summaries("alice", 1)
        d.wait_summaries("bob", 1)
        d.wait_stderr(r"bob: failed \(exit status 77\); next attempt in "
                      r"%d s" % (2 * interval))
        d.wait_idle()
        err = d.err()
        assert re.search(r"bob: .*(refused|failed)", err), d.report()
        assert not re.search(r"alice: failed", err), d.report()

        for n in range(1, 4):
            msg = mailgen.message(subject="for alice %d" % n)
            dovecot.deliver("alice", msg)
            d.signal(signal.SIGUSR1)
            d.wait_for(lambda: ("for alice %d" % n) in subjects(w.maildir),
                       "alice's message %d to be delivered" % n)
            s = d.wait_summaries("alice", 1 + n)
            assert (s["new"], s["delivered"]) == ("1", "1"), s.group(0)
            # SIGUSR1 polls every account, the failing one included, and
            # each failure doubles its delay.
            d.wait_stderr(r"bob: failed \(exit status 77\); next attempt "
                          r"in %d s" % (interval * 2 ** (n + 1)))
            d.wait_idle()

        delays = [int(x) for x in re.findall(
            r"bob: failed \(exit status 77\); next attempt in (\d+) s",
            d.err())]
        assert delays == [120, 240, 480, 960], d.report()
        assert "alice: failed" not in d.err(), d.report()
        assert len(d.summaries("alice")) == 4
        assert len(d.summaries("bob")) == 4
        assert d.stop() == EX_OK, d.report()


@pytest.mark.parametrize("interval,delays", [
    (1000, [2000, 3600, 3600]),
    # An interval over an hour is the cap itself.
    (5000, [5000, 5000, 5000]),
])
def test_backoff_is_capped_at_an_hour(dovecot, tmp_path, interval, delays):
    w = World(tmp_path)
    w.write([mfconf.account("bob", dovecot, password="wrong-password")])
    with w.daemon(interval) as d:
        rx = r"bob: failed \(exit status 77\); next attempt in (\d+) s"
        d.wait_stderr(rx)
        for n in range(2, 4):
            d.wait_idle()
            d.signal(signal.SIGUSR1)
            d.wait_stderr(rx, count=n)
        got = [int(x) for x in re.findall(rx, d.err())]
        assert got == delays, d.report()
        assert d.stop() == EX_OK, d.report()


# ---- 5. progress ------------------------------------------------------------

PROGRESS_MSGS = 300


@pytest.fixture
def slow_mailbox(dovecot):
    """300 messages of 10-20 KB behind a proxy that makes fetching them
    take several seconds; yields the proxy."""
    deliver_all(dovecot, big_messages(PROGRESS_MSGS, "progress",
                                      10_000, 20_000))
    with DelayProxy(dovecot.pop3_port, delay=0.02, chunk=16384) as proxy:
        yield proxy


def run_in_terminal(argv, timeout=90):
    """Run ARGV in a tmux terminal, capturing the screen every 50 ms;
    returns (exit status, [screens while it ran], final screen)."""
    screens = []
    with Tmux(width=200, height=50) as tm:
        tm.run(argv)
        deadline = time.monotonic() + timeout
        while tm.exit_status() is None:
            assert time.monotonic() < deadline, \
                "still running after %s s; screen:\n%s" % (timeout,
                                                           tm.capture())
            screens.append(tm.capture())
            time.sleep(0.05)
        final = tm.capture()
        return tm.exit_status(), screens, final


def progress_matches(screen, account=None):
    out = []
    for line in screen.splitlines():
        m = re.fullmatch(PROGRESS_RE, line.rstrip())
        if m and (account is None or m["account"] == account):
            out.append(m)
    return out


def assert_progress_alone(line):
    """A screen line showing progress shows nothing else. (A capture may
    catch a line half drawn, so only its start is required to be the
    progress line's.)"""
    if "messages, " in line or "/s, " in line:
        # The progress line holds ": " once, after the account name.
        assert re.match(r"[\w.-]+(?: \"[^\"]+\")?: \d+/\d+ messages, ",
                        line) \
            and line.count(": ") == 1, \
            "progress mixed with other text: %r" % line


def test_progress_line_on_a_terminal(dovecot, slow_mailbox, tmp_path):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, port=slow_mailbox.port)])
    rc, screens, final = run_in_terminal([mailferry_path(), "-f", w.conf])
    assert rc == EX_OK, final

    seen = [m for s in screens for m in progress_matches(s, "alice")]
    assert seen, "no progress line seen in %d screens; last ones:\n%s" % (
        len(screens), "\n---\n".join(screens[-3:]))
    assert all(int(m["total"]) == PROGRESS_MSGS for m in seen), \
        [m.group(0) for m in seen]
    done = [int(m["done"]) for m in seen]
    assert done == sorted(done), "progress went backwards: %s" % done
    assert len(set(done)) >= 2, "the progress line was not redrawn: %s" \
        % done
    assert any(m["left"] for m in seen), \
        "no time left shown: %s" % [m.group(0) for m in seen]
    # Redrawn in place: never two progress lines on one screen.
    for s in screens:
        assert len(progress_matches(s)) <= 1, s
    # No line of the screen mixes progress with other text.
    for s in screens:
        for line in s.splitlines():
            assert_progress_alone(line)

    # At the end: the summary line, and no progress left over.
    assert not progress_matches(final), final
    assert "messages, " not in final, final
    lines = [l for l in final.splitlines() if l.strip()]
    assert len(summary_lines(final, "alice")) == 1, final
    s = summary_lines(final, "alice")[0]
    assert (s["new"], s["delivered"]) == (str(PROGRESS_MSGS),
                                          str(PROGRESS_MSGS)), final
    assert lines == [s.group(0)], \
        "only the summary line should remain on the screen:\n" + final


def test_progress_line_of_each_imap_folder(dovecot, ca, tmp_path):
    """An IMAP account of two folders: each folder's line names it and
    counts its own messages (its total is known once it is listed)."""
    per_folder = {"INBOX": 120, "Lists/dev": 80}
    dovecot.create_folder("Lists/dev")
    for folder, n in per_folder.items():
        dovecot.append(big_messages(n, "imap-" + folder, 10_000, 20_000),
                       folder=folder)
    w = World(tmp_path)
    with DelayProxy(dovecot.imap_port, delay=0.02, chunk=16384) as proxy:
        w.write([imapkit.account("alice", dovecot, tls="starttls",
                                 port=proxy.port, tls_ca_file=ca.ca_file,
                                 folders=list(per_folder))])
        rc, screens, final = run_in_terminal([mailferry_path(), "-f",
                                              w.conf])
    assert rc == EX_OK, final
    seen = [m for s in screens for m in progress_matches(s, "alice")]
    folders = [m["folder"] for m in seen]
    assert set(folders) == set(per_folder), \
        "progress lines seen: %s" % [m.group(0) for m in seen]
    # INBOX first, then Lists/dev, each counting its own messages.
    assert folders == sorted(folders, key=list(per_folder).index), folders
    for m in seen:
        assert int(m["total"]) == per_folder[m["folder"]], m.group(0)
    for s in screens:
        assert len(progress_matches(s)) <= 1, s
    assert not progress_matches(final), final
    s = summary_lines(final, "alice")
    assert len(s) == 1 and s[0]["new"] == "200", final


def test_no_progress_when_stderr_is_not_a_terminal(dovecot, slow_mailbox,
                                                   tmp_path):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, port=slow_mailbox.port)])
    started = time.monotonic()
    rc, out, err = run_mailferry(w.conf)
    took = time.monotonic() - started
    assert rc == EX_OK, out + err
    assert took > 2, "the fetch was too fast (%.1f s) to show that " \
        "progress is held back" % took
    assert "\r" not in err and "\033" not in err, repr(err[:300])
    assert "messages, " not in err, err
    assert err == "", err
    s = summary_lines(out, "alice")
    assert len(s) == 1 and s[0]["new"] == str(PROGRESS_MSGS), out
    assert "\r" not in out and "\033" not in out, repr(out)


def test_no_progress_with_quiet_on_a_terminal(dovecot, slow_mailbox,
                                              tmp_path):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, port=slow_mailbox.port)])
    rc, screens, final = run_in_terminal([mailferry_path(), "-q", "-f",
                                          w.conf])
    assert rc == EX_OK, final
    assert len(screens) > 20, "the fetch was too fast to tell"
    for s in screens + [final]:
        assert s.strip() == "", "-q should print nothing:\n" + s
    assert len(new_messages(w.maildir)) == PROGRESS_MSGS


def test_no_progress_with_accounts_in_parallel(dovecot, slow_mailbox,
                                               tmp_path):
    deliver_all(dovecot, big_messages(100, "bob-progress", 10_000, 20_000),
                user="bob")
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, port=slow_mailbox.port),
             mfconf.account("bob", dovecot, port=slow_mailbox.port)],
            parallel=2)
    rc, screens, final = run_in_terminal([mailferry_path(), "-f", w.conf])
    assert rc == EX_OK, final
    assert len(screens) > 20, "the fetch was too fast to tell"
    for s in screens + [final]:
        assert "messages, " not in s, \
            "no progress line with accounts fetched at once:\n" + s
    assert len(summary_lines(final, "alice")) == 1, final
    assert len(summary_lines(final, "bob")) == 1, final


def test_log_lines_do_not_mix_with_the_progress_line(dovecot, slow_mailbox,
                                                     tmp_path):
    """With -v a line is logged per message while the progress line is
    shown: each erases the progress line first, so no screen line holds
    both."""
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, port=slow_mailbox.port)])
    rc, screens, final = run_in_terminal([mailferry_path(), "-v", "-f",
                                          w.conf])
    assert rc == EX_OK, final
    seen = [m for s in screens for m in progress_matches(s, "alice")]
    assert seen, "no progress line seen with -v; last screen:\n" + (
        screens[-1] if screens else "")
    for s in screens + [final]:
        for line in s.splitlines():
            assert_progress_alone(line)
        assert len(progress_matches(s)) <= 1, s
    assert not progress_matches(final), final
    assert len(summary_lines(final, "alice")) == 1, final


# ---- syslog ---------------------------------------------------------------

@pytest.fixture
def dev_log():
    """A datagram socket at /dev/log standing in for syslogd. Only where
    the machine has no syslog of its own and the tests may create one
    (as root, as in CI); elsewhere the lines would go to the real one."""
    if os.path.exists("/dev/log"):
        pytest.skip("/dev/log exists: its syslog daemon would get the lines")
    if not os.access("/dev", os.W_OK):
        pytest.skip("cannot create /dev/log")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("/dev/log")
    try:
        yield s
    finally:
        s.close()
        os.unlink("/dev/log")


def syslog_records(sock):
    """[(facility, severity, text)] of the datagrams waiting on SOCK."""
    out = []
    sock.setblocking(False)
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return out
        m = re.match(rb"<(\d+)>(.*)", data, re.S)
        assert m, "not a syslog datagram: %r" % data
        pri = int(m.group(1))
        out.append((pri >> 3, pri & 7, m.group(2).decode(errors="replace")))


LOG_MAIL = 2


def test_syslog_gets_every_line_with_facility_mail(dovecot, tmp_path,
                                                    dev_log):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, keep=True)])
    deliver_all(dovecot, [mailgen.message(subject="to syslog %d" % i)
                          for i in range(2)])

    rc, out, err = run_mailferry(w.conf, "--syslog", "-v")
    assert rc == EX_OK, err
    recs = syslog_records(dev_log)
    texts = [t for _, _, t in recs]
    assert recs, "nothing reached /dev/log; stderr: %s" % err
    for facility, _, text in recs:
        assert facility == LOG_MAIL, "facility %d: %r" % (facility, text)
        assert re.search(r"mailferry\[\d+\]: ", text), text
        assert dovecot.users["alice"] not in text
    # One line per message at -v, and the account's summary line.
    assert sum("delivering to inbox" in t for t in texts) == 2, texts
    assert any("alice: 2 new, 2 delivered" in t for t in texts), texts
    # Nothing of it on the terminal: syslog replaces stderr.
    assert "delivering" not in err and "2 new" not in err + out, err
    assert subjects(w.maildir) == ["to syslog 0", "to syslog 1"]
