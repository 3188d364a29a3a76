"""The IMAP protocol layer (core/imap*.c) against a real Dovecot and the
scriptable fake server (lib/fakeimap.py), through its test driver
tests/unit/imap-probe.c ($IMAP_PROBE_BIN, built by `make integration`):
logins over implicit TLS and STARTTLS, two folders of 500 mixed messages
fetched pipelined and byte-exact, header-only fetches, \\Seen untouched by
reading, flagging and expunging exactly a set of UIDs while another
client's \\Deleted message stays, MOVE and COPY, IDLE woken by a delivery,
and the faults a server can throw at it (each with its exact exit
status: 75 transient, 77 login refused, 69 unavailable, 78 configuration).
"""

import os
import re
import subprocess
import time

import pytest

import mailgen
from dovecot import Dovecot
from fakeimap import FakeIMAP, Fault, Message
from harness import REPO
from msgcheck import assert_same_messages

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 0, 69, 75, 77, 78
PASSWORD = "alice-secret"


@pytest.fixture(scope="module")
def probe_bin():
    path = os.environ.get("IMAP_PROBE_BIN") or str(
        REPO / "build" / "tests" / "imap-probe")
    if not os.access(path, os.X_OK):
        pytest.fail("%s missing: run `make integration` (or make %s)"
                    % (path, os.path.relpath(path, REPO)), pytrace=False)
    return path


class Probe:
    """Runs the driver: probe(port, tls, STEP...) -> CompletedProcess."""

    def __init__(self, binary, ca=None):
        self.binary, self.ca = binary, ca

    def cmd(self, port, tls, *steps, user="alice", auth=None,
            plaintext=False, timeout=10, verbose=0, host="127.0.0.1"):
        cmd = [self.binary, "--host", host, "--port", str(port), "--tls",
               tls, "--user", user, "--timeout", str(timeout)]
        cmd += ["-v"] * verbose
        if self.ca:
            cmd += ["--ca", self.ca]
        if auth:
            cmd += ["--auth", auth]
        if plaintext:
            cmd.append("--plaintext")
        return cmd + [str(s) for s in steps]

    def __call__(self, port, tls, *steps, password=PASSWORD, limit=120,
                 **kw):
        env = dict(os.environ, IMAP_PROBE_SECRET=password)
        return subprocess.run(self.cmd(port, tls, *steps, **kw), env=env,
                              capture_output=True, encoding="utf-8",
                              errors="replace", timeout=limit)


def listed(out):
    """{uid: (size, set of flags)} from the probe's list output."""
    got = {}
    for m in re.finditer(r"^uid (\d+) size (\d+) flags(.*)$", out, re.M):
        got[int(m.group(1))] = (int(m.group(2)), set(m.group(3).split()))
    return got


def files(d):
    """{uid: bytes} of what the probe fetched into directory D."""
    return {int(n): (d / n).read_bytes() for n in os.listdir(d)}


def header_of(m):
    head, sep, _ = m.partition(b"\n\n")
    return head + (b"\n\n" if sep else b"\n")


def check(r, rc=EX_OK, err=None):
    assert r.returncode == rc, "exit %d, expected %d\n%s\n%s" % (
        r.returncode, rc, r.stdout[-3000:], r.stderr[-3000:])
    if err is not None:
        assert re.search(err, r.stderr), "stderr lacks %r:\n%s" % (
            err, r.stderr[-3000:])


# ---- a real Dovecot ---------------------------------------------------------

@pytest.fixture
def dc(ca):
    # Also on 127.0.0.2, where the certificate does not match.
    d = Dovecot(cert=ca.server_cert, key=ca.server_key,
                users={"alice": PASSWORD}, listen="127.0.0.1, 127.0.0.2")
    try:
        d.start()
        yield d
    finally:
        print("--- dovecot log ---\n" + d.log_text())
        d.close()


