"""Attacks by another local user on a victim's mailferry, and by a sender
through the messages it fetches.

Each test builds what an ordinary, slightly careless setup allows (a
directory left group- or world-writable, a shared spool directory), lets
an unprivileged attacker act, then runs mailferry as the victim and checks
that nothing of the victim's was overwritten, run, truncated or lost, and
that the refusal names the path and the fix. Two throw-away users, made
with useradd for this module and removed after it, share the group
`users` (so "group-writable" means "the attacker can write it"). The
attacks tried are listed in ATTACKS.md, section "Local user".
"""

import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import fakepop3
import mailgen
import mfconf
from fakepop3 import Fault, FakePOP3, Message
from harness import REPO, mailferry_path
from rulestest import compile_plugin, plugin_dir

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 0, 69, 75, 78
PASSWORD = "victim-secret-4711"


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: Path

    def run(self, cmd, cwd=None, env=None, timeout=60, **kw):
        """CMD run as this user (setpriv, no other privilege kept)."""
        full = ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid,
                "--init-groups", "--", *map(str, cmd)]
        return subprocess.run(full, cwd=cwd, env=env or self.env(),
                              capture_output=True, text=True,
                              timeout=timeout, **kw)

    def env(self):
        return {"HOME": str(self.home), "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8"}

    def own(self, path, mode):
        os.chown(path, self.uid, self.gid)
        os.chmod(path, mode)
        return Path(path)

    def write(self, path, data, mode=0o600):
        path = Path(path)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return self.own(path, mode)

    def mkdir(self, path, mode=0o700):
        path = Path(path)
        path.mkdir()
        return self.own(path, mode)


def _useradd(name):
    subprocess.run(["useradd", "-M", "-N", "-g", "users", "-s",
                    "/usr/sbin/nologin", name], check=True,
                   capture_output=True)
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


@pytest.fixture(scope="module")
def people():
    """(victim, attacker): two users of group `users`, homes of mode 0755
    (Debian's default before 12) under a directory of this module."""
    base = Path(tempfile.mkdtemp(prefix="mf-attacks-", dir="/tmp"))
    os.chmod(base, 0o755)
    made = []
    try:
        users = []
        for role in ("v", "a"):
            name = "mf%s%d" % (role, os.getpid())
            uid, gid = _useradd(name)
            made.append(name)
            home = base / role
            home.mkdir()
            u = User(name, uid, gid, home)
            u.own(home, 0o755)
            users.append(u)
        yield users[0], users[1]
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def case(people, request):
    """A fresh directory for one test inside the victim's home."""
    victim, attacker = people
    d = victim.home / request.node.name.replace("[", "-").rstrip("]")
    victim.mkdir(d, 0o755)
    yield Case(victim, attacker, d)
    shutil.rmtree(d, ignore_errors=True)


class Case:
    def __init__(self, victim, attacker, root):
        self.victim, self.attacker, self.root = victim, attacker, root
        self.state = root / "state"
        self.maildir = root / "Maildir"
        self.conf = root / "mailferry.conf"

    def config(self, srv, keep=True, state_dir=None, destinations=None,
               deliver="inbox", mode=0o600, conf=None, timeout=5,
               **globals_):
        """Write the victim's configuration for fake server SRV."""
        acct = mfconf.account("victim", None, user="victim",
                              password=PASSWORD, server="127.0.0.1",
                              port=srv.port, keep=keep, deliver=deliver)
        text = mfconf.config(state_dir or self.state,
                             destinations or {
                                 "inbox": mfconf.maildir(self.maildir)},
                             [acct], timeout=timeout, **globals_)
        return self.victim.write(conf or self.conf, text, mode)

    def run(self, *args, conf=None, cwd=None, timeout=60, preexec_fn=None):
        """mailferry run as the victim; CompletedProcess."""
        cmd = [mailferry_path(), "-f", conf or self.conf, *args]
        return self.victim.run(cmd, cwd=cwd or self.root, timeout=timeout,
                               preexec_fn=preexec_fn)

    def delivered(self):
        new = self.maildir / "new"
        return sorted(p.read_bytes() for p in new.iterdir()) \
            if new.is_dir() else []


