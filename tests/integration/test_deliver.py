"""The delivery back ends end to end (mailferry.conf(5), DESTINATIONS;
mailferry(1), GUARANTEES): messages
fetched from a private Dovecot and delivered by SMTP to a private Postfix
(lib/postfix.py) and to a recording aiosmtpd server (lib/smtpsink.py), by
LMTP to Dovecot itself, into an mbox, and through a delivery program.

Semantics under test, beyond the manual pages' words:
- smtp/lmtp: a 4xx on any RCPT or after DATA defers the message (left on
  the server, not recorded, tried next run, exit 75); a 5xx fails it
  (left on the server, reported, exit 69); the other messages go on. A
  destination that cannot be reached stops the run with exit 75.
- Envelope sender: `from` if set, else the message's Return-Path, else
  Sender, else the From address; "" (null sender) when it is <>.
- mbox: mboxrd; "From SENDER DATE" separators; dotlock PATH.lock holding
  the run's record (mailferry(1), FILES) while a batch is appended, which
  lets the next run cut off what a killed run left uncommitted.
- mda: %F and %T replace whole words only; exit 0 delivered, 75 deferred,
  anything else failed.

Network destinations get `timeout = 2`, so a client that loses step with a
server fails a test in seconds rather than minutes.
"""

import collections
import email.parser
import email.policy
import json
import mailbox
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

import mailgen
import mfconf
from crashkit import strace_kill, without_leak_check
from harness import mailferry_path, run_mailferry, write_config
from msgcheck import digest
from postfix import Postfix, split_added_headers
from smtpsink import SmtpSink, server_tls_context

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 0, 69, 75, 78

NET_TIMEOUT = 2         # seconds, for smtp/lmtp destinations


# ---- helpers --------------------------------------------------------------

class World:
    """One test's mailferry configuration, state and local mailboxes under
    tmp_path, fetching from Dovecot user alice."""

    def __init__(self, tmp_path, dovecot):
        self.dir = tmp_path
        self.dovecot = dovecot
        self.conf = tmp_path / "mailferry.conf"
        self.state = tmp_path / "state"
        self.maildir = tmp_path / "Maildir"
        self.mbox = tmp_path / "mail" / "box.mbox"

    def write(self, dests, deliver, **account):
        account.setdefault("keep", True)
        text = mfconf.config(self.state, dests, [mfconf.account(
            "alice", self.dovecot, deliver=deliver, **account)])
        write_config(self.conf, text)
        return text

    def run(self, *args, **kwargs):
        return run_mailferry(self.conf, *args, **kwargs)

    def recorded(self):
        """UIDs in alice's UID store (`+` records)."""
        path = os.path.join(self.state, "alice.uids")
        if not os.path.exists(path):
            return set()
        with open(path) as f:
            return {l.split()[1] for l in f.read().splitlines()[1:]
                    if l.startswith("+ ")}

    def maildir_messages(self):
        new = os.path.join(self.maildir, "new")
        if not os.path.isdir(new):
            return []
        out = []
        for name in sorted(os.listdir(new)):
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read())
        return out


def outcome(rc, out, err):
    return "exit %s\n--- stdout ---\n%s--- stderr ---\n%s" % (rc, out, err)


def counts(out, account="alice"):
    """(new, delivered, failed) from the account's summary line."""
    lines = [l for l in out.splitlines() if l.startswith(account + ":")]
    assert len(lines) == 1, "expected one summary line:\n" + out
    m = re.match(r"\S+: (\d+) new, (\d+) delivered, \d+ deleted by rules, "
                 r"(\d+) failed", lines[0])
    assert m, "summary line not in the documented form: %r" % lines[0]
    return tuple(int(x) for x in m.groups())


def run_expect(world, rc_expected, new, delivered, failed, *args):
    rc, out, err = world.run(*args)
    assert rc == rc_expected, (
        "expected exit %d: " % rc_expected + outcome(rc, out, err))
    got = counts(out)
    assert got == (new, delivered, failed), (
        "summary %r, expected %d new, %d delivered, %d failed\n%s"
        % (got, new, delivered, failed, outcome(rc, out, err)))
    return out, err


def subject(m):
    s = re.search(rb"(?m)^Subject: ([^\n]{0,70})", m)
    return s.group(1).decode(errors="replace") if s else "(no Subject)"


def first_difference(a, b):
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y),
             min(len(a), len(b)))
    return "differ at byte %d (lengths %d, %d): %r vs %r" % (
        n, len(a), len(b), a[max(0, n - 40):n + 40], b[max(0, n - 40):n + 40])


def assert_same(got, expected, what):
    """GOT and EXPECTED (lists of bytes) hold the same messages, each as
    often; on failure, say which and how they differ."""
    g = collections.Counter(map(digest, got))
    e = collections.Counter(map(digest, expected))
    if g == e:
        return
    lines = ["%s: %d messages, expected %d" % (what, len(got), len(expected))]
    by_subject = {subject(m): m for m in expected}
    for m in got:
        if e[digest(m)] == 0:
            twin = by_subject.get(subject(m))
            lines.append("  unexpected: %s%s" % (
                subject(m), "; " + first_difference(m, twin) if twin else ""))
    for m in expected:
        if g[digest(m)] < e[digest(m)]:
            lines.append("  missing (or too few): %s" % subject(m))
    for m in got:
        if g[digest(m)] > e[digest(m)] > 0:
            lines.append("  duplicated: %s" % subject(m))
    raise AssertionError("\n".join(dict.fromkeys(lines)))


def crlf_to_lf(data):
    assert re.search(rb"(?<!\r)\n", data) is None, "bare LF in SMTP data"
    return data.replace(b"\r\n", b"\n")


def crlf_size(m):
    return len(m) + m.count(b"\n")


