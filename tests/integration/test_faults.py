"""Fault injection: mailferry against a hostile or broken POP3 server
(lib/fakepop3.py). What mailferry(1) (GUARANTEES, EXIT STATUS) promises when a server drops
the connection, stalls, trickles, lies, sends garbage, over-long lines or
odd UIDs, or refuses with -ERR:

  (a) the exit status (75 transient, 77 login refused, 69 unreachable or
      unverifiable), never 0 when a message could not be fetched;
  (b) a clear error on stderr naming the problem;
  (c) the Maildir and the UID store hold exactly the messages completely
      fetched before the fault, and nothing of the failed one (no file in
      new/, tmp/ or anywhere else, no UID record);
  (d) a bounded run: mailferry's `timeout` is 2 s where the server stalls
      or trickles on purpose (the timeout must fire), 30 s elsewhere (a
      fake server answers well within it even on a machine at load 10),
      the outer limit of run_mailferry 60 s;
and that the next run, with the fault gone, delivers nothing twice and,
with keep = false, deletes what the interrupted run delivered. A session
that breaks after the listing is not the end of the run: mailferry
reconnects to delete what it delivered and to fetch the rest, leaving
only the message that broke the session (test_isolate.py has more).
"""

import hashlib
import os
import poplib
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter

import pytest

import mailgen
import mfconf
from fakepop3 import TEN_MB, FakePOP3, Fault, Message, encode_multiline
from harness import Result, mailferry_path, retr, run_mailferry, write_config

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 0, 69, 75, 77, 78

USER, PASSWORD = "alice", "fault-test-pw"
# mailferry's `timeout`: short where the test waits for it to fire (a
# server that stalls, trickles or never ends a reply), generous where it
# must not (a busy machine can delay a fake server's prompt answer).
STALL_TIMEOUT = 2
TIMEOUT = 30
WAITED_OUT = {"stall", "trickle", "endless"}
OUTER = 60                      # run_mailferry's limit: "bounded" means this
STORE_MAGIC = "mailferry-uids 1"
# Peak memory allowed for a run facing a 10 MB line or a 24 MB message
# announced as 1000 bytes. mailferry needs about 7 MB; a client that held
# the line or the message in memory would need 20 MB or more. A
# sanitizer build may need MAILFERRY_TEST_RSS_LIMIT_MB set higher.
RSS_LIMIT_MB = int(os.environ.get("MAILFERRY_TEST_RSS_LIMIT_MB", "20"))


# ---- helpers ----------------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_stray_threads():
    yield
    left = [t.name for t in threading.enumerate()
            if t.name.startswith("fakepop3")]
    assert not left, "fake POP3 server threads left running: %s" % left


def timeout_for(srv):
    """mailferry's `timeout` against SRV: STALL_TIMEOUT when one of its
    faults only ends when the timeout or a reply's deadline runs out."""
    waited = any(f.action in WAITED_OUT for f in srv.faults)
    return STALL_TIMEOUT if waited else TIMEOUT


def make_messages(n, tag, body_lines=400):
    """N messages, each with a token (TOKEN) that appears nowhere else, in
    its header and all through its body, plus lines that need stuffing."""
    out = []
    for i in range(1, n + 1):
        token = "TOKEN%dx%s" % (i, tag)
        body = "".join(
            "%s line %d of message %d %s\n" % (token, k, i, "." * (k % 3))
            + (".\n..%s\n" % token if k % 50 == 0 else "")
            for k in range(body_lines))
        data = mailgen.message(subject="[%s] message %d %s" % (tag, i, token),
                               body=body)
        out.append(Message(data, "UID-%s-%d" % (tag, i)))
    return out


def token_of(m):
    return re.search(rb"TOKEN\d+x\S+", m.data).group(0)


class World:
    """One test's mailferry: configuration, Maildir and state under
    tmp_path."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.conf = tmp_path / "mailferry.conf"
        self.maildir = tmp_path / "Maildir"
        self.state = tmp_path / "state"
        self.outputs = []

    def configure(self, srv, timeout=None, **extra):
        timeout = timeout or timeout_for(srv)
        extra.setdefault("auth", "user")
        extra.setdefault("password", PASSWORD)
        acct = mfconf.account(USER, None, server="127.0.0.1", port=srv.port,
                              tls=extra.pop("tls", "none"), **extra)
        text = mfconf.config(self.state,
                             {"inbox": mfconf.maildir(self.maildir)},
                             [acct], timeout=timeout)
        write_config(self.conf, text)
        return text

    def run(self, *args, env=None):
        started = time.monotonic()
        rc, out, err = run_mailferry(self.conf, *args, timeout=OUTER,
                                     env=env)
        res = Result(rc, out, err, time.monotonic() - started)
        self.outputs.append(res)
        return res

    def files(self, sub):
        d = self.maildir / sub
        return sorted(os.listdir(d)) if d.is_dir() else []

    def delivered(self):
        return [(self.maildir / "new" / n).read_bytes()
                for n in self.files("new")]

    def records(self):
        """Every record line of the UID store ([] when there is none)."""
        path = self.state / ("%s.uids" % USER)
        if not path.exists():
            return []
        lines = path.read_text().split("\n")
        assert lines[-1] == "", "%s does not end with a newline" % path
        lines = lines[:-1]
        if lines:
            assert lines[0] == STORE_MAGIC, "%s: bad first line %r" % (
                path, lines[0])
        return lines[1:]

    def stored_uids(self):
        """The UIDs of the "+" records."""
        out = []
        for rec in self.records():
            f = rec.split(" ")
            if f[0] == "+":
                assert len(f) == 3 and f[2].isdigit(), "bad record %r" % rec
                out.append(f[1])
        return out

    def all_files(self):
        for root, dirs, files in os.walk(self.dir):
            for f in files:
                yield os.path.join(root, f)


def explain(res, srv):
    return "%s\n--- server transcript ---\n%s" % (res, srv.transcript())


def assert_failed(res, srv, code, pattern):
    """Exit CODE (never 0) and an error on stderr matching PATTERN."""
    assert res.rc == code, "expected exit %d: %s" % (code, explain(res, srv))
    assert re.search(pattern, res.err, re.I), (
        "stderr should name the problem (/%s/): %s" % (pattern,
                                                       explain(res, srv)))


def assert_mailbox_state(w, srv, fetched, failed, res=None, recorded=None):
    """Maildir/new holds exactly FETCHED (each once), tmp/ and cur/ are
    empty, the UID store records exactly their UIDs (or those of RECORDED,
    when deletions made it forget some), and no file anywhere under the
    test directory holds a byte of a FAILED message's token."""
    def ctx():          # only built for a failure message
        return explain(res, srv) if res is not None else srv.transcript()

    got = Counter(w.delivered())
    want = Counter(m.data for m in fetched)
    if got != want:
        subj = lambda d: re.search(rb"Subject: (.*)", d).group(1).decode()
        raise AssertionError(
            "Maildir/new: expected %s, got %s\n%s"
            % (sorted(subj(d) for d in want.elements()),
               sorted(subj(d) for d in got.elements()), ctx()))
    for sub in ("tmp", "cur"):
        assert w.files(sub) == [], "Maildir/%s holds %s\n%s" % (
            sub, w.files(sub), ctx())
    uids = w.stored_uids()
    recorded = fetched if recorded is None else recorded
    assert sorted(uids) == sorted(str(m.uid) for m in recorded), (
        "UID store: expected %s, got %s\n%s"
        % (sorted(str(m.uid) for m in recorded), uids, ctx()))
    # An "F" line (fetch it last next time) or an "L" line (over max_size)
    # records trouble, not delivery.
    bad = [r for r in w.records() if not r.startswith(("F ", "L "))
           and any(str(m.uid) in r.split(" ") for m in failed)]
    assert not bad, "UID store mentions failed messages: %s" % bad
    tokens = [token_of(m) for m in failed]
    for path in w.all_files():
        if path == str(w.conf):
            continue
        with open(path, "rb") as f:
            data = f.read()
        for t in tokens:
            assert t not in data, (
                "%s holds (part of) the failed message with %s\n%s"
                % (path, t.decode(), ctx()))