def outcome(res):
    return "exit %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        res.returncode, res.stdout, res.stderr[-3000:])


def messages(n, tag):
    return [Message(mailgen.message(subject="%s %d" % (tag, i)),
                    "%s-%d" % (tag, i)) for i in range(n)]


def server(msgs, **kw):
    return FakePOP3(msgs, users={"victim": PASSWORD}, **kw)


def assert_refused(res, *needles):
    assert res.returncode == EX_CONFIG, outcome(res)
    for n in needles:
        assert str(n) in res.stderr, "%r not in the refusal:\n%s" % (
            str(n), outcome(res))


# ---- state_dir ---------------------------------------------------------------

def test_uids_new_symlink_in_writable_state_dir(case):
    """A planted ACCOUNT.uids.new symlink must not make the compaction
    overwrite the victim's file."""
    v, a = case.victim, case.attacker
    precious = v.write(case.root / "precious", b"the victim's data\n")
    msgs = messages(3, "sym")
    with server(msgs) as srv:
        case.config(srv)
        res = case.run()
        assert res.returncode == EX_OK, outcome(res)
    # The state directory is left open to everyone (mkdir -m 777).
    os.chmod(case.state, 0o777)
    r = a.run(["ln", "-s", precious, case.state / "victim.uids.new"])
    assert r.returncode == 0, r.stderr
    # Two messages left the server: the next run compacts the store.
    with server(msgs[:1]) as srv:
        case.config(srv)
        res = case.run()
    assert precious.read_bytes() == b"the victim's data\n", (
        "the victim's file was overwritten through the planted link\n" +
        outcome(res))
    assert_refused(res, case.state, "chmod go-w")


@pytest.mark.parametrize("how", ["writable-dir", "foreign-store"])
def test_planted_uid_store_with_keep_false(case, how):
    """A UID store planted by another user, listing messages never
    fetched, must not make a keep = false run delete them."""
    v, a = case.victim, case.attacker
    msgs = messages(3, "planted")
    store = "mailferry-uids 1\n" + "".join(
        "+ %s 1700000000\n" % m.uid for m in msgs)
    if how == "writable-dir":
        v.mkdir(case.state, 0o777)
        r = a.run(["sh", "-c", 'umask 0; printf "%s" "$1" > "$2"', "sh",
                   store, case.state / "victim.uids"])
        assert r.returncode == 0, r.stderr
        needles = [case.state, "chmod go-w"]
    else:
        # The victim's directory, but the file is the attacker's.
        v.mkdir(case.state, 0o700)
        a.write(case.state / "victim.uids", store, 0o666)
        needles = [case.state / "victim.uids", a.name]
    with server(msgs) as srv:
        case.config(srv, keep=False)
        res = case.run()
    assert "DELE" not in srv.commands(), (
        "messages never fetched were deleted\n" + outcome(res))
    assert len(srv.mailbox()) == 3
    assert_refused(res, *needles)


def test_state_dir_of_another_user(case):
    msgs = messages(1, "foreign")
    d = case.attacker.mkdir(case.root / "theirs", 0o755)
    with server(msgs) as srv:
        case.config(srv, state_dir=d)
        res = case.run()
        assert srv.connections == [], "connected despite the refusal"
    assert_refused(res, d, case.attacker.name)


# ---- configuration and included files -----------------------------------------

PWNED_CMD = "touch {marker}"


def password_command_config(case, srv, marker, mode=0o600, conf=None,
                            rules_include=None):
    """A configuration using password_command (no password in it, so the
    old password rule did not look at it)."""
    acct = mfconf.account("victim", None, user="victim", server="127.0.0.1",
                          port=srv.port, password_command="echo " + PASSWORD)
    text = mfconf.config(case.state, {"inbox": mfconf.maildir(case.maildir)},
                         [acct], timeout=5)
    if rules_include is not None:
        text = text.replace('deliver = "inbox";', 'deliver = "inbox";\n'
                            '    rules = ( @include "%s" );' % rules_include)
    return case.victim.write(conf or case.conf, text, mode)


def attacker_edits_password_command(case, conf, marker):
    """The attacker rewrites password_command in CONF (which it can)."""
    text = conf.read_text().replace(
        '"echo %s"' % PASSWORD, '"%s"' % PWNED_CMD.format(marker=marker))
    r = case.attacker.run(["sh", "-c", 'printf "%s" "$1" > "$2"', "sh",
                           text, conf])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666], ids=oct)