@pytest.fixture
def probe(probe_bin, ca):
    return Probe(probe_bin, ca.ca_file)


def test_login_implicit_tls_and_starttls(dc, probe):
    r = probe(dc.imaps_port, "implicit", "caps", "logout")
    check(r)
    assert "(tls)" in r.stdout and "UIDPLUS" in r.stdout
    # After STARTTLS the capabilities are those said under TLS (after
    # login: UIDPLUS, MOVE, which Dovecot lists only then).
    r = probe(dc.imap_port, "starttls", "caps", "logout", verbose=2)
    check(r)
    assert "(tls)" in r.stdout and "UIDPLUS" in r.stdout
    assert "> A1 STARTTLS" in r.stderr
    assert PASSWORD not in r.stderr
    assert re.search(r"> A\d AUTHENTICATE PLAIN \*\*\*", r.stderr)


def test_login_refusals(dc, probe):
    check(probe(dc.imaps_port, "implicit", "caps", password="wrong"),
          EX_NOPERM, r"login as alice \(AUTHENTICATE PLAIN\) refused: NO "
          r"\[AUTHENTICATIONFAILED\]")
    # The LOGIN command too.
    check(probe(dc.imaps_port, "implicit", "caps", password="wrong",
                auth="login"), EX_NOPERM, r"\(LOGIN\) refused")
    # No credentials over plain text unless allowed.
    check(probe(dc.imap_port, "none", "caps"), EX_CONFIG, "unencrypted")
    r = probe(dc.imap_port, "none", "caps", plaintext=True)
    check(r)
    assert "(tls)" not in r.stdout
    # A certificate that does not name the host is refused.
    check(probe(dc.imaps_port, "implicit", "caps", host="127.0.0.2"),
          EX_UNAVAILABLE, "certificate")


def test_tls_mode_that_does_not_fit_the_port(dc, probe):
    """Implicit TLS against the plain port names port 993; STARTTLS or
    plain text against the TLS port, which greets no one, is recognised
    in seconds (a probe connection), not after the 60 s timeout."""
    check(probe(dc.imap_port, "implicit", "caps", timeout=60),
          EX_UNAVAILABLE, r"the server answered in plain text \(wrong "
          r"version number\), so this port does not speak TLS at once: use "
          r'tls = "starttls" \(or "none"\) with it, or tls = "implicit" '
          r"with port 993$")
    for tls in ("starttls", "none"):
        r = probe(dc.imaps_port, tls, "caps", timeout=60, plaintext=True,
                  limit=50)
        check(r, EX_UNAVAILABLE, r"127\.0\.0\.1:%d: the server sends no "
              r"greeting, but answers a TLS handshake: this port speaks TLS "
              r'at once, so use tls = "implicit" with it \(port 143 is the '
              r'one for tls = "starttls" and "none"\)' % dc.imaps_port)


def fill_two_folders(dc, n=500, seed="imap-layer"):
    msgs = mailgen.generate(n, seed=seed)
    dc.create_folder("Lists/dev")
    for i, m in enumerate(msgs):
        dc.deliver("alice", m, "INBOX" if i % 2 == 0 else "Lists/dev")
    return msgs[0::2], msgs[1::2]


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_500_messages_two_folders_byte_exact(dc, probe, tmp_path, tls):
    inbox, dev = fill_two_folders(dc)
    port = dc.imaps_port if tls == "implicit" else dc.imap_port
    a, b = tmp_path / "inbox", tmp_path / "dev"
    a.mkdir()
    b.mkdir()
    r = probe(port, tls, "select", "INBOX", "list", "fetch", a,
              "select", "Lists/dev", "list", "fetch", b, "logout")
    check(r)
    assert r.stdout.count("fetched 250") == 2
    for d, folder, originals in ((a, "INBOX", inbox), (b, "Lists/dev", dev)):
        got = files(d)
        stored = dc.folder_messages(folder)
        assert sorted(got) == sorted(stored)
        for uid, data in got.items():
            assert data == stored[uid][1], "UID %d differs" % uid
        assert_same_messages(list(got.values()), originals, folder)
        # Reading changed nothing: no \Seen.
        assert all(flags == set() for flags, _ in stored.values())


