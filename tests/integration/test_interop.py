"""What servers other than Dovecot do, played by the fake POP3 server
(lib/fakepop3.py), and what mailferry must do about it:

  - UTF8 (RFC 6856): a server offering it rewrites a message with 8-bit
    header bytes for a client that did not ask; mailferry asks, before
    login, so messages stay byte for byte and rules see their headers;
  - no PIPELINING, status line and data in separate writes: the next
    command leaves the moment a reply ends, every read is acknowledged at
    once (TCP_QUICKACK);
  - a greeting timestamp but APOP refused: auth = "auto" goes on to the
    next method with the same password, and says what it tried;
  - LOGIN-DELAY (RFC 2449): a one-shot run refused says why and when to
    retry; the daemon polls no sooner than the server allows;
  - an explicit auth method the server does not offer: 69, not 77;
  - no UIDL with keep = true: one warning per run, even under -q;
  - a destination that refuses permanently for a reason every message
    shares: not used again in the run, said once.
"""

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

import mailgen
import mfconf
from daemonkit import MailferryDaemon, wait_until
from fakepop3 import FakePOP3, Fault, Message, has_8bit_header, \
    utf8_wrapper
from harness import REPO, Result, mailferry_path, retr, run_mailferry, \
    write_config
from smtpsink import SmtpSink

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM = 0, 69, 75, 77

USER, PASSWORD = "alice", "interop-pw-7q"
TIMEOUT = 5
OUTER = 60
PYTHON = "/usr/bin/python3"


@pytest.fixture(autouse=True)
def _no_stray_threads():
    yield
    left = [t.name for t in threading.enumerate()
            if t.name.startswith("fakepop3")]
    assert not left, "fake POP3 server threads left running: %s" % left


# ---- helpers ----------------------------------------------------------------

