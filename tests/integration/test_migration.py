"""Coming from fetchmail and mpop.

- --import-uids: the real fetchmail and mpop fetch a Dovecot mailbox in
  keep mode and write their own UID files; mailferry imports them, and
  its next run fetches exactly the messages added after that.
- --convert: real-world run control files (rcfiles/) convert into
  configurations that pass --check-config once their passwords are
  filled in; a converted .fetchmailrc fetches from Dovecot what
  fetchmail fetches with the same file.
- Multidrop through the private Postfix: one mailbox for several local
  users, sorted by X-Original-To or Delivered-To; unknown domains and
  forged addresses go to the fallback.
- The Received field smtp and mda destinations add, and maildir does
  not; fetch_limit.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import mailgen
import mfconf
from harness import (isolated_env, mailferry_path, run_mailferry,
                     with_stand_ins, write_config)
from msgcheck import assert_same_messages, digest
from postfix import Postfix, split_added_headers

EX_OK, EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_CONFIG = 0, 64, 65, 66, 78
RCFILES = Path(__file__).resolve().parent / "rcfiles"
FETCHER_TIMEOUT = 60


def need(program):
    path = shutil.which(program)
    assert path is not None, "%s is not installed (tests/deps.sh)" % program
    return path


class World:
    """A mailferry configuration for Dovecot user USER, delivering to a
    Maildir, under tmp_path."""

    def __init__(self, tmp_path, dovecot, user="alice", **account):
        self.dir = tmp_path
        self.dovecot = dovecot
        self.conf = tmp_path / "mailferry.conf"
        self.state = tmp_path / "state"
        self.maildir = tmp_path / "Maildir"
        account.setdefault("keep", True)
        self.text = mfconf.config(
            self.state, {"inbox": mfconf.maildir(self.maildir)},
            [mfconf.account(user, dovecot, user=user, **account)])
        write_config(self.conf, self.text)

    def run(self, *args):
        return run_mailferry(self.conf, *args)

    def delivered(self):
        new = self.maildir / "new"
        if not new.is_dir():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir())]


def summary(out, account):
    m = re.search(r"^%s: (\d+) new, (\d+) delivered, \d+ deleted by rules, "
                  r"(\d+) failed" % re.escape(account), out, re.M)
    assert m, "no summary line for %s in:\n%s" % (account, out)
    return tuple(int(x) for x in m.groups())


def load(dovecot, user, msgs):
    for m in msgs:
        dovecot.deliver(user, m)


def numbered(prefix, n, start=0):
    return [mailgen.message(subject="%s %d" % (prefix, i),
                            body="message %s %d\n" % (prefix, i))
            for i in range(start, start + n)]


# ---- running the real fetchmail and mpop ----------------------------------

STORE_SCRIPT = """#!/bin/sh
# An mda for the tests: each message into a file of its own.
f=$(mktemp "$1/msg.XXXXXX") || exit 75
cat > "$f" || exit 75
"""


def store_script(tmp_path):
    path = tmp_path / "store.sh"
    path.write_text(STORE_SCRIPT)
    path.chmod(0o755)
    return path


def stored(directory):
    return [p.read_bytes() for p in sorted(Path(directory).iterdir())]


def run_fetchmail(tmp_path, rc_text):
    """Run fetchmail once on RC_TEXT, its files under tmp_path/fm."""
    home = tmp_path / "fm"
    home.mkdir(exist_ok=True)
    rc = home / "fetchmailrc"
    write_config(rc, rc_text)
    env = isolated_env(home, FETCHMAILHOME=str(home), FETCHMAILUSER="root")
    r = subprocess.run(
        [need("fetchmail"), "-f", str(rc), "--idfile",
         str(home / ".fetchids"), "--pidfile", str(home / "fetchmail.pid"),
         "--nosyslog", "--nodetach", "-v"],
        env=env, capture_output=True, text=True, timeout=FETCHER_TIMEOUT,
        stdin=subprocess.DEVNULL)
    # 0: fetched something, 1: nothing new.
    assert r.returncode in (0, 1), "fetchmail exit %d:\n%s%s" % (
        r.returncode, r.stdout, r.stderr)
    return home / ".fetchids"


def run_mpop(tmp_path, dovecot, user, deliver_dir, script):
    home = tmp_path / "mp"
    home.mkdir(exist_ok=True)
    uidls = home / "uidls"
    rc = write_config(home / "mpoprc", """\
defaults
tls off
auth user
keep on