def expected_sender(m):
    """The envelope sender mailferry must use for M (no `from`): the
    Return-Path address, else Sender's, else From's; "" for <>."""
    head = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    h = head.parsebytes(m)
    for name in ("Return-Path", "Sender", "From"):
        v = h.get(name)
        if v is None:
            continue
        v = re.sub(r"\r?\n[ \t]+", " ", str(v))
        lt = v.rfind("<")
        gt = v.find(">", lt) if lt >= 0 else -1
        if lt >= 0 and gt > lt:
            if gt == lt + 1:
                if name == "Return-Path":
                    return ""
                continue
            return v[lt + 1:gt]
        if "@" in v and " " not in v.strip():
            return v.strip()
    return None


def without_header(m, name):
    """M without any NAME header field (and its continuation lines)."""
    head, sep, body = m.partition(b"\n\n")
    head = re.sub(rb"(?mi)^%s:[^\n]*(\n[ \t][^\n]*)*\n?" % name.encode(), b"",
                  head + b"\n")
    return head.rstrip(b"\n") + sep + body if sep else head


def load(dovecot, msgs, user="alice"):
    """Deliver MSGS to USER; return {digest: UID} for them."""
    for m in msgs:
        dovecot.deliver(user, m)
    uids = dovecot.uids(user)
    stored = dovecot.stored_messages(user)
    assert len(uids) == len(stored)
    return {digest(m): u for m, u in zip(stored, uids)}


# These tests compare the bytes delivered with those fetched: without the
# Received field smtp, lmtp and mda destinations add by default (tested in
# test_migration.py).
def smtp_dest(port, to, **extra):
    d = {"type": "smtp", "host": "127.0.0.1", "port": port, "tls": "none",
         "to": list(to), "timeout": NET_TIMEOUT, "received_header": False}
    d.update(extra)
    return d


def mail_froms(sink):
    return [c for c in sink.commands() if c.upper().startswith("MAIL ")]


def transactions(conn):
    """The commands of CONN split into transactions: lists starting with
    a MAIL command (commands before the first MAIL are dropped)."""
    out = []
    for c in conn.commands:
        if c.upper().startswith("MAIL "):
            out.append([c])
        elif out:
            out[-1].append(c)
    return out


def refuse_for(sender_marker, cmd, reply, rcpt=None):
    """A smtpsink reply function: REPLY to CMD (RCPT, optionally only for
    the recipient RCPT, or DATA_END) in transactions whose MAIL FROM holds
    SENDER_MARKER."""
    def f(c, arg, conn):
        if c != cmd:
            return None
        mails = [x for x in conn.commands if x.upper().startswith("MAIL ")]
        if not mails or sender_marker not in mails[-1]:
            return None
        if rcpt is not None and rcpt not in (arg or ""):
            return None
        return reply
    return f


# ---- 1. Postfix as the local MTA ------------------------------------------

PF_RCPT = {"default": "alice@example.test", "lockstep": "lock@example.test"}


@pytest.fixture(scope="module")
def postfix():
    """One private Postfix for the module: the smtpd on ports["default"]
    offers PIPELINING (as every Postfix does), the one on
    ports["lockstep"] is told not to."""
    pf = Postfix(mailboxes=list(PF_RCPT.values()), listeners={
        "lockstep": {"smtpd_discard_ehlo_keywords": "pipelining"}})
    try:
        pf.start()
        yield pf
    finally:
        pf.close()


def postfix_transactions(pf):
    return len(re.findall(r"postfix/smtpd\[\d+\]: [0-9A-F]+: client=",
                          pf.log_text()))


@pytest.mark.parametrize("listener", ["default", "lockstep"],
                         ids=["pipelining", "no-pipelining"])
def test_postfix_as_local_mta(dovecot, postfix, tmp_path, listener):
    rcpt = PF_RCPT[listener]
    msgs = mailgen.generate(8, seed="postfix")
    msgs += [
        mailgen.message(subject="list mail, bounces elsewhere",
                        headers={"Return-Path":
                                 "<bounce+alice=example.com@lists.example>"},
                        body=".\n..\nFrom the list\n>From quoted\n"),
        mailgen.message(subject="a bounce, null sender",
                        sender="Mail Delivery System <mailer-daemon@x.example>",
                        headers={"Return-Path": "<>"}),
        mailgen.message(subject="on behalf",
                        headers={"Sender": "Secretary <sec@example.org>"}),
    ]
    assert max(len(l) for m in msgs for l in m.split(b"\n")) < 5000
    load(dovecot, msgs)
    stored = dovecot.stored_messages("alice")
    n = len(stored)

    w = World(tmp_path, dovecot)
    w.write({"mta": smtp_dest(postfix.ports[listener], [rcpt])}, "mta")
    before = postfix_transactions(postfix)
    run_expect(w, EX_OK, n, n, 0)
    got = postfix.wait_delivered(rcpt, n)

    # Postfix's cleanup drops a Return-Path the message carried and its
    # virtual agent prepends its own: compare without both.
    expected = {digest(without_header(m, "Return-Path")): m for m in stored}
    rests = []
    for g in got:
        added, rest = split_added_headers(g)
        rests.append(rest)
        m = expected.get(digest(rest))
        if m is None:
            continue                    # reported by assert_same below
        assert added["Return-Path"] == "<%s>" % expected_sender(m), (
            "%s: Postfix saw envelope sender %s, the message's Return-Path "
            "(else Sender/From) is <%s>" % (subject(m), added["Return-Path"],
                                            expected_sender(m)))
        assert added["X-Original-To"] == rcpt == added["Delivered-To"]
        assert "(Postfix) with ESMTP" in added["Received"], added["Received"]
    assert_same(rests, [without_header(m, "Return-Path") for m in stored],
                "Postfix's Maildir, its own headers removed")

    # Nothing new: nothing forwarded, not even a transaction started.
    run_expect(w, EX_OK, 0, 0, 0)
    postfix.log_barrier()
    assert postfix.queue_empty()
    assert len(postfix.delivered(rcpt)) == n
    assert postfix_transactions(postfix) == before + n, (
        "Postfix saw %d transactions for %d messages"
        % (postfix_transactions(postfix) - before, n))