def assert_only_broken_left(w, srv, msgs, broken, res, mark="F"):
    """The session broke on BROKEN (one of MSGS) after the listing: the run
    reconnected, delivered every other message and (keep = false) deleted
    it in the same run. BROKEN alone is still on the server, undelivered,
    and only marked: to be fetched last ("F"), or set aside for being
    over max_size ("L")."""
    others = [m for m in msgs if m is not broken]
    assert_mailbox_state(w, srv, others, [broken], res, recorded=[])
    assert srv.mailbox_data() == [broken.data], (
        "only the message that broke the session should be left on the "
        "server:\n" + explain(res, srv))
    assert any(r.startswith("%s %s " % (mark, broken.uid))
               for r in w.records()), w.records()
    assert "reconnecting to go on" in res.err, res.err


def assert_after_fault(w, srv, msgs, cmd, n_ok, res):
    """A fault at CMD after N_OK messages came whole: a RETR or TOP one
    broke the session on message N_OK + 1 and only that one is left
    (assert_only_broken_left); any other left the run with the first
    N_OK delivered and the server untouched."""
    if cmd in ("RETR", "TOP"):
        assert_only_broken_left(w, srv, msgs, msgs[n_ok], res)
        return
    assert_mailbox_state(w, srv, msgs[:n_ok], msgs[n_ok:], res)
    assert srv.mailbox_data() == [m.data for m in msgs], (
        "a run without QUIT deleted messages")


def assert_resumes(w, srv, msgs, keep):
    """The fault gone, the next run delivers the rest and nothing twice;
    with keep = false it also deletes what was delivered before."""
    srv.faults = []
    res = w.run()
    assert res.rc == EX_OK, "the run after the fault failed: " + explain(
        res, srv)
    got = Counter(w.delivered())
    assert got == Counter(m.data for m in msgs), (
        "after the next run every message should be delivered exactly "
        "once; got %d files for %d messages\n%s"
        % (sum(got.values()), len(msgs), explain(res, srv)))
    assert w.files("tmp") == [], w.files("tmp")
    if keep:
        assert srv.mailbox_data() == [m.data for m in msgs], (
            "keep = true: the server lost messages\n" + explain(res, srv))
        assert sorted(w.stored_uids()) == sorted(m.uid for m in msgs)
    else:
        left = [token_of(m).decode() for m in srv.mailbox()]
        assert left == [], ("keep = false: these messages are still on the "
                            "server after the next run: %s\n%s"
                            % (left, explain(res, srv)))
        assert w.stored_uids() == [], (
            "UIDs of deleted messages should be forgotten: %s"
            % w.stored_uids())
    return res


GNU_TIME = "/usr/bin/time"


def run_measured(w, *args, env=None):
    """Like World.run, also measuring mailferry's peak memory, which the
    harness's run_mailferry does not report: returns (Result, peak
    resident set size in KB, or None when GNU time is not installed).

    The peak comes from GNU time, which forks mailferry from a small
    process: the ru_maxrss of a child forked directly from pytest would
    include pytest's own memory at the fork."""
    if not os.access(GNU_TIME, os.X_OK):
        return w.run(*args, env=env), None
    fd, report = tempfile.mkstemp(prefix="mf-rss-")
    os.close(fd)
    try:
        started = time.monotonic()
        rc, out, err = _run_under_time(report, w.conf, args, env)
        res = Result(rc, out, err, time.monotonic() - started)
        with open(report) as f:
            lines = f.read().split()
    finally:
        os.unlink(report)
    w.outputs.append(res)
    return res, int(lines[-1])


def _run_under_time(report, conf, args, env=None):
    cmd = [GNU_TIME, "-o", report, "-f", "%M", mailferry_path(), "-f",
           str(conf), *map(str, args)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=OUTER)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError("mailferry ran over %d s:\n%s" % (
            OUTER, err.decode(errors="replace")))
    # GNU time exits with the command's status.
    return (proc.returncode, out.decode(errors="replace"),
            err.decode(errors="replace"))


def assert_bounded_memory(peak_kb, res):
    if peak_kb is None:
        return                          # no GNU time: not measured
    assert peak_kb < RSS_LIMIT_MB * 1024, (
        "mailferry's peak memory was %.1f MB (limit %d MB): %s"
        % (peak_kb / 1024, RSS_LIMIT_MB, res))


def server(msgs, **kw):
    kw.setdefault("users", {USER: PASSWORD})
    return FakePOP3(msgs, **kw)


# ---- 1. dropped connections -------------------------------------------------

# (fault cmd, fault arg, fault params, auth, messages fully fetched before
# the fault: an int N means the first N)
DROPS = {
    "greeting-nothing": ("GREETING", None, {"nbytes": 0}, "user", 0),
    "greeting-half": ("GREETING", None, {"nbytes": 7}, "user", 0),
    "capa-listing": ("CAPA", None, {"fraction": 0.5}, "user", 0),
    "user": ("USER", None, {"nbytes": 0}, "user", 0),
    "pass": ("PASS", None, {"nbytes": 2}, "user", 0),
    "auth-plain": ("AUTH", None, {"nbytes": 0}, "plain", 0),
    "list-listing": ("LIST", None, {"fraction": 0.6}, "user", 0),
    "uidl-listing": ("UIDL", None, {"fraction": 0.6}, "user", 0),
    "retr1-status": ("RETR", "1", {"nbytes": 0}, "user", 0),
    "retr3-status-half": ("RETR", "3", {"nbytes": 5}, "user", 2),
    "retr3-mid-message": ("RETR", "3", {"fraction": 0.5}, "user", 2),
    "retr3-mid-message-rst": ("RETR", "3", {"fraction": 0.5, "rst": True},
                              "user", 2),
    "retr3-no-terminator": ("RETR", "3", {"nbytes": -3}, "user", 2),
    "retr3-terminator-no-lf": ("RETR", "3", {"nbytes": -1}, "user", 2),
    "retr5-last": ("RETR", "5", {"fraction": 0.9}, "user", 4),
}


@pytest.mark.parametrize("pipelining", [True, False],
                         ids=["pipelining", "no-pipelining"])
@pytest.mark.parametrize("case", list(DROPS))
def test_dropped_connection(tmp_path, case, pipelining):
    cmd, arg, params, auth, n_ok = DROPS[case]
    msgs = make_messages(5, "drop")
    w = World(tmp_path)
    with server(msgs, pipelining=pipelining,
                faults=[Fault(cmd, "drop", arg=arg, **params)]) as srv:
        w.configure(srv, keep=False, auth=auth)
        res = w.run()
        assert srv.fired(), "the fault did not fire:\n" + srv.transcript()
        assert_failed(res, srv, EX_TEMPFAIL,
                      r"closed by the server|reset by peer")
        if params.get("rst"):
            # The reset may discard the end of an earlier message the
            # client had not read yet: that one broke the session then.
            [left] = srv.mailbox()
            assert left in msgs[:n_ok + 1], explain(res, srv)
            assert_only_broken_left(w, srv, msgs, left, res)
        else:
            assert_after_fault(w, srv, msgs, cmd, n_ok, res)
        assert_resumes(w, srv, msgs, keep=False)


@pytest.mark.parametrize("reconnect", [True, False],
                         ids=["reconnect", "reconnect-refused"])