def test_writable_config_runs_nothing(case, mode):
    marker = case.root / "pwned"
    with server(messages(1, "conf")) as srv:
        conf = password_command_config(case, srv, marker, mode=mode)
        if not mode & 0o020:
            # Of another group: the attacker writes as "others".
            os.chown(conf, -1, 0)
        attacker_edits_password_command(case, conf, marker)
        res = case.run()
        assert srv.connections == [], "connected despite the refusal"
    assert not marker.exists(), "the attacker's command ran as the victim"
    assert_refused(res, conf, "chmod go-w %s" % conf)


def test_config_in_writable_directory(case):
    """The file is the victim's and closed, but its directory lets
    anyone replace it."""
    d = case.victim.mkdir(case.root / "etc", 0o777)
    conf = d / "mailferry.conf"
    with server(messages(1, "dir")) as srv:
        password_command_config(case, srv, None, conf=conf)
        res = case.run(conf=conf)
    assert_refused(res, d, "chmod go-w %s" % d)


def test_config_of_another_user(case):
    marker = case.root / "pwned"
    with server(messages(1, "owner")) as srv:
        conf = password_command_config(case, srv, marker)
        case.attacker.own(conf, 0o644)
        attacker_edits_password_command(case, conf, marker)
        res = case.run(conf=conf)
    assert not marker.exists(), "the attacker's command ran as the victim"
    assert_refused(res, conf, case.attacker.name)


@pytest.mark.parametrize("where", ["file", "directory"])
def test_writable_included_file(case, where):
    """An @include'd rule file another user can change."""
    d = case.victim.mkdir(case.root / "rules",
                          0o777 if where == "directory" else 0o755)
    inc = case.victim.write(d / "x.rules", '{ name = "r"; match = { '
                            'header = "Subject"; regex = "x"; }; '
                            'action = "skip"; }\n',
                            0o666 if where == "file" else 0o644)
    with server(messages(1, "inc")) as srv:
        conf = password_command_config(case, srv, None, rules_include=inc)
        res = case.run("--check-config", conf=conf)
    assert_refused(res, d if where == "directory" else inc, "chmod go-w")
    assert str(conf) + ":" in res.stderr, (
        "the error should name the including line\n" + outcome(res))


def test_password_config_readable_still_refused(case):
    """The older rule stays: a password in a file others can read."""
    with server(messages(1, "pw")) as srv:
        case.config(srv, mode=0o644)
        res = case.run()
    assert_refused(res, case.conf, "chmod 600")


# ---- plugin_dir --------------------------------------------------------------