# ---- 2. SMTP dialogue against a recording server --------------------------

@pytest.mark.parametrize("pipelining", [True, False],
                         ids=["offered", "not-offered"])
def test_smtp_pipelining(dovecot, tmp_path, pipelining):
    msgs = [mailgen.message(subject="pipelined %d" % i) for i in range(2)]
    load(dovecot, msgs)
    rcpts = ["one@example.test", "two@example.test", "three@example.test"]
    with SmtpSink(pipelining=pipelining, probe_delay=0.15) as sink:
        w = World(tmp_path, dovecot)
        w.write({"mta": smtp_dest(sink.port, rcpts)}, "mta")
        rc, out, err = w.run()
    want = ["RCPT TO:<%s>" % r for r in rcpts]
    for conn in sink.used_connections():
        for pos, cmd in enumerate(conn.commands):
            if pos not in conn.waiting:
                continue
            waiting = conn.waiting[pos]
            if pipelining and cmd.startswith("MAIL"):
                # RFC 2920: MAIL and every RCPT in one go, before reading
                # any reply (DATA may or may not follow them).
                assert waiting[:len(want)] == want, (
                    "with PIPELINING, these had arrived when MAIL was "
                    "answered: %r; expected all of %r" % (waiting, want))
            elif not pipelining:
                assert waiting == [], (
                    "without PIPELINING the client sent %r before it had "
                    "the reply to %r" % (waiting, cmd))
    assert rc == EX_OK, outcome(rc, out, err)
    assert counts(out) == (2, 2, 0), out
    assert_same([crlf_to_lf(m.data) for m in sink.messages], msgs,
                "messages the server received")
    assert all(m.rcpt_tos == rcpts for m in sink.messages)


def test_smtp_size_limit(dovecot, tmp_path):
    limit = 20_000
    small = [mailgen.message(subject="small %d" % i, body="s\n" * 1000)
             for i in range(2)]
    big = mailgen.message(subject="too big", sender="big@example.org",
                          body=("b" * 99 + "\n") * 300)
    assert crlf_size(small[0]) < limit < crlf_size(big)
    uid = load(dovecot, [small[0], big, small[1]])
    with SmtpSink(pipelining=False, size=limit) as sink:
        w = World(tmp_path, dovecot)
        w.write({"mta": smtp_dest(sink.port, ["a@example.test"])}, "mta",
                keep=False)
        out, err = run_expect(w, EX_UNAVAILABLE, 3, 2, 1)
    mails = mail_froms(sink)
    assert not any("big@example.org" in c for c in mails), (
        "the message over the SIZE limit was offered: %r" % mails)
    assert len(mails) == 2
    for c, m in zip(mails, small):
        sizes = re.findall(r"(?i)\bSIZE=(\d+)", c)
        assert sizes == [str(crlf_size(m))], (
            "MAIL should declare SIZE=%d (the message with CRLF line ends): "
            "%r" % (crlf_size(m), c))
    assert_same([crlf_to_lf(m.data) for m in sink.messages], small,
                "messages the server received")
    assert dovecot.stored_messages("alice") == [big], (
        "only the message over the limit should be left on the server")
    assert uid[digest(big)] not in w.recorded()
    assert "SIZE" in err or "size" in err, err


@pytest.mark.parametrize("case", ["not-offered", "unknown-ca"])
def test_smtp_starttls_refused(dovecot, ca, tmp_path, case):
    msgs = [mailgen.message(subject="tls %d" % i) for i in range(2)]
    uid = load(dovecot, msgs)
    tls_ctx = (server_tls_context(ca.server_cert, ca.server_key)
               if case == "unknown-ca" else None)
    with SmtpSink(pipelining=False, tls_context=tls_ctx) as sink:
        w = World(tmp_path, dovecot)
        extra = {"tls": "starttls"}
        if case == "not-offered":
            extra["tls_ca_file"] = ca.ca_file
        # unknown-ca: no tls_ca_file, the system store, which does not
        # know the test CA.
        w.write({"mta": smtp_dest(sink.port, ["a@example.test"], **extra)},
                "mta", keep=False)
        rc, out, err = w.run()
    # mailferry(1), EXIT STATUS: a server that cannot be verified (no
    # STARTTLS where tls = "starttls", a certificate that fails).
    assert rc == EX_UNAVAILABLE, outcome(rc, out, err)
    verbs = sink.verbs()
    assert "MAIL" not in verbs and "DATA" not in verbs, (
        "mail went over a connection without TLS: %r" % sink.commands())
    assert sink.messages == []
    if case == "not-offered":
        assert "STARTTLS" in err, err
    else:
        assert "certificate" in err.lower(), err
    assert dovecot.count("alice") == 2
    assert not set(uid.values()) & w.recorded()


