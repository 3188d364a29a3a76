"""End-to-end fetching against a private Dovecot: what mailferry(1) (WHAT A RUN
DOES, GUARANTEES, EXIT STATUS) and mailferry.conf(5) promise about fetching into a Maildir, the UID store, keep/keep_days/
max_size, TLS, errors and their exit codes, locking, dry runs and traces.

Each test writes its own configuration (lib/mfconf.py) into tmp_path and
runs the real binary (MAILFERRY_BIN).
"""

import base64
import fcntl
import hashlib
import os
import re
import socket
import subprocess
import time

import pytest

import mailgen
import mfconf
from dovecot import Dovecot
from harness import mailferry_path, run_mailferry, write_config
from msgcheck import assert_same_messages, describe, digest

EX_OK, EX_USAGE, EX_UNAVAILABLE = 0, 64, 69
EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 75, 77, 78

STORE_MAGIC = "mailferry-uids 1"
DAY = 86400


# ---- helpers --------------------------------------------------------------

class Setup:
    """Paths of one test's mailferry world under tmp_path."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.conf = tmp_path / "mailferry.conf"
        self.maildir = tmp_path / "Maildir"
        self.state = tmp_path / "state"

    def write(self, accounts, dests=None, **globals):
        """Write the configuration (mode 0600); returns its text."""
        if dests is None:
            dests = {"inbox": mfconf.maildir(self.maildir)}
        text = mfconf.config(self.state, dests, accounts, **globals)
        write_config(self.conf, text)
        return text

    def run(self, *args, **kwargs):
        return run_mailferry(self.conf, *args, **kwargs)

    def delivered(self):
        return delivered(self.maildir)

    def store(self, account="alice"):
        return store_entries(self.state, account)

    def records(self, account="alice"):
        return store_records(self.state, account)


def outcome(rc, out, err):
    return "exit %s\n--- stdout ---\n%s--- stderr ---\n%s" % (rc, out, err)


def run_ok(setup, *args):
    """Run mailferry, require exit 0 and nothing on stderr (at the default
    verbosity a clean run has nothing to complain about); returns stdout."""
    rc, out, err = setup.run(*args)
    assert rc == EX_OK, "mailferry failed: " + outcome(rc, out, err)
    if not args:
        assert err == "", "a clean run wrote to stderr: " + outcome(
            rc, out, err)
    return out


def delivered(maildir):
    """The messages in MAILDIR/new as a list of bytes (sorted by name)."""
    new = os.path.join(maildir, "new")
    if not os.path.isdir(new):
        return []
    out = []
    for name in sorted(os.listdir(new)):
        with open(os.path.join(new, name), "rb") as f:
            out.append(f.read())
    return out


def store_path(state_dir, account):
    return os.path.join(state_dir, "%s.uids" % account)


def store_entries(state_dir, account):
    """{UID: EPOCH} from the `+` lines of the account's UID store ({} when
    it does not exist), checking the format on the way."""
    path = store_path(state_dir, account)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        lines = f.read().split("\n")
    assert lines[-1] == "", "%s does not end with a newline" % path
    lines = lines[:-1]
    if not lines:
        return {}
    assert lines[0] == STORE_MAGIC, "%s: first line %r, expected %r" % (
        path, lines[0], STORE_MAGIC)
    entries = {}
    for n, line in enumerate(lines[1:], 2):
        if not line.startswith("+ "):
            continue
        fields = line.split(" ")
        assert len(fields) == 3 and fields[2].isdigit(), (
            "%s:%d: malformed record %r" % (path, n, line))
        entries[fields[1]] = int(fields[2])
    return entries


def store_records(state_dir, account):
    """Every record (line after the header) of the account's UID store,
    whatever its kind; [] when there is no store."""
    path = store_path(state_dir, account)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = f.read().splitlines()
    return [l for l in lines[1:] if l.strip()] if lines else []


def summary(out, account):
    """The one summary line for ACCOUNT on stdout, as a match object with
    groups new, delivered, deleted, failed and the rest of the line."""
    lines = [l for l in out.splitlines() if l.startswith(account + ":")]
    assert len(lines) == 1, "expected one summary line for %s, got:\n%s" % (
        account, out)
    m = re.fullmatch(r"%s: (?P<new>\d+) new, (?P<delivered>\d+) delivered, "
                     r"(?P<deleted>\d+) deleted by rules, (?P<failed>\d+) "
                     r"failed, [\d.]+ [KMG]B in [\d.]+ s(?P<rest>.*)"
                     % re.escape(account), lines[0])
    assert m, "summary line not in the documented form: %r" % lines[0]
    return m


def assert_counts(out, account, new, delivered_, failed=0):
    s = summary(out, account)
    got = (int(s["new"]), int(s["delivered"]), int(s["failed"]))
    assert got == (new, delivered_, failed), (
        "%s: expected %d new, %d delivered, %d failed; summary: %r"
        % (account, new, delivered_, failed, s.group(0)))
    return s


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pop3_logins(dovecot):
    """Dovecot's log lines for successful POP3 logins."""
    return [l for l in dovecot.log_text().splitlines()
            if "pop3-login: Info: Login:" in l]