def test_listing_and_headers(dc, probe, tmp_path):
    msgs = mailgen.generate(30, seed="headers")
    for m in msgs:
        dc.deliver("alice", m)
    r = probe(dc.imaps_port, "implicit", "examine", "INBOX", "list",
              "headers", tmp_path, "logout")
    check(r)
    assert "read-only" in r.stdout
    stored = dc.folder_messages()
    lst = listed(r.stdout)
    assert sorted(lst) == sorted(stored)
    for uid, (size, flags) in lst.items():
        assert size == len(stored[uid][1]) + stored[uid][1].count(b"\n")
        assert flags == set()
    for uid, data in files(tmp_path).items():
        assert data == header_of(stored[uid][1])


def test_expunge_exactly_ours(dc, probe):
    uids = dc.append(mailgen.generate(10, seed="expunge"))
    # Another client flags UID 4 \Deleted (and \Seen on 5).
    dc.add_flags([uids[3]], r"\Deleted")
    dc.add_flags([uids[4]], r"\Seen")
    ours = ",".join(map(str, uids[:3] + uids[6:8]))
    r = probe(dc.imaps_port, "implicit", "select", "INBOX", "list",
              "store-deleted", ours, "expunge", ours, "list", "logout")
    check(r)
    assert "expunged" in r.stdout
    left = dc.folder_messages()
    assert sorted(left) == [uids[3], uids[4], uids[5], uids[8], uids[9]]
    assert left[uids[3]][0] == {r"\Deleted"}
    assert left[uids[4]][0] == {r"\Seen"}
    assert left[uids[5]][0] == set()


def test_seen_only_when_asked(dc, probe, tmp_path):
    uids = dc.append(mailgen.generate(4, seed="seen"))
    r = probe(dc.imaps_port, "implicit", "select", "INBOX", "list",
              "fetch", tmp_path, "store-seen", "%d,%d" % (uids[1], uids[2]),
              "logout")
    check(r)
    flags = {u: f for u, (f, _) in dc.folder_messages().items()}
    assert flags == {uids[0]: set(), uids[1]: {r"\Seen"},
                     uids[2]: {r"\Seen"}, uids[3]: set()}


def test_move_and_copy(dc, probe):
    msgs = mailgen.generate(6, seed="move")
    uids = dc.append(msgs)
    dc.create_folder("Archive")
    r = probe(dc.imaps_port, "implicit", "select", "INBOX",
              "move", "%d,%d" % (uids[0], uids[1]), "Archive",
              "copy", str(uids[2]), "Archive", "logout")
    check(r)
    inbox = dc.folder_messages()
    archive = dc.folder_messages("Archive")
    assert sorted(inbox) == uids[2:]
    assert_same_messages([d for _, d in archive.values()], msgs[:3],
                         "Archive")


def test_folder_names_quoted_and_utf7(dc, probe, tmp_path):
    # Dovecot is IMAP4rev1: a UTF-8 name from the configuration is sent in
    # modified UTF-7, an already encoded one as it is.
    dc.create_folder("Entw&APw-rfe")
    dc.create_folder('odd "name" here')
    msg = mailgen.message(subject="in a folder")
    dc.append(msg, "Entw&APw-rfe")
    dc.append(msg, 'odd "name" here')
    for name in ("Entwürfe", "Entw&APw-rfe", 'odd "name" here'):
        r = probe(dc.imaps_port, "implicit", "select", name, "list",
                  "logout")
        check(r)
        assert len(listed(r.stdout)) == 1
    check(probe(dc.imaps_port, "implicit", "select", "Nowhere"),
          EX_UNAVAILABLE, r'cannot open folder "Nowhere": NO')


