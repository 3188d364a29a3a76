"""The command line of mailferry(1): the synopsis of --help against the
manual's, --version, account names as arguments, -k/-K, --fetch-limit,
options that do not go together, password_command through /bin/sh, and
the messages that tell the user what to do (TLS against plain text and
plain text against TLS, a libconfig syntax error shown with its line,
--check-config's run-time checks, no error line repeating its prefix).

The fetching tests run against the scriptable fake POP3 server
(lib/fakepop3.py), whose mailbox after QUIT says exactly what was deleted.
"""

import os
import re
import shutil
import ssl
import subprocess
import threading
import time

import pytest

import mailgen
import mfconf
from fakepop3 import FakePOP3, Fault, Message
from harness import (REPO, isolated_env, lc_str, mailferry_path,
                     run_mailferry, write_config)

EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_TEMPFAIL = 0, 64, 69, 75
EX_CONFIG = 78
USER, PASSWORD = "alice", "cli-test-pw"
STORE_MAGIC = "mailferry-uids 1"
DAY = 86400


@pytest.fixture(autouse=True)
def _no_stray_threads():
    yield
    left = [t.name for t in threading.enumerate()
            if t.name.startswith("fakepop3")]
    assert not left, "fake POP3 server threads left running: %s" % left


def run(args, **kw):
    return subprocess.run([mailferry_path(), *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=kw.pop("timeout", 60), **kw)


def messages(n, tag):
    return [Message(mailgen.message(subject="%s %d" % (tag, i),
                                    body="%s body %d\n" % (tag, i)),
                    "%s-%d" % (tag, i)) for i in range(1, n + 1)]


class World:
    """A configuration, a state directory and a Maildir under tmp_path,
    for accounts on fake servers."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.conf = tmp_path / "mailferry.conf"
        self.state = tmp_path / "state"
        self.maildir = tmp_path / "Maildir"

    def account(self, name, srv, **extra):
        return mfconf.account(name, None, USER, PASSWORD, tls="none",
                              server="127.0.0.1", port=srv.port, **extra)

    def write(self, accounts, dests=None, **globals):
        if dests is None:
            dests = {"inbox": mfconf.maildir(self.maildir)}
        text = mfconf.config(self.state, dests, accounts, **globals)
        write_config(self.conf, text)
        return text

    def run(self, *args, **kw):
        return run_mailferry(self.conf, *args, **kw)

    def delivered(self):
        new = self.maildir / "new"
        return sorted(p.read_bytes() for p in new.iterdir()) \
            if new.is_dir() else []

    def age_store(self, account, seconds):
        """Make every UID of ACCOUNT look fetched SECONDS ago."""
        path = self.state / ("%s.uids" % account)
        lines = path.read_text().split("\n")
        assert lines[0] == STORE_MAGIC, lines[:1]
        then = int(time.time()) - seconds
        aged = 0
        for i, line in enumerate(lines):
            f = line.split(" ")
            if len(f) == 3 and f[0] == "+":
                lines[i] = "+ %s %d" % (f[1], then)
                aged += 1
        path.write_text("\n".join(lines))
        return aged


def summary_names(out):
    return [line.split(":")[0] for line in out.splitlines()]


# ---- --help and --version ---------------------------------------------------

def man_synopsis():
    """The SYNOPSIS of mailferry(1) as mandoc renders it, one line per
    form (a wide page, so that none is wrapped)."""
    mandoc = shutil.which("mandoc")
    assert mandoc, "mandoc is missing: run tests/deps.sh"
    r = subprocess.run([mandoc, "-T", "ascii", "-O", "width=400",
                        REPO / "man" / "mailferry.1"],
                       capture_output=True, text=True, check=True)
    text = re.sub(r".\x08", "", r.stdout)       # bold and underline
    section = text.split("\nSYNOPSIS\n", 1)[1].split("\n\n", 1)[0]
    return [" ".join(line.split()) for line in section.splitlines()]


def help_synopsis(text):
    """The forms of the usage message: a line starting with "mailferry"
    begins one, a line indented further continues it."""
    forms = []
    for line in text.split("\n\n", 1)[0].splitlines():
        line = line.replace("usage:", "", 1) if not forms else line
        words = " ".join(line.split())
        if words.startswith("mailferry "):
            forms.append(words)
        else:
            assert forms, "usage starts with %r" % line
            forms[-1] += " " + words
    return forms


def test_help_synopsis_is_the_manual_synopsis():
    r = run(["--help"])
    assert r.returncode == EX_OK and r.stderr == "", r
    assert r.stdout.startswith("usage: mailferry "), r.stdout
    assert help_synopsis(r.stdout) == man_synopsis()
    # The usage fits a terminal.
    assert max(len(line) for line in r.stdout.splitlines()) <= 79


def test_version_names_the_libraries_the_plugin_directory_and_abi():
    r = run(["--version"])
    assert r.returncode == EX_OK and r.stderr == "", r
    lines = r.stdout.splitlines()
    assert len(lines) == 6, r.stdout
    assert re.fullmatch(r"mailferry \d+\.\d+\.\d+\S*", lines[0]), lines
    # The OpenSSL it runs with is the one Python's ssl module loads here.
    assert lines[1].startswith(ssl.OPENSSL_VERSION + " (built with OpenSSL "
                               "3."), (lines[1], ssl.OPENSSL_VERSION)
    pcre = subprocess.run(["pcre2-config", "--version"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert re.fullmatch(r"PCRE2 %s \S+ \(JIT\)" % re.escape(pcre),
                        lines[2]), lines[2]
    libconfig = subprocess.run(["pkg-config", "--modversion", "libconfig"],
                               capture_output=True, text=True,
                               check=True).stdout.strip()
    assert re.fullmatch(r"libconfig %s(\.0)?" % re.escape(libconfig),
                        lines[3]), (lines[3], libconfig)
    assert re.fullmatch(r"plugin directory: /\S+ \(the default of "
                        r"plugin_dir\)", lines[4]), lines[4]
    header = (REPO / "plugins" / "mailferry" / "plugin.h").read_text()
    abi = [re.search(r"#define MAILFERRY_PLUGIN_ABI_%s\s+(\d+)" % part,
                     header).group(1) for part in ("MAJOR", "MINOR")]
    assert lines[5] == "plugin ABI: %s.%s" % tuple(abi), lines[5]

    env = dict(os.environ, MAILFERRY_NO_JIT="1")
    r = run(["--version"], env=env)
    assert r.stdout.splitlines()[2].endswith(
        "(JIT off: MAILFERRY_NO_JIT is set)"), r.stdout


# ---- options that do not go together ----------------------------------------

@pytest.mark.parametrize("args, message", [
    (["-n", "-d", "60"], "-n cannot be used with -d"),
    (["-d", "60", "--check-config"],
     "-d and --check-config cannot be used together"),
    (["-k", "--check-config"], "-k or -K cannot be used with --check-config"),
    (["--fetch-limit", "3", "--test-message", "x.eml"],
     "--fetch-limit cannot be used with --test-message"),
    (["--release", "u1", "--test-message", "x.eml"],
     "--release and --test-message cannot be used together"),
    (["-a", "a", "-a", "b", "--release", "u1"],
     "--release takes one account"),
    (["--import-uids", "mpop:x"], "--import-uids takes one account"),
    (["-f", "x", "--convert", "mpoprc", "x"],
     "-f cannot be used with --convert"),
    (["--convert", "mpoprc", "x", "y"], "--convert takes a format and a file"),
    (["--fetch-limit", "-1"], "--fetch-limit takes a number of messages "
     "between 0 (no limit) and 1000000"),
    (["--fetch-limit", "1000001"], "--fetch-limit takes a number"),
    (["-d", "0"], "-d takes a number of seconds between 1 and 604800"),
    (["--no-such-option"], "Try mailferry --help."),
])
def test_options_that_do_not_go_together_are_a_usage_error(args, message):
    r = run(args)
    assert r.returncode == EX_USAGE, r
    assert message in r.stderr, r.stderr
    assert r.stdout == "", r.stdout


# ---- account names, -k, -K, --fetch-limit ----------------------------------

def test_account_names_as_arguments_select_accounts(tmp_path):
    w = World(tmp_path)
    with FakePOP3(messages(2, "work"), users={USER: PASSWORD}) as work, \
            FakePOP3(messages(3, "home"), users={USER: PASSWORD}) as home, \
            FakePOP3(messages(1, "other"), users={USER: PASSWORD}) as other:
        w.write([w.account("work", work), w.account("home", home),
                 w.account("other", other)])
        rc, out, err = w.run("home")
        assert (rc, summary_names(out)) == (EX_OK, ["home"]), (rc, out, err)
        # Mixed with -a, before and after options; configuration order.
        rc, out, err = w.run("other", "-a", "work", "-v")
        assert (rc, summary_names(out)) == (EX_OK, ["work", "other"]), \
            (rc, out, err)
        assert len(w.delivered()) == 6
        before = [len(s.connections) for s in (work, home, other)]
        rc, out, err = w.run("home", "nosuch")
        assert rc == EX_USAGE, (rc, out, err)
        assert 'no account named "nosuch" in %s' % w.conf in err, err
        assert [len(s.connections) for s in (work, home, other)] == before


def test_keep_option_leaves_everything_on_the_server(tmp_path):
    w = World(tmp_path)
    with FakePOP3(messages(3, "k"), users={USER: PASSWORD}) as srv:
        w.write([w.account("alice", srv, keep=False)])
        rc, out, err = w.run("-k")
        assert rc == EX_OK, (rc, out, err)
        assert len(w.delivered()) == 3
        assert len(srv.mailbox()) == 3 and "DELE" not in srv.commands()
        # Without -k, keep = false deletes what was delivered.
        rc, out, err = w.run()
        assert rc == EX_OK and len(w.delivered()) == 3, (rc, out, err)
        assert srv.mailbox() == []

    # keep_days deletes nothing under -k either.
    w2 = World(tmp_path / "days")
    w2.dir.mkdir()
    with FakePOP3(messages(2, "d"), users={USER: PASSWORD}) as srv:
        w2.write([w2.account("alice", srv, keep=True, keep_days=1)])
        assert w2.run()[0] == EX_OK
        assert w2.age_store("alice", 2 * DAY) == 2
        rc, out, err = w2.run("--keep")
        assert rc == EX_OK, (rc, out, err)
        assert len(srv.mailbox()) == 2 and "DELE" not in srv.commands()
        rc, out, err = w2.run()
        assert rc == EX_OK and "2 removed from the server" in out, out
        assert srv.mailbox() == []


def test_no_keep_option_deletes_what_was_delivered(tmp_path):
    w = World(tmp_path)
    with FakePOP3(messages(3, "nk"), users={USER: PASSWORD}) as srv:
        w.write([w.account("alice", srv, keep=True)])
        rc, out, err = w.run("-K")
        assert rc == EX_OK, (rc, out, err)
        assert "3 removed from the server" in out, out
        assert len(w.delivered()) == 3 and srv.mailbox() == []
    # The last of -k and -K wins.
    with FakePOP3(messages(2, "last"), users={USER: PASSWORD}) as srv:
        w.write([w.account("alice", srv, keep=True)])
        assert w.run("-K", "--keep")[0] == EX_OK
        assert len(srv.mailbox()) == 2
        assert w.run("-k", "--no-keep")[0] == EX_OK
        assert srv.mailbox() == []


def test_fetch_limit_option_overrides_the_key(tmp_path):
    w = World(tmp_path)
    with FakePOP3(messages(5, "fl"), users={USER: PASSWORD}) as srv:
        w.write([w.account("alice", srv, fetch_limit=1)])
        rc, out, err = w.run("--fetch-limit", "2")
        assert rc == EX_OK and out.startswith("alice: 2 new, 2 delivered"), \
            (rc, out, err)
        assert srv.commands().count("RETR") == 2
        rc, out, err = w.run()
        assert rc == EX_OK and out.startswith("alice: 1 new"), (rc, out, err)
        # 0: no limit.
        rc, out, err = w.run("--fetch-limit", "0")
        assert rc == EX_OK and out.startswith("alice: 2 new"), (rc, out, err)
        assert len(w.delivered()) == 5


# ---- TLS modes that do not fit the port -------------------------------------

PLAIN_TEXT = ('TLS handshake failed: the server answered in plain text '
              '(wrong version number), so this port does not speak TLS at '
              'once: use tls = "starttls" (or "none") with it, or tls = '
              '"implicit" with ')
SPEAKS_TLS = ('the server sends no greeting, but answers a TLS handshake: '
              'this port speaks TLS at once, so use tls = "implicit" with it '
              '(port 110 is the one for tls = "starttls" and "none")')


def error_lines(err):
    return [l for l in err.splitlines() if l.startswith("mailferry: ")]


def test_implicit_tls_against_plain_text_says_what_to_change(dovecot,
                                                              tmp_path, ca):
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, "alice", tls="implicit",
                            port=dovecot.pop3_port, tls_ca_file=ca.ca_file)],
            timeout=60)
    rc, out, err = w.run()
    assert rc == EX_UNAVAILABLE, (rc, out, err)
    # POP3 names its port for TLS at once.
    want = "mailferry: alice: 127.0.0.1:%d: %s" % (dovecot.pop3_port,
                                                   PLAIN_TEXT)
    assert error_lines(err)[0] in (want + "port 995",
                                   want + "its TLS port (995 for POP3, 993 "
                                   "for IMAP)"), err


@pytest.mark.parametrize("tls", ["starttls", "none"])
def test_plain_or_starttls_against_a_tls_port_is_told_at_once(
        dovecot, tmp_path, ca, tls):
    """A TLS port sends no greeting; with `timeout` = 60 the run would wait
    a minute for one, and say only that it timed out."""
    w = World(tmp_path)
    w.write([mfconf.account("alice", dovecot, "alice", tls=tls,
                            port=dovecot.pop3s_port, tls_ca_file=ca.ca_file)],
            timeout=60)
    rc, out, err = w.run("-vv")
    assert rc == EX_UNAVAILABLE, (rc, out, err)
    assert error_lines(err)[-1] == "mailferry: alice: 127.0.0.1:%d: %s" % (
        dovecot.pop3s_port, SPEAKS_TLS), err
    assert "no greeting after 2000 ms: asking a second connection" in err
    assert "timed out" not in err
    assert "alice-secret" not in err


def test_a_slow_greeting_is_still_waited_for(tmp_path):
    """The probe is a second connection: a plain server that greets late
    loses nothing on the first."""
    w = World(tmp_path)
    with FakePOP3(messages(2, "slow"), users={USER: PASSWORD},
                  faults=[Fault("GREETING", "delay", seconds=4, conn=1)]) \
            as srv:
        w.write([w.account("alice", srv)], timeout=30)
        rc, out, err = w.run()
        assert rc == EX_OK and err == "", (rc, out, err)
        assert len(w.delivered()) == 2
    assert len(srv.connections) == 2, srv.transcript()
    # The probe's ClientHello, answered with a POP3 greeting, then closed.
    probe = srv.connections[1]
    assert probe.sent().startswith(b"+OK fakepop3 ready\r\n"), \
        srv.transcript()
    assert "USER" not in probe.commands() and "RETR" in \
        srv.connections[0].commands()


# ---- a configuration libconfig cannot parse ---------------------------------

def test_syntax_error_shows_the_line_with_a_caret(tmp_path, sentinel):
    rules = tmp_path / "work.rules"
    rules.write_text('{ name = "lists";\n'
                     '  match = { header = "List-Id"; regex = "."; };\n'
                     '  action = deliver; }\n')
    conf = tmp_path / "mailferry.conf"
    acct = sentinel.account()
    acct["rules"] = "@RULES@"
    text = mfconf.config(tmp_path / "state",
                         {"inbox": mfconf.maildir(tmp_path / "md")}, [acct])
    text = text.replace('"@RULES@"', '( @include "work.rules" )')
    write_config(conf, text)
    r = run(["-f", conf, "--check-config"])
    assert r.returncode == EX_CONFIG, r
    # The error is in the included file, where it was written.
    assert r.stderr == ("%s:3: syntax error\n"
                        "    action = deliver; }\n"
                        "             ^\n" % rules), r.stderr
    assert r.stdout == ""
    # A quote not closed on its line: libconfig reads on and stumbles
    # lines later; the error is shown where the quote opens, the
    # password as stars.
    rules.write_text('{ name = "x"; action = "delete"; }\n')
    lines = text.split("\n")
    n = lines.index('    password = "%s";' % acct["password"]) + 1
    write_config(conf, text.replace('password = "%s";' % acct["password"],
                                    'password = "%s;' % acct["password"]))
    r = run(["-f", conf])
    assert r.returncode == EX_CONFIG, r
    first, shown, caret = r.stderr.splitlines()
    assert re.fullmatch(r"%s:%d: syntax error \(met at line \d+\): this "
                        r"quote is not closed on its line" % (
                            re.escape(str(conf)), n), first), r.stderr
    assert (shown, caret) == ('      password = "%s' % ("*" * (len(
        acct["password"]) + 1)), " " * 17 + "^"), r.stderr
    assert acct["password"] not in r.stderr
    assert sentinel.connections() == 0


# ---- --check-config: what is certain to fail at run time --------------------

def test_check_config_reports_what_would_fail_at_run_time(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "pw-tool"
    tool.write_text("#!/bin/sh\necho secret\n")
    tool.chmod(0o755)
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % bin_dir)
    plugin_dir = os.path.join(os.path.dirname(mailferry_path()), "plugins")

    def acct(name, **kw):
        kw.setdefault("password_command", "pw-tool")
        return mfconf.account(name, None, "u", None, server="pop.example",
                              port=110, tls=kw.pop("tls", "starttls"), **kw)
    accounts = [
        acct("plain", tls="none", allow_plaintext_auth=None),
        acct("unparsable", password_command="pw-tool 'unclosed"),
        acct("missing", password_command="no-such-pw-tool show x | head -1"),
        acct("fine", password_command="pw-tool show x | tr a-z A-Z",
             rules=[{"name": "spam", "plugin": "pipe",
                     "args": {"command": "no-such-spamc -c"}},
                    {"name": "ok", "plugin": "pipe",
                     "args": {"command": "pw-tool"}}]),
        # Lines the shell expands first are not looked up.
        acct("shell1", password_command="~/bin/pw"),
        acct("shell2", password_command="GNUPGHOME=/x pw-missing"),
        acct("shell3", password_command="\"$HOME/pw\""),
        acct("shell4", password_command="if true; then echo x; fi"),
        acct("shell5", password_command="echo x"),
    ]
    dests = {"inbox": mfconf.maildir(tmp_path / "md"),
             "mda": {"type": "mda", "command": "no-such-procmail -d u"},
             "mda2": {"type": "mda", "command": "pw-tool"},
             "mta": {"type": "smtp", "host": "localhost", "tls": "none",
                     "to": "u@localhost", "user": "u",
                     "password_command": "pw-tool"}}
    text = mfconf.config(tmp_path / "state", dests, accounts,
                         plugin_dir=plugin_dir,
                         plugins=[{"name": "pipe"}])
    conf = write_config(tmp_path / "mailferry.conf", text)
    r = run(["-f", conf, "--check-config"], env=env)
    assert r.returncode == EX_CONFIG, r

    def at(needle, before=0):
        return "%s:%d: " % (conf, mfconf.line_of(text, needle) - before)
    where = "PATH (%s)" % env["PATH"]
    assert r.stderr.splitlines() == [
        at("mda = {") + 'destination "mda": no-such-procmail is not found '
        'in ' + where,
        at('name = "plain"', 1) + 'account "plain": tls = "none" without '
        'allow_plaintext_auth = true: every login will be refused, as '
        'credentials are never sent in clear text; use tls = "starttls" or '
        '"implicit", or allow it',
        at('name = "unparsable"', 1) + 'account "unparsable": '
        'password_command: /bin/sh cannot parse it: /bin/sh: 1: Syntax '
        'error: Unterminated quoted string',
        at('name = "missing"', 1) + 'account "missing": password_command: '
        'no-such-pw-tool is not found in ' + where,
        at('name = "spam"', 1) + 'account "fine", rule "spam": the pipe '
        'command no-such-spamc is not found in ' + where,
        at("mta = {") + 'destination "mta": "user" with tls = "none" and '
        'without allow_plaintext_auth = true: the login will be refused, '
        'as credentials are never sent in clear text',
    ], r.stderr
    assert r.stdout == ""


# ---- error lines say each thing once ----------------------------------------

def repeated_context(line):
    """The first context (a "WORDS: " part of an error line) that comes
    twice in LINE, or None."""
    parts = line.split(": ")
    for i, part in enumerate(parts[:-1]):
        if part in parts[i + 1:-1]:
            return part
    return None


def test_repeated_context_is_found():
    assert repeated_context('mailferry: alice: destination "inbox": '
                            'destination "inbox": cannot create') == \
        'destination "inbox"'
    assert repeated_context('mailferry: alice: destination "inbox": '
                            'cannot create x: Not a directory') is None


@pytest.mark.parametrize("args", [[], ["-n"]])
def test_a_destination_that_cannot_be_prepared_is_named_once(tmp_path,
                                                              args):
    w = World(tmp_path)
    (tmp_path / "afile").write_text("not a directory\n")
    md = tmp_path / "afile" / "md"
    with FakePOP3(messages(1, "prep"), users={USER: PASSWORD}) as srv:
        w.write([w.account("alice", srv)], {"inbox": mfconf.maildir(md)})
        rc, out, err = w.run(*args)
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert repeated_context(lines[0]) is None, lines[0]
    if args:
        assert (rc, lines[0]) == (EX_CONFIG, 'mailferry: alice: destination '
                                  '"inbox": %s: %s is not a directory' % (
                                      md, md.parent)), err
    else:
        assert (rc, lines[0]) == (EX_TEMPFAIL, 'mailferry: alice: '
                                  'destination "inbox": cannot create '
                                  'directory %s: Not a directory' % md), err


# ---- -c/--check ---------------------------------------------------------------

def test_check_lists_only_and_says_whether_mail_is_new(tmp_path):
    w = World(tmp_path)
    with FakePOP3(messages(3, "chk"), users={USER: PASSWORD}) as srv, \
            FakePOP3(messages(1, "chk2"), users={USER: PASSWORD}) as two:
        w.write([w.account("alice", srv, keep=False),
                 w.account("bob", two, keep=False)])
        rc, out, err = w.run("-c", "alice")
        assert (rc, out) == (EX_OK, "alice: 3 new, 3 on the server "
                             "(checked only: nothing fetched)\n"), (rc, out,
                                                                    err)
        # Logged in and listed; nothing downloaded, deleted or recorded.
        cmds = srv.commands()
        assert "STAT" in cmds or "UIDL" in cmds, cmds
        for verb in ("RETR", "TOP", "DELE"):
            assert verb not in cmds, cmds
        assert len(srv.mailbox()) == 3 and w.delivered() == []
        assert not (w.state / "alice.uids").exists()

        assert w.run("alice")[0] == EX_OK
        assert len(w.delivered()) == 3
        srv.messages.extend(messages(2, "later"))
        rc, out, err = w.run("--check", "alice")
        assert (rc, out) == (EX_OK, "alice: 2 new, 2 on the server "
                             "(checked only: nothing fetched)\n"), (rc, out,
                                                                    err)
        assert w.run("alice")[0] == EX_OK
        # Nothing new: exit 1, as fetchmail -c.
        rc, out, err = w.run("-c", "alice")
        assert (rc, out) == (1, "alice: 0 new, 0 on the server (checked "
                             "only: nothing fetched)\n"), (rc, out, err)
        # Some account has new mail: 0.
        rc, out, err = w.run("-c")
        assert rc == EX_OK and "bob: 1 new" in out, (rc, out, err)

        # A failure wins over "nothing new".
        w.write([w.account("alice", srv, keep=False),
                 mfconf.account("bob", None, USER, "wrong", tls="none",
                                server="127.0.0.1", port=two.port)])
        rc, out, err = w.run("-c")
        assert rc == 77, (rc, out, err)

    for args in (["-c", "-n"], ["-c", "--all"], ["-c", "-k"],
                 ["-c", "--fetch-limit", "3"], ["-c", "-d", "60"]):
        r = run(args)
        assert r.returncode == EX_USAGE, (args, r.stderr)


# ---- --all --------------------------------------------------------------------

def test_all_fetches_known_messages_again_and_records_them(tmp_path):
    w = World(tmp_path)
    with FakePOP3(messages(3, "all"), users={USER: PASSWORD}) as srv:
        w.write([w.account("alice", srv, keep=True)])
        assert w.run()[0] == EX_OK
        rc, out, err = w.run()
        assert rc == EX_OK and out.startswith("alice: 0 new"), out
        srv.messages.extend(messages(1, "fresh"))
        rc, out, err = w.run("--all")
        assert rc == EX_OK and out.startswith("alice: 4 new, 4 delivered"), \
            (rc, out, err)
        assert srv.commands().count("RETR") == 3 + 4
        assert len(w.delivered()) == 3 + 4
        # Recorded: the next run has nothing new.
        rc, out, err = w.run()
        assert rc == EX_OK and out.startswith("alice: 0 new"), out

    # With keep = false, --all also deletes what it fetched again.
    w2 = World(tmp_path / "del")
    w2.dir.mkdir()
    with FakePOP3(messages(2, "alldel"), users={USER: PASSWORD}) as srv:
        w2.write([w2.account("alice", srv, keep=True)])
        assert w2.run()[0] == EX_OK
        rc, out, err = w2.run("--all", "-K")
        assert rc == EX_OK and "2 removed from the server" in out, out
        assert srv.mailbox() == [] and len(w2.delivered()) == 4


# ---- --json -------------------------------------------------------------------

JSON_FIELDS = {"account": str, "protocol": str, "server": str,
               "dry_run": bool, "check": bool, "new": int, "delivered": int,
               "deleted_by_rules": int, "skipped": int, "failed": int,
               "set_aside": int, "left": int, "removed": int,
               "messages": int, "bytes": int, "seconds": (int, float),
               "status": int, "error": (str, type(None)), "moved": int}


def json_lines(out):
    import json
    objs = [json.loads(line) for line in out.splitlines()]
    for o in objs:
        # In the documented order: fields added later come last.
        assert list(o) == list(JSON_FIELDS), list(o)
        for k, t in JSON_FIELDS.items():
            assert isinstance(o[k], t), (k, o[k])
            if t is int:
                assert not isinstance(o[k], bool), (k, o[k])
    return objs


def test_json_summary_one_object_per_account(tmp_path):
    w = World(tmp_path)
    bad = 'no "such" user \\ here\x01'
    with FakePOP3(messages(3, "js"), users={USER: PASSWORD}) as good, \
            FakePOP3(messages(1, "js2"), users={USER: PASSWORD}, sasl=(),
                     faults=[Fault("PASS", "err", text=bad, times=None)]
                     ) as broken:
        w.write([w.account("good", good, fetch_limit=2, keep=False),
                 w.account("broken", broken)])
        rc, out, err = w.run("--json")
        assert rc == 77, (rc, out, err)
        objs = json_lines(out)
        assert [o["account"] for o in objs] == ["good", "broken"], out
        g, b = objs
        assert g == dict(g, protocol="pop3", server="127.0.0.1",
                         dry_run=False, check=False, new=2, delivered=2,
                         deleted_by_rules=0, skipped=0, failed=0,
                         set_aside=0, left=1, removed=2, messages=3,
                         status=0, error=None), g
        assert g["bytes"] > 0 and g["seconds"] >= 0
        assert b["status"] == 77 and b["new"] == 0, b
        # The server's words, escaped for the terminal, then for JSON.
        assert 'no "such" user \\ here\\x01' in b["error"], b
        assert "--json" not in err

        # With -c and -n as well; under -q the objects still come.
        rc, out, err = w.run("--json", "-c", "-q", "good")
        (c,) = json_lines(out)
        assert (rc, c["check"], c["new"], c["messages"], c["left"]) == \
            (EX_OK, True, 1, 1, 1), (rc, c)
        rc, out, err = w.run("--json", "-n", "good")
        (n,) = json_lines(out)
        assert (rc, n["dry_run"], n["new"], n["delivered"], n["removed"]) \
            == (EX_OK, True, 1, 1, 1), (rc, n)


# ---- -n shows deletions -------------------------------------------------------

def test_dry_run_shows_the_deletions_keep_would_make(tmp_path):
    w = World(tmp_path)
    with FakePOP3(messages(3, "dn"), users={USER: PASSWORD}) as srv:
        w.write([w.account("alice", srv, keep=False)])
        assert w.run("-k")[0] == EX_OK
        srv.messages.extend(messages(2, "dnew"))
        before = srv.commands()
        rc, out, err = w.run("-n")
        assert rc == EX_OK, (rc, out, err)
        known = re.findall(r"alice: message (\d) \(UID (\S+), \d+ bytes\) "
                           r"would be deleted from the server "
                           r"\(keep = false\)", err)
        assert known == [("1", "dn-1"), ("2", "dn-2"), ("3", "dn-3")], err
        new = re.findall(r"message (\d) \(UID \S+, \d+ bytes\): would "
                         r"deliver to inbox, then delete it from the server "
                         r"\(keep = false\)", err)
        assert new == ["4", "5"], err
        assert out.startswith("alice: 2 new, 2 delivered"), out
        assert "5 would be removed from the server" in out, out
        assert "DELE" not in srv.commands()[len(before):]
        assert len(srv.mailbox()) == 5 and len(w.delivered()) == 3

    w2 = World(tmp_path / "days")
    w2.dir.mkdir()
    with FakePOP3(messages(2, "dd"), users={USER: PASSWORD}) as srv:
        w2.write([w2.account("alice", srv, keep=True, keep_days=3)])
        assert w2.run()[0] == EX_OK
        rc, out, err = w2.run("-n")
        assert "would be deleted" not in err and "removed" not in out, \
            (out, err)
        assert w2.age_store("alice", 4 * DAY) == 2
        rc, out, err = w2.run("-n")
        assert rc == EX_OK, (rc, out, err)
        assert err.count("would be deleted from the server (keep_days = "
                         "3, fetched 4 days ago)") == 2, err
        assert "2 would be removed from the server" in out, out
        assert len(srv.mailbox()) == 2


# ---- SIGINT and SIGTERM: an honest partial run ---------------------------------

@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_finishes_the_message_in_hand_and_exits_75(sig, tmp_path):
    """The signal is sent when the server reads RETR 4: message 3 has
    arrived whole and is in hand (without pipelining, the request for the
    next one goes out as soon as a reply ends), message 4 is asked for and
    still taken; no RETR 5 is sent."""
    import signal as signal_mod
    w = World(tmp_path)
    proc = {}

    def on_command(conn, verb, args):
        if verb == "RETR" and args == ["4"] and "p" in proc:
            os.kill(proc["p"].pid, getattr(signal_mod, sig))

    with FakePOP3(messages(10, "sig"), users={USER: PASSWORD},
                  pipelining=False, on_command=on_command) as srv:
        w.write([w.account("alice", srv, keep=False)])
        p = subprocess.Popen([mailferry_path(), "-f", str(w.conf)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        proc["p"] = p
        try:
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        assert p.returncode == EX_TEMPFAIL, (p.returncode, out, err)
        assert out == ("alice: 10 new, 4 delivered, 0 deleted by rules, 0 "
                       "failed, %s, 6 left for the next run, 4 removed from "
                       "the server (stopped by a signal)\n"
                       % re.search(r"\d\.\d KB in \d+\.\d s", out).group(0)
                       ), (out, err)
        # The four delivered are deleted (QUIT went), the rest is there.
        assert len(w.delivered()) == 4
        assert [m.uid for m in srv.mailbox()] == \
            ["sig-%d" % i for i in range(5, 11)]
        assert srv.commands()[-1] == "QUIT"
        assert srv.commands().count("RETR") == 4

        proc.clear()
        rc, out, err = w.run()
        assert rc == EX_OK and out.startswith("alice: 6 new, 6 delivered"), \
            (rc, out, err)
        assert len(set(w.delivered())) == 10 and srv.mailbox() == []


def test_a_signal_reaches_accounts_fetched_in_parallel(tmp_path):
    """SIGTERM sent to the parent alone, as alice's process logs in: the
    parent passes it on to the processes of the accounts under way, which
    stop as a one-shot run does (without that, alice's would fetch all)."""
    w = World(tmp_path)
    proc = {}

    def on_command(conn, verb, args):
        if verb in ("USER", "AUTH") and "p" in proc:
            os.kill(proc.pop("p").pid, 15)

    with FakePOP3(messages(30, "pa"), users={USER: PASSWORD},
                  pipelining=False, on_command=on_command) as alice, \
            FakePOP3(messages(2, "pb"), users={USER: PASSWORD}) as bob:
        w.write([w.account("alice", alice, keep=False),
                 w.account("bob", bob)], parallel=2)
        p = subprocess.Popen([mailferry_path(), "-f", str(w.conf)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        proc["p"] = p
        try:
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        assert p.returncode == EX_TEMPFAIL, (p.returncode, out, err)
        (line,) = [l for l in out.splitlines() if l.startswith("alice: ")]
        assert line.endswith(" (stopped by a signal)"), (out, err)
        m = re.match(r"alice: 30 new, (\d+) delivered, .* (\d+) left for "
                     r"the next run", line)
        assert m and int(m.group(1)) + int(m.group(2)) == 30, line
        assert len(alice.mailbox()) == int(m.group(2)), line
        assert len(w.delivered()) >= int(m.group(1))