def seen_flags(dovecot, user="alice"):
    """{file base name: True if the Seen flag is set} for USER's mail."""
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(dovecot.maildir(user), sub)
        for name in os.listdir(d):
            base, _, info = name.partition(":")
            out[base] = "S" in info.partition(",")[2]
    return out


# ---- 1. byte-exact bulk fetch ---------------------------------------------

def test_bulk_fetch_is_byte_exact(dovecot, tmp_path):
    msgs = mailgen.generate(500, seed="bulk", big=True)
    assert max(map(len, msgs)) > 5_000_000
    for m in msgs:
        dovecot.deliver("alice", m)
    expected = dovecot.stored_messages("alice")
    uids = dovecot.uids()

    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot)])
    started = int(time.time())
    out = run_ok(s)
    finished = int(time.time()) + 1

    assert_counts(out, "alice", 500, 500)
    assert_same_messages(s.delivered(), expected, "Maildir/new after a bulk "
                         "fetch over plain POP3")
    for sub in ("tmp", "cur"):
        left = os.listdir(s.maildir / sub)
        assert left == [], "Maildir/%s should be empty, holds %s" % (sub,
                                                                     left)
    store = s.store()
    assert len(store) == 500, "UID store has %d entries, expected 500" % len(
        store)
    assert set(store) == set(uids), "UID store does not hold the server's UIDs"
    bad = {u: t for u, t in store.items() if not started <= t <= finished}
    assert not bad, "fetch times outside the run (%d..%d): %s" % (
        started, finished, list(bad.items())[:3])
    assert dovecot.count("alice") == 500, "keep = true removed messages"


# ---- 2. TLS -----------------------------------------------------------------

@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_fetch_over_tls(dovecot, ca, tmp_path, tls):
    msgs = mailgen.generate(6, seed="tls-" + tls)
    msgs.append(mailgen.message(subject="dots", body=".\n..\n.x\nFrom me\n."))
    for m in msgs:
        dovecot.deliver("alice", m)
    expected = dovecot.stored_messages("alice")

    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot, tls=tls,
                            tls_ca_file=ca.ca_file)])
    out = run_ok(s)
    assert_counts(out, "alice", len(msgs), len(msgs))
    assert_same_messages(s.delivered(), expected, "Maildir/new over " + tls)
    assert len(s.store()) == len(msgs)
    logins = pop3_logins(dovecot)
    assert logins and all(", TLS," in l for l in logins), (
        "Dovecot saw a login that was not under TLS:\n" + "\n".join(logins))


# ---- 3. idempotence -------------------------------------------------------