def test_smtp_starttls_and_auth(dovecot, ca, tmp_path):
    msgs = mailgen.generate(3, seed="starttls")
    load(dovecot, msgs)
    ctx = server_tls_context(ca.server_cert, ca.server_key)
    with SmtpSink(pipelining=False, tls_context=ctx,
                  auth={"mfuser": "smtp-secret"}) as sink:
        w = World(tmp_path, dovecot)
        w.write({"mta": smtp_dest(sink.port, ["a@example.test"],
                                  tls="starttls", tls_ca_file=ca.ca_file,
                                  user="mfuser", password="smtp-secret")},
                "mta")
        out, err = run_expect(w, EX_OK, 3, 3, 0, "-vv")
    assert_same([crlf_to_lf(m.data) for m in sink.messages], msgs,
                "messages received over STARTTLS")
    conns = sink.used_connections()
    assert len(conns) == 1 and conns[0].tls, sink.connections
    verbs = sink.verbs(conns[0])
    assert verbs[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"], verbs
    assert conns[0].auth_user == "mfuser"
    assert "smtp-secret" not in err


@pytest.mark.parametrize("allow", [False, True],
                         ids=["refused", "allowed"])
def test_smtp_auth_over_plain_text(dovecot, tmp_path, allow):
    msg = mailgen.message(subject="auth in clear")
    uid = load(dovecot, [msg])
    with SmtpSink(pipelining=False, auth={"mfuser": "smtp-secret"}) as sink:
        w = World(tmp_path, dovecot)
        dest = smtp_dest(sink.port, ["a@example.test"], user="mfuser",
                         password="smtp-secret")
        if allow:
            dest["allow_plaintext_auth"] = True
        w.write({"mta": dest}, "mta")
        rc, out, err = w.run()
    if allow:
        assert rc == EX_OK, outcome(rc, out, err)
        assert sink.used_connections()[0].auth_user == "mfuser"
        assert len(sink.messages) == 1
    else:
        # mailferry(1), EXIT STATUS: a password that would have to be
        # sent without TLS is a configuration error.
        assert rc == EX_CONFIG, outcome(rc, out, err)
        assert "AUTH" not in sink.verbs(), (
            "credentials were sent in clear text: %r" % sink.commands())
        assert sink.messages == []
        assert uid[digest(msg)] not in w.recorded()


@pytest.mark.parametrize("pipelining", [False, True],
                         ids=["lockstep", "pipelining"])
def test_smtp_4xx_on_one_rcpt_defers(dovecot, tmp_path, pipelining):
    ok = [mailgen.message(subject="fine %d" % i) for i in range(2)]
    victim = mailgen.message(subject="deferred",
                             sender="Victim <victim@example.org>")
    uid = load(dovecot, [ok[0], victim, ok[1]])
    rcpts = ["first@example.test", "second@example.test"]
    with SmtpSink(pipelining=pipelining, reply=refuse_for(
            "victim@", "RCPT", "451 4.2.0 mailbox busy, try later",
            rcpt="second@")) as sink:
        w = World(tmp_path, dovecot)
        w.write({"mta": smtp_dest(sink.port, rcpts)}, "mta", keep=False)
        out, err = run_expect(w, EX_TEMPFAIL, 3, 2, 1)
        for conn in sink.used_connections():
            for t in transactions(conn):
                if "victim@" in t[0]:
                    assert "DATA" not in [c.split()[0] for c in t], (
                        "DATA sent although a recipient was refused: %r" % t)
        assert_same([crlf_to_lf(m.data) for m in sink.messages], ok,
                    "messages the server accepted in the first run")
        assert dovecot.stored_messages("alice") == [victim], (
            "the deferred message must stay on the server, and only it")
        assert uid[digest(victim)] not in w.recorded(), (
            "a deferred message was recorded as delivered")
        assert "451" in err, err

        sink.reply = None               # the server is happy again
        run_expect(w, EX_OK, 1, 1, 0)
    got = [m for m in sink.messages if m.mail_from == "victim@example.org"]
    assert len(got) == 1, "the deferred message arrived %d times" % len(got)
    assert got[0].rcpt_tos == rcpts
    assert crlf_to_lf(got[0].data) == victim
    assert dovecot.count("alice") == 0


def test_smtp_5xx_after_data_fails(dovecot, tmp_path):
    ok = [mailgen.message(subject="fine %d" % i) for i in range(2)]
    victim = mailgen.message(subject="rejected",
                             sender="Victim <victim@example.org>")
    uid = load(dovecot, [ok[0], victim, ok[1]])
    with SmtpSink(pipelining=False, reply=refuse_for(
            "victim@", "DATA_END", "554 5.6.0 content rejected")) as sink:
        w = World(tmp_path, dovecot)
        w.write({"mta": smtp_dest(sink.port, ["a@example.test"])}, "mta",
                keep=False)
        out, err = run_expect(w, EX_UNAVAILABLE, 3, 2, 1)
    accepted = [crlf_to_lf(m.data) for m in sink.messages
                if m.reply.startswith("250")]
    assert_same(accepted, ok, "messages the server accepted")
    assert dovecot.stored_messages("alice") == [victim]
    assert "554" in err and uid[digest(victim)] in err, (
        "the failure should be reported with the reply and the UID: " + err)
    assert uid[digest(victim)] not in w.recorded()


@pytest.mark.parametrize("case", ["all-accepted", "one-refused"])
def test_smtp_one_connection_per_run(dovecot, tmp_path, case):
    msgs = [mailgen.message(subject="reuse %d" % i,
                            sender="s%d@example.org" % i) for i in range(6)]
    load(dovecot, msgs)
    reply = (refuse_for("s2@", "RCPT", "550 5.1.1 no such user")
             if case == "one-refused" else None)
    with SmtpSink(pipelining=False, reply=reply) as sink:
        w = World(tmp_path, dovecot)
        w.write({"mta": smtp_dest(sink.port, ["a@example.test"])}, "mta")
        if case == "all-accepted":
            run_expect(w, EX_OK, 6, 6, 0)
        else:
            run_expect(w, EX_UNAVAILABLE, 6, 5, 1)
    conns = sink.used_connections()
    assert len(conns) == 1, (
        "%d connections for one run: %r" % (len(conns),
                                            [c.commands for c in conns]))
    verbs = sink.verbs(conns[0])
    assert verbs.count("EHLO") == 1 and verbs.count("MAIL") == 6, verbs
    assert verbs[-1] == "QUIT", verbs
    assert len(sink.messages) == (6 if case == "all-accepted" else 5)


@pytest.mark.parametrize("eightbit", [True, False],
                         ids=["8bitmime", "no-8bitmime"])
def test_smtp_dot_stuffing_and_8bitmime(dovecot, tmp_path, eightbit):
    dots = ".\n..\n...\n. \n.\t\n.x\n..y\n.From\nFrom x\nmiddle\n.\n..\n."
    msgs = [mailgen.message(subject="dots", body=dots),
            mailgen.message(subject="dot first", body="." * 3 + "\n"),
            mailgen.message(subject="a long dot line",
                            body="." + "x" * 3000 + "\n.\n")]
    if eightbit:
        msgs += mailgen.generate(3, seed="dots8")  # 8-bit, every edge line
        msgs.append(mailgen.message(subject="8bit", body=(
            "Grüße\n.\n" + "caf\xe9\n").encode("utf-8") +
            "Latin-1 caf\xe9\n.\n".encode("latin-1")))
    else:
        assert all(max(m) < 0x80 for m in msgs)
    load(dovecot, msgs)
    stored = dovecot.stored_messages("alice")
    with SmtpSink(pipelining=False, eightbitmime=eightbit) as sink:
        w = World(tmp_path, dovecot)
        w.write({"mta": smtp_dest(sink.port, ["a@example.test"])}, "mta")
        run_expect(w, EX_OK, len(msgs), len(msgs), 0)
    assert_same([crlf_to_lf(m.data) for m in sink.messages], stored,
                "messages after dot-stuffing and un-stuffing")
    for c in mail_froms(sink):
        declared = re.search(r"(?i)\bBODY=8BITMIME\b", c) is not None
        assert declared == eightbit, (
            "MAIL %s BODY=8BITMIME although the server %s 8BITMIME: %r"
            % ("lacks" if eightbit else "has",
               "offers" if eightbit else "does not offer", c))


def test_smtp_envelope_sender(dovecot, tmp_path):
    msgs = [
        mailgen.message(subject="rp", headers={
            "Return-Path": "<bounces@lists.example>",
            "Sender": "List <owner@lists.example>"}),
        mailgen.message(subject="sender", headers={
            "Sender": "Secretary <sec@example.org>"}),
        mailgen.message(subject="from only", sender="Ann <ann@example.org>"),
        mailgen.message(subject="null", headers={"Return-Path": "<>"}),
    ]
    load(dovecot, msgs)
    with SmtpSink(pipelining=False) as sink:
        w = World(tmp_path, dovecot)
        w.write({"mta": smtp_dest(sink.port, ["a@example.test"])}, "mta")
        run_expect(w, EX_OK, 4, 4, 0)
        got = {subject(crlf_to_lf(m.data)): m.mail_from
               for m in sink.messages}
        assert got == {"rp": "bounces@lists.example",
                       "sender": "sec@example.org",
                       "from only": "ann@example.org", "null": ""}, got
        # `from` overrides them all.
        sink.reset()
        (tmp_path / "with-from").mkdir()
        w2 = World(tmp_path / "with-from", dovecot)
        w2.write({"mta": smtp_dest(sink.port, ["a@example.test"],
                                   **{"from": "fixed@example.net"})}, "mta")
        run_expect(w2, EX_OK, 4, 4, 0)
        assert [m.mail_from for m in sink.messages] == [
            "fixed@example.net"] * 4


def test_smtp_unreachable_destination_stops_the_run(dovecot, tmp_path):
    msgs = [mailgen.message(subject="nowhere %d" % i) for i in range(3)]
    uid = load(dovecot, msgs)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                           # nothing listens there now
    w = World(tmp_path, dovecot)
    w.write({"mta": smtp_dest(port, ["a@example.test"])}, "mta", keep=False)
    rc, out, err = w.run()
    assert rc == EX_TEMPFAIL, (
        "a destination that cannot be reached is a temporary failure: "
        + outcome(rc, out, err))
    assert dovecot.count("alice") == 3
    assert not set(uid.values()) & w.recorded()
    # It stops the run: one complaint, not one per message.
    assert len(re.findall(r"(?i)cannot connect", err)) == 1, err


# ---- 3. Dovecot LMTP ------------------------------------------------------

@pytest.mark.parametrize("via", ["socket", "tcp"])
def test_lmtp_to_dovecot(dovecot, tmp_path, via):
    msgs = mailgen.generate(3, seed="lmtp-" + via)
    msgs.append(mailgen.message(subject="lmtp rp", body=".\n..\nFrom x\n",
                                headers={"Return-Path": "<rp@example.org>"}))
    load(dovecot, msgs)
    stored = dovecot.stored_messages("alice")
    dest = {"type": "lmtp", "to": ["bob"], "timeout": NET_TIMEOUT,
            "received_header": False}
    if via == "socket":
        dest["socket"] = dovecot.lmtp_socket
    else:
        dest.update(host="127.0.0.1", port=dovecot.lmtp_port)
    w = World(tmp_path, dovecot)
    w.write({"lmtp": dest}, "lmtp")
    run_expect(w, EX_OK, 4, 4, 0)
    got = dovecot.stored_messages("bob")
    by_digest = {digest(x): x for x in stored}
    rests = []
    for g in got:
        added, rest = split_added_headers(
            g, ("Return-Path", "Delivered-To", "Received"))
        rests.append(rest)
        m = by_digest.get(digest(rest))
        if m is not None:
            assert added["Return-Path"] == "<%s>" % expected_sender(m)
            assert added["Delivered-To"] == "bob"
            assert "with LMTP" in added["Received"]
    assert_same(rests, stored, "bob's mailbox, Dovecot's headers removed")
    assert dovecot.count("alice") == 4
    run_expect(w, EX_OK, 0, 0, 0)
    assert dovecot.count("bob") == 4


# ---- 4. mbox --------------------------------------------------------------

FROM_LINE = re.compile(
    rb"From (\S+) (Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d "
    rb"\d\d:\d\d:\d\d \d{4}\n")


def mboxrd_unquote(data):
    return re.sub(rb"(?m)^>(>*From )", rb"\1", data)


def read_mbox(path):
    """[(From_ line sender, message bytes un-quoted)] via mailbox.mbox."""
    mb = mailbox.mbox(str(path), create=False)
    try:
        out = []
        for key in mb.keys():
            sender = mb.get_message(key).get_from().split(" ", 1)[0]
            out.append((sender, mboxrd_unquote(mb.get_bytes(key))))
        return out
    finally:
        mb.close()


def check_mbox_layout(raw):
    """Every line starting with "From " is a well-formed separator at the
    start of the file or after an empty line; returns their senders."""
    senders = []
    for m in re.finditer(rb"(?m)^From [^\n]*\n?", raw):
        assert m.start() == 0 or raw[m.start() - 2:m.start()] == b"\n\n", (
            "a From line that is no separator (unquoted?) at byte %d: %r"
            % (m.start(), m.group(0)))
        f = FROM_LINE.fullmatch(m.group(0))
        assert f, "malformed separator %r" % m.group(0)
        senders.append(f.group(1).decode())
    assert raw.endswith(b"\n\n"), "the mbox does not end with an empty line"
    return senders


def test_mbox_mboxrd_readback(dovecot, tmp_path):
    msgs = mailgen.generate(6, seed="mbox")
    msgs += [
        mailgen.message(subject="quoting", headers={
            "Return-Path": "<rp@example.org>"}, body=(
            "From the start\n>From quoted once\n>>From quoted twice\n"
            "From\nFrom:colon\n From indented\n\nFrom after blank\n"
            ">From")),
        mailgen.message(subject="body starts with From",
                        body="From me to you\n"),
        mailgen.message(subject="null sender",
                        headers={"Return-Path": "<>"}),
        mailgen.message(subject="ends with blank lines", body="x\n\n\n"),
    ]
    load(dovecot, msgs)
    stored = dovecot.stored_messages("alice")
    w = World(tmp_path, dovecot)
    w.write({"box": {"type": "mbox", "path": str(w.mbox)}}, "box")
    run_expect(w, EX_OK, len(msgs), len(msgs), 0)

    assert stat.S_IMODE(os.stat(w.mbox).st_mode) == 0o600, oct(
        os.stat(w.mbox).st_mode)
    assert not os.path.exists(str(w.mbox) + ".lock"), "dotlock left behind"
    raw = w.mbox.read_bytes()
    seps = check_mbox_layout(raw)
    got = read_mbox(w.mbox)
    assert len(got) == len(seps) == len(stored), (len(got), len(seps))
    for (sender, body), m in zip(got, stored):
        want = expected_sender(m) or "MAILER-DAEMON"
        assert sender == want, "%s: From_ line names %r, expected %r" % (
            subject(m), sender, want)
    assert_same([b for _, b in got], stored,
                "messages read back from the mbox, un-quoted")
    assert [b for _, b in got] == stored, "not in the order fetched"

    run_expect(w, EX_OK, 0, 0, 0)
    assert w.mbox.read_bytes() == raw, "a run with nothing new changed it"


def test_mbox_without_dotlock_records_each_message(dovecot):
    """An mbox in a directory where the user may not create files (as
    /var/mail often is): no dot lock, the fcntl lock alone, which a crash
    releases without a record of what to cut. So each message is synced,
    unlocked and recorded before the next. Killed just before the second
    message's sync, the next run delivers the rest and duplicates only
    that one message."""
    msgs = mailgen.generate(4, seed="spool")
    load(dovecot, msgs)
    stored = dovecot.stored_messages("alice")
    nobody = pwd.getpwnam("nobody")
    top = tempfile.mkdtemp(prefix="mf-spool-")
    try:
        os.chmod(top, 0o755)
        home = os.path.join(top, "home")
        spool = os.path.join(top, "spool")
        os.mkdir(home, 0o700)
        os.mkdir(spool, 0o755)          # root's: no dot lock in it
        mbox = os.path.join(spool, "nobody")
        with open(mbox, "wb"):
            pass
        os.chown(mbox, nobody.pw_uid, nobody.pw_gid)
        os.chmod(mbox, 0o600)
        conf = os.path.join(home, "mailferry.conf")
        write_config(conf, mfconf.config(
            os.path.join(home, "state"),
            {"box": {"type": "mbox", "path": mbox}},
            [mfconf.account("alice", dovecot, deliver="box", keep=False)]))
        for root, dirs, files in os.walk(home):
            for n in [root] + [os.path.join(root, f) for f in files]:
                os.chown(n, nobody.pw_uid, nobody.pw_gid)
        as_nobody = ["setpriv", "--reuid=%d" % nobody.pw_uid,
                     "--regid=%d" % nobody.pw_gid, "--clear-groups", "--"]
        env = {"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        cmd = [mailferry_path(), "-f", conf]
        p = subprocess.run(strace_kill([mbox], "fsync", 2) + as_nobody + cmd,
                           env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == -signal.SIGKILL, outcome(p.returncode,
                                                        p.stdout, p.stderr)
        assert "using fcntl locking only" in p.stderr, p.stderr
        # The first message was recorded before the second was appended.
        with open(os.path.join(home, "state", "alice.uids")) as f:
            assert sum(l.startswith("+ ") for l in f) == 1
        assert not os.path.exists(mbox + ".lock")
        p = subprocess.run(as_nobody + cmd, env=env, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == EX_OK, outcome(p.returncode, p.stdout,
                                              p.stderr)
        got = [b for _, b in read_mbox(mbox)]
        assert_same(got, stored + [stored[1]], "the mbox")
        assert dovecot.count("alice") == 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---- 5. kill -9 in the middle of an mbox append ---------------------------

def big_message(mb):
    line = b"Big body line, long enough to make the message large quickly.\n"
    body = (line * 1000 + b"From inside the big one\n") * (
        mb * 1024 * 1024 // (len(line) * 1000))
    return mailgen.message(subject="big", body=body)


def test_mbox_sigkill_mid_append(dovecot, tmp_path):
    first = [mailgen.message(subject="before %d" % i) for i in range(2)]
    load(dovecot, first)
    w = World(tmp_path, dovecot)
    w.write({"box": {"type": "mbox", "path": str(w.mbox)}}, "box")
    run_expect(w, EX_OK, 2, 2, 0)
    good = w.mbox.read_bytes()

    big = big_message(32)
    after = mailgen.message(subject="after the big one")
    load(dovecot, [big, after])
    lock = str(w.mbox) + ".lock"
    proc = subprocess.Popen([mailferry_path(), "-f", str(w.conf)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    killed_at = None
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            size = os.stat(w.mbox).st_size
            if len(good) < size < len(good) + len(big) // 2 and \
                    os.path.exists(lock):
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = size
                break
    finally:
        if proc.poll() is None and killed_at is None:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    assert killed_at is not None, (
        "never saw the big message being appended (exit %s)\n%s"
        % (proc.returncode, err.decode(errors="replace")))
    assert proc.returncode == -signal.SIGKILL

    assert os.path.exists(lock), "no dotlock left by the killed run"
    with open(lock) as f:
        rec = f.read().split()
    # mailferry-dotlock 2 PID HOST DEV INO OFFSET LENGTH LAST
    # (mailferry(1)): the batch began at OFFSET, its appends are LENGTH
    # bytes long with the one in progress, which began at LAST.
    st = os.stat(w.mbox)
    assert len(rec) == 9 and rec[:2] == ["mailferry-dotlock", "2"], rec
    assert rec[2] == str(proc.pid) and rec[6] == str(len(good)), (
        "lock record %r, expected pid %d and offset %d"
        % (rec, proc.pid, len(good)))
    assert rec[4:6] == [str(st.st_dev), str(st.st_ino)], rec
    assert rec[8] == rec[6], "the big message is the batch's first"
    partial = w.mbox.read_bytes()
    assert partial.startswith(good) and len(partial) > len(good)
    assert len(good) + int(rec[7]) > len(partial), (
        "the recorded length %s is not that of the interrupted append"
        % rec[7])

    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert not os.path.exists(lock), "the dotlock is still there"
    raw = w.mbox.read_bytes()
    assert raw.startswith(good), "the messages before the crash changed"
    check_mbox_layout(raw)
    got = [b for _, b in read_mbox(w.mbox)]
    assert_same(got, first + [big, after], "the mbox after the repair")
    assert got == first + [big, after], "order changed"


# ---- 6. mda -----------------------------------------------------------------

MDA_SCRIPT = """#!/usr/bin/python3
import json, os, sys, time
out = {out!r}
data = sys.stdin.buffer.read()
name = "%d-%d" % (time.time_ns(), os.getpid())
with open(os.path.join(out, name + ".in"), "wb") as f:
    f.write(data)
with open(os.path.join(out, name + ".argv"), "w") as f:
    json.dump(sys.argv[1:], f)
with open({control!r}) as f:
    sys.exit(int(f.read()))
"""


def mda_calls(out_dir):
    """[(argv, stdin bytes)] of every invocation, in order."""
    names = sorted((n[:-3] for n in os.listdir(out_dir) if n.endswith(".in")),
                   key=lambda n: tuple(map(int, n.split("-"))))
    calls = []
    for n in names:
        with open(os.path.join(out_dir, n + ".argv")) as f:
            argv = json.load(f)
        with open(os.path.join(out_dir, n + ".in"), "rb") as f:
            calls.append((argv, f.read()))
    return calls


def test_mda(dovecot, tmp_path):
    out_dir = tmp_path / "calls"
    out_dir.mkdir()
    control = tmp_path / "exit-status"
    script = tmp_path / "mda.py"
    script.write_text(MDA_SCRIPT.format(out=str(out_dir),
                                        control=str(control)))
    script.chmod(0o755)
    pwned = tmp_path / "PWNED"
    hostile = ("odd;$(touch${IFS}%s)`touch${IFS}%s2`|&\"'*?!x@example.test"
               % (pwned, pwned))
    m1 = mailgen.message(subject="hostile sender", body=".\nFrom x\n",
                         headers={"Return-Path": "<%s>" % hostile})
    uid = load(dovecot, [m1])
    assert expected_sender(m1) == hostile

    w = World(tmp_path, dovecot)
    w.write({"prog": {"type": "mda", "to": ["rcpt@example.test"],
                      "received_header": False,
                      "command": "%s --from %%F --to %%T literal-%%F %%Tx"
                                 % script}}, "prog", keep=False)
    control.write_text("0")
    run_expect(w, EX_OK, 1, 1, 0)
    calls = mda_calls(out_dir)
    assert len(calls) == 1
    argv, data = calls[0]
    assert argv == ["--from", hostile, "--to", "rcpt@example.test",
                    "literal-%F", "%Tx"], argv
    assert data == m1, first_difference(data, m1)
    assert not os.path.exists(pwned) and not os.path.exists(str(pwned) + "2"), (
        "the sender was interpreted by a shell")
    assert dovecot.count("alice") == 0

    m2 = mailgen.message(subject="second", sender="two@example.org")
    uid.update(load(dovecot, [m2]))

    control.write_text("75")            # deferred
    out, err = run_expect(w, EX_TEMPFAIL, 1, 0, 1)
    assert dovecot.stored_messages("alice") == [m2]
    assert uid[digest(m2)] not in w.recorded()
    assert len(mda_calls(out_dir)) == 2

    control.write_text("1")             # failed
    out, err = run_expect(w, EX_UNAVAILABLE, 1, 0, 1)
    assert dovecot.stored_messages("alice") == [m2]
    assert "status 1" in err, err
    assert len(mda_calls(out_dir)) == 3

    control.write_text("0")             # delivered
    run_expect(w, EX_OK, 1, 1, 0)
    assert dovecot.count("alice") == 0
    calls = mda_calls(out_dir)
    assert len(calls) == 4
    assert [c[1] for c in calls[1:]] == [m2] * 3
    assert calls[3][0][:2] == ["--from", "two@example.org"]
    run_expect(w, EX_OK, 0, 0, 0)
    assert len(mda_calls(out_dir)) == 4


# ---- 6b. Maildir: a batch made durable together ----------------------------

def traced_calls(trace, name):
    """How many calls of NAME an `strace -f -o TRACE` output holds."""
    with open(trace) as f:
        return len(re.findall(r"(?m)^(?:\d+ +)?%s\(" % name, f.read()))


@pytest.mark.parametrize("fs", ["disk", "ramfs"])
def test_maildir_batch_durable_together(dovecot, tmp_path, fs):
    """On a local disk file system a batch's files are made durable by
    one syncfs, not an fdatasync each; on any other (ramfs here, standing
    for NFS or FUSE, whose syncfs promises nothing) each file gets its
    fdatasync. Either way everything arrives, once, and tmp/ is empty."""
    msgs = mailgen.generate(30, seed="batch-" + fs)
    load(dovecot, msgs)
    stored = dovecot.stored_messages("alice")
    w = World(tmp_path, dovecot)
    mnt = tmp_path / "ramfs"
    if fs == "ramfs":
        mnt.mkdir()
        subprocess.run(["mount", "-t", "ramfs", "-o", "mode=0700", "ramfs",
                        str(mnt)], check=True)
        w.maildir = mnt / "Maildir"
    try:
        w.write({"inbox": mfconf.maildir(w.maildir)}, "inbox")
        trace = tmp_path / "strace.out"
        cmd = ["strace", "-f", "-qq", "-o", str(trace), "-e",
               "trace=syncfs,fdatasync", mailferry_path(), "-f", str(w.conf)]
        p = subprocess.run(without_leak_check() + cmd, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == EX_OK, outcome(p.returncode, p.stdout,
                                              p.stderr)
        assert counts(p.stdout) == (30, 30, 0)
        if fs == "disk":
            assert traced_calls(trace, "fdatasync") == 0
            assert traced_calls(trace, "syncfs") >= 1
        else:
            assert traced_calls(trace, "fdatasync") == 30
            assert traced_calls(trace, "syncfs") == 0
        assert_same(w.maildir_messages(), stored, "the Maildir")
        assert os.listdir(w.maildir / "tmp") == []
        run_expect(w, EX_OK, 0, 0, 0)
    finally:
        if fs == "ramfs":
            subprocess.run(["umount", str(mnt)], check=True)


# ---- 7. several destinations ------------------------------------------------

def test_two_destinations_maildir_and_mbox(dovecot, tmp_path):
    msgs = mailgen.generate(4, seed="two-dests")
    load(dovecot, msgs)
    stored = dovecot.stored_messages("alice")
    w = World(tmp_path, dovecot)
    w.write({"inbox": mfconf.maildir(w.maildir),
             "box": {"type": "mbox", "path": str(w.mbox)}},
            ["inbox", "box"], keep=False)
    run_expect(w, EX_OK, 4, 4, 0)
    assert_same(w.maildir_messages(), stored, "the Maildir")
    assert_same([b for _, b in read_mbox(w.mbox)], stored, "the mbox")
    assert dovecot.count("alice") == 0
    run_expect(w, EX_OK, 0, 0, 0)
    assert len(w.maildir_messages()) == 4 and len(read_mbox(w.mbox)) == 4


@pytest.mark.parametrize("local", ["maildir", "mbox"])
def test_two_destinations_one_deferring(dovecot, tmp_path, local):
    ok = [mailgen.message(subject="both %d" % i) for i in range(2)]
    victim = mailgen.message(subject="smtp defers",
                             sender="Victim <victim@example.org>")
    uid = load(dovecot, [ok[0], victim, ok[1]])
    w = World(tmp_path, dovecot)
    with SmtpSink(pipelining=False, reply=refuse_for(
            "victim@", "RCPT", "452 4.3.1 insufficient storage")) as sink:
        local_dest = (mfconf.maildir(w.maildir) if local == "maildir" else
                      {"type": "mbox", "path": str(w.mbox)})
        # The local destination first: its success must not count while
        # the other one defers.
        w.write({"local": local_dest,
                 "mta": smtp_dest(sink.port, ["a@example.test"])},
                ["local", "mta"], keep=False)

        def local_messages():
            if local == "maildir":
                return w.maildir_messages()
            return ([b for _, b in read_mbox(w.mbox)]
                    if os.path.exists(w.mbox) else [])

        run_expect(w, EX_TEMPFAIL, 3, 2, 1)
        assert dovecot.stored_messages("alice") == [victim], (
            "the message one destination deferred must stay on the server")
        assert uid[digest(victim)] not in w.recorded()
        assert_same([crlf_to_lf(m.data) for m in sink.messages], ok,
                    "the SMTP server after the first run")

        sink.reply = None
        run_expect(w, EX_OK, 1, 1, 0)
    assert dovecot.count("alice") == 0
    assert_same([crlf_to_lf(m.data) for m in sink.messages], ok + [victim],
                "the SMTP server after the second run")
    # Delivered once (mailferry(1), GUARANTEES): no second copy of the deferred message in
    # the destination that had accepted it.
    assert_same(local_messages(), ok + [victim],
                "the %s after the second run" % local)
