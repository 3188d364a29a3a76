"""The fetching checks of test_fetch.py against POP3 servers other than
Dovecot (lib/otherpop3.py): GNU Mailutils' pop3d (Maildir, PIPELINING,
an APOP timestamp in every greeting but no APOP secrets) and popa3d
(mbox, no CAPA, no PIPELINING), each started privately for the test.

For each: a first fetch byte for byte as the server hands the messages
out, a second run that fetches nothing and changes nothing, three
messages added and only they fetched, keep = false deleting exactly what
was delivered. Then what is particular to one of them.
"""

import os
import re
from collections import Counter

import pytest

import mailgen
import mfconf
from harness import Result, run_mailferry, write_config
from otherpop3 import SERVERS, MailutilsPop3d, ServerError

EX_OK, EX_TEMPFAIL = 0, 75
PASSWORD = "other-server-pw-3k"


@pytest.fixture(params=sorted(SERVERS))
def pop3srv(request):
    try:
        srv = SERVERS[request.param](users={"alice": PASSWORD})
        srv.start()
    except ServerError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield srv
    finally:
        print("--- %s log (%s) ---\n%s" % (srv.name, srv.dir,
                                            srv.log_text()[-6000:]))
        srv.close()


class Setup:
    def __init__(self, tmp_path, srv):
        self.srv = srv
        self.conf = tmp_path / "mailferry.conf"
        self.maildir = tmp_path / "Maildir"
        self.state = tmp_path / "state"

    def write(self, **extra):
        extra.setdefault("auth", "auto")
        acct = mfconf.account("alice", None, server="127.0.0.1",
                              port=self.srv.port, tls="none",
                              user=self.srv.login("alice"),
                              password=PASSWORD, **extra)
        write_config(self.conf, mfconf.config(
            self.state, {"inbox": mfconf.maildir(self.maildir)}, [acct]))

    def run(self, *args):
        rc, out, err = run_mailferry(self.conf, *args)
        return Result(rc, out, err, 0)

    def files(self):
        new = self.maildir / "new"
        if not new.is_dir():
            return {}
        return {n: (new / n).read_bytes() for n in os.listdir(new)}

    def store(self):
        path = self.state / "alice.uids"
        if not path.exists():
            return []
        return [l.split(" ")[1] for l in path.read_text().splitlines()[1:]
                if l.startswith("+ ")]


def counts(out):
    m = re.search(r"^alice: (\d+) new, (\d+) delivered, (\d+) deleted by "
                  r"rules, (\d+) failed", out, re.M)
    assert m, "no summary line: %r" % out
    return tuple(int(x) for x in m.groups())


def run_ok(s, *args):
    res = s.run(*args)
    assert res.rc == EX_OK, "%s\n--- server log ---\n%s" % (
        res, s.srv.log_text()[-3000:])
    return res


def same(got, expected, what):
    assert Counter(got) == Counter(expected), "%s: %d messages, expected " \
        "%d; sizes %s vs %s" % (what, len(got), len(expected),
                                sorted(map(len, got)),
                                sorted(map(len, expected)))


def test_fetch_rerun_add_three(pop3srv, tmp_path):
    msgs = mailgen.generate(30, seed="other-" + pop3srv.name)
    msgs.append(mailgen.message(subject="dots", body=".\n..\n.x\nFrom me\n."))
    for m in msgs:
        pop3srv.deliver("alice", m)
    s = Setup(tmp_path, pop3srv)
    s.write()
    res = run_ok(s)
    assert counts(res.out) == (31, 31, 0, 0), res.out
    served = pop3srv.served("alice")
    same(list(s.files().values()), served, "Maildir after the first run")
    assert len(s.store()) == 31
    assert pop3srv.count("alice") == 31, "keep = true removed messages"

    first = s.files()
    store = s.store()
    res = run_ok(s)
    assert counts(res.out) == (0, 0, 0, 0), res.out
    assert s.files() == first, "the second run changed the Maildir"
    assert s.store() == store, "the second run changed the UID store"

    extra = [mailgen.message(subject="later %d" % i,
                             body="late %d\n.\nFrom x\n" % i)
             for i in range(3)]
    for m in extra:
        pop3srv.deliver("alice", m)
    res = run_ok(s)
    assert counts(res.out) == (3, 3, 0, 0), res.out
    now = s.files()
    assert {n: now[n] for n in first} == first, "earlier files changed"
    added = [now[n] for n in set(now) - set(first)]
    same(added, pop3srv.served("alice")[31:], "files added by the third run")
    assert len(s.store()) == 34


def test_keep_false_deletes_what_was_delivered(pop3srv, tmp_path):
    for m in mailgen.generate(25, seed="other-del-" + pop3srv.name):
        pop3srv.deliver("alice", m)
    served = pop3srv.served("alice")
    s = Setup(tmp_path, pop3srv)
    s.write(keep=False)
    res = run_ok(s)
    assert counts(res.out) == (25, 25, 0, 0), res.out
    assert "25 removed from the server" in res.out, res.out
    assert pop3srv.count("alice") == 0
    same(list(s.files().values()), served, "Maildir (keep = false)")

    res = run_ok(s)
    assert counts(res.out) == (0, 0, 0, 0), res.out
    assert s.store() == [], "UIDs of deleted messages are still recorded"


def test_mailutils_apop_refused_then_user_pass(tmp_path):
    """Mailutils puts a timestamp in every greeting but has no APOP
    secrets: auto tries APOP, is refused, and logs in with USER/PASS."""
    with MailutilsPop3d(users={"alice": PASSWORD}) as srv:
        srv.deliver("alice", mailgen.message(subject="apop fallback"))
        s = Setup(tmp_path, srv)
        s.write()
        res = run_ok(s, "-vv")
        sent = re.findall(r"> (APOP|USER|PASS|AUTH)\b", res.err)
        assert sent == ["APOP", "USER", "PASS"], res.err
        assert re.search(r"APOP refused .*trying USER/PASS", res.err), \
            res.err
        assert counts(res.out) == (1, 1, 0, 0)
        assert "Bad login" in srv.log_text()


def test_mailutils_login_delay_refusal(tmp_path):
    """Mailutils' [LOGIN-DELAY]: exit 75, saying so; its CAPA does not
    give the value in a form that can be read, so no time is promised."""
    with MailutilsPop3d(users={"alice": PASSWORD}, login_delay=600) as srv:
        srv.deliver("alice", mailgen.message(subject="login delay"))
        srv.prime_login_delay("alice")
        s = Setup(tmp_path, srv)
        s.write()
        res = s.run()
        assert res.rc == EX_TEMPFAIL, "%s\n%s" % (res, srv.log_text())
        assert re.search(r"\[LOGIN-DELAY\].*try again later", res.err), \
            res.err
        assert "minimum allowed delay" in srv.log_text()
        assert s.files() == {}