def test_second_run_fetches_nothing_and_third_only_new(dovecot, tmp_path):
    for m in mailgen.generate(20, seed="idem"):
        dovecot.deliver("alice", m)
    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot)])
    out = run_ok(s)
    assert_counts(out, "alice", 20, 20)
    first = {n: (s.maildir / "new" / n).read_bytes()
             for n in os.listdir(s.maildir / "new")}
    store_after_first = s.store()

    out = run_ok(s)
    assert_counts(out, "alice", 0, 0)
    now = {n: (s.maildir / "new" / n).read_bytes()
           for n in os.listdir(s.maildir / "new")}
    assert now == first, "the second run changed the Maildir"
    assert s.store() == store_after_first, "the second run changed the store"

    extra = [mailgen.message(subject="later %d" % i,
                             body="late message %d\n.\n" % i)
             for i in range(3)]
    for m in extra:
        dovecot.deliver("alice", m)
    out = run_ok(s)
    assert_counts(out, "alice", 3, 3)
    names = set(os.listdir(s.maildir / "new"))
    assert set(first) <= names, "files of the first run disappeared"
    for n in first:
        assert (s.maildir / "new" / n).read_bytes() == first[n], (
            "file %s changed" % n)
    added = [(s.maildir / "new" / n).read_bytes() for n in names - set(first)]
    assert_same_messages(added, extra, "files added by the third run")
    assert len(s.store()) == 23


# ---- 4. keep = false ------------------------------------------------------

def test_keep_false_deletes_after_delivery(dovecot, tmp_path):
    # More than one batch of messages, so DELEs interleave with RETRs.
    for m in mailgen.generate(150, seed="nokeep"):
        dovecot.deliver("alice", m)
    expected = dovecot.stored_messages("alice")
    uids = dovecot.uids()

    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot, keep=False)])
    out = run_ok(s)
    summ = assert_counts(out, "alice", 150, 150)
    assert "150 removed from the server" in summ["rest"], summ.group(0)
    assert dovecot.count("alice") == 0, (
        "%d messages still on the server" % dovecot.count("alice"))
    assert_same_messages(s.delivered(), expected, "Maildir/new (keep = false)")

    out = run_ok(s)
    assert_counts(out, "alice", 0, 0)
    assert_same_messages(s.delivered(), expected, "Maildir/new after the "
                         "second run")
    left = {r.split()[1] for r in s.records()} & set(uids)
    assert not left, ("the UID store still remembers %d deleted messages "
                      "after the next run: %s" % (len(left), sorted(left)[:5]))


# ---- 5. max_size ----------------------------------------------------------

def _pop3_size(m):
    """The size LIST reports: CRLF line endings."""
    return len(m) + m.count(b"\n")


def _sized_message(subject, list_size):
    """A message whose POP3 (CRLF) size is exactly LIST_SIZE."""
    base = mailgen.message(subject=subject, body="")
    # Each body line "x...x\n" of n bytes counts n + 1 in CRLF form.
    need = list_size - _pop3_size(base)
    assert need > 10
    body = b"y" * (need - 2) + b"\n"
    m = base + body
    assert _pop3_size(m) == list_size
    return m


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
def test_max_size_leaves_large_messages(dovecot, tmp_path, keep):
    limit = 20_000
    small = [mailgen.message(subject="small %d" % i, body="short\n" * 50)
             for i in range(3)]
    at_limit = _sized_message("exactly max_size", limit)
    over = _sized_message("one byte over max_size", limit + 1)
    large = [mailgen.message(subject="large %d" % i,
                             body=("0123456789" * 10 + "\n") * 600)
             for i in range(2)]
    order = [small[0], large[0], small[1], over, at_limit, large[1], small[2]]
    names = {digest(m): dovecot.deliver("alice", m) for m in order}
    fetched = small + [at_limit]
    left = large + [over]

    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot, max_size=limit, keep=keep)])
    for run in (1, 2):
        out = run_ok(s)
        summ = assert_counts(out, "alice", 4 if run == 1 else 0,
                             4 if run == 1 else 0)
        assert "3 over max_size" in summ["rest"], (
            "run %d: summary does not report the 3 messages over max_size: "
            "%r" % (run, summ.group(0)))
        assert_same_messages(s.delivered(), fetched,
                             "Maildir/new after run %d" % run)
        on_server = dovecot.stored_messages("alice")
        assert_same_messages(on_server, left + ([] if not keep else fetched),
                             "server mailbox after run %d" % run)
        # Untouched: never retrieved, so Dovecot did not mark them Seen.
        flags = seen_flags(dovecot)
        for m in left:
            assert flags[names[digest(m)]] is False, (
                "run %d: the over-size message (%s) was retrieved (Seen)"
                % (run, describe(m)))
        # Only fetched messages are recorded, and with keep = false
        # they left the server, so their UIDs are forgotten again.
        assert len(s.store()) == (4 if keep else 0), (
            "run %d: UID store %s" % (run, s.store()))