EVIL_PLUGIN = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void
evil(void)
{
	int fd = open("%s", O_WRONLY | O_CREAT, 0644);

	if (fd != -1)
		close(fd);
}
"""


def evil_plugin(path, marker):
    proc = compile_plugin(EVIL_PLUGIN % marker, path)
    assert proc.returncode == 0, proc.stderr
    return path


def dedup_config(case, srv, pdir, conf=None):
    acct = mfconf.account("victim", None, user="victim", password=PASSWORD,
                          server="127.0.0.1", port=srv.port,
                          rules=[{"name": "dedup", "plugin": "dedup"}])
    text = mfconf.config(case.state, {"inbox": mfconf.maildir(case.maildir)},
                         [acct], timeout=5, plugin_dir=str(pdir),
                         plugins=[{"name": "dedup"}])
    return case.victim.write(conf or case.conf, text)


@pytest.mark.parametrize("what", ["directory", "plugin"])
def test_writable_plugin_dir_check_config(case, what):
    """A plugin_dir (or a plugin in it) another user can write: refused
    before anything is loaded, also by --check-config."""
    v, a = case.victim, case.attacker
    pdir = v.mkdir(case.root / "plugins",
                   0o777 if what == "directory" else 0o755)
    so = pdir / "dedup.so"
    shutil.copy(plugin_dir() / "dedup.so", so)
    v.own(so, 0o666 if what == "plugin" else 0o755)
    marker = case.root / "pwned"
    built = evil_plugin(case.root / "evil.so", marker)
    os.chmod(case.root / "evil.so", 0o644)
    # Overwritten in place, or replaced in the open directory.
    r = a.run(["sh", "-c", 'cp "$1" "$2" 2>/dev/null || '
               '{ rm -f "$2" && cp "$1" "$2"; }', "sh", built, so])
    assert r.returncode == 0, r.stderr
    with server(messages(1, "plug")) as srv:
        dedup_config(case, srv, pdir)
        res = case.run("--check-config")
    assert not marker.exists(), "the planted plugin's code ran"
    assert_refused(res, pdir if what == "directory" else so, "chmod go-w")


def test_relative_plugin_dir_ignores_working_directory(case):
    """plugin_dir = "plugins" is the directory beside the configuration,
    not one in wherever mailferry happens to be started."""
    v, a = case.victim, case.attacker
    good = v.mkdir(case.root / "plugins", 0o755)
    shutil.copy(plugin_dir() / "dedup.so", good / "dedup.so")
    v.own(good / "dedup.so", 0o755)
    trap = a.mkdir(case.root.parent / ("trap-" + case.root.name), 0o755)
    (trap / "plugins").mkdir()
    a.own(trap / "plugins", 0o755)
    marker = case.root / "pwned"
    evil_plugin(trap / "plugins" / "dedup.so", marker)
    a.own(trap / "plugins" / "dedup.so", 0o755)
    msgs = messages(2, "rel")
    try:
        with server(msgs) as srv:
            dedup_config(case, srv, "plugins")
            res = case.run(cwd=trap)
        assert not marker.exists(), "loaded the plugin of the working " \
            "directory"
        assert res.returncode == EX_OK, outcome(res)
        assert len(case.delivered()) == 2
    finally:
        shutil.rmtree(trap, ignore_errors=True)


# ---- mbox dotlock ---------------------------------------------------------------

def dead_pid():
    """The pid of a process that has just ended."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def run_bounded(case, seconds=60):
    """The victim's run, which must end on its own within SECONDS."""
    try:
        return case.run(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError("mailferry did not give up on the lock within "
                             "%d s (a wait without a deadline)" % seconds)


def spool_setup(case):
    """A shared spool directory as /var/mail is (root, sticky, open to
    all), the victim's mbox in it holding mail already."""
    spool = case.root / "spool"
    spool.mkdir()
    os.chmod(spool, 0o1777)
    mbox = case.victim.write(spool / case.victim.name,
                             b"From a@example.org Mon Jan  1 00:00:00 2024\n"
                             b"Subject: old mail\n\nkeep me\n\n")
    return spool, mbox


@pytest.mark.parametrize("record", ["old-format", "new-format"])
def test_forged_dotlock_does_not_truncate_mbox(case, record):
    """A dotlock planted by another user, whose record names a dead
    process, must not make mailferry cut the victim's mbox."""
    spool, mbox = spool_setup(case)
    before = mbox.read_bytes()
    st = os.stat(mbox)
    host = socket.gethostname()
    text = ("mailferry %d %s 0\n" % (dead_pid(), host)
            if record == "old-format" else
            "mailferry-dotlock 1 %d %s %d %d 0 %d\n" % (
                dead_pid(), host, st.st_dev, st.st_ino, len(before) + 100))
    lock = Path(str(mbox) + ".lock")
    r = case.attacker.run(["sh", "-c", 'printf "%s" "$1" > "$2"', "sh",
                           text, lock])
    assert r.returncode == 0, r.stderr
    msgs = messages(1, "lock")
    with server(msgs) as srv:
        case.config(srv, destinations={"box": {"type": "mbox",
                                               "path": str(mbox)}},
                    deliver="box", keep=False)
        res = run_bounded(case)
    assert mbox.read_bytes() == before, "the victim's mbox was cut"
    assert res.returncode == EX_TEMPFAIL, outcome(res)
    assert str(lock) in res.stderr, outcome(res)
    assert len(srv.mailbox()) == 1, "the message left the server"
    assert lock.exists(), "removed another user's fresh lock"


def test_stale_dotlock_that_cannot_be_removed(case):
    """Another user's old lock in a sticky spool directory cannot be
    removed: mailferry gives up at its deadline instead of spinning."""
    spool, mbox = spool_setup(case)
    before = mbox.read_bytes()
    lock = Path(str(mbox) + ".lock")
    r = case.attacker.run(["sh", "-c", 'echo junk > "$1" && '
                           'touch -d "2 hours ago" "$1"', "sh", lock])
    assert r.returncode == 0, r.stderr
    with server(messages(1, "stale")) as srv:
        case.config(srv, destinations={"box": {"type": "mbox",
                                               "path": str(mbox)}},
                    deliver="box")
        res = run_bounded(case)
    assert res.returncode == EX_TEMPFAIL, outcome(res)
    assert "cannot be removed" in res.stderr, outcome(res)
    assert mbox.read_bytes() == before


# ---- through a message: %F and %T ------------------------------------------

@pytest.mark.parametrize("field", ["Return-Path", "From"])
def test_sender_never_becomes_an_option(case, field):
    """An envelope sender beginning with "-" is not passed to a delivery
    program as %F: that message fails for the destination and stays on
    the server; the others are delivered."""
    log = case.root / "argv.log"
    script = case.victim.write(case.root / "mda.sh",
                               '#!/bin/sh\nfor a; do printf "%%s\\n" "$a"; '
                               'done >> %s\ncat > /dev/null\n' % log, 0o755)
    evil = mailgen.message(subject="evil", headers={
        field: "<-oQ/tmp/evil@example.org>",
        **({"From": None} if field == "Return-Path" else {})})
    msgs = [Message(mailgen.message(subject="good 1"), "g1"),
            Message(evil, "evil"),
            Message(mailgen.message(subject="good 2"), "g2")]
    with server(msgs) as srv:
        case.config(srv, keep=False, deliver="mda", destinations={
            "mda": {"type": "mda", "command": "%s -f %%F" % script}})
        res = case.run()
    args = log.read_text().split("\n") if log.exists() else []
    assert not [a for a in args if a.startswith("-") and a != "-f"], (
        "a sender became an option: %r\n%s" % (args, outcome(res)))
    assert args.count("-f") == 2, args
    assert [m.uid for m in srv.mailbox()] == ["evil"], outcome(res)
    assert res.returncode == EX_UNAVAILABLE, outcome(res)
    assert "-oQ/tmp/evil@example.org" in res.stderr, outcome(res)
    assert "option" in res.stderr, outcome(res)


def test_recipient_option_refused_in_configuration(case):
    with server(messages(1, "to")) as srv:
        case.config(srv, deliver="mda", destinations={
            "mda": {"type": "mda", "command": "/bin/cat %T",
                    "to": ["-n"]}})
        res = case.run("--check-config")
    assert_refused(res, '"-n"', "option")


# ---- through a message: dedup ----------------------------------------------

def dedup_run(case, msgs, keep=False):
    with server(msgs) as srv:
        acct = mfconf.account("victim", None, user="victim",
                              password=PASSWORD, server="127.0.0.1",
                              port=srv.port, keep=keep,
                              rules=[{"name": "dedup", "plugin": "dedup"}])
        text = mfconf.config(case.state,
                             {"inbox": mfconf.maildir(case.maildir)},
                             [acct], timeout=5, plugin_dir=str(plugin_dir()),
                             plugins=[{"name": "dedup"}])
        case.victim.write(case.conf, text)
        res = case.run()
    return srv, res


def with_trace(m, n):
    """M as another mailbox would hold it: trace fields of its own."""
    return (b"Return-Path: <list@example.org>\nDelivered-To: box%d@example."
            b"net\nReceived: from mx%d.example.net by box%d.example.net; "
            b"Mon, 1 Jan 2024 00:00:0%d +0000\n" % (n, n, n, n)) + m


def test_dedup_message_id_alone_drops_nothing(case):
    """An attacker's message sent first with the Message-ID of a genuine
    one must not get the genuine one dropped (deleted, keep = false)."""
    mid = "<genuine-4711@bank.example>"
    forged = mailgen.message(subject="forged", body="click here\n",
                             headers={"Message-ID": mid})
    genuine = mailgen.message(subject="Your statement", body="genuine\n",
                              headers={"Message-ID": mid})
    srv, res = dedup_run(case, [Message(forged, "1"), Message(genuine, "2")])
    assert res.returncode == EX_OK, outcome(res)
    assert sorted(case.delivered()) == sorted([forged, genuine]), (
        "the genuine message was dropped as a duplicate\n" + outcome(res))
    assert srv.mailbox() == []
    # A true copy (another mailbox's trace fields, same content) is
    # still a duplicate.
    srv, res = dedup_run(case, [Message(with_trace(genuine, 1), "3")])
    assert res.returncode == EX_OK, outcome(res)
    assert len(case.delivered()) == 2, outcome(res)
    assert srv.mailbox() == [], "the duplicate was not deleted"


# ---- secrets in memory ---------------------------------------------------------

def wait_for(cond, what, seconds=30):
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def core_files(d):
    return [p for p in d.iterdir() if p.name.startswith("core")]


def unlimited_cores():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                              resource.RLIM_INFINITY))
    # SIGQUIT as a user's shell leaves it, whatever the test runner's
    # process did with it (an ignored or blocked signal survives exec).
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGQUIT})