class World:
    """One test's mailferry: configuration, Maildirs and state under
    tmp_path."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.conf = tmp_path / "mailferry.conf"
        self.maildir = tmp_path / "Maildir"
        self.other = tmp_path / "Other"
        self.state = tmp_path / "state"

    def configure(self, srv, dests=None, **extra):
        extra.setdefault("password", PASSWORD)
        acct = mfconf.account(USER, None, server="127.0.0.1", port=srv.port,
                              tls=extra.pop("tls", "none"), **extra)
        if dests is None:
            dests = {"inbox": mfconf.maildir(self.maildir),
                     "other": mfconf.maildir(self.other)}
        text = mfconf.config(self.state, dests, [acct], timeout=TIMEOUT)
        write_config(self.conf, text)
        return text

    def run(self, *args, env=None):
        started = time.monotonic()
        rc, out, err = run_mailferry(self.conf, *args, timeout=OUTER,
                                     env=env)
        return Result(rc, out, err, time.monotonic() - started)

    @staticmethod
    def messages_in(maildir):
        new = maildir / "new"
        if not new.is_dir():
            return []
        return [(new / n).read_bytes() for n in sorted(os.listdir(new))]

    def delivered(self):
        return self.messages_in(self.maildir)


def explain(res, srv=None):
    s = str(res)
    if srv is not None:
        s += "\n--- server transcript ---\n" + srv.transcript()
    return s


def summary(out):
    m = re.search(r"^%s: (\d+) new, (\d+) delivered, (\d+) deleted by rules, "
                  r"(\d+) failed" % USER, out, re.M)
    assert m, "no summary line in %r" % out
    return tuple(int(x) for x in m.groups())


def server(msgs, **kw):
    kw.setdefault("users", {USER: PASSWORD})
    return FakePOP3(msgs, **kw)


def plain_messages(n, tag):
    return [Message(mailgen.message(subject="[%s] %d" % (tag, i),
                                    body="%s %d\n.\n..\nFrom x\n" % (tag, i)),
                    "UID-%s-%d" % (tag, i)) for i in range(n)]


# Raw UTF-8 in header fields (RFC 6532), as an EAI sender writes them.
UTF8_HEADERS = [
    b"From: J\xc3\xb6rg M\xc3\xbcller <j\xc3\xb6rg@b\xc3\xbccher.example>\n"
    b"To: alice@example.com\n"
    b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\n"
    b"Message-ID: <utf8-1@example.test>\n"
    b"\n"
    b"Body with 8-bit text too: caf\xc3\xa9.\n.\n..\n",
    b"From: \xe7\x8e\x8b\xe4\xbc\x9f <wei@\xe4\xbe\x8b\xe5\xad\x90.example>\n"
    b"To: alice@example.com\n"
    b"Subject: \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e spam offer\n"
    b"X-Tag: \xe2\x98\x95\n"
    b"\n"
    b"drop me\n",
]


def utf8_messages():
    msgs = [Message(data, "UID-utf8-%d" % i)
            for i, data in enumerate(UTF8_HEADERS)]
    msgs.append(Message(mailgen.message(subject="plain ascii"), "UID-ascii"))
    assert has_8bit_header(msgs[0].data) and has_8bit_header(msgs[1].data)
    assert not has_8bit_header(msgs[2].data)
    return msgs


def index_of(lines, predicate):
    for i, line in enumerate(lines):
        if predicate(line):
            return i
    return None


# ---- UTF8 (RFC 6856) --------------------------------------------------------

def test_utf8_server_wraps_for_a_client_that_does_not_ask(tmp_path):
    """The fake server's UTF8 mode itself: a session without UTF8 gets the
    wrapper, so the tests below can fail."""
    import poplib
    msgs = utf8_messages()
    with server(msgs, utf8=True) as srv:
        pop = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        assert "UTF8" in pop.capa()
        pop.user(USER)
        pop.pass_(PASSWORD)
        got = retr(pop, 1)
        pop.quit()
    assert got == utf8_wrapper(msgs[0].data) != msgs[0].data


def test_utf8_is_enabled_before_login_and_messages_stay_exact(tmp_path):
    msgs = utf8_messages()
    w = World(tmp_path)
    with server(msgs, utf8=True) as srv:
        w.configure(srv, auth="auto")
        res = w.run("-v")
        assert res.rc == EX_OK, explain(res, srv)
        c = srv.connections[0]
        assert c.utf8, explain(res, srv)
        received = c.received()
        utf8_at = index_of(received, lambda l: l == b"UTF8")
        login_at = index_of(received, lambda l: l.split(b" ")[0] in (
            b"USER", b"PASS", b"APOP", b"AUTH"))
        assert utf8_at is not None and utf8_at < login_at, received
        assert re.search(r"UTF8 enabled", res.err), res.err
    assert Counter(w.delivered()) == Counter(m.data for m in msgs), (
        "not byte for byte: %s" % [len(m) for m in w.delivered()])


def test_utf8_rules_and_top_prefilter_see_the_real_headers(tmp_path):
    """A rule on a UTF-8 Subject sends that message elsewhere; a rule on a
    UTF-8 From deletes the other on its header alone (TOP), never
    downloading it. Had the header been the wrapper's, neither would
    match."""
    msgs = utf8_messages()
    rules = [
        {"name": "koeln", "match": {"header": "Subject",
                                    "regex": "Grüße aus Köln"},
         "deliver": "other"},
        {"name": "drop-wei", "match": {"header": "From", "regex": "^王伟 "},
         "action": "delete"},
    ]
    w = World(tmp_path)
    with server(msgs, utf8=True) as srv:
        w.configure(srv, auth="user", keep=False, rules=rules)
        res = w.run("-v")
        assert res.rc == EX_OK, explain(res, srv)
        assert summary(res.out) == (3, 2, 1, 0), res.out
        cmds = srv.commands()
        assert cmds.count("TOP") == 3, cmds
        retrs = [l for l in srv.received() if l.startswith(b"RETR")]
        assert retrs == [b"RETR 1", b"RETR 3"], (
            "the message deleted on its header was downloaded: %s" % retrs)
        assert srv.mailbox() == [], "deletions not done"
    assert w.messages_in(w.other) == [msgs[0].data]
    assert w.delivered() == [msgs[2].data]


def test_utf8_refused_is_reported_and_fetching_goes_on(tmp_path):
    msgs = plain_messages(2, "utf8-refused")
    w = World(tmp_path)
    with server(msgs, utf8=True,
                faults=[Fault("UTF8", "err", text="not today")]) as srv:
        w.configure(srv, auth="user")
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert re.search(r"refused it .*not today", res.err), res.err
    assert Counter(w.delivered()) == Counter(m.data for m in msgs)


# ---- no PIPELINING, status and data in separate writes --------------------

def test_no_pipelining_split_writes_lockstep_and_exact(tmp_path):
    msgs = plain_messages(12, "split") + [Message(
        mailgen.generate(1, seed="split-big")[0], "UID-split-big")]
    w = World(tmp_path)
    with server(msgs, pipelining=False, split_writes=True) as srv:
        w.configure(srv, auth="user", keep=False)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        c = srv.connections[0]
        assert c.early == [], (
            "commands sent before the reply to the one before, to a "
            "server without PIPELINING: %s" % c.early)
        statuses = [d for k, d in c.events if k == "S" and
                    d.startswith(b"+OK ") and d.endswith(b"octets\r\n")]
        assert len(statuses) == len(msgs), "the status lines were not " \
            "written apart from the data"
        assert srv.mailbox() == []
    assert Counter(w.delivered()) == Counter(m.data for m in msgs)


MDA_WAITS_FOR_NEXT_RETR = """\
import os, sys, time
out, markers, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = sys.stdin.buffer.read()
done = len(os.listdir(out))
with open(os.path.join(out, "%03d" % done), "wb") as f:
    f.write(data)