# ---- 6. keep_days ---------------------------------------------------------

def test_keep_days_deletes_only_old_enough_messages(dovecot, tmp_path):
    msgs = [mailgen.message(subject="kd %d" % i, body="keep days %d\n" % i)
            for i in range(5)]
    for m in msgs:
        dovecot.deliver("alice", m)
    uids = dovecot.uids()
    assert len(uids) == 5

    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot, keep=True, keep_days=2)])
    out = run_ok(s)
    assert_counts(out, "alice", 5, 5)
    assert dovecot.count("alice") == 5, "keep_days deleted fresh messages"
    before = s.store()
    assert set(before) == set(uids)

    # Age two of them: fetched three days ago.
    old = {uids[1], uids[3]}
    aged = int(time.time()) - 3 * DAY
    path = store_path(s.state, "alice")
    with open(path) as f:
        lines = f.read().split("\n")
    rewritten = 0
    for i, line in enumerate(lines):
        fields = line.split(" ")
        if len(fields) == 3 and fields[0] == "+" and fields[1] in old:
            lines[i] = "+ %s %d" % (fields[1], aged)
            rewritten += 1
    assert rewritten == 2, "could not find both UIDs in %s" % path
    with open(path, "w") as f:
        f.write("\n".join(lines))

    out = run_ok(s)
    summ = assert_counts(out, "alice", 0, 0)
    assert "2 removed from the server" in summ["rest"], summ.group(0)
    remaining = dovecot.uids()
    assert remaining == [u for u in uids if u not in old], (
        "expected exactly UIDs %s deleted; the server now has %s of %s"
        % (sorted(old), remaining, uids))
    assert_same_messages(dovecot.stored_messages("alice"),
                         [msgs[0], msgs[2], msgs[4]], "server mailbox")
    assert_same_messages(s.delivered(), msgs, "Maildir/new (no re-delivery)")
    after = s.store()
    assert after == {u: before[u] for u in uids if u not in old}, (
        "the store should forget the deleted UIDs and keep the others' "
        "fetch times: before %s, after %s" % (before, after))


# ---- 7. two accounts ------------------------------------------------------

@pytest.mark.parametrize("parallel", [1, 2])
def test_two_accounts_into_one_maildir(dovecot, tmp_path, parallel):
    a_msgs = mailgen.generate(8, seed="alice-acct")
    b_msgs = mailgen.generate(5, seed="bob-acct")
    for m in a_msgs:
        dovecot.deliver("alice", m)
    for m in b_msgs:
        dovecot.deliver("bob", m)

    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot),
             mfconf.account("bob", dovecot)], parallel=parallel)
    out = run_ok(s)
    assert len(out.splitlines()) == 2, "expected two summary lines:\n" + out
    assert_counts(out, "alice", 8, 8)
    assert_counts(out, "bob", 5, 5)
    assert_same_messages(s.delivered(), a_msgs + b_msgs, "shared Maildir/new")
    assert len(s.store("alice")) == 8 and len(s.store("bob")) == 5

    out = run_ok(s)
    assert_counts(out, "alice", 0, 0)
    assert_counts(out, "bob", 0, 0)
    assert len(s.delivered()) == 13


# ---- 8. wrong password ----------------------------------------------------