def test_uidvalidity_of_recreated_folder(dc, probe):
    dc.create_folder("Lists/dev")
    dc.append(mailgen.message(), "Lists/dev")
    r1 = probe(dc.imaps_port, "implicit", "select", "Lists/dev")
    dc.delete_folder("Lists/dev")
    dc.create_folder("Lists/dev")
    dc.append(mailgen.message(), "Lists/dev")
    r2 = probe(dc.imaps_port, "implicit", "select", "Lists/dev")
    check(r1)
    check(r2)
    v1 = re.search(r"uidvalidity (\d+)", r1.stdout).group(1)
    v2 = re.search(r"uidvalidity (\d+)", r2.stdout).group(1)
    assert v1 != v2
    assert int(v2) == dc.folder_info("Lists/dev")["UIDVALIDITY"]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def test_idle_wakes_on_delivery(dc, probe, tmp_path):
    dc.append(mailgen.message(subject="before"))
    err = tmp_path / "stderr"
    with open(err, "w") as ferr:
        p = subprocess.Popen(
            probe.cmd(dc.imaps_port, "implicit", "select", "INBOX", "list",
                      "idle", 600, "list", "logout", verbose=1),
            env=dict(os.environ, IMAP_PROBE_SECRET=PASSWORD),
            stdout=subprocess.PIPE, stderr=ferr, text=True)
    try:
        wait_for(lambda: "waiting for new mail (IDLE)" in err.read_text(),
                 30, "the probe to IDLE")
        sent = time.monotonic()
        dc.doveadm_save(mailgen.message(subject="pushed"))
        out, _ = p.communicate(timeout=30)
        woke = time.monotonic() - sent
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err.read_text()
    assert "new-mail" in out
    assert woke < 5, "IDLE took %.1f s to see the new message" % woke
    assert len(listed(out.split("new-mail")[1])) == 2


# ---- the fake server: behaviour Dovecot does not show ---------------------------

def fake_msgs(n, seed="fake"):
    return [Message(m) for m in mailgen.generate(n, seed=seed)]


@pytest.fixture
def fprobe(probe_bin):
    return Probe(probe_bin)


def fake_fetch(fprobe, srv, tmp_path, *extra, timeout=10, **kw):
    return fprobe(srv.port, "none", "select", "INBOX", "list", "fetch",
                  tmp_path, *extra, plaintext=True, password="pw",
                  timeout=timeout, **kw)


USERS = {"alice": "pw"}


def test_fake_whole_session(fprobe, tmp_path):
    msgs = fake_msgs(20)
    with FakeIMAP({"INBOX": msgs}, users=USERS, uid_last=True) as srv:
        r = fake_fetch(fprobe, srv, tmp_path, "logout")
    check(r)
    assert {u: d for u, d in files(tmp_path).items()} == {
        m.uid: m.data for m in msgs}
    # Pipelined: every FETCH was sent before the first answer.
    assert srv.commands().count("UID FETCH") == 21
    assert sum(1 for line in srv.connections[0].early
               if b"UID FETCH" in line) >= 19