@pytest.mark.parametrize("cmd", ["DELE", "QUIT"])
def test_dropped_after_delivery_keep_false(tmp_path, cmd, reconnect):
    """Everything was delivered; the drop comes at DELE or QUIT, so no
    deletion takes effect in that session. A second session deletes all
    of them without delivering any again: in the same run (exit 0, the
    drop only a warning), or, when the server refuses the reconnection,
    in the next run (this one exits 75) (mailferry(1), GUARANTEES)."""
    msgs = make_messages(4, "dele")
    w = World(tmp_path)
    faults = [Fault(cmd, "drop", nbytes=0)]
    if not reconnect:
        faults.append(Fault("GREETING", "err", code="SYS/TEMP", conn=2))
    with server(msgs, faults=faults) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert srv.fired()[0] == (cmd, "drop"), srv.transcript()
        if reconnect:
            assert res.rc == EX_OK, explain(res, srv)
            assert re.search(r"warning: .*(closed by the server|reset by "
                             r"peer)", res.err), res.err
            assert_mailbox_state(w, srv, msgs, [], res, recorded=[])
            assert srv.mailbox() == [], explain(res, srv)
        else:
            assert_failed(res, srv, EX_TEMPFAIL, r"SYS/TEMP")
            assert_mailbox_state(w, srv, msgs, [], res)
            assert len(srv.mailbox()) == 4
            assert_resumes(w, srv, msgs, keep=False)
        # The second session sent DELE for every message and no RETR.
        second = srv.connections[-1].commands()
        assert "RETR" not in second, second
        assert second.count("DELE") == 4, second


REMOVAL_FAULTS = {     # Fault arguments (a Fault counts, so one per test)
    "quit-never-answered": (("QUIT", "stall"), {}),
    "quit-refused": (("QUIT", "err"), {"code": "SYS/TEMP"}),
    "quit-dropped": (("QUIT", "drop"), {}),
    "dele3-dropped": (("DELE", "drop"), {"arg": "3"}),
}


@pytest.mark.parametrize("reconnect", [True, False],
                         ids=["reconnect", "reconnect-refused"])
@pytest.mark.parametrize("case", list(REMOVAL_FAULTS))
def test_summary_claims_no_removal_without_quit(tmp_path, case, reconnect):
    """DELE only marks a message; it leaves the server at the UPDATE
    state, after QUIT. When QUIT got no +OK nothing was removed, and the
    summary must not say "N removed from the server" (mailferry(1)); what
    a second session removes, it counts."""
    msgs = make_messages(4, "summary")
    w = World(tmp_path)
    args, kw = REMOVAL_FAULTS[case]
    faults = [Fault(*args, **kw)]
    if not reconnect:
        faults.append(Fault("GREETING", "err", code="SYS/TEMP", conn=2))
    with server(msgs, faults=faults) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert srv.fired(), srv.transcript()
        assert res.rc == (EX_OK if reconnect else EX_TEMPFAIL), (
            explain(res, srv))
        gone = 4 - len(srv.mailbox())
        assert gone == (4 if reconnect else 0), explain(res, srv)
        claim = re.search(r"(\d+) removed from the server", res.out)
        assert int(claim.group(1) if claim else 0) == gone, (
            "the summary claims %s messages were removed from the server, "
            "but %d were:\n%s" % (claim and claim.group(1), gone, res.out))


def test_greet_and_hang_up(tmp_path):
    msgs = make_messages(2, "hangup")
    w = World(tmp_path)
    with server(msgs, faults=[Fault("GREETING", "close_after")]) as srv:
        w.configure(srv)
        res = w.run()
        assert_failed(res, srv, EX_TEMPFAIL, r"closed by the server")
        assert_mailbox_state(w, srv, [], msgs, res)
        assert_resumes(w, srv, msgs, keep=True)


# ---- 2. -ERR replies --------------------------------------------------------

# (fault cmd, arg, code, auth, expected exit, stderr pattern, fetched)
ERRS = {
    "greeting-sys-temp": ("GREETING", None, "SYS/TEMP", "user", EX_TEMPFAIL,
                          r"SYS/TEMP", 0),
    "greeting-sys-perm": ("GREETING", None, "SYS/PERM", "user",
                          EX_UNAVAILABLE, r"SYS/PERM", 0),
    "user-no-code": ("USER", None, None, "user", EX_NOPERM, r"refused", 0),
    "pass-no-code": ("PASS", None, None, "user", EX_NOPERM, r"refused", 0),
    "pass-auth": ("PASS", None, "AUTH", "user", EX_NOPERM, r"refused", 0),
    "pass-in-use": ("PASS", None, "IN-USE", "user", EX_TEMPFAIL, r"IN-USE",
                    0),
    "pass-sys-temp": ("PASS", None, "SYS/TEMP", "user", EX_TEMPFAIL,
                      r"SYS/TEMP", 0),
    "pass-login-delay": ("PASS", None, "LOGIN-DELAY", "user", EX_TEMPFAIL,
                         r"LOGIN-DELAY", 0),
    "auth-in-use": ("AUTH", None, "IN-USE", "plain", EX_TEMPFAIL, r"IN-USE",
                    0),
    "auth-auth": ("AUTH", None, "AUTH", "login", EX_NOPERM, r"refused", 0),
    "list-sys-temp": ("LIST", None, "SYS/TEMP", "user", EX_TEMPFAIL,
                      r"LIST.*SYS/TEMP", 0),
    "retr1-sys-temp": ("RETR", "1", "SYS/TEMP", "user", EX_TEMPFAIL,
                       r"message 1 .*could not be fetched", None),
    "retr3-sys-temp": ("RETR", "3", "SYS/TEMP", "user", EX_TEMPFAIL,
                       r"message 3 .*could not be fetched", None),
}


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
@pytest.mark.parametrize("case", list(ERRS))
def test_err_reply(tmp_path, case, keep):
    cmd, arg, code, auth, rc, pattern, n_ok = ERRS[case]
    msgs = make_messages(4, "err")
    w = World(tmp_path)
    with server(msgs, faults=[Fault(cmd, "err", arg=arg, code=code,
                                    text="injected failure")]) as srv:
        w.configure(srv, keep=keep, auth=auth)
        res = w.run()
        assert srv.fired(), srv.transcript()
        assert_failed(res, srv, rc, pattern)
        assert PASSWORD not in res.out + res.err
        if n_ok is not None:
            assert_mailbox_state(w, srv, msgs[:n_ok], msgs[n_ok:], res)
            assert len(srv.mailbox()) == 4
        else:
            # A refused RETR costs only that message; the others are
            # delivered (and with keep = false deleted at QUIT).
            bad = int(arg) - 1
            ok = [m for i, m in enumerate(msgs) if i != bad]
            # keep = false: delivered, deleted at QUIT, hence forgotten.
            assert_mailbox_state(w, srv, ok, [msgs[bad]], res,
                                 recorded=ok if keep else [])
            assert srv.mailbox_data() == (
                [m.data for m in msgs] if keep else [msgs[bad].data]), (
                "server mailbox after the run:\n" + explain(res, srv))
        assert_resumes(w, srv, msgs, keep=keep)


def test_dele_refused_keep_false(tmp_path):
    """A refused DELE: the message stays on the server, the run is 75,
    the message is not delivered again, and the next run deletes it."""
    msgs = make_messages(3, "delerr")
    w = World(tmp_path)
    with server(msgs, faults=[Fault("DELE", "err", arg="2",
                                    code="SYS/TEMP")]) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert_failed(res, srv, EX_TEMPFAIL, r"DELE 2 .*refused")
        assert srv.mailbox_data() == [msgs[1].data], explain(res, srv)
        assert Counter(w.delivered()) == Counter(m.data for m in msgs)
        assert w.stored_uids() == [msgs[1].uid], w.records()
        assert_resumes(w, srv, msgs, keep=False)


@pytest.mark.parametrize("times", [1, None], ids=["once", "always"])
def test_quit_refused(tmp_path, times):
    """A refused QUIT applies no deletion; a second session does, in the
    same run (exit 0). A server that refuses every QUIT gets a bounded
    number of reconnects, then the run ends with exit 75 and the next
    run tries again."""
    msgs = make_messages(3, "quiterr")
    w = World(tmp_path)
    with server(msgs, faults=[Fault("QUIT", "err", code="SYS/TEMP",
                                    times=times)]) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        if times == 1:
            assert res.rc == EX_OK, explain(res, srv)
            assert "warning: alice: 127.0.0.1" in res.err, res.err
            assert_mailbox_state(w, srv, msgs, [], res, recorded=[])
            assert srv.mailbox() == []
            return
        assert_failed(res, srv, EX_TEMPFAIL, r"QUIT")
        assert len(srv.connections) == 4, explain(res, srv)
        assert_mailbox_state(w, srv, msgs, [], res)
        assert len(srv.mailbox()) == 3, "deletions applied without QUIT"
        assert_resumes(w, srv, msgs, keep=False)