def test_wrong_password_exits_77(dovecot, tmp_path):
    msgs = [mailgen.message(subject="auth %d" % i) for i in range(3)]
    for m in msgs:
        dovecot.deliver("alice", m)
    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot, password="not-the-password",
                            keep=False)])
    rc, out, err = s.run()
    assert rc == EX_NOPERM, outcome(rc, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, "expected a one-line error:\n" + err
    assert re.search(r"(?i)log\s*in.*refused|refused.*log\s*in", lines[0]), (
        "the error should say the login was refused: %r" % lines[0])
    assert "alice" in lines[0]
    assert "not-the-password" not in err + out
    assert s.delivered() == []
    assert dovecot.count("alice") == 3
    assert s.records() == []


@pytest.mark.parametrize("parallel", [1, 2])
def test_one_failing_account_does_not_stop_another(dovecot, tmp_path,
                                                   parallel):
    a_msgs = [mailgen.message(subject="a %d" % i) for i in range(2)]
    b_msgs = [mailgen.message(subject="b %d" % i) for i in range(3)]
    for m in a_msgs:
        dovecot.deliver("alice", m)
    for m in b_msgs:
        dovecot.deliver("bob", m)
    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot, password="wrong"),
             mfconf.account("bob", dovecot)], parallel=parallel)
    rc, out, err = s.run()
    # mailferry(1), EXIT STATUS: the highest of the accounts' codes wins.
    assert rc == EX_NOPERM, outcome(rc, out, err)
    assert_counts(out, "bob", 3, 3)
    assert_same_messages(s.delivered(), b_msgs, "Maildir/new")
    assert s.records("alice") == [] and len(s.store("bob")) == 3
    assert dovecot.count("alice") == 2


def test_account_option_selects_accounts(dovecot, tmp_path):
    dovecot.deliver("alice", mailgen.message(subject="for alice"))
    b_msg = mailgen.message(subject="for bob")
    dovecot.deliver("bob", b_msg)
    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot),
             mfconf.account("bob", dovecot)])
    out = run_ok(s, "-a", "bob")
    assert [l.split(":")[0] for l in out.splitlines()] == ["bob"], out
    assert s.delivered() == [b_msg]
    assert s.records("alice") == []

    logins = len(pop3_logins(dovecot))
    rc, out, err = s.run("-a", "nosuch")
    assert rc == EX_USAGE, outcome(rc, out, err)
    assert "nosuch" in err, err
    assert len(pop3_logins(dovecot)) == logins, "it connected anyway"
    assert s.delivered() == [b_msg]


# ---- 9. server down -------------------------------------------------------

def test_server_down_exits_69(tmp_path):
    s = Setup(tmp_path)
    s.write([mfconf.account("alice", None, server="127.0.0.1",
                            port=free_port(), password="pw")])
    rc, out, err = s.run()
    assert rc == EX_UNAVAILABLE, outcome(rc, out, err)
    assert "cannot connect" in err.lower(), err
    assert s.delivered() == [] and s.records() == []


# ---- 10. certificate checks -----------------------------------------------

def test_certificate_for_another_host_is_refused(ca, tmp_path):
    with Dovecot(cert=ca.server_cert, key=ca.server_key,
                 users={"alice": "alice-secret"},
                 listen="127.0.0.1, 127.0.0.2") as dc:
        for i in range(2):
            dc.deliver("alice", mailgen.message(subject="mismatch %d" % i))
        s = Setup(tmp_path)
        s.write([mfconf.account("alice", dc, tls="implicit",
                                server="127.0.0.2", tls_ca_file=ca.ca_file,
                                keep=False)])
        rc, out, err = s.run()
        assert rc == EX_UNAVAILABLE, outcome(rc, out, err)
        assert "mismatch" in err.lower(), (
            "the error should name the host name mismatch: %r" % err)
        assert "127.0.0.2" in err
        assert s.delivered() == [] and s.records() == []
        assert dc.count("alice") == 2
        assert pop3_logins(dc) == [], "mailferry logged in anyway"


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_certificate_from_unknown_ca_is_refused(dovecot, tmp_path, tls):
    dovecot.deliver("alice", mailgen.message(subject="unknown CA"))
    s = Setup(tmp_path)
    # No tls_ca_file: the system store, which does not know the test CA.
    s.write([mfconf.account("alice", dovecot, tls=tls, keep=False)])
    rc, out, err = s.run()
    assert rc == EX_UNAVAILABLE, outcome(rc, out, err)
    assert "certificate" in err.lower(), err
    assert s.delivered() == [] and s.records() == []
    assert dovecot.count("alice") == 1
    assert pop3_logins(dovecot) == [], "mailferry logged in anyway"