@pytest.mark.parametrize("fault,err", [
    (Fault("UID FETCH", "drop", arg="3", fraction=0.5), "connection closed"),
    # All of the message data, but not the ")" closing its response.
    (Fault("UID FETCH", "drop", arg="3", nbytes=-15), "connection closed"),
    (Fault("UID FETCH", "bye", arg="3", text="going down"),
     "ended the session: BYE going down"),
    # Inside a literal, "* BYE" is message data: the data is cut short.
    (Fault("UID FETCH", "bye", arg="3", nbytes=200), "connection closed"),
    (Fault("UID FETCH", "literal_longer", arg="3"), "unintelligible"),
    (Fault("UID FETCH", "literal_shorter", arg="3"), "unbalanced|timed out"),
    (Fault("UID FETCH", "garbage", arg="3"), "unintelligible"),
    (Fault("UID FETCH", "replace", arg="3", data=b"* 3 FETCH (UID 3 BODY[] "
           b"{99999999}\r\n"), "more than its limit"),
    (Fault("UID FETCH", "stall", arg="3", nbytes=100), "timed out"),
    (Fault("UID FETCH", "trickle", arg="3", interval=0.3, forever=True),
     "timed out|too long"),
])
def test_fake_faults_mid_fetch(fprobe, tmp_path, fault, err):
    msgs = fake_msgs(5)
    with FakeIMAP({"INBOX": msgs}, users=USERS, faults=[fault]) as srv:
        start = time.monotonic()
        r = fake_fetch(fprobe, srv, tmp_path, timeout=2)
        took = time.monotonic() - start
    check(r, EX_TEMPFAIL, err)
    assert srv.fired()
    # What arrived whole before the fault is complete; nothing of message
    # 3 (or after) was taken for a message.
    got = files(tmp_path)
    assert 3 not in got
    for uid, data in got.items():
        assert data == msgs[uid - 1].data
    assert took < 30


@pytest.mark.parametrize("cmd,fault,rc,err", [
    ("LOGIN", Fault("LOGIN", "no", code="UNAVAILABLE", text="later"),
     EX_TEMPFAIL, "later"),
    ("LOGIN", Fault("LOGIN", "no", code="AUTHENTICATIONFAILED"), EX_NOPERM,
     "refused"),
    ("SELECT", Fault("SELECT", "no", code="NONEXISTENT"), EX_UNAVAILABLE,
     "NONEXISTENT"),
    ("SELECT", Fault("SELECT", "bad"), EX_UNAVAILABLE, "BAD"),
    ("GREETING", Fault("GREETING", "replace", data=b"* BYE full\r\n"),
     EX_TEMPFAIL, "BYE full"),
    ("GREETING", Fault("GREETING", "garbage"), EX_TEMPFAIL, "unintelligible"),
    ("UID FETCH", Fault("UID FETCH", "no", arg="1:*"), EX_TEMPFAIL,
     "listing the folder failed"),
])
def test_fake_refusals(fprobe, tmp_path, cmd, fault, rc, err):
    with FakeIMAP({"INBOX": fake_msgs(2)}, users=USERS, caps=(
            "IMAP4rev1", "UIDPLUS", "IDLE"), faults=[fault]) as srv:
        r = fake_fetch(fprobe, srv, tmp_path)
    check(r, rc, err)
    assert srv.fired()


def test_fake_noise_before_every_reply(fprobe, tmp_path):
    msgs = fake_msgs(8)
    # The first fault that matches a command fires.
    with FakeIMAP({"INBOX": msgs}, users=USERS, faults=[
            Fault("UID FETCH", "alert", arg="5", text="Maintenance at 5"),
            Fault("*", "noise", times=None),
    ]) as srv:
        r = fake_fetch(fprobe, srv, tmp_path, "logout")
    check(r, EX_OK, "alert from the server: Maintenance at 5")
    assert files(tmp_path) == {m.uid: m.data for m in msgs}
    assert [f.fired for f in srv.faults] == [1, len(srv.commands()) - 1]


@pytest.mark.parametrize("caps", [("IMAP4rev1", "IDLE", "AUTH=PLAIN"),
                                  ("IMAP4rev1", "ESEARCH", "AUTH=PLAIN")])