# ---- 3. garbage -------------------------------------------------------------

GARBAGE_CASES = {
    "greeting": ("GREETING", None, "garbage", {}, "user", 0),
    "capa-status": ("CAPA", None, "garbage", {}, "user", 0),
    "user": ("USER", None, "garbage", {}, "user", 0),
    "pass": ("PASS", None, "garbage", {}, "user", 0),
    "auth": ("AUTH", None, "garbage", {}, "plain", 0),
    "list-status": ("LIST", None, "garbage", {}, "user", 0),
    "list-line": ("LIST", None, "replace",
                  {"data": b"+OK 4 messages\r\n1 100\r\nnot a listing\r\n"
                           b"3 100\r\n.\r\n"}, "user", 0),
    "list-negative-size": ("LIST", None, "replace",
                           {"data": b"+OK\r\n1 -5\r\n.\r\n"}, "user", 0),
    "uidl-status": ("UIDL", None, "garbage", {}, "user", 0),
    "retr3-status": ("RETR", "3", "garbage", {}, "user", 2),
    "retr1-html": ("RETR", "1", "garbage",
                   {"data": b"<html><body>502 Bad Gateway</body></html>\r\n"},
                   "user", 0),
    "dele": ("DELE", "1", "garbage", {}, "user", 4),
    "quit": ("QUIT", None, "garbage", {}, "user", 4),
}


@pytest.mark.parametrize("case", list(GARBAGE_CASES))
def test_garbage_reply(tmp_path, case):
    cmd, arg, action, params, auth, n_ok = GARBAGE_CASES[case]
    msgs = make_messages(4, "garbage")
    w = World(tmp_path)
    with server(msgs, faults=[Fault(cmd, action, arg=arg, **params)]) as srv:
        w.configure(srv, keep=False, auth=auth)
        res = w.run()
        assert srv.fired(), srv.transcript()
        assert "\x1b" not in res.err, "the terminal escape reached stderr"
        if cmd in ("DELE", "QUIT"):
            # Everything was delivered: a second session deletes it.
            assert res.rc == EX_OK, explain(res, srv)
            assert re.search(r"warning: .*(garbled|unexpected reply)",
                             res.err), res.err
            assert_mailbox_state(w, srv, msgs, [], res, recorded=[])
            assert srv.mailbox() == []
            return
        assert_failed(res, srv, EX_TEMPFAIL, r"garbled|unexpected reply")
        assert_after_fault(w, srv, msgs, cmd, n_ok, res)
        assert_resumes(w, srv, msgs, keep=False)


# ---- 4. a 10 MB line without a line end -------------------------------------

LONG_LINES = {
    "greeting": ("GREETING", None, 0, r"longer than"),
    "capa-listing": ("CAPA", None, len(b"+OK Capability list follows\r\n"),
                     r"longer than"),
    "list-status": ("LIST", None, 0, r"longer than"),
    "list-listing": ("LIST", None, len(b"+OK 3 messages\r\n"),
                     r"longer than"),
    "uidl-listing": ("UIDL", None, len(b"+OK\r\n1 UID-long-1\r\n"),
                     r"longer than"),
    "retr2-status": ("RETR", "2", 0, r"longer than"),
    # Inside a message announced as a few KB: message data, streamed to
    # disk, until the server stops sending and the reply times out...
    "retr2-body": ("RETR", "2", 200, r"timed out|deadline"),
    # ... or it goes over max_size: set aside ("L").
    "retr2-body-max-size": ("RETR", "2", 200, r"larger than max_size"),
}


@pytest.mark.parametrize("case", list(LONG_LINES))
def test_ten_megabyte_line(tmp_path, case):
    cmd, arg, at, pattern = LONG_LINES[case]
    msgs = make_messages(3, "long", body_lines=60)
    w = World(tmp_path)
    n_ok = 1 if cmd == "RETR" else 0
    over = case.endswith("max-size")
    with server(msgs, faults=[Fault(cmd, "long_line", arg=arg, at=at,
                                    length=TEN_MB)]) as srv:
        w.configure(srv, keep=False, max_size=1_000_000 if over else None)
        res, peak = run_measured(w)
        assert srv.fired(), srv.transcript()
        assert_failed(res, srv, EX_TEMPFAIL, pattern)
        if over:
            assert_only_broken_left(w, srv, msgs, msgs[1], res, mark="L")
            # Set aside until released (or max_size raised).
            srv.faults = []
            assert w.run("-a", USER, "--release", msgs[1].uid).rc == EX_OK
        else:
            assert_after_fault(w, srv, msgs, cmd, n_ok, res)
        assert_bounded_memory(peak, res)
        assert_resumes(w, srv, msgs, keep=False)


# ---- 5. lying listings: sizes, counts --------------------------------------

def test_list_size_much_smaller_than_message(tmp_path):
    """LIST says 1000 bytes, the message is 24 MB: a size announced is a
    hint, max_size (256 MiB by default) the limit. mailferry stores it
    on disk as it comes, never whole in memory, and delivers it."""
    msgs = make_messages(4, "liesmall")
    big = mailgen.message(subject="[liesmall] big %s" % "TOKEN3xliesmall",
                          body=("TOKEN3xliesmall " + "y" * 984 + "\n")
                          * 24000)
    assert len(big) > 24_000_000
    msgs[2] = Message(big, msgs[2].uid, list_size=1000)
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv, keep=False)
        res, peak = run_measured(w)
        assert res.rc == EX_OK, explain(res, srv)
        assert_mailbox_state(w, srv, msgs, [], res, recorded=[])
        assert srv.mailbox() == []
        assert_bounded_memory(peak, res)


def test_a_message_that_breaks_the_session_is_fetched_last(tmp_path):
    """Message 2 of 4 broke the first run (the connection drops in it
    every time), and the server refused the reconnection; from then on it
    is fetched last, so the messages after it are not held back
    forever."""
    msgs = make_messages(4, "liefirst")
    w = World(tmp_path)
    with server(msgs, pipelining=False, faults=[
            Fault("RETR", "drop", arg="2", fraction=0.5, times=None),
            Fault("GREETING", "err", code="SYS/TEMP", conn=2)]) as srv:
        w.configure(srv, keep=True)
        first = w.run()
        assert_failed(first, srv, EX_TEMPFAIL, r"closed by the server")
        assert "message 2" in first.err, first.err
        assert Counter(w.delivered()) == Counter([msgs[0].data])
        assert any(l.startswith("F UID-liefirst-2 ") for l in w.records()), (
            w.records())
        second = w.run()
        # Still failing, but only after 3 and 4 came through.
        assert_failed(second, srv, EX_TEMPFAIL, r"closed by the server")
        assert [l for l in srv.connections[2].received()
                if l.startswith(b"RETR")] == [b"RETR 3", b"RETR 4",
                                             b"RETR 2"], explain(second, srv)
        assert Counter(w.delivered()) == Counter(
            [msgs[0].data, msgs[2].data, msgs[3].data])


def test_list_size_slightly_off_is_accepted(tmp_path):
    """LF-counted sizes (a common server bug) are no reason to fail."""
    msgs = make_messages(3, "lieslight")
    for m in msgs:
        m.list_size = len(m.data)
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert_mailbox_state(w, srv, msgs, [], res)


@pytest.mark.parametrize("claimed", [10**12, 2**63 - 1],
                         ids=["1TB", "int64-max"])
def test_list_size_much_larger_than_message(tmp_path, claimed):
    """A message smaller than announced arrives whole (its terminator
    says so): it is delivered as it is, nothing more is waited for (with
    a max_size above the claim). Under the default max_size, a message
    announced larger is left on the server untouched, and said so."""
    msgs = make_messages(3, "liebig")
    msgs[1].list_size = claimed
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert "1 over max_size left on the server" in res.out, res.out
        assert srv.mailbox_data() == [msgs[1].data]
        w.configure(srv, keep=False, max_size=2**63 - 1)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert Counter(w.delivered()) == Counter(m.data for m in msgs)
        assert srv.mailbox() == []