# ---- 11. malformed configuration ------------------------------------------

def _break_config(text, kind):
    """TEXT with one KIND of mistake; returns (text, the line it is on)."""
    lines = text.split("\n")
    if kind == "missing-equals":
        n = mfconf.line_of(text, "port = ")
        lines[n - 1] = lines[n - 1].replace("port = ", "port ")
    elif kind == "missing-comma":
        # Two accounts in the list without the comma between them: the
        # error is at the second one's opening brace.
        start = mfconf.line_of(text, "accounts = (")
        end = mfconf.line_of(text, ");", start)
        group = lines[start:end - 1]            # the first account group
        second = [l.replace('name = "alice"', 'name = "alice2"')
                  for l in group]
        lines[start:end - 1] = group + second
        n = start + len(group) + 1
    elif kind == "unknown-key":
        n = mfconf.line_of(text, "user = ")
        lines.insert(n, '    colour = "blue";')
        n += 1
    elif kind == "wrong-type":
        n = mfconf.line_of(text, "port = ")
        lines[n - 1] = re.sub(r"port = \d+", 'port = "110"', lines[n - 1])
    elif kind == "undefined-destination":
        n = mfconf.line_of(text, "deliver = ")
        lines[n - 1] = lines[n - 1].replace('"inbox"', '"nowhere"')
    else:
        raise ValueError(kind)
    return "\n".join(lines), n


