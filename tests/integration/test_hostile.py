"""A hostile server, or a hostile sender behind an honest one: what
mailferry(1) promises against message smuggling, endless or slow
listings, floods of odd UIDs, control characters in what a server or a
program says, and rules that would burn CPU without end. Each attack
tried is listed in ATTACKS.md with the test that covers it.

The fake server and the helpers are test_faults.py's: mailferry's
`timeout` is 2 s, and "bounded" means run_mailferry's outer limit, never
a measured time.
"""

import os
import re

import pytest

import mailgen
import mfconf
from fakepop3 import Fault, Message
from harness import write_config
from postfix import Postfix, split_added_headers
from rulestest import World as RulesWorld
from rulestest import outcome, raw, render
from smtpsink import SmtpSink
from test_faults import (EX_OK, EX_TEMPFAIL, PASSWORD, RSS_LIMIT_MB,
                         STALL_TIMEOUT, USER, World,
                         _no_stray_threads,  # noqa: F401
                         assert_failed, assert_mailbox_state,
                         assert_only_broken_left, assert_resumes,
                         explain, run_measured, server, timeout_for)

# Without the session trace (conftest.py): a million -vv lines would make
# the runs with endless listings, and the final check reading the trace,
# slow.
NO_TRACE = {k: v for k, v in os.environ.items()
            if k != "MAILFERRY_TRACE_FILE"}
# A listing may hold 64 MB: with what a run needs besides and the string
# table's last doubling, under 100 MB. A sanitizer build, which raises
# test_faults.py's RSS_LIMIT_MB from 20, also keeps freed blocks in
# quarantine and needs shadow memory: three times that extra.
LISTING_RSS_LIMIT_MB = 100 + 3 * max(0, RSS_LIMIT_MB - 20)


# ---- message smuggling ------------------------------------------------------

def smuggling_message(end):
    """A genuine message, as an honest server that keeps bare LFs stores
    it (CRLF line ends), whose sender put END (a lenient end of data)
    then a forged POP3 reply and message in its body."""
    return (b"From: Real Sender <real@example.org>\r\n"
            b"To: alice@example.com\r\n"
            b"Subject: genuine TOKEN1xsmuggle\r\n"
            b"Message-ID: <genuine.smuggle@example.org>\r\n"
            b"\r\n"
            b"The genuine body, TOKEN1xsmuggle." + end +
            b"+OK 120 octets\r\n"
            b"From: Your Bank <security@bank.example>\r\n"
            b"Subject: forged FORGEDxsmuggle\r\n"
            b"\r\n"
            b"Please confirm your password.\r\n"
            b"..\r\n"
            b"The genuine message goes on, TOKEN1xsmuggle.\r\n")


@pytest.mark.parametrize("pipelining", [True, False],
                         ids=["pipelining", "no-pipelining"])
@pytest.mark.parametrize("end", [b"\n.\n", b"\n.\r\n", b"\r.\r\n"],
                         ids=["lf-dot-lf", "lf-dot-crlf", "cr-dot-crlf"])
def test_bare_lf_cannot_smuggle_a_message(tmp_path, end, pipelining):
    """A sender cannot end a genuine message early and make the rest a
    second, forged one: the genuine message arrives whole, nothing else
    is delivered, and with keep = false exactly the delivered messages
    are deleted."""
    genuine = Message(smuggling_message(end), "UID-genuine", crlf=True)
    other = Message(mailgen.message(subject="second TOKEN2xsmuggle",
                                    body="an honest second message\n"),
                    "UID-second")
    w = World(tmp_path)
    with server([genuine, other], pipelining=pipelining) as srv:
        w.configure(srv, keep=False)
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        got = sorted(w.delivered())
        want = sorted([genuine.data.replace(b"\r\n", b"\n"), other.data])
        assert got == want, (
            "expected the genuine message whole and the second one, got "
            "%d messages:\n%s\n%s" % (len(got), b"\n----\n".join(got)
                                      .decode(errors="replace"),
                                      explain(res, srv)))
        forged = [m for m in got if b"FORGEDx" in m]
        assert len(forged) == 1 and b"TOKEN1x" in forged[0]
        assert "2 new, 2 delivered" in res.out, res.out
        # Both were delivered, so both may go; nothing else was asked.
        dele = [c for c in srv.received() if c.startswith(b"DELE")]
        assert sorted(dele) == [b"DELE 1", b"DELE 2"], srv.transcript()
        assert srv.mailbox() == []