def test_sizes_overstated_cost_one_short_wait(tmp_path):
    """Announced sizes let mailferry sleep until much has come (the wake
    mark, mailferry(1) "Fetch"). A server that overstates every size
    gets one wait of 100 ms that ends short; from then on the connection
    reads data as it comes: each message arrives whole, none waits out
    the timeout."""
    msgs = make_messages(6, "overstated")
    for m in msgs:
        m.list_size = 4 * 1024 * 1024
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv, keep=False)
        res = w.run("-v")
        assert res.rc == EX_OK, explain(res, srv)
        assert_mailbox_state(w, srv, msgs, [], res, recorded=[])
        assert srv.mailbox() == []
        notes = re.findall(r"less came within 100 ms than the sizes",
                           res.err)
        # Once: a wait that ran its course would have failed the run.
        assert len(notes) == 1, res.err


@pytest.mark.parametrize("cmd", ["UIDL", "LIST"])
def test_listing_of_more_than_a_million_messages(tmp_path, cmd):
    """A server listing endlessly many messages gets a clear error and a
    bounded run (mailferry takes at most 1,000,000)."""
    n = 1_000_001
    if cmd == "LIST":
        lines = [b"%d 100\r\n" % i for i in range(1, n + 1)]
    else:
        lines = [b"%d u%d\r\n" % (i, i) for i in range(1, n + 1)]
    data = b"+OK\r\n" + b"".join(lines) + b".\r\n"
    del lines
    msgs = make_messages(2, "million", body_lines=5)
    w = World(tmp_path)
    # Without the session trace (conftest.py): a million -vv lines would
    # make this run, and the final check reading the trace, slow.
    env = {k: v for k, v in os.environ.items()
           if k != "MAILFERRY_TRACE_FILE"}
    with server(msgs, faults=[Fault(cmd, "replace", data=data)]) as srv:
        w.configure(srv)
        res = w.run(env=env)
        assert srv.fired(), srv.transcript()
        assert_failed(res, srv, EX_TEMPFAIL,
                      r"more than 1000000 (messages|lines)")
        assert_mailbox_state(w, srv, [], msgs, res)


# ---- 6. odd UIDs ------------------------------------------------------------

def odd_uid_messages(tmp_path):
    """Messages with odd UIDs. Returns (messages, valid, invalid, markers,
    canary, names): valid odd UIDs are legal POP3 UIDs (printable ASCII,
    at most 255 characters, unique) and must be used as they are;
    invalid ones are not UIDs at all. MARKERS are files a shell would
    create, CANARY a directory "rm -rf" would remove, NAMES strings that
    must never become file names."""
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("x")
    markers = [tmp_path / ("marker%d" % i) for i in range(6)]
    tag = "Q%x" % (os.getpid() & 0xffff)
    names = ["uidfile1" + tag, "uidfile2" + tag, "uidfile3" + tag]
    valid = [
        "normal-1",
        "a/b/" + names[0],
        "..",
        "../../" + names[1],
        "/tmp/" + names[2],
        "$(touch${IFS}%s)" % markers[0],
        ";touch${IFS}%s" % markers[1],
        "`touch${IFS}%s`" % markers[2],
        "U" * 255,
        "normal-2",
    ]
    invalid = [
        "$(rm -rf %s)" % canary,        # spaces: not a UID
        "; touch %s" % markers[3],
        "`touch %s`" % markers[4],
        "$(touch %s) x" % markers[5],
        "V" * 300,                      # over-long
        "W" * 256,
        None,                           # left out of UIDL
        "dup",                          # twice: identifies neither
        "dup",
    ]
    uids = valid + invalid
    msgs = make_messages(len(uids), "odd", body_lines=20)
    for m, u in zip(msgs, uids):
        m.uid = u
    # Mix them, so the odd ones sit between normal ones.
    order = list(range(len(msgs)))
    order = order[0::2] + order[1::2]
    msgs = [msgs[i] for i in order]
    return msgs, valid, invalid, markers, canary, names


def assert_nothing_made_from_uids(tmp_path, markers, canary, names):
    for m in markers:
        assert not m.exists(), "%s was created: a UID reached a shell" % m
    assert (canary / "keep").exists(), "the canary was removed"
    # Relative UIDs ("a/b/N", "../../N") would land around state_dir, the
    # Maildir or the working directory; "/tmp/N" is absolute.
    for dirpath, dirs, files in os.walk(tmp_path.parent):
        for n in files + dirs:
            assert not any(x in n for x in names), (
                "a file was named after a UID: %s" % os.path.join(dirpath, n))
    for base in ("/tmp", os.getcwd(), os.path.join(os.getcwd(), ".."),
                 os.path.join(os.getcwd(), "..", "..")):
        for n in names:
            assert not os.path.lexists(os.path.join(base, n)), (
                "a file was named after a UID: %s" % os.path.join(base, n))
    state = sorted(os.listdir(tmp_path / "state"))
    assert set(state) <= {"alice.uids", "alice.lock"}, (
        "unexpected files in state_dir: %s" % state)


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
def test_odd_uids(tmp_path, keep):
    msgs, valid, invalid, markers, canary, names = odd_uid_messages(tmp_path)
    good = [m for m in msgs if m.uid in valid]
    bad = [m for m in msgs if m.uid not in valid]
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv, keep=keep)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        if keep:
            # Untrackable messages stay on the server, with a warning;
            # the others are unaffected.
            assert_mailbox_state(w, srv, good, bad, res)
            assert srv.mailbox_data() == [m.data for m in msgs]
            assert re.search(r"(?i)warn|uid", res.err), (
                "no warning about the untrackable messages: " + str(res))
            assert "%d without UID left on the server" % len(bad) in res.out, (
                res.out)
        else:
            # Fetched, delivered and deleted; only valid UIDs recorded,
            # and forgotten once the messages left the server.
            assert Counter(w.delivered()) == Counter(m.data for m in msgs), (
                explain(res, srv))
            assert srv.mailbox() == [], explain(res, srv)
            assert w.stored_uids() == []
        assert_nothing_made_from_uids(tmp_path, markers, canary, names)

        # Second run: nothing new for the trackable ones.
        res2 = w.run()
        assert res2.rc == EX_OK, explain(res2, srv)
        if keep:
            assert_mailbox_state(w, srv, good, bad, res2)
            assert "RETR" not in srv.connections[-1].commands(), (
                srv.transcript())
        assert_nothing_made_from_uids(tmp_path, markers, canary, names)


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
def test_odd_uids_are_recorded_verbatim(tmp_path, keep):
    """Valid but odd UIDs go into the store as they are (keep = true)."""
    msgs, valid, invalid, markers, canary, names = odd_uid_messages(tmp_path)
    msgs = [m for m in msgs if m.uid in valid]
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv, keep=keep)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        if keep:
            assert sorted(w.stored_uids()) == sorted(valid), w.records()
        assert Counter(w.delivered()) == Counter(m.data for m in msgs)
        assert_nothing_made_from_uids(tmp_path, markers, canary, names)