account box
host 127.0.0.1
port %d
user %s
password %s
delivery mda %s %s
uidls_file %s
""" % (dovecot.pop3_port, user, dovecot.users[user], script, deliver_dir,
       uidls))
    r = subprocess.run([need("mpop"), "-C", str(rc), "box"],
                       env=isolated_env(home), capture_output=True,
                       text=True, timeout=FETCHER_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "mpop exit %d:\n%s%s" % (
        r.returncode, r.stdout, r.stderr)
    return uidls


# ---- --import-uids --------------------------------------------------------

def import_then_fetch(w, dovecot, spec, before, after):
    """Import FORMAT:FILE `spec`, add AFTER to the mailbox; mailferry's next run
    delivers exactly AFTER, and the one after it nothing."""
    rc, out, err = w.run("-a", "alice", "--import-uids", spec)
    assert rc == EX_OK, (rc, out, err)
    n = len(before)
    assert out == "alice: %d UIDs imported from %s (%s format)\n" % (
        n, spec.split(":", 1)[1], spec.split(":", 1)[0]), out
    load(dovecot, "alice", after)
    rc, out, err = w.run()
    assert rc == EX_OK, (rc, out, err)
    assert summary(out, "alice") == (len(after), len(after), 0), out
    assert_same_messages(w.delivered(), after, "mailferry's Maildir")
    rc, out, err = w.run()
    assert rc == EX_OK and summary(out, "alice") == (0, 0, 0), out
    assert dovecot.count("alice") == n + len(after)


def test_import_fetchmail_uids(dovecot, tmp_path):
    before, after = numbered("old", 4), numbered("new", 3)
    load(dovecot, "alice", before)
    got = tmp_path / "fetchmail-got"
    got.mkdir()
    ids = run_fetchmail(tmp_path, """\
poll 127.0.0.1 with proto POP3 port %d uidl
  user "alice" there with password "%s" is "root" here
  options keep sslproto '' mda "%s %s"