# ---- SMTP smuggling on the way out ------------------------------------------

INJECTED = (b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n"
            b"Subject: smuggled SMUGGLEDxsmtp\r\n\r\nforged\r\n.\r\n")


def smtp_smuggling_message(rcpt):
    """A message (as stored, LF line ends) holding every lenient end of
    data a receiver might accept, each followed by an injected SMTP
    transaction, plus bare CRs: none may end the DATA early."""
    inject = INJECTED % rcpt.encode()
    ends = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r.\r",
            b"\r\n.\r\n"]
    body = b"".join(b"attempt %d TOKEN1xsmtp%s%s" % (i, e, inject)
                    for i, e in enumerate(ends))
    head = mailgen.message(subject="smtp smuggling TOKEN1xsmtp", body="")
    return head + body + b"bare CR\rin a line, and the end TOKEN1xsmtp\n"


def as_crlf(stored):
    """What DATA must carry for STORED: every CRLF, bare LF and bare CR a
    CRLF."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", stored)


def configure(w, srv, dests, **extra):
    """Like World.configure, with DESTS for destinations."""
    extra.setdefault("deliver", list(dests)[0])
    acct = mfconf.account(USER, None, server="127.0.0.1", port=srv.port,
                          tls="none", auth="user", password=PASSWORD,
                          **extra)
    write_config(w.conf, mfconf.config(w.state, dests, [acct],
                                       timeout=timeout_for(srv)))


def deliver_by_smtp(tmp_path, data, port, rcpt):
    w = World(tmp_path)
    with server([Message(data, "UID-smtp-1")]) as srv:
        configure(w, srv, {"mta": {"type": "smtp", "host": "127.0.0.1",
                                   "port": port, "tls": "none",
                                   "to": [rcpt],
                                   "received_header": False}})
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert "1 new, 1 delivered" in res.out, res.out
    return res


def test_smtp_data_holds_no_lenient_end(tmp_path):
    """The raw DATA bytes: every line end CRLF, no bare CR or LF, and
    the first CRLF "." CRLF is our own terminator."""
    rcpt = "victim@example.test"
    stored = smtp_smuggling_message(rcpt)
    with SmtpSink(pipelining=False) as sink:
        deliver_by_smtp(tmp_path, stored, sink.port, rcpt)
    assert len(sink.messages) == 1, [m.data[:200] for m in sink.messages]
    assert sink.messages[0].data == as_crlf(stored)
    raw = bytes(sink.connections[0].raw)
    data = raw[raw.index(b"DATA\r\n") + 6:]
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", data) is None, (
        "a bare CR or LF in DATA: %r" % data)
    end = data.index(b"\r\n.\r\n")
    assert data[end + 5:] == b"QUIT\r\n", (
        "DATA ended before the end of the message: %r" % data[end:])
    assert sink.verbs() == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]


@pytest.fixture(scope="module")
def postfix():
    pf = Postfix(mailboxes=["victim@example.test"])
    try:
        pf.start()
        yield pf
    finally:
        pf.close()


def test_smtp_smuggling_through_postfix(tmp_path, postfix):
    """The same message through a real MTA: one message arrives, whole
    (every line end of ours a line end of its), nothing injected."""
    rcpt = "victim@example.test"
    stored = smtp_smuggling_message(rcpt)
    deliver_by_smtp(tmp_path, stored, postfix.port, rcpt)
    got = postfix.wait_delivered(rcpt, 1)
    _, rest = split_added_headers(got[0])
    assert rest == as_crlf(stored).replace(b"\r\n", b"\n"), (
        "Postfix stored something else:\n%r" % rest)
    assert b"SMUGGLEDxsmtp" in rest
    assert "evil@example.net" not in postfix.log_text()


# ---- control characters -----------------------------------------------------

# C1 controls a terminal obeys (CSI, OSC, ST), raw and as UTF-8, and
# Latin-1 text that is not UTF-8.
C1 = b"\x9b2J\x9d0;owned\x9c \xc2\x9b31m\xc2\x9d0;x\xc2\x9c caf\xe9"


def assert_no_raw_c1(text, what):
    """TEXT (decoded from UTF-8 with replacement) holds no C1 control and
    no byte that was not UTF-8, and shows the escapes instead."""
    bad = [c for c in text if "\x80" <= c <= "\x9f" or c == "\ufffd"]
    assert not bad, "%s: raw %r reached the output:\n%s" % (what, bad, text)
    assert "\\x9b2J" in text and "\\xc2\\x9b31m" in text, (
        "%s: the escaped form is missing:\n%s" % (what, text))


def test_c1_controls_from_a_server_are_escaped(tmp_path):
    msgs = [Message(mailgen.message(subject="c1 %d" % i), "UID-c1-%d" % i)
            for i in range(1, 4)]
    faults = [Fault("RETR", "replace", arg="2",
                    data=b"-ERR [SYS/TEMP] " + C1 + b"\r\n"),
              Fault("GREETING", "replace", data=b"+OK hello " + C1 + b"\r\n")]
    w = World(tmp_path)
    with server(msgs, capa=[b"UIDL", b"USER", b"X-" + C1],
                faults=faults) as srv:
        w.configure(srv)
        res = w.run("-vv")
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        assert_no_raw_c1(res.err + res.out, "-vv run")


def test_c1_controls_from_a_message_are_escaped(tmp_path):
    """--test-message shows header values, and what the rules did with
    them, escaped: raw bytes and encoded words alike."""
    w = RulesWorld(tmp_path)
    w.write([mfconf.account(USER, None, server="127.0.0.1", port=9,
                            password=PASSWORD, rules=raw(
        '{ name = "look"; match = { header = "Subject"; regex = "nomatch"; };'
        ' action = "delete"; }'))])
    path = tmp_path / "c1.eml"
    path.write_bytes(b"From: a@example.org\nSubject: " + C1 +
                     b" =?UTF-8?Q?=C2=9B31m?=\n\nbody\n")
    rc, out, err = w.test_message(path)
    assert rc == EX_OK, outcome(rc, out, err)
    assert_no_raw_c1(out + err, "--test-message")


# ---- the programs mailferry runs ----------------------------------------------

def test_password_command_stderr_is_one_escaped_line(tmp_path):
    """What a failing password_command says shows up capped, escaped and
    on one line: line ends as " / ", nothing raw."""
    script = tmp_path / "helper.sh"
    script.write_text("printf 'vault is locked\\n\\033[2Jrun: pass unlock"
                      "\\r\\n\\302\\233x\\n' >&2\n"
                      "i=0; while [ $i -lt 500 ]; do echo more >&2; "
                      "i=$((i+1)); done\nexit 1\n")
    msgs = [Message(mailgen.message(subject="pw"), "UID-pw-1")]
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv, password=None,
                    password_command="/bin/sh %s" % script)
        res = w.run()
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        assert srv.connections == [], srv.transcript()
    lines = [l for l in res.err.splitlines() if "password_command" in l]
    assert len(lines) == 1, res.err
    assert ("failed with status 1: vault is locked / \\x1b[2Jrun: pass "
            "unlock / \\xc2\\x9bx / more / more" in lines[0]), lines[0]
    assert lines[0].endswith("..."), lines[0]
    assert len(lines[0]) < 900, lines[0]
    assert res.err.count("more") < 200, res.err


CLOSES_AND_HANGS = "sh -c 'exec >&- 2>&-; sleep 300'"


def test_password_command_closing_its_output_still_times_out(tmp_path):
    msgs = [Message(mailgen.message(subject="pw"), "UID-pw-1")]
    w = World(tmp_path)
    with server(msgs) as srv:
        w.configure(srv, password=None, password_command=CLOSES_AND_HANGS,
                    timeout=STALL_TIMEOUT)
        res = w.run()
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        assert "password_command (sh) did not finish within 2 s" in res.err
        assert srv.connections == [], srv.transcript()


def test_mda_closing_its_output_still_times_out(tmp_path):
    """The delivery program reads the message, closes its output and
    hangs: the delivery fails at its timeout, the message stays."""
    msgs = [Message(mailgen.message(subject="mda"), "UID-mda-1")]
    w = World(tmp_path)
    with server(msgs) as srv:
        configure(w, srv, {"prog": {
            "type": "mda", "timeout": 2,
            "command": "sh -c 'cat >/dev/null; exec >&- 2>&-; "
                       "sleep 300'"}}, keep=False)
        res = w.run()
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        assert "sh did not finish within 2 s" in res.err, res.err
        assert "1 new, 0 delivered" in res.out, res.out
        assert len(srv.mailbox()) == 1
        assert w.stored_uids() == []


# ---- endless, slow and enormous listings -------------------------------------

ENDLESS = {
    # case: (command, generated line, what stderr must say)
    "uidl-garbage": ("UIDL", lambda i: b"garbage, no number\r\n",
                     r"endless UIDL listing: more than 1000000 lines"),
    "uidl-bad-uids": ("UIDL", lambda i: b"%d bad uid %d\r\n" % (i + 1, i),
                      r"endless UIDL listing: more than 1000000 lines"),
    "list-same-line": ("LIST", lambda i: b"1 100\r\n",
                       r"endless LIST listing: more than 1000000 lines"),
    "uidl-long-lines": ("UIDL", lambda i: b"1 " + b"u" * 8000 + b"\r\n",
                        r"endless UIDL listing: more than 64 MB"),
    "capa": ("CAPA", lambda i: b"X-CAP-%d\r\n" % i, r"endless CAPA reply"),
}


@pytest.mark.parametrize("case", list(ENDLESS))
def test_endless_fast_listing_is_cut_off(tmp_path, case):
    """A listing that never ends, as fast as mailferry reads it, bad lines
    or good: cut off with a clear error, nothing fetched, deleted or
    recorded."""
    cmd, gen, pattern = ENDLESS[case]
    msgs = [Message(mailgen.message(subject="m%d TOKEN%dxendless" % (i, i)),
                    "UID-endless-%d" % i) for i in range(1, 3)]
    w = World(tmp_path)
    with server(msgs, faults=[Fault(cmd, "endless", gen=gen)]) as srv:
        w.configure(srv, keep=False)
        res = w.run(env=NO_TRACE)
        assert srv.fired(), srv.transcript()
        assert_failed(res, srv, EX_TEMPFAIL, pattern)
        assert_mailbox_state(w, srv, [], msgs, res)
        assert [c for c in srv.commands() if c in ("RETR", "DELE")] == []
        assert len(res.err) < 2000, res.err[:3000]


TRICKLES = {
    # case: (fault command, argument, trickle options, the message that
    # breaks the session, 1-based; 0: the listing itself)
    "retr2-message": ("RETR", "2", {"data": b"+OK\r\nSubject: slow\r\n\r\n",
                                    "pattern": b"x" * 70 + b"\r\n"}, 2),
    "uidl-valid-lines": ("UIDL", None, {"data": b"+OK\r\n",
                                        "pattern": b"1 u1\r\n"}, 0),
}


@pytest.mark.parametrize("case", list(TRICKLES))
def test_trickle_above_the_slowest_rate_is_cut_off(tmp_path, case):
    """600 bytes a second, forever: faster than one byte per timeout and
    than the old 512 bytes/s, yet slower than the 1 KB/s a reply must
    average after its first `timeout` seconds. Cut off, not stretched."""
    cmd, arg, params, broken = TRICKLES[case]
    msgs = [Message(mailgen.message(subject="m%d TOKEN%dxslow" % (i, i),
                                    body="slow %d\n" % i * 50),
                    "UID-slow-%d" % i) for i in range(1, 4)]
    w = World(tmp_path)
    with server(msgs, faults=[Fault(cmd, "trickle", arg=arg, chunk=30,
                                    interval=0.05, forever=True,
                                    **params)]) as srv:
        w.configure(srv, keep=False)
        res = w.run(env=NO_TRACE)
        assert_failed(res, srv, EX_TEMPFAIL,
                      r"took too long \(deadline exceeded: \d+ bytes in "
                      r"\d+ s, the server is too slow\)")
        if broken:
            # After the listing: a reconnect delivers and deletes the
            # others; the trickled one alone is left.
            assert_only_broken_left(w, srv, msgs, msgs[broken - 1], res)
        else:
            assert_mailbox_state(w, srv, [], msgs, res)
        assert_resumes(w, srv, msgs, keep=False)


def test_a_million_long_uids_cost_bounded_memory(tmp_path):
    """A million unique 255-byte UIDs (268 MB of UIDL): cut off at the
    64 MB a listing may hold, with bounded memory and one error line."""
    uid = b"U" * 245
    msgs = [Message(mailgen.message(subject="m1 TOKEN1xlonguid"), "u1")]
    gen = (lambda i: b"%d %s%010d\r\n" % (i + 1, uid, i))
    w = World(tmp_path)
    with server(msgs, faults=[Fault("UIDL", "endless", gen=gen,
                                    count=1_000_000, tail=b".\r\n")]) as srv:
        w.configure(srv, keep=False)
        res, peak_kb = run_measured(w, env=NO_TRACE)
        assert_failed(res, srv, EX_TEMPFAIL,
                      r"endless UIDL listing: more than 64 MB")
        assert_mailbox_state(w, srv, [], msgs, res)
    assert len(res.err) < 1000, res.err[:2000]
    if peak_kb is not None:
        assert peak_kb < LISTING_RSS_LIMIT_MB * 1024, (
            "peak memory %.1f MB (limit %d MB)" % (peak_kb / 1024,
                                                   LISTING_RSS_LIMIT_MB))


def test_repeated_uids_make_one_warning(tmp_path):
    """200,000 messages whose UIDs come in pairs: one warning line with a
    count and a few examples, not one line per UID."""
    n = 200_000
    uid = b"R" * 200
    msgs = [Message(mailgen.message(subject="m1"), "only-one")]
    faults = [
        Fault("UIDL", "endless", count=n, tail=b".\r\n",
              gen=lambda i: b"%d %s%07d\r\n" % (i + 1, uid, i // 2)),
        Fault("LIST", "endless", count=n, tail=b".\r\n",
              gen=lambda i: b"%d 100\r\n" % (i + 1)),
    ]
    w = World(tmp_path)
    with server(msgs, faults=faults) as srv:
        w.configure(srv, keep=True)
        res = w.run(env=NO_TRACE)
        assert res.rc == EX_OK, explain(res, srv)
    shared = [l for l in res.err.splitlines() if "shared by several" in l]
    assert len(shared) == 1, res.err[:3000]
    assert ("100000 UIDs are shared by several messages (200000 messages)"
            in shared[0]), shared[0]
    assert shared[0].count('"RRRR') == 3 and shared[0].endswith(
        " and more"), shared[0]
    assert len(res.err) < 2000, res.err[:3000]


# ---- rules that would burn CPU -------------------------------------------------

def test_rules_cpu_budget_per_message(tmp_path):
    """A 256 KB header and 200 rules, each a match well under PCRE2's
    limits but costly on such a header (together over a minute of CPU):
    the rules stop when the message's CPU budget is used up, and the
    message goes to the account's destination with a warning naming the
    rule, where an unchecked run would have gone on to the last rule,
    which deletes everything."""
    slow = ",\n".join(
        '{ name = "slow-%d"; match = { header = "Subject"; '
        'regex = "\\\\w{1,1000}\\\\d"; }; action = "delete"; }' % i
        for i in range(1, 201))
    rules = raw(slow + ',\n{ name = "delete-the-rest"; action = "delete"; }')
    big = mailgen.message(subject="abcdefgh" * 31000, body="TOKEN1xcpu\n")
    assert 240_000 < len(big) < 256 * 1024
    msgs = [Message(big, "UID-cpu-1")]
    w = World(tmp_path)
    with server(msgs) as srv:
        acct = mfconf.account(USER, None, server="127.0.0.1", port=srv.port,
                              tls="none", auth="user", password=PASSWORD,
                              keep=False, rules=rules)
        write_config(w.conf, render(w.state,
                                    {"inbox": mfconf.maildir(w.maildir)},
                                    [acct], timeout=timeout_for(srv),
                                    rules_cpu_limit=1))
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert w.delivered() == [big]
        assert srv.mailbox() == []
    warning = re.findall(r'rule "slow-(\d+)" could not be evaluated \(the '
                         r'rules used up the 1 s of CPU time a message may '
                         r'take \(rules_cpu_limit\)\); delivered to the '
                         r"account's destination", res.err)
    assert len(warning) == 1 and 1 < int(warning[0]) < 200, res.err
    assert "delete-the-rest" not in res.err + res.out
    assert "1 new, 1 delivered, 0 deleted by rules" in res.out, res.out