OMITTED = {
    # UIDs of the messages in server order; None: left out of UIDL.
    # "a" is already recorded by a first run when `known` is true.
    "only-message": ([None], False),
    "after-a-new-one": (["a", None], False),
    "before-a-known-one": ([None, "a"], True),
    "after-a-known-one": (["a", None], True),
    "all-but-first-omitted": (["a", None, None], True),
}


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
@pytest.mark.parametrize("case", list(OMITTED))
def test_message_left_out_of_uidl_is_not_overlooked(tmp_path, case, keep):
    """A message UIDL does not name has no UID: with keep = false it is
    fetched and deleted, with keep = true it is left on the server and
    reported ("N without UID left on the server"), wherever it sits in
    the mailbox and whatever else is new (mailferry(1), "List" and
    "Plan")."""
    uids, known = OMITTED[case]
    msgs = make_messages(len(uids), "omit", body_lines=10)
    for m, u in zip(msgs, uids):
        m.uid = u
    tracked = [m for m in msgs if m.uid is not None]
    untracked = [m for m in msgs if m.uid is None]
    w = World(tmp_path)
    with server(tracked if known else msgs) as srv:
        if known:
            w.configure(srv, keep=True)
            res = w.run()
            assert res.rc == EX_OK, explain(res, srv)
            srv.messages = list(msgs)
        w.configure(srv, keep=keep)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        if keep:
            assert "%d without UID left on the server" % len(untracked) \
                in res.out, ("the summary should report the untracked "
                             "messages: " + explain(res, srv))
            assert srv.mailbox_data() == [m.data for m in msgs]
            assert Counter(w.delivered()) == Counter(m.data for m in tracked)
        else:
            assert Counter(w.delivered()) == Counter(m.data for m in msgs), (
                "with keep = false the message without a UID should be "
                "fetched: " + explain(res, srv))
            assert srv.mailbox() == [], (
                "messages left on the server: " + explain(res, srv))


def test_garbled_uidl_line_affects_only_its_message(tmp_path):
    msgs = make_messages(3, "uidlgarb")
    bad = (b"+OK\r\n1 UID-uidlgarb-1\r\n\x00\xff garbage\r\n"
           b"3 UID-uidlgarb-3\r\n.\r\n")
    w = World(tmp_path)
    with server(msgs, faults=[Fault("UIDL", "replace", data=bad)]) as srv:
        w.configure(srv)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert_mailbox_state(w, srv, [msgs[0], msgs[2]], [msgs[1]], res)
        assert res.err, "no warning about the unusable UIDL line"


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
@pytest.mark.parametrize("code", ["SYS/TEMP", "IN-USE"])
def test_uidl_temporary_failure_is_transient(tmp_path, code, keep):
    """A server that lists UIDL in CAPA and answers it with -ERR [SYS/TEMP]
    or [IN-USE] has UIDL, just not now: a transient failure (exit 75),
    not "the server does not support UIDL" and exit 0."""
    msgs = make_messages(3, "uidltemp", body_lines=10)
    w = World(tmp_path)
    with server(msgs, faults=[Fault("UIDL", "err", code=code,
                                    text="try again later")]) as srv:
        w.configure(srv, keep=keep)
        res = w.run()
        assert srv.fired(), srv.transcript()
        assert_failed(res, srv, EX_TEMPFAIL, re.escape(code))
        assert "does not support UIDL" not in res.err, explain(res, srv)


def test_no_duplicates_after_a_transient_uidl_failure(tmp_path):
    """Delivered once (mailferry(1), GUARANTEES): messages delivered by a run whose QUIT was
    never answered are still on the server; if the next run gets
    -ERR [SYS/TEMP] to UIDL it must not fetch them again as if they had
    no UID (with keep = false that is what "no UIDL" would mean)."""
    msgs = make_messages(3, "uidldup", body_lines=10)
    w = World(tmp_path)
    with server(msgs, faults=[Fault("QUIT", "stall"),
                              Fault("GREETING", "err", code="SYS/TEMP",
                                    conn=2)]) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert_failed(res, srv, EX_TEMPFAIL, r"timed out|deadline")
        assert_mailbox_state(w, srv, msgs, [], res)

        srv.faults = [Fault("UIDL", "err", code="SYS/TEMP")]
        res = w.run()
        got = Counter(w.delivered())
        assert got == Counter(m.data for m in msgs), (
            "after a transient UIDL failure the Maildir holds %d files for "
            "%d messages (delivered again): %s"
            % (sum(got.values()), len(msgs), explain(res, srv)))
        assert res.rc == EX_TEMPFAIL, explain(res, srv)

        assert_resumes(w, srv, msgs, keep=False)


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
def test_server_without_uidl(tmp_path, keep):
    msgs = make_messages(3, "nouidl")
    w = World(tmp_path)
    with server(msgs, uidl=False) as srv:
        w.configure(srv, keep=keep)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert "UIDL" in res.err, "no warning naming UIDL: " + str(res)
        if keep:
            # Untrackable: left on the server, not fetched at all.
            assert w.delivered() == []
            assert "RETR" not in srv.commands(), srv.transcript()
            assert srv.mailbox_data() == [m.data for m in msgs]
        else:
            assert Counter(w.delivered()) == Counter(m.data for m in msgs)
            assert srv.mailbox() == [], explain(res, srv)
        assert w.stored_uids() == []


# ---- 7. stalls and timeouts -------------------------------------------------

STALLS = {
    "greeting": ("GREETING", None, {}, 0),
    "greeting-half": ("GREETING", None, {"nbytes": 4}, 0),
    "capa": ("CAPA", None, {}, 0),
    "user": ("USER", None, {}, 0),
    "pass": ("PASS", None, {}, 0),
    "list": ("LIST", None, {}, 0),
    "list-listing": ("LIST", None, {"fraction": 0.5}, 0),
    "uidl": ("UIDL", None, {}, 0),
    "retr1": ("RETR", "1", {}, 0),
    "retr3-mid-message": ("RETR", "3", {"fraction": 0.5}, 2),
    "retr3-before-terminator": ("RETR", "3", {"nbytes": -3}, 2),
    "dele": ("DELE", "1", {}, 4),
    "quit": ("QUIT", None, {}, 4),
}


@pytest.mark.parametrize("case", list(STALLS))
def test_stall(tmp_path, case):
    cmd, arg, params, n_ok = STALLS[case]
    msgs = make_messages(4, "stall")
    w = World(tmp_path)
    with server(msgs, faults=[Fault(cmd, "stall", arg=arg, **params)]) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert srv.fired(), srv.transcript()
        if cmd in ("DELE", "QUIT"):
            # Everything was delivered: a second session deletes it.
            assert res.rc == EX_OK, explain(res, srv)
            assert re.search(r"warning: .*(timed out|deadline)", res.err), (
                res.err)
            assert_mailbox_state(w, srv, msgs, [], res, recorded=[])
            assert srv.mailbox() == []
            return
        assert_failed(res, srv, EX_TEMPFAIL, r"timed out|deadline")
        assert_after_fault(w, srv, msgs, cmd, n_ok, res)
        assert_resumes(w, srv, msgs, keep=False)


@pytest.mark.parametrize("pipelining", [True, False],
                         ids=["pipelining", "no-pipelining"])
def test_quit_never_answered_then_next_run(tmp_path, pipelining):
    """mailferry(1), GUARANTEES: with keep = false, messages delivered in a run whose QUIT
    never arrived are deleted by the next run without delivering again
    (here the server refuses the run's own reconnection)."""
    msgs = make_messages(5, "noquit")
    w = World(tmp_path)
    with server(msgs, pipelining=pipelining,
                faults=[Fault("QUIT", "stall"),
                        Fault("GREETING", "err", code="SYS/TEMP",
                              conn=2)]) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert_failed(res, srv, EX_TEMPFAIL, r"timed out|deadline")
        assert "QUIT" in srv.commands()
        assert_mailbox_state(w, srv, msgs, [], res)
        assert len(srv.mailbox()) == 5
        res2 = assert_resumes(w, srv, msgs, keep=False)
        assert "RETR" not in srv.connections[-1].commands()
        assert re.search(r"alice: 0 new, 0 delivered", res2.out), res2.out


@pytest.mark.parametrize("pipelining", [True, False],
                         ids=["pipelining", "no-pipelining"])