@pytest.mark.parametrize("kind", [
    "missing-equals",           # a syntax error (see note below)
    "missing-comma",            # a syntax error between list elements
    "unknown-key",
    "wrong-type",
    "undefined-destination",
])
def test_malformed_config_exits_78_with_line(tmp_path, sentinel, kind):
    # A missing ";" alone is no syntax error in libconfig (setting
    # terminators are optional), so the syntax errors here are a missing
    # "=" and a missing "," between two groups of the accounts list.
    s = Setup(tmp_path)
    good = s.write([sentinel.account()])
    text, line = _break_config(good, kind)
    write_config(s.conf, text)
    rc, out, err = s.run()
    assert rc == EX_CONFIG, outcome(rc, out, err) + "\n--- config ---\n" + text
    prefix = "%s:%d:" % (s.conf, line)
    assert prefix in err, ("expected an error starting %r (%s):\n%s"
                           "--- config ---\n%s" % (prefix, kind, err, text))
    if kind == "unknown-key":
        assert "colour" in err
    if kind == "wrong-type":
        assert "port" in err
    if kind == "undefined-destination":
        assert "nowhere" in err
    assert out == "", "nothing should be printed on stdout: %r" % out
    assert sentinel.connections() == 0, "mailferry connected to the server"
    assert not os.path.exists(s.maildir / "new")
    assert s.records() == []


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_config_with_password_readable_by_others_is_refused(tmp_path,
                                                             sentinel, mode):
    s = Setup(tmp_path)
    s.write([sentinel.account()], timeout=2)
    os.chmod(s.conf, mode)
    rc, out, err = s.run()
    assert rc == EX_CONFIG, outcome(rc, out, err)
    assert str(s.conf) in err, "the error should name the file: %r" % err
    assert re.search(r"(?i)read(able)? by (group or )?others", err), err
    assert "alice-secret" not in err
    assert sentinel.connections() == 0, "mailferry connected to the server"

    # Control: the same file with mode 0600 is accepted and connects (the
    # sentinel closes the connection, so that run fails quickly).
    os.chmod(s.conf, 0o600)
    proc = subprocess.Popen([mailferry_path(), "-f", str(s.conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    sentinel.sock.settimeout(10)
    try:
        conn, _ = sentinel.sock.accept()
        conn.close()
    finally:
        out, err = proc.communicate(timeout=30)
    # The connection dropped before the greeting: a temporary failure.
    assert proc.returncode == EX_TEMPFAIL, err


# ---- 12. lock -------------------------------------------------------------

def test_locked_account_exits_75(dovecot, tmp_path):
    dovecot.deliver("alice", mailgen.message(subject="locked"))
    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot)], timeout=1)
    os.makedirs(s.state, mode=0o700)
    lock = os.path.join(s.state, "alice.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        rc, out, err = s.run()
        elapsed = time.monotonic() - started
    finally:
        os.close(fd)
    assert rc == EX_TEMPFAIL, outcome(rc, out, err)
    assert "lock" in err.lower() and "alice" in err, (
        "the error should name the lock: %r" % err)
    assert elapsed < 8, "waited %.1f s with timeout = 1" % elapsed
    assert s.delivered() == [] and s.records() == []
    assert pop3_logins(dovecot) == [], "connected while the lock was held"

    # Released: the next run fetches.
    out = run_ok(s)
    assert_counts(out, "alice", 1, 1)


# ---- 13. dry run ----------------------------------------------------------

def test_dry_run_changes_nothing(dovecot, tmp_path):
    msgs = mailgen.generate(7, seed="dry")
    for m in msgs:
        dovecot.deliver("alice", m)
    expected = dovecot.stored_messages("alice")
    s = Setup(tmp_path)
    # keep = false and keep_days would both delete, were it not a dry run.
    s.write([mfconf.account("alice", dovecot, keep=False)])
    for flag in ("-n", "--dry-run"):
        rc, out, err = s.run(flag)
        assert rc == EX_OK, outcome(rc, out, err)
        summ = summary(out, "alice")
        assert "dry run" in out.lower(), (
            "the summary should say it was a dry run: %r" % summ.group(0))
        assert int(summ["new"]) == 7, summ.group(0)
        assert s.delivered() == [], "a dry run delivered messages"
        assert s.records() == [], "a dry run recorded UIDs"
        assert_same_messages(dovecot.stored_messages("alice"), expected,
                             "server mailbox after " + flag)
    # Nothing was recorded: a real run gets everything.
    out = run_ok(s)
    assert_counts(out, "alice", 7, 7)
    assert_same_messages(s.delivered(), expected, "Maildir/new")


# ---- 14. no secrets in traces ---------------------------------------------

@pytest.mark.parametrize("auth", ["auto", "user", "plain", "login", "apop"])
def test_trace_hides_the_password(dovecot, tmp_path, auth):
    dovecot.deliver("alice", mailgen.message(subject="trace"))
    s = Setup(tmp_path)
    s.write([mfconf.account("alice", dovecot, auth=auth)])
    rc, out, err = s.run("-vv")
    assert rc == EX_OK, outcome(rc, out, err)
    assert re.search(r"(?m)> (LIST|UIDL)$", err), (
        "-vv should show the protocol dialogue:\n" + err)
    password = "alice-secret"
    forms = {
        "the password": password,
        "base64 of the password": base64.b64encode(password.encode()).decode(),
        "the SASL PLAIN response": base64.b64encode(
            b"\0alice\0" + password.encode()).decode(),
    }
    for what, form in forms.items():
        assert form not in err and form not in out, (
            "the -vv trace shows %s (auth = %s)" % (what, auth))
    if auth == "apop":
        stamp = re.search(r"\+OK [^\n]*?(<[^>\n]*>)", err)
        assert stamp, "no APOP timestamp in the traced greeting:\n" + err
        apop = hashlib.md5((stamp.group(1) + password).encode()).hexdigest()
        assert apop not in err, "the -vv trace shows the APOP digest"
    assert "***" in err, "credentials should be shown as ***:\n" + err