# This is message done + 1: its RETR reply has ended, so the next RETR
# should be on the server already, while this delivery runs.
want = min(done + 2, total)
deadline = time.monotonic() + 20
while len(os.listdir(markers)) < want:
    if time.monotonic() > deadline:
        sys.stderr.write("RETR %d never came while message %d was being "
                         "delivered\\n" % (want, done + 1))
        sys.exit(75)
    time.sleep(0.01)
"""


def test_next_command_leaves_while_the_message_is_delivered(tmp_path):
    """Without PIPELINING the link is kept busy: RETR n+1 is sent the
    moment the reply to RETR n ends, before message n is delivered. The
    delivery program of message n waits (with a deadline) until the
    server has seen RETR n+1."""
    msgs = plain_messages(4, "busy")
    out_dir, markers = tmp_path / "out", tmp_path / "markers"
    out_dir.mkdir()
    markers.mkdir()
    script = tmp_path / "mda.py"
    script.write_text(MDA_WAITS_FOR_NEXT_RETR)

    def on_command(conn, verb, args):
        if verb == "RETR":
            (markers / args[0]).write_text("")

    w = World(tmp_path)
    with server(msgs, pipelining=False, split_writes=True,
                on_command=on_command) as srv:
        w.configure(srv, dests={"prog": {
            "type": "mda", "command": "%s %s %s %s %d" % (
                PYTHON, script, out_dir, markers, len(msgs)),
            "received_header": False}},
            auth="user", deliver="prog")
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert srv.connections[0].early == []
    got = [(out_dir / n).read_bytes() for n in sorted(os.listdir(out_dir))]
    assert got == [m.data for m in msgs]


def test_every_read_is_acknowledged_at_once(tmp_path):
    """Linux delays an ACK up to 40 ms unless the reader asks otherwise
    (and the kernel forgets): each time mailferry has read all there is
    and is about to wait for the server, it sets TCP_QUICKACK, which also
    sends the ACK the kernel was holding. (Seen with strace; no timing.)"""
    msgs = plain_messages(6, "quickack")
    trace = tmp_path / "strace.log"
    w = World(tmp_path)
    with server(msgs, pipelining=False, split_writes=True) as srv:
        w.configure(srv, auth="user")
        cmd = ["strace", "-f", "-qq", "-o", str(trace), "-e",
               "trace=setsockopt,recvfrom,read,poll", mailferry_path(), "-f",
               str(w.conf)]
        # LeakSanitizer cannot run under ptrace (a SANITIZE=1 build).
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "")
                   + "detect_leaks=0")
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, env=env,
                              capture_output=True, timeout=OUTER)
        assert proc.returncode == EX_OK, proc.stderr.decode(errors="replace")
    lines = trace.read_text().splitlines()
    # Every wait (a poll for the POP3 socket) once something was read
    # (before the greeting there is nothing to acknowledge) comes right
    # after the socket was found empty and TCP_QUICKACK was set on it.
    first = next(i for i, l in enumerate(lines) if "recvfrom(9," in l)
    waits = [i for i, l in enumerate(lines) if i > first and re.search(
        r"poll\(\[\{fd=9, events=POLLIN\}\], 1, [1-9]", l)]
    for i in waits:
        empty = "EAGAIN" in lines[i - 2] or re.search(
            r"poll\(\[\{fd=9, events=POLLIN\}\], 1, 0\) = 0", lines[i - 2])
        assert "TCP_QUICKACK" in lines[i - 1] and empty, \
            "\n".join(lines[max(0, i - 3):i + 1])
    # How many replies find the socket empty depends on timing (6 to 12
    # of the 13 here); the rule above must have been put to the test.
    assert len(waits) >= 2, "%d waits:\n%s" % (
        len(waits), "\n".join(lines[-40:]))
    assert Counter(w.delivered()) == Counter(m.data for m in msgs)


# ---- APOP offered but refused ------------------------------------------------

@pytest.mark.parametrize("sasl,then", [
    (("PLAIN", "LOGIN"), "PLAIN"),
    (("LOGIN",), "LOGIN"),
    ((), "USER"),
], ids=["plain", "login", "user"])
def test_auto_after_apop_refused_tries_the_next_method(tmp_path, sasl, then):
    msgs = plain_messages(2, "apop-refused")
    w = World(tmp_path)
    with server(msgs, apop_refused=True, sasl=sasl) as srv:
        w.configure(srv, auth="auto")
        res = w.run("-v")
        assert res.rc == EX_OK, explain(res, srv)
        c = srv.connections[0]
        assert [(m, u) for m, u, _ in c.auth] == [("APOP", USER),
                                                 (then, USER)], c.auth
        assert c.auth[1][2] == PASSWORD
        assert re.search(r"APOP refused .*trying", res.err), res.err
    assert Counter(w.delivered()) == Counter(m.data for m in msgs)


@pytest.mark.parametrize("code,tried", [
    ("AUTH", ["APOP", "PLAIN"]),
    (None, ["APOP", "PLAIN", "USER"]),
], ids=["auth-code", "no-code"])
def test_auto_with_a_wrong_password_says_what_it_tried(tmp_path, code, tried):
    """A refusal marked [AUTH] after the password itself was sent ends the
    attempts (the same password would be refused again); without a code
    each offered method is tried once. Exit 77 either way."""
    msgs = plain_messages(1, "apop-wrong")
    w = World(tmp_path)
    with server(msgs, apop_refused=True, sasl=("PLAIN",),
                users={USER: "something else"}, auth_fail_code=code) as srv:
        w.configure(srv, auth="auto")
        res = w.run()
        assert res.rc == EX_NOPERM, explain(res, srv)
        assert [m for m, _, _ in srv.connections[0].auth] == tried
        names = {"APOP": "APOP", "PLAIN": "SASL PLAIN", "USER": "USER/PASS"}
        assert ("(%s) refused" % ", then ".join(names[t] for t in tried)
                in res.err), res.err
        assert "RETR" not in srv.commands()


# ---- LOGIN-DELAY (RFC 2449) -------------------------------------------------

def test_login_delay_one_shot_says_why_and_when(tmp_path):
    msgs = plain_messages(2, "logindelay")
    w = World(tmp_path)
    with server(msgs, login_delay=300) as srv:
        w.configure(srv, auth="auto")
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        srv.messages.extend(plain_messages(1, "logindelay-later"))
        res = w.run()
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        assert srv.login_delay_refusals == 1
        assert re.search(r"LOGIN-DELAY.*one login every 300 s; try again "
                         r"at \d\d:\d\d:\d\d", res.err), res.err
        # Not a wrong password: no other method was tried.
        assert len(srv.connections[1].auth) == 1, srv.connections[1].auth
    assert len(w.delivered()) == 2


@pytest.mark.parametrize("per_user", [False, True],
                         ids=["capa", "capa-after-login"])
def test_daemon_polls_no_sooner_than_login_delay(tmp_path, per_user):
    """-d 1 against a server that wants 3 s between logins: the daemon
    waits that long, so the server never has to refuse. With "USER", the
    value before login is a placeholder (1 s) and the one that counts is
    in the CAPA after login."""
    delay = 3
    msgs = plain_messages(1, "daemon-ld")
    kw = ({"login_delay": 1, "login_delay_user": delay} if per_user
          else {"login_delay": delay})
    w = World(tmp_path)
    # The daemon logs to syslog when /dev/log exists (another test may
    # create one): read its lines from a trace file of its own.
    trace = tmp_path / "trace.log"
    env = dict(os.environ, MAILFERRY_TRACE_FILE=str(trace))
    with server(msgs, **kw) as srv:
        w.configure(srv, auth="user")
        with MailferryDaemon(w.conf, 1, dir=tmp_path, env=env) as d:
            wait_until(lambda: len(srv.logins) >= 3, 30,
                       "three logins", details=d.report)
            d.stop()
        lines = trace.read_text(errors="replace")
        assert srv.login_delay_refusals == 0, (
            "the daemon logged in too soon:\n" + lines + srv.transcript())
        times = [t for t, _ in srv.logins]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert min(gaps) >= delay, gaps
        assert re.search(r"one login every %d s \(LOGIN-DELAY\)" % delay,
                         lines), lines[-3000:]


# ---- explicit methods the server does not offer ----------------------------

@pytest.mark.parametrize("auth,kw,why", [
    ("plain", {"sasl": ()}, "lists no SASL"),
    ("login", {"sasl": ("PLAIN",)}, "lists SASL PLAIN"),
    ("xoauth2", {"sasl": ("PLAIN", "LOGIN")}, "lists SASL PLAIN LOGIN"),
    ("apop", {}, "no timestamp"),
    ("user", {"user": False}, "does not list USER"),
])
def test_explicit_method_not_offered_is_69(tmp_path, auth, kw, why):
    msgs = plain_messages(1, "not-offered")
    w = World(tmp_path)
    with server(msgs, **kw) as srv:
        w.configure(srv, auth=auth)
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        assert "not offered by the server" in res.err, res.err
        assert why in res.err, res.err
        assert srv.connections[0].auth == [], "credentials were sent"


# ---- no UIDL with keep = true ----------------------------------------------

@pytest.mark.parametrize("quiet", [True, False], ids=["-q", "default"])
def test_no_uidl_with_keep_warns_once_even_quiet(tmp_path, quiet):
    msgs = plain_messages(3, "nouidl")
    w = World(tmp_path)
    with server(msgs, uidl=False) as srv:
        w.configure(srv, auth="user", keep=True)
        for _ in range(2):              # every run, not only the first
            res = w.run(*(["-q"] if quiet else []))
            assert res.rc == EX_OK, explain(res, srv)
            lines = [l for l in res.err.splitlines() if "UIDL" in l]
            assert len(lines) == 1, res.err
            assert "warning" in lines[0] and "keep = false" in lines[0], \
                lines[0]
            assert "3 messages" in lines[0], lines[0]
        assert "RETR" not in srv.commands()
    assert w.delivered() == []


# ---- destinations that refuse for good --------------------------------------

MDA_EXITS = """\
import os, sys
out, control = sys.argv[1], sys.argv[2]
data = sys.stdin.buffer.read()
n = len(os.listdir(out))
with open(os.path.join(out, "%03d" % n), "wb") as f:
    f.write(data)