@pytest.mark.parametrize("n", [0, 1, 3, 70])
def test_interrupted_after_n_deliveries(tmp_path, n, pipelining):
    """The connection drops in the middle of message n + 1: the n before
    it are delivered and recorded; a second session of the same run
    deletes them, fetches the rest but n + 1 and deletes those too; the
    next run delivers none of them again, fetches n + 1 and deletes it.
    With n = 70, more than one batch of deliveries was committed (and,
    with keep = false, DELE sent for it) before the drop."""
    total = max(5, n + 3)
    msgs = make_messages(total, "intr%d" % n,
                         body_lines=400 if total < 10 else 5)
    w = World(tmp_path)
    with server(msgs, pipelining=pipelining,
                faults=[Fault("RETR", "drop", arg=str(n + 1),
                              fraction=0.7)]) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert_failed(res, srv, EX_TEMPFAIL, r"closed by the server")
        assert_only_broken_left(w, srv, msgs, msgs[n], res)
        # The second session fetched every message but the first n + 1.
        retr = [l.decode() for l in srv.connections[1].received()
                if l.startswith(b"RETR")]
        assert sorted(retr) == sorted(
            "RETR %d" % i for i in range(n + 2, total + 1)), (
            "the second session fetched %s" % retr)
        assert srv.connections[1].commands().count("DELE") == total - 1
        assert_resumes(w, srv, msgs, keep=False)
        last = srv.connections[-1].commands()
        assert last.count("RETR") == 1 and last.count("DELE") == 1, last


# ---- 8. trickling servers ---------------------------------------------------

TRICKLES = {
    "greeting": ("GREETING", None, {}, 0),
    "list-listing": ("LIST", None, {"fast": 20}, 0),
    "retr2-status": ("RETR", "2", {}, 1),
    "retr2-mid-message": ("RETR", "2", {"fraction": 0.5}, 1),
}


@pytest.mark.parametrize("case", list(TRICKLES))
def test_trickle_forever_hits_the_reply_deadline(tmp_path, case):
    """One byte a second, forever: every single read is fast enough for
    `timeout`, yet the reply must end (mailferry(1), GUARANTEES: every
    reply has a deadline). Bounded means run_mailferry's 60 s limit, not a timing."""
    cmd, arg, params, n_ok = TRICKLES[case]
    # Small messages: every byte received moves the reply's deadline on a
    # little (mailferry allows a slowest rate), so the part sent at once
    # before the trickle should be small for the test to stay short.
    msgs = make_messages(3, "trickle", body_lines=12)
    w = World(tmp_path)
    with server(msgs, faults=[Fault(cmd, "trickle", arg=arg, interval=1.0,
                                    forever=True, **params)]) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert_failed(res, srv, EX_TEMPFAIL, r"deadline|too long|too slow")
        assert_after_fault(w, srv, msgs, cmd, n_ok, res)
        assert_resumes(w, srv, msgs, keep=False)


def test_slow_but_steady_greeting_is_fine(tmp_path):
    """A control: a short reply trickled within the timeout is no fault."""
    msgs = make_messages(2, "slowok")
    w = World(tmp_path)
    with server(msgs, faults=[Fault("GREETING", "trickle",
                                    interval=0.03)]) as srv:
        # The trickle ends: the generous timeout, which must not fire.
        w.configure(srv, timeout=TIMEOUT)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert_mailbox_state(w, srv, msgs, [], res)


# ---- 9. bare LF -------------------------------------------------------------

# Only CRLF ends a line and only CRLF "." CRLF a multi-line reply, so that
# a bare LF in a message can never end it early (message smuggling; see
# test_hostile.py). A server that ends its lines with a bare LF gets a
# clear error: at once when a status or listing line ends so, or a "."
# line after a CRLF; after `timeout` when its messages are all bare LF
# (the reply then never ends), with the likely reason. When one message's
# reply broke the session after the listing, the run reconnects and the
# others are delivered and deleted; that one alone is left.
BARE_LF = {
    # mode: (server options, the message that breaks the session (1-based;
    # 0: the session breaks before any message), stderr pattern)
    "all-lines": ({"bare_lf": True}, 0, r"bare LF, not CRLF"),
    "terminator-only": ({"bare_lf_terminator": True}, 0,
                        r"bare LF, not CRLF"),
    "one-reply": ({"faults": [Fault("RETR", "bare_lf", arg="2")]}, 2,
                  r"bare LF, not CRLF"),
    "one-message-terminator": (("2", b"\r\n"), 2,
                               r"\".\" line with a bare LF, not CRLF"),
    "last-message-all-lf": (("4", b"\n"), 4,
                            r"timed out.*\".\" line after a bare LF.*"
                            r"does not end lines with CRLF"),
}


@pytest.mark.parametrize("mode", list(BARE_LF))
def test_bare_lf_server_gets_a_clear_error(tmp_path, mode):
    kw, broken, pattern = BARE_LF[mode]
    msgs = make_messages(3, "barelf", body_lines=200)
    msgs.append(Message(mailgen.message(subject="dots TOKEN4xbarelf",
                                        body=".\n..\n...\n. \n.x\n"),
                        "UID-barelf-4"))
    if isinstance(kw, tuple):
        # One RETR reply with a status line ended by CRLF, then message
        # lines ended by EOL and "." with a bare LF.
        n, eol = kw
        kw = {"faults": [Fault("RETR", "replace", arg=n, data=b"+OK\r\n"
                               + encode_multiline(msgs[int(n) - 1].data, eol,
                                                  terminator=b".\n"))]}
    w = World(tmp_path)
    with server(msgs, **kw) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert_failed(res, srv, EX_TEMPFAIL, pattern)
        if broken:
            assert_only_broken_left(w, srv, msgs, msgs[broken - 1], res)
        else:
            assert_mailbox_state(w, srv, [], msgs, res)
        if mode == "all-lines":
            assert b"\r" not in srv.connections[0].sent()
            assert srv.commands() == ["QUIT"] or srv.commands() == [], (
                srv.transcript())
        srv.bare_lf = srv.bare_lf_terminator = False
        assert_resumes(w, srv, msgs, keep=False)


# ---- 10. TLS faults ---------------------------------------------------------

TLS_FAULTS = {
    "unclean-close": ("tls_unclean", r"closed|unexpected eof|eof"),
    "close-notify": ("tls_close_notify", r"closed"),
    "raw-garbage": ("tls_garbage", r"TLS|garbled"),
    "raw-alert": ("tls_alert", r"TLS|alert"),
}


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
@pytest.mark.parametrize("case", list(TLS_FAULTS))
def test_tls_abort_mid_message(tmp_path, ca, case, tls):
    action, pattern = TLS_FAULTS[case]
    msgs = make_messages(3, "tlsfault")
    w = World(tmp_path)
    with server(msgs, tls=tls, cert=ca.server_cert, key=ca.server_key,
                faults=[Fault("RETR", action, arg="2",
                              fraction=0.5)]) as srv:
        w.configure(srv, keep=False, tls=tls, tls_ca_file=ca.ca_file)
        res = w.run()
        assert srv.fired(), srv.transcript()
        assert srv.connections[0].tls
        assert_failed(res, srv, EX_TEMPFAIL, pattern)
        assert_after_fault(w, srv, msgs, "RETR", 1, res)
        assert_resumes(w, srv, msgs, keep=False)


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_alert_in_handshake(tmp_path, ca, tls):
    msgs = make_messages(2, "tlsalert")
    w = World(tmp_path)
    with server(msgs, tls=tls, cert=ca.server_cert, key=ca.server_key,
                handshake_alert=True) as srv:
        w.configure(srv, tls=tls, tls_ca_file=ca.ca_file)
        res = w.run()
        assert_failed(res, srv, EX_UNAVAILABLE, r"handshake.*alert|alert")
        for verb in ("USER", "PASS", "AUTH", "APOP"):
            assert verb not in srv.commands(), srv.transcript()
        assert_mailbox_state(w, srv, [], msgs, res)


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_handshake_never_answered(tmp_path, ca, tls):
    """The server accepts (or says +OK to STLS) and then never speaks TLS:
    bounded by `timeout`, a transient failure, no credentials sent."""
    msgs = make_messages(2, "tlsstall")
    if tls == "implicit":
        # A plain server that says nothing: the ClientHello goes unanswered.
        kw = {"tls": "none", "faults": [Fault("GREETING", "stall")]}
    else:
        kw = {"tls": "starttls", "cert": ca.server_cert, "key": ca.server_key,
              "faults": [Fault("STLS", "stall", fraction=1.0)]}
    w = World(tmp_path)
    with server(msgs, **kw) as srv:
        w.configure(srv, tls=tls, tls_ca_file=ca.ca_file)
        res = w.run()
        assert_failed(res, srv, EX_TEMPFAIL, r"timed out|deadline")
        for verb in ("USER", "PASS", "AUTH", "APOP"):
            assert verb not in srv.commands(), srv.transcript()
        assert_mailbox_state(w, srv, [], msgs, res)