def test_fake_expunge_without_uidplus(fprobe, caps):
    msgs = fake_msgs(5)
    with FakeIMAP({"INBOX": msgs}, users=USERS, caps=caps) as srv:
        # Another client flagged message 4 \Deleted: ours stay flagged.
        srv.add_flags("INBOX", 4, "\\Deleted")
        r = fprobe(srv.port, "none", "select", "INBOX", "store-deleted",
                   "1,2", "expunge", "1,2", plaintext=True, password="pw")
        check(r)
        assert "left-flagged 1" in r.stdout
        assert srv.folder("INBOX").uids() == [1, 2, 3, 4, 5]
        assert "EXPUNGE" not in srv.commands()
        assert [m.flags for m in srv.folder("INBOX").messages] == [
            {"\\Deleted"}, {"\\Deleted"}, set(), {"\\Deleted"}, set()]
        # Once nobody else's message is flagged, EXPUNGE is safe.
        srv.folder("INBOX").messages[3].flags.clear()
        r = fprobe(srv.port, "none", "select", "INBOX", "expunge", "1,2",
                   plaintext=True, password="pw")
        check(r)
        assert "expunged" in r.stdout
        assert srv.folder("INBOX").uids() == [3, 4, 5]


def test_fake_starttls_and_logindisabled(fprobe, ca):
    with FakeIMAP({"INBOX": fake_msgs(1)}, users=USERS, tls="starttls",
                  cert=ca.server_cert, key=ca.server_key,
                  caps=("IMAP4rev1", "IDLE"), logindisabled=True) as srv:
        p = Probe(fprobe.binary, ca.ca_file)
        r = p(srv.port, "starttls", "caps", "logout", password="pw")
        check(r)
        assert "(tls)" in r.stdout
        assert srv.connections[0].auth == [("LOGIN", "alice", "pw")]
        # Data sent with the STARTTLS answer is an injection attempt.
        srv.faults = [Fault("STARTTLS", "replace", data=(
            b"A1 OK go\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"))]
        check(p(srv.port, "starttls", "caps", password="pw"),
              EX_UNAVAILABLE, "injection")
    with FakeIMAP({"INBOX": []}, users=USERS, caps=("IMAP4rev1",),
                  logindisabled=True) as srv:
        check(fprobe(srv.port, "none", "caps", password="pw",
                     plaintext=True), EX_NOPERM, "LOGINDISABLED")
        check(fprobe(srv.port, "starttls", "caps", password="pw"),
              EX_UNAVAILABLE, "does not offer STARTTLS")


def test_fake_sasl_mechanisms(fprobe):
    with FakeIMAP({"INBOX": []}, users={"alice": "pässword"},
                  tokens={"alice": "tok"}) as srv:
        for auth, secret in (("plain", "pässword"), ("sasl-login",
                             "pässword"), ("login", "pässword"),
                             ("xoauth2", "tok"), ("oauthbearer", "tok")):
            check(fprobe(srv.port, "none", "caps", "logout", auth=auth,
                         password=secret, plaintext=True))
        check(fprobe(srv.port, "none", "caps", auth="xoauth2",
                     password="expired", plaintext=True), EX_NOPERM,
              "XOAUTH2")
    mechs = [a[0] for c in srv.connections for a in c.auth]
    assert mechs == ["PLAIN", "LOGIN", "LOGIN", "XOAUTH2", "OAUTHBEARER",
                     "XOAUTH2"]


def test_fake_idle_push(fprobe, tmp_path):
    with FakeIMAP({"INBOX": fake_msgs(1)}, users=USERS) as srv:
        err = tmp_path / "stderr"
        with open(err, "w") as ferr:
            p = subprocess.Popen(
                fprobe.cmd(srv.port, "none", "select", "INBOX", "idle", 600,
                           "list", "logout", plaintext=True, verbose=1),
                env=dict(os.environ, IMAP_PROBE_SECRET="pw"),
                stdout=subprocess.PIPE, stderr=ferr, text=True)
        try:
            wait_for(lambda: "waiting for new mail" in err.read_text(), 30,
                     "IDLE")
            srv.append("INBOX", mailgen.message(subject="pushed"))
            out, _ = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert p.returncode == 0, err.read_text()
    assert "new-mail" in out
    assert sorted(listed(out)) == [1, 2]