""" % (dovecot.pop3_port, dovecot.users["alice"], store_script(tmp_path),
       got))
    assert len(stored(got)) == 4
    lines = ids.read_text().splitlines()
    assert sorted(l.split()[1] for l in lines) == sorted(
        dovecot.uids("alice")), lines
    w = World(tmp_path, dovecot)
    import_then_fetch(w, dovecot, "fetchmail:%s" % ids, before, after)


def test_import_mpop_uids(dovecot, tmp_path):
    before, after = numbered("old", 3), numbered("new", 2)
    load(dovecot, "alice", before)
    got = tmp_path / "mpop-got"
    got.mkdir()
    uidls = run_mpop(tmp_path, dovecot, "alice", got,
                     store_script(tmp_path))
    assert len(stored(got)) == 3
    assert " 3 127.0.0.1 alice\n" in uidls.read_text()
    w = World(tmp_path, dovecot)
    import_then_fetch(w, dovecot, "mpop:%s" % uidls, before, after)


def store_lines(w):
    path = w.state / "alice.uids"
    return path.read_text().splitlines() if path.exists() else []


def test_import_refuses_what_it_cannot_use(dovecot, tmp_path):
    load(dovecot, "alice", numbered("m", 2))
    uids = dovecot.uids("alice")
    w = World(tmp_path, dovecot)
    ids = tmp_path / "fetchids"

    # An mpop file read as fetchmail's: refused at its first line.
    ids.write_text("# This file was generated by mpop version 1.4.18.\n"
                   " 1 127.0.0.1 alice\n%s\n" % uids[0])
    rc, out, err = w.run("-a", "alice", "--import-uids", "fetchmail:%s" % ids)
    assert rc == EX_DATAERR, (rc, out, err)
    assert "%s:1: not a fetchmail .fetchids line" % ids in err, err
    assert out == ""
    # A good first line, a broken later one: nothing is recorded.
    ids.write_text("alice@127.0.0.1 %s\nalice@127.0.0.1\n" % uids[0])
    rc, out, err = w.run("-a", "alice", "--import-uids", "fetchmail:%s" % ids)
    assert rc == EX_DATAERR and "%s:2:" % ids in err, (rc, err)
    assert not any(l.startswith("+ ") for l in store_lines(w))
    # Nothing for this account: say what the file has.
    ids.write_text("bob@127.0.0.1 %s\nalice@pop.example.com x\n" % uids[0])
    rc, out, err = w.run("-a", "alice", "--import-uids", "fetchmail:%s" % ids)
    assert rc == EX_DATAERR, (rc, out, err)
    assert ("lists no UIDs for user alice at 127.0.0.1 (it has "
            "bob@127.0.0.1, alice@pop.example.com)") in err, err
    # The same mpop file read as mpop's is fine (~ is the home directory,
    # though no shell expands it after the colon); a second import of it
    # adds nothing.
    home = tmp_path / "home"
    home.mkdir()
    (home / "uidls").write_text(" 2 127.0.0.1 alice\n%s\n%s\n" % tuple(uids))
    rc, out, err = run_mailferry(w.conf, "-a", "alice", "--import-uids",
                                 "mpop:~/uidls", env=isolated_env(home))
    assert (rc, out) == (EX_OK, "alice: 2 UIDs imported from %s (mpop "
                         "format)\n" % (home / "uidls")), (rc, out, err)
    ids.write_text(" 2 127.0.0.1 alice\n%s\n%s\n" % tuple(uids))
    rc, out, err = w.run("-a", "alice", "--import-uids", "mpop:%s" % ids)
    assert (rc, out) == (EX_OK, "alice: 0 UIDs imported from %s (mpop "
                         "format), 2 already known\n" % ids), (rc, out, err)
    rc, out, err = w.run()
    assert rc == EX_OK and summary(out, "alice") == (0, 0, 0), out
    # Usage: one -a, a known format, a file that exists.
    for args, code in (
            (["--import-uids", "mpop:%s" % ids], EX_USAGE),
            (["-a", "alice", "--import-uids", "getmail:%s" % ids], EX_USAGE),
            (["-a", "nobody", "--import-uids", "mpop:%s" % ids], EX_USAGE),
            (["-a", "alice", "--import-uids", "mpop:/nonexistent"],
             EX_NOINPUT)):
        rc, out, err = w.run(*args)
        assert rc == code, (args, rc, out, err)


# ---- --convert ------------------------------------------------------------

def rcfiles():
    names = sorted(p.name for p in RCFILES.iterdir())
    assert len(names) >= 10, names
    return names


def convert(path, fmt=None):
    fmt = fmt or ("fetchmailrc" if Path(path).name.startswith("fetchmail")
                  else "mpoprc")
    r = subprocess.run([mailferry_path(), "--convert", fmt, str(path)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def fill_in_passwords(text):
    return text.replace('#password = "";', 'password = "filled-in";')


PASSWORDS_IN_RCFILES = ("ab cd ef gh", "s3cret!", "Pw-one-1", "Pw-two-2",
                        "Pw-three-3", "Catch-77", "p@ss", "not-copied",
                        'with "quotes"')


@pytest.mark.parametrize("name", rcfiles())
def test_converted_rcfile_passes_check_config(name, tmp_path):
    rc, out, err = convert(RCFILES / name)
    assert rc == EX_OK and err == "", (rc, err)
    for pw in PASSWORDS_IN_RCFILES:
        assert pw not in out, "a password was copied into the output"
    home = tmp_path / "home"
    home.mkdir()
    env = with_stand_ins(isolated_env(home), tmp_path / "bin")
    conf = write_config(tmp_path / "converted.conf", fill_in_passwords(out))
    r = subprocess.run([mailferry_path(), "-f", str(conf),
                        "--check-config"], env=env, capture_output=True,
                       text=True, timeout=60)
    print(r.stdout + r.stderr)
    assert r.returncode == EX_OK, "%s converted:\n%s\n--- check ---\n%s%s" % (
        name, out, r.stdout, r.stderr)
    assert ": OK: " in r.stdout
    # Unfilled, an account without password_command stops the check.
    if '#password = "";' in out:
        write_config(conf, out)
        r = subprocess.run(r.args, env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == EX_CONFIG, r.stdout + r.stderr
        assert "neither \"password\" nor \"password_command\"" in r.stderr


def test_convert_refuses_other_files(tmp_path):
    rc, out, err = convert(RCFILES / "mpoprc-several", "fetchmailrc")
    assert rc == EX_DATAERR and out == "", (rc, out, err)
    assert "mpoprc-several:3: \"tls\" is not a fetchmail option: not a " \
        "fetchmail run control file" in err, err
    rc, out, err = convert(RCFILES / "fetchmailrc-several", "mpoprc")
    assert rc == EX_DATAERR and out == "", (rc, out, err)
    assert "fetchmailrc-several:5: \"set\" before any account or defaults: " \
        "not an mpop configuration" in err, err
    rc, out, err = convert(RCFILES / "fetchmailrc-several", "getmailrc")
    assert rc == EX_USAGE, (rc, err)
    rc, out, err = convert(tmp_path / "missing", "mpoprc")
    assert rc == EX_NOINPUT and "cannot read %s" % (tmp_path / "missing") \
        in err, (rc, err)


def test_converted_fetchmailrc_fetches_what_fetchmail_fetches(
        dovecot, ca, tmp_path):
    msgs = mailgen.generate(6, seed="convert")
    big = mailgen.message(subject="over the limit", body="x" * 200_000)
    load(dovecot, "alice", msgs + [big])
    script = store_script(tmp_path)
    rc_text = """\