with open(control) as f:
    codes = dict(l.rsplit(" ", 1) for l in f.read().split("\\n") if l)
for marker, code in codes.items():
    if marker != "*" and marker.encode() in data:
        sys.exit(int(code))
sys.exit(int(codes.get("*", "0")))
"""


def mda_world(tmp_path, srv, codes, **extra):
    out_dir = tmp_path / "calls"
    out_dir.mkdir(exist_ok=True)
    control = tmp_path / "codes"
    control.write_text("".join("%s %s\n" % kv for kv in codes.items()))
    script = tmp_path / "mda.py"
    script.write_text(MDA_EXITS)
    w = World(tmp_path)
    dests = {"prog": {"type": "mda", "command": "%s %s %s %s" % (
        PYTHON, script, out_dir, control), "received_header": False},
        "inbox": mfconf.maildir(w.maildir)}
    extra.setdefault("deliver", "prog")
    w.configure(srv, dests=dests, auth="user", **extra)
    return w, out_dir


def calls(out_dir):
    return [(out_dir / n).read_bytes() for n in sorted(os.listdir(out_dir))]


def test_mda_exit_67_puts_it_out_of_use_for_the_run(tmp_path):
    msgs = plain_messages(6, "mda67")
    with server(msgs) as srv:
        w, out_dir = mda_world(tmp_path, srv, {"*": 67}, keep=False)
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        assert summary(res.out) == (6, 0, 0, 6), res.out
        # Two messages in a row confirm it; the other four are not tried.
        assert len(calls(out_dir)) == 2, calls(out_dir)
        assert res.err.count("not used again in this run") == 1, res.err
        assert "status 67" in res.err, res.err
        assert len(srv.mailbox()) == 6, "a message left the server"

        # Fixed: the next run delivers everything.
        (tmp_path / "codes").write_text("* 0\n")
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert srv.mailbox() == []
    assert calls(out_dir)[2:] == [m.data for m in msgs]


def test_one_message_refused_like_that_holds_back_nothing(tmp_path):
    """A refusal that only looks like one every message would meet (exit
    67 for one message) does not put the destination out of use: the next
    message is delivered, and so is every other."""
    msgs = plain_messages(5, "mda67one")
    with server(msgs) as srv:
        w, out_dir = mda_world(tmp_path, srv, {"mda67one 0": 67, "*": 0},
                               keep=False)
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        assert summary(res.out) == (5, 4, 0, 1), res.out
        assert "not used again" not in res.err, res.err
        assert srv.mailbox_data() == [msgs[0].data]


def test_other_destinations_go_on_when_one_is_out_of_use(tmp_path):
    msgs = plain_messages(6, "mixdest")
    rules = [{"name": "odd", "match": {"header": "Subject",
                                       "regex": r"\] [135]$"},
              "deliver": "inbox"}]
    with server(msgs) as srv:
        w, out_dir = mda_world(tmp_path, srv, {"*": 77}, keep=False,
                               rules=rules)
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        assert summary(res.out) == (6, 3, 0, 3), res.out
        assert len(calls(out_dir)) == 2
    assert Counter(w.delivered()) == Counter(msgs[i].data for i in (1, 3, 5))
    assert Counter(m.data for m in srv.mailbox()) == Counter(
        msgs[i].data for i in (0, 2, 4))


def refuse_every(cmd, reply):
    def f(c, arg, conn):
        return reply if c == cmd else None
    return f


@pytest.mark.parametrize("reply,attempts", [
    ("550 5.1.1 <nobody@example.test>: Recipient address rejected: User "
     "unknown", 2),
    ("550 no such user here", 2),
    ("554 5.7.1 <nobody@example.test>: Relay access denied", 6),
    ("553 5.1.8 <sender@example.org>: Sender address rejected", 6),
    ("552 5.3.4 Message too big for system", 6),
], ids=["5.1.1", "550", "5.7.1", "5.1.8", "5.3.4"])
def test_smtp_5xx_to_every_recipient(tmp_path, reply, attempts):
    """A recipient refused for good (5.1.1 user unknown, or 550 without an
    enhanced code) is about the destination: after two messages in a
    row, no more. A policy (5.7.1), sender (5.1.8) or size (5.3.4)
    refusal may be about each message: every message is tried."""
    msgs = plain_messages(6, "smtp5xx")
    with server(msgs) as srv, \
            SmtpSink(pipelining=True, reply=refuse_every(
                "RCPT", reply)) as sink:
        w = World(tmp_path)
        w.configure(srv, dests={"mta": {
            "type": "smtp", "host": "127.0.0.1", "port": sink.port,
            "tls": "none", "to": ["nobody@example.test"]}},
            auth="user", deliver="mta", keep=False)
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        assert summary(res.out) == (6, 0, 0, 6), res.out
        mails = [c for c in sink.commands() if c.upper().startswith("MAIL")]
        assert len(mails) == attempts, sink.commands()
        assert res.err.count("not used again") == (1 if attempts == 2
                                                    else 0), res.err
        assert len(srv.mailbox()) == 6