def test_plain_text_server_on_a_tls_port(tmp_path, ca):
    msgs = make_messages(2, "tlsplain")
    w = World(tmp_path)
    with server(msgs, tls="none") as srv:
        w.configure(srv, tls="implicit", tls_ca_file=ca.ca_file)
        res = w.run()
        assert_failed(res, srv, EX_UNAVAILABLE, r"TLS")
        for verb in ("USER", "PASS", "AUTH", "APOP"):
            assert verb not in srv.commands(), srv.transcript()
        assert_mailbox_state(w, srv, [], msgs, res)


# ---- 11. protocol hygiene ---------------------------------------------------

@pytest.mark.parametrize("pipelining", [True, False],
                         ids=["pipelining", "no-pipelining"])
def test_pipelines_only_when_offered(tmp_path, pipelining):
    """RFC 2449: commands are sent before the previous reply only when
    the server lists PIPELINING."""
    msgs = make_messages(6, "pipe", body_lines=30)
    w = World(tmp_path)
    with server(msgs, pipelining=pipelining) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        early = srv.connections[0].early
        if pipelining:
            assert early, "PIPELINING offered but never used (detector ok?)"
        else:
            assert early == [], (
                "pipelined without PIPELINING: %s" % early)
        assert srv.mailbox() == []


@pytest.mark.parametrize("body", [
    b"a NUL\x00byte\n",
    b"a lone\rCR\n",
    b"CR before LF\r\nnext\n",
    "8-bit: Gr\u00fc\u00dfe \u2615\n".encode(),
    b"y" * 20000 + b"\n",
    b".\n..\n.\r\n. \n",
], ids=["nul", "lone-cr", "cr-lf", "8bit", "20k-line", "dots"])
def test_unusual_bytes_are_delivered_exactly(tmp_path, body):
    """Content is stored faithfully, never altered (mailferry(1),
    GUARANTEES)."""
    head = mailgen.message(subject="bytes TOKEN1xbytes", body="")
    msgs = [Message(head + body, "UID-bytes-1")]
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert w.delivered() == [msgs[0].data]


def test_server_text_cannot_reach_the_terminal_raw(tmp_path):
    """Control characters a server sends (ESC sequences, BEL, NUL) show
    up escaped in errors and in the -vv trace, never raw."""
    nasty = b"\x1b]0;owned\x07\x1b[2J\x00\x08"
    msgs = make_messages(3, "escape", body_lines=10)
    faults = [Fault("RETR", "replace", arg="2",
                    data=b"-ERR [SYS/TEMP] " + nasty + b"\r\n"),
              Fault("GREETING", "replace",
                    data=b"+OK hello " + nasty + b"\r\n")]
    w = World(tmp_path)
    with server(msgs, capa=["UIDL", "USER", "X-" + nasty.decode("latin-1")],
                faults=faults) as srv:
        w.configure(srv)
        res = w.run("-vv")
        assert srv.fired() == [("RETR", "replace"), ("GREETING", "replace")]
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        for c in "\x1b\x07\x00\x08":
            assert c not in res.err + res.out, (
                "a raw %r from the server reached the terminal" % c)
        assert "could not be fetched" in res.err


# ---- 12. the fake server itself ---------------------------------------------

def test_fake_server_speaks_pop3():
    """The fake server is trustworthy: strict CRLF and dot-stuffing (read
    with harness.retr), TOP, STAT, LIST/UIDL n, RSET, NOOP, deletions only
    at QUIT, APOP, and faults counted per occurrence."""
    msgs = make_messages(3, "self", body_lines=60)
    msgs[1].uid = None
    faults = [Fault("NOOP", "err", nth=2, code="SYS/TEMP")]
    with server(msgs, apop=True, faults=faults) as srv:
        pop = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        stamp = re.search(rb"<[^>]+>", pop.getwelcome()).group(0)
        pop.apop(USER, PASSWORD)
        assert srv.connections[0].auth == [("APOP", USER, hashlib.md5(
            stamp + PASSWORD.encode()).hexdigest())]
        assert retr(pop, 1) == msgs[0].data
        assert retr(pop, 3) == msgs[2].data
        assert pop.stat() == (3, sum(crlf_len(m.data) for m in msgs))
        assert pop.list(2).split()[2] == str(crlf_len(msgs[1].data)).encode()
        assert [l.split()[1] for l in pop.uidl()[1]] == [
            msgs[0].uid.encode(), msgs[2].uid.encode()]
        top = pop.top(1, 2)[1]
        assert top[-3:] == [b"", msgs[0].data.split(b"\n\n", 1)[1]
                            .split(b"\n")[0], msgs[0].data.split(
                                b"\n\n", 1)[1].split(b"\n")[1]]
        pop.noop()
        with pytest.raises(poplib.error_proto, match="SYS/TEMP"):
            pop.noop()
        pop.noop()
        pop.dele(1)
        pop.rset()
        pop.dele(2)
        assert len(srv.mailbox()) == 3, "deleted before QUIT"
        pop.quit()
        assert srv.mailbox_data() == [msgs[0].data, msgs[2].data]
        # A session that ends without QUIT deletes nothing.
        pop = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        pop.user(USER)
        pop.pass_(PASSWORD)
        pop.dele(1)
        pop.sock.close()
    assert srv.mailbox_data() == [msgs[0].data, msgs[2].data]


def crlf_len(data):
    return len(data) + data.count(b"\n")


# ---- 13. unreachable --------------------------------------------------------

def test_unreachable_server_exits_69(tmp_path):
    with server([]) as srv:
        port = srv.port
    w = World(tmp_path)
    acct = mfconf.account(USER, None, server="127.0.0.1", port=port,
                          password=PASSWORD)
    write_config(w.conf, mfconf.config(
        w.state, {"inbox": mfconf.maildir(w.maildir)}, [acct],
        timeout=TIMEOUT))
    res = w.run()
    assert res.rc == EX_UNAVAILABLE, str(res)
    assert re.search(r"cannot connect", res.err, re.I), str(res)
    assert "127.0.0.1:%d" % port in res.err
    assert w.delivered() == [] and w.records() == []


# ---- 14. a stalled server and the batch ------------------------------------

@pytest.mark.parametrize("pipelining", [True, False],
                         ids=["pipelining", "no-pipelining"])
def test_stalled_reply_does_not_hold_the_batch(tmp_path, pipelining):
    """The server holds its reply to RETR 2 until message 1 is in new/
    and recorded in the UID store (waiting at most 20 s, well within
    mailferry's timeout): the batch holding message 1 is committed when
    its time bound (2 s) runs out while the reply is awaited, not when
    the reply comes. Then the run ends normally."""
    msgs = make_messages(3, "held")
    w = World(tmp_path)
    store = w.state / ("%s.uids" % USER)
    released = []

    def committed():
        text = store.read_text() if store.exists() else ""
        return ("\n+ %s " % msgs[0].uid) in text and \
            len(w.files("new")) == 1

    def on_command(conn, verb, args):
        if verb != "RETR" or args[:1] != ["2"]:
            return
        deadline = time.monotonic() + 20
        while not committed() and time.monotonic() < deadline:
            time.sleep(0.05)
        released.append(committed())

    with server(msgs, pipelining=pipelining, on_command=on_command) as srv:
        w.configure(srv)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
    assert released == [True], (
        "message 1 was not committed while RETR 2 was held: %s" % res)
    assert sorted(w.delivered()) == sorted(m.data for m in msgs)
    assert sorted(w.stored_uids()) == sorted(m.uid for m in msgs)