# Alice's fetchmailrc
set postmaster "root"
defaults proto pop3
  limit 150000

poll localhost port %d
  user "alice" there with password "%s" is root here
  options ssl sslcertck sslcertfile "%s" keep
  mda "%s %s"
""" % (dovecot.pop3s_port, dovecot.users["alice"], ca.ca_file, script,
       "{DIR}")
    fm_dir, mf_dir = tmp_path / "fetchmail-got", tmp_path / "mailferry-got"
    fm_dir.mkdir()
    mf_dir.mkdir()
    run_fetchmail(tmp_path, rc_text.replace("{DIR}", str(fm_dir)))

    rc_file = tmp_path / "fetchmailrc"
    write_config(rc_file, rc_text.replace("{DIR}", str(mf_dir)))
    rc, out, err = convert(rc_file)
    assert rc == EX_OK, err
    assert 'deliver = "mda"' in out and "keep = true;" in out, out
    assert "max_size = 150000;" in out, out
    text = out.replace('#password = "";',
                       'password = "%s";' % dovecot.users["alice"])
    conf = write_config(tmp_path / "mailferry.conf", text)
    home = tmp_path / "home"
    home.mkdir()
    rc, mout, merr = run_mailferry(conf, env=isolated_env(home))
    assert rc == EX_OK, (mout, merr)

    # Both delivered the same messages (each with its own Received field
    # on top), and both left the big one on the server.
    def without_trace(m):
        assert m.startswith(b"Received: "), m[:200]
        return re.sub(rb"^Received: [^\n]*\n([ \t][^\n]*\n)*", b"", m,
                      count=1)
    # The limit applies to the size LIST announces: CRLF line ends.
    small = [m for m in msgs if len(m) + m.count(b"\n") <= 150000]
    assert len(small) < len(msgs), "mailgen made no large message"
    fetched = [without_trace(m) for m in stored(fm_dir)]
    forwarded = [without_trace(m) for m in stored(mf_dir)]
    assert_same_messages(fetched, small, "what fetchmail delivered")
    assert_same_messages(forwarded, small, "what mailferry delivered")
    assert dovecot.count("alice") == 7


# ---- the Received field ---------------------------------------------------

@pytest.fixture(scope="module")
def postfix():
    pf = Postfix(mailboxes=["alice@example.org", "bob@example.org",
                            "carol@example.net", "postmaster@example.org"],
                 hostname="mta.test")
    try:
        pf.start()
        yield pf
    finally:
        pf.close()


TRACE = re.compile(
    rb"\AReceived: from (\S+) \(account \"([^\"]*)\", UID (\S+)\)\n? by \S+"
    rb"\n? \(mailferry [^)]*\)\n? with (POP3S?);\n? [A-Z][a-z]{2}, \d\d "
    rb"[A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [-+]\d{4}\n")


def split_trace(m):
    """(server, account, UID, protocol) of mailferry's Received field at
    the top of M, and the rest."""
    t = TRACE.match(m)
    assert t, "no Received field of mailferry's at the top of %r" % m[:300]
    for line in t.group(0).split(b"\n")[:-1]:
        assert len(line) <= 78, line
    return tuple(x.decode() for x in t.groups()), m[t.end():]


@pytest.mark.parametrize("tls", ["none", "implicit"])
def test_received_field(dovecot, ca, postfix, tmp_path, tls):
    msgs = [mailgen.message(subject="trace %d" % i) for i in range(2)]
    load(dovecot, "alice", msgs)
    uids = dovecot.uids("alice")
    stored_msgs = dovecot.stored_messages("alice")
    calls = tmp_path / "calls"
    calls.mkdir()
    script = store_script(tmp_path)
    md, md2 = tmp_path / "Maildir", tmp_path / "Traced"
    dests = {
        "mta": {"type": "smtp", "host": "127.0.0.1", "port": postfix.port,
                "to": ["alice@example.org"]},
        "prog": {"type": "mda", "command": "%s %s" % (script, calls)},
        "inbox": mfconf.maildir(md),
        "traced": {"type": "maildir", "path": str(md2),
                   "received_header": True},
    }
    extra = {"tls_ca_file": ca.ca_file} if tls == "implicit" else {}
    acct = mfconf.account("alice", dovecot, tls=tls,
                          deliver=list(dests), **extra)
    conf = write_config(tmp_path / "mailferry.conf",
                        mfconf.config(tmp_path / "state", dests, [acct]))
    rc, out, err = run_mailferry(conf)
    assert rc == EX_OK, (out, err)
    proto = "POP3S" if tls == "implicit" else "POP3"
    by_digest = dict(zip(map(digest, stored_msgs), uids))

    def check(got, what):
        rests = []
        for g in got:
            (server, account, uid, p), rest = split_trace(g)
            assert (server, account, p) == ("[127.0.0.1]", "alice", proto)
            assert by_digest.get(digest(rest)) == uid, what
            rests.append(rest)
        assert_same_messages(rests, stored_msgs, what)

    via_postfix = []
    for m in postfix.wait_delivered("alice@example.org", 2):
        _, rest = split_added_headers(m)
        via_postfix.append(rest)
    postfix.clear("alice@example.org")
    check(via_postfix, "Postfix's Maildir, its own headers removed")
    check(stored(calls), "what the mda read")
    check([p.read_bytes() for p in (md2 / "new").iterdir()],
          "the Maildir with received_header = true")
    assert_same_messages([p.read_bytes() for p in (md / "new").iterdir()],
                         stored_msgs, "the Maildir, byte for byte")


# ---- multidrop ------------------------------------------------------------

LOCAL = ["alice@example.org", "bob@example.org", "carol@example.net"]
FALLBACK = "postmaster@example.org"


@pytest.mark.parametrize("header", ["X-Original-To", "Delivered-To"])
def test_multidrop_through_postfix(dovecot, postfix, tmp_path, header):
    dovecot.add_user("catchall", "catch-secret")
    for a in LOCAL + [FALLBACK]:
        postfix.clear(a)

    def msg(subject, *rcpts):
        # The provider's header, one field per recipient, and a To that
        # says something else (it is not what decides).
        m = mailgen.message(subject=subject, to="list@example.org")
        head = "".join("%s: %s\n" % (header, r) for r in rcpts)
        return head.encode() + m

    expect = {
        "alice@example.org": ["for alice", "for alice and bob"],
        "bob@example.org": ["for bob", "for alice and bob"],
        "carol@example.net": ["for carol"],
        FALLBACK: ["for a stranger", "forged relay", "forged option",
                   "no header"],
    }
    msgs = [msg("for alice", "alice@example.org"),
            msg("for bob", "<bob@example.org>"),
            msg("for carol", "Carol@Example.NET"),
            msg("for alice and bob", "alice@example.org",
                "bob@example.org"),
            msg("for a stranger", "someone@elsewhere.example"),
            msg("forged relay", "victim%evil.example@example.org"),
            msg("forged option", "-oQ/tmp/x@example.org"),
            mailgen.message(subject="no header")]
    load(dovecot, "catchall", msgs)
    dests = {"mta": {"type": "smtp", "host": "127.0.0.1",
                     "port": postfix.port,
                     "to": ["%envelope", FALLBACK]}}
    acct = mfconf.account("catchall", dovecot, user="catchall",
                          envelope=header,
                          local_domains=["example.org", "example.net"],
                          deliver="mta", keep=False)
    conf = write_config(tmp_path / "mailferry.conf",
                        mfconf.config(tmp_path / "state", dests, [acct]))
    rc, out, err = run_mailferry(conf)
    assert rc == EX_OK, (out, err)
    assert summary(out, "catchall") == (8, 8, 0), out
    assert "is not a plain address; ignored" in err, err
    assert dovecot.count("catchall") == 0
    for rcpt, subjects in expect.items():
        got = postfix.wait_delivered(rcpt, len(subjects))
        seen = []
        for m in got:
            added, rest = split_added_headers(m)
            assert added["X-Original-To"].lower() == rcpt
            seen.append(re.search(rb"^Subject: (.*)$", rest, re.M)
                        .group(1).decode())
        assert sorted(seen) == sorted(subjects), (rcpt, seen)
    assert "evil.example" not in postfix.log_text()


def test_multidrop_configuration_errors(dovecot, tmp_path):
    base = {"type": "smtp", "host": "127.0.0.1", "port": 25}
    cases = [
        ({"to": ["alice@example.org", "%envelope"]}, {},
         "must be followed in \"to\" by the fallback"),
        ({"to": ["%envelope", "x", "%envelope"]}, {}, "\"to\" twice"),
        ({}, {"envelope": "X-Original-To"}, "envelope needs local_domains"),
        ({}, {"local_domains": ["example.org"]},
         "local_domains needs envelope"),
        ({}, {"envelope": "X-Original-To:", "local_domains": ["x.org"]},
         "is not a header name"),
        ({}, {"envelope": "X-Original-To", "local_domains": ["-x.org"]},
         "\"-x.org\" is not a domain name"),
    ]
    for dest, account, message in cases:
        d = dict(base, to=["%envelope", "postmaster"])
        d.update(dest)
        acct = mfconf.account("alice", dovecot, deliver="mta", **account)
        conf = write_config(tmp_path / "c.conf", mfconf.config(
            tmp_path / "state", {"mta": d}, [acct]))
        rc, out, err = run_mailferry(conf, "--check-config")
        assert rc == EX_CONFIG and message in err, (dest, account, err)
    # In an mda destination, "%envelope" means nothing.
    acct = mfconf.account("alice", dovecot, deliver="prog")
    conf = write_config(tmp_path / "c.conf", mfconf.config(
        tmp_path / "state", {"prog": {"type": "mda", "command": "/bin/cat",
                                      "to": ["%envelope", "x"]}}, [acct]))
    rc, out, err = run_mailferry(conf, "--check-config")
    assert rc == EX_CONFIG and "smtp and lmtp destinations only" in err, err
    # Without envelope, "%envelope" is the fallback: said, not refused.
    acct = mfconf.account("alice", dovecot, deliver="mta")
    conf = write_config(tmp_path / "c.conf", mfconf.config(
        tmp_path / "state", {"mta": dict(base, to=["%envelope", "pm"])},
        [acct]))
    rc, out, err = run_mailferry(conf, "--check-config")
    assert rc == EX_OK and "all its mail goes to the fallback" in err, err


def test_test_message_shows_envelope_recipients(dovecot, tmp_path):
    dests = {"mta": {"type": "smtp", "host": "127.0.0.1", "port": 25,
                     "to": ["%envelope", FALLBACK]}}
    acct = mfconf.account("catchall", dovecot, user="alice",
                          envelope="Delivered-To",
                          local_domains=["example.org"], deliver="mta")
    conf = write_config(tmp_path / "c.conf", mfconf.config(
        tmp_path / "state", dests, [acct]))
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"Delivered-To: catchall@provider.example\n"
                    b"Delivered-To: <Bob@example.org>, carol@example.org\n"
                    + mailgen.message())
    rc, out, err = run_mailferry(conf, "--test-message", eml)
    assert rc == EX_OK, err
    assert out.endswith("result: deliver to mta (no rule decided: the "
                        "account's deliver)\nenvelope recipients "
                        "(Delivered-To): Bob@example.org, carol@example.org"
                        "\n"), out
    eml.write_bytes(mailgen.message())
    rc, out, err = run_mailferry(conf, "--test-message", eml)
    assert rc == EX_OK and out.endswith(
        "envelope recipients (Delivered-To): none in local_domains: the "
        "fallback\n"), out


# ---- fetch_limit ----------------------------------------------------------

def test_fetch_limit(dovecot, tmp_path):
    msgs = numbered("limited", 5)
    load(dovecot, "alice", msgs)
    w = World(tmp_path, dovecot, fetch_limit=2, keep=False)
    got = []
    for run, expected in enumerate((2, 2, 1, 0)):
        rc, out, err = w.run()
        assert rc == EX_OK, (out, err)
        assert summary(out, "alice") == (expected, expected, 0), out
        left = 5 - len(got) - expected
        assert ("fetch_limit 2: %d more new messages wait for the next run"
                % left in err) == (left > 0), err
        new = [m for m in w.delivered() if m not in got]
        # Oldest first, each once.
        assert_same_messages(new, msgs[2 * run:2 * run + expected],
                             "run %d" % (run + 1))
        got += new
    assert_same_messages(w.delivered(), msgs, "the Maildir")
    assert dovecot.count("alice") == 0