def start_as_victim(case, cmd, cwd):
    v = case.victim
    return subprocess.Popen(
        ["setpriv", "--reuid=%d" % v.uid, "--regid=%d" % v.gid,
         "--init-groups", "--", *map(str, cmd)], cwd=cwd, env=v.env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, preexec_fn=unlimited_cores)


def running(pid, name):
    """Has PID exec'd the program NAME (past setpriv)?"""
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid)) == name
    except OSError:
        return False


def sent_password(srv):
    return any(PASSWORD.encode() in line for c in srv.connections
               for line in c.received())


def test_no_core_dump_while_holding_the_password(case):
    """Killed by a signal while it holds the password, mailferry leaves
    no core file behind, even with unlimited core size; nor can another
    process of the user read its memory (/proc/PID/mem)."""
    cores = case.victim.mkdir(case.root / "cores", 0o755)
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    with server(messages(1, "core"), sasl=(),
                faults=[Fault("PASS", "stall")]) as srv:
        # A timeout far beyond the test's own steps: the stalled PASS
        # must still be pending when the signal comes, however loaded
        # the machine.
        acct_conf = case.config(srv, timeout=300)
        text = acct_conf.read_text().replace('deliver = "inbox";',
                                             'deliver = "inbox";\n'
                                             '    auth = "user";')
        case.victim.write(case.conf, text)
        proc = start_as_victim(case, [mailferry_path(), "-f", case.conf],
                               cores)
        try:
            wait_for(lambda: sent_password(srv), "the PASS command")
            limits = Path("/proc/%d/limits" % proc.pid).read_text()
            mem_owner = os.stat("/proc/%d/mem" % proc.pid).st_uid
            peek = case.victim.run(["dd", "if=/proc/%d/mem" % proc.pid,
                                    "bs=1", "count=1", "skip=4096"])
            # SIGQUIT dumps core by default (and, unlike SIGSEGV, is
            # not caught by the sanitizers' handlers).
            os.kill(proc.pid, signal.SIGQUIT)
            try:
                proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                status = Path("/proc/%d/status" % proc.pid).read_text()
                pytest.fail("SIGQUIT did not end the run:\n" + status)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    core_line = [ln for ln in limits.splitlines()
                 if ln.startswith("Max core file size")]
    assert core_line and core_line[0].split()[4:6] == ["0", "0"], limits
    # Not dumpable: its /proc files belong to root, not to the victim.
    assert mem_owner == 0, "/proc/PID/mem belongs to uid %d" % mem_owner
    assert peek.returncode != 0, "another process of the user read its " \
        "memory"
    assert proc.returncode == -signal.SIGQUIT, proc.returncode
    assert core_files(cores) == [], "a core file was written"
    if not pattern.startswith("|"):
        # The same conditions do produce a core for a process that does
        # not protect itself (so the check above can fail).
        control = start_as_victim(case, ["sleep", "60"], cores)
        wait_for(lambda: running(control.pid, "sleep"), "sleep to start")
        os.kill(control.pid, signal.SIGQUIT)
        control.communicate(timeout=30)
        wait_for(lambda: core_files(cores), "the control core file")
