"""A private Dovecot 2.3 (POP3, IMAP and LMTP) for integration tests.

See /work/shared/TESTING-NOTES.md for the facts this relies on. The instance
runs in the foreground as our child (`dovecot -F`), in its own temporary
directory under /tmp (short, so unix socket paths stay under 108 bytes), with
ports picked at run time. Mail lives in per-user Maildirs owned by the
`mail` user (uid/gid 8), since Dovecot refuses mail owned by root.

    with Dovecot(cert=crt, key=key, users={"alice": "pw"}) as dc:
        dc.deliver("alice", b"Subject: hi\\n\\nbody\\n")
        ... POP3 on 127.0.0.1:dc.pop3_port (STLS), dc.pop3s_port (TLS) ...
        ... IMAP on dc.imap_port (STARTTLS), dc.imaps_port (TLS) ...
        dc.create_folder("Lists/dev"); uid = dc.append(msg, "Lists/dev")
        dc.add_flags([uid], r"\\Deleted", "Lists/dev")   # another client
        dc.folder_messages("Lists/dev")   # {uid: (flags, bytes)}
        dc.folder_flags("Lists/dev")      # {uid: flags}
        dc.folder_bytes("Lists/dev")      # [bytes], in UID order
        dc.recreate_folder("Lists/dev")   # same mail, new UIDVALIDITY

Folders are Maildir++ under the user's Maildir, "/" their hierarchy
separator; the IMAP helpers log in as a separate client (imaplib over
plain text on loopback), so what they do is what another mail client
would do.

stop() ends the server but keeps ports, users and mail, so start() can bring
the same server back; close() also removes the directory.
"""

import atexit
import imaplib
import itertools
import os
import poplib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = ["Dovecot", "DovecotError", "wait_closed", "MAIL_UID", "MAIL_GID"]

MAIL_UID = 8        # Debian's `mail` user
MAIL_GID = 8
PYTHON = "/usr/bin/python3"
SUBREAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "subreaper.py")
READY_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0

_live = set()       # instances to kill if the test process exits early
_closing = []       # (process, kill deadline, directory) being shut down


@atexit.register
def _close_all():
    for dc in list(_live):
        dc.close()
    wait_closed()


# self.proc is subreaper.py, the parent of the Dovecot master: signals to it
# are passed on, and it exits only after every Dovecot process is gone.


def _exited(proc):
    """True once PROC has exited, without reaping it (see _reap). Popen's
    poll() and send_signal() would reap it, so this module signals with
    os.kill and never calls them."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid,
                         os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _terminate(proc):
    if not _exited(proc):
        os.kill(proc.pid, signal.SIGTERM)


def _reap(proc, deadline, block):
    """Finish a Dovecot that was sent SIGTERM: after DEADLINE, SIGKILL its
    whole process group; then reap it. Returns the exit status, or None if
    BLOCK is false and it still runs.

    The group is killed while PROC is an unreaped zombie: its pid, which is
    the group id, cannot be reused by then. Normally the group is already
    empty; only after a SIGKILL could processes have outlived it."""
    while not _exited(proc):
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
        elif not block:
            return None
        time.sleep(0.02)
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.wait()


def wait_closed(block=True):
    """Collect instances close() left shutting down; with BLOCK, wait for
    all of them (about a second)."""
    for item in list(_closing):
        proc, deadline, dir = item
        if _reap(proc, deadline, block) is not None:
            _closing.remove(item)
            shutil.rmtree(dir, ignore_errors=True)


class DovecotError(RuntimeError):
    pass


def _free_ports(n):
    """N distinct free TCP ports on 127.0.0.1 (held together while picked,
    so they differ; another process could still grab one before Dovecot
    binds it, which start() handles by retrying)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _imap_quote(name):
    """NAME as an IMAP quoted string, for imaplib (which sends arguments
    as they are)."""
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


def _imap_check(what, typ, data):
    if typ != "OK":
        raise DovecotError("IMAP %s failed: %s %r" % (what, typ, data))
    return data


def _crlf_to_lf(data):
    return data.replace(b"\r\n", b"\n")


def _dovecot_binary():
    for path in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if path and os.access(path, os.X_OK):
            return path
    raise DovecotError("dovecot binary not found (install dovecot-core)")


def _doveadm_binary():
    for path in (shutil.which("doveadm"), "/usr/bin/doveadm"):
        if path and os.access(path, os.X_OK):
            return path
    raise DovecotError("doveadm not found (install dovecot-core)")


def _maildir_sort_key(name):
    """Dovecot's own order for Maildir files (maildir_filename_sort_cmp):
    seconds, then microseconds, then the base name without flags. This is
    the order in which it numbers new messages, hence the POP3 order."""
    base = name.split(":", 1)[0]
    m = re.match(r"(\d+)\.[^.]*?M(\d+)", base)
    if not m:
        return (float("inf"), 0, base)
    return (int(m.group(1)), int(m.group(2)), base)


class Dovecot:
    """A private Dovecot serving POP3 and IMAP (each plain with STLS or
    STARTTLS, and implicit TLS) and LMTP.

    cert, key: server certificate and key paths, or None for no TLS at all
    (no STLS, no POP3S listener). users: {name: password} created before
    start. extra_config: appended to the generated dovecot.conf, for tests
    that need an unusual setting. listen: Dovecot's `listen`; for example
    "127.0.0.1, 127.0.0.2" also serves the same ports on 127.0.0.2, where
    a certificate for 127.0.0.1 does not match the host name. POP3 ports
    are probed and checked for readiness on 127.0.0.1 only.
    """

    _names = itertools.count()
    _last_tv = (0, 0)

    def __init__(self, cert=None, key=None, users=None, extra_config="",
                 hostname="dovecot.test", listen="127.0.0.1"):
        if (cert is None) != (key is None):
            raise ValueError("give both cert and key, or neither")
        self.cert, self.key = cert, key
        self.extra_config = extra_config
        self.hostname = hostname
        self.listen = listen
        self.users = {}
        self.proc = None
        self._started = False
        self.dir = tempfile.mkdtemp(prefix="mf-dovecot-", dir="/tmp")
        # Login, auth and mail processes run as other users and must
        # traverse this directory; mkdtemp makes it 0700.
        os.chmod(self.dir, 0o755)
        self.base_dir = os.path.join(self.dir, "run")
        self.state_dir = os.path.join(self.dir, "state")
        self.home_dir = os.path.join(self.dir, "home")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.stderr_path = os.path.join(self.dir, "dovecot.stderr")
        self.conf_path = os.path.join(self.dir, "dovecot.conf")
        self.passwd_path = os.path.join(self.dir, "passwd")
        for d in (self.base_dir, self.state_dir, self.home_dir):
            os.mkdir(d, 0o755)
        # Homes are created as the mail user, by add_user() or Dovecot.
        os.chown(self.home_dir, MAIL_UID, MAIL_GID)
        self._pick_ports()
        self._write_passwd()
        _live.add(self)
        for name, password in (users or {}).items():
            self.add_user(name, password)

    # -- properties ------------------------------------------------------

    @property
    def tls(self):
        return self.cert is not None

    @property
    def pop3_port(self):
        """Plain POP3; offers STLS when TLS is on."""
        return self._ports[0]

    @property
    def pop3s_port(self):
        """Implicit-TLS POP3, or None without TLS."""
        return self._ports[1] if self.tls else None

    @property
    def lmtp_port(self):
        return self._ports[2]

    @property
    def imap_port(self):
        """Plain IMAP; offers STARTTLS when TLS is on."""
        return self._ports[3]

    @property
    def imaps_port(self):
        """Implicit-TLS IMAP, or None without TLS."""
        return self._ports[4] if self.tls else None

    @property
    def lmtp_socket(self):
        return os.path.join(self.base_dir, "lmtp")

    @property
    def running(self):
        return self.proc is not None and not _exited(self.proc)

    def log_text(self):
        """The server log (plus anything it printed before opening it)."""
        text = ""
        for path in (self.stderr_path, self.log_path):
            try:
                with open(path, errors="replace") as f:
                    text += f.read()
            except FileNotFoundError:
                pass
        return text

    # -- configuration -----------------------------------------------------

    def _pick_ports(self):
        self._ports = _free_ports(5)    # pop3, pop3s, lmtp, imap, imaps

    def _config(self):
        if self.tls:
            ssl = ("ssl = yes\nssl_cert = <%s\nssl_key = <%s\n"
                   % (self.cert, self.key))
            pop3s, imaps = self.pop3s_port, self.imaps_port
        else:
            ssl = "ssl = no\n"
            pop3s = imaps = 0           # port 0 disables the listener
        return """\
# Generated by tests/integration/lib/dovecot.py; no includes on purpose.
base_dir = {base_dir}
state_dir = {state_dir}
instance_name = {name}
log_path = {log}
hostname = {hostname}
listen = {listen}
protocols = pop3 imap lmtp
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login apop
auth_verbose = yes
# Failed logins are otherwise delayed 2 s and more per IP, and every test
# connects from 127.0.0.1.
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {passwd}
}}
first_valid_uid = {uid}
mail_location = maildir:~/Maildir
# Tests open many IMAP sessions from 127.0.0.1 (default limit 10).
mail_max_userip_connections = 100
namespace inbox {{
  inbox = yes
  separator = /
}}
pop3_uidl_format = %08Xv%08Xu
# pop3_no_flag_updates stays "no" (the default), as on real servers: a POP3
# session moves messages from new/ to cur/ and RETR sets their Seen flag.

service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
{extra}
""".format(base_dir=self.base_dir, state_dir=self.state_dir,
           name=os.path.basename(self.dir), log=self.log_path,
           hostname=self.hostname, listen=self.listen, ssl=ssl,
           passwd=self.passwd_path,
           uid=MAIL_UID, pop3=self.pop3_port, pop3s=pop3s,
           lmtp=self.lmtp_port, imap=self.imap_port, imaps=imaps,
           extra=self.extra_config)

    def _write_passwd(self):
        lines = "".join(
            "%s:{PLAIN}%s:%d:%d::%s::\n" % (name, pw, MAIL_UID, MAIL_GID,
                                            self._home(name))
            for name, pw in self.users.items())
        # Replace atomically: the auth process must never see half a file.
        # It runs as user dovecot, hence world-readable (test passwords).
        tmp = self.passwd_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(lines)
        os.chmod(tmp, 0o644)
        # Dovecot reloads the file when its mtime (whole seconds) or size
        # changed: give every version a later mtime than the one before.
        try:
            prev = os.stat(self.passwd_path).st_mtime
        except FileNotFoundError:
            prev = 0
        mtime = max(int(time.time()), int(prev) + 1)
        os.utime(tmp, (mtime, mtime))
        os.rename(tmp, self.passwd_path)
        if self.running:
            # ... and stats it at most once per second: a login in the
            # second of this write could still be served the old copy.
            time.sleep(max(0.0, int(time.time()) + 1.01 - time.time()))

    def _home(self, user):
        return os.path.join(self.home_dir, user)

    def maildir(self, user):
        return os.path.join(self._home(user), "Maildir")

    def add_user(self, name, password):
        """Add a user (or change a password) with a {PLAIN} password and an
        empty Maildir. Works before start() and while running: Dovecot
        re-reads its passwd-file, and this waits (up to 1 s) until it will."""
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError("unsupported user name %r" % name)
        if any(c in password for c in ":\n\r\0"):
            raise ValueError("passwd-file cannot hold that password")
        for d in (self._home(name), self.maildir(name),
                  *(os.path.join(self.maildir(name), s)
                    for s in ("tmp", "new", "cur"))):
            os.makedirs(d, mode=0o700, exist_ok=True)
            os.chown(d, MAIL_UID, MAIL_GID)
        self.users[name] = password
        self._write_passwd()

    # -- process -------------------------------------------------------

    def start(self):
        """Start Dovecot and wait until POP3 answers. A first start retries
        with fresh ports if one was taken between picking and binding; a
        restart keeps its ports (clients are configured with them)."""
        if self.running:
            return self
        for attempt in range(3):
            with open(self.conf_path, "w") as f:
                f.write(self._config())
            try:
                self._spawn_and_wait()
                self._started = True
                return self
            except DovecotError:
                if (not self._started and attempt < 2
                        and "Address already in use" in self.log_text()):
                    self._pick_ports()
                    continue
                raise
        raise AssertionError("unreachable")

    def _spawn_and_wait(self):
        with open(self.stderr_path, "ab") as err:
            # Under subreaper.py, which reaps the children Dovecot's master
            # leaves behind when it exits, and stops Dovecot if the test
            # process dies. Own session: a terminal's Ctrl-C goes to pytest
            # only, and the whole tree shares one process group.
            self.proc = subprocess.Popen(
                [PYTHON, SUBREAPER, str(os.getpid()), _dovecot_binary(),
                 "-F", "-c", self.conf_path],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if _exited(self.proc):
                rc = _reap(self.proc, 0, block=True)
                self.proc = None
                raise DovecotError(
                    "dovecot exited with status %s during start-up; log:\n%s"
                    % (rc, self.log_text()))
            if self._greets():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise DovecotError("dovecot not ready after %.0f s; log:\n%s"
                                   % (READY_TIMEOUT, self.log_text()))
            time.sleep(0.02)

    def _greets(self):
        """True once the POP3 and IMAP listeners answer with a greeting,
        which proves the login and auth processes are up, not only the
        sockets."""
        for port, ok in ((self.pop3_port, b"+OK"), (self.imap_port, b"* OK")):
            try:
                with socket.create_connection(("127.0.0.1", port),
                                              timeout=1) as s:
                    if not s.makefile("rb").readline().startswith(ok):
                        return False
            except OSError:
                return False
        return True

    def stop(self):
        """SIGTERM and wait until Dovecot is gone (about 1 s: its master
        sleeps a second to let the log process drain). Ports, users and
        mail stay, so start() resumes the same server."""
        if self.proc is not None:
            _terminate(self.proc)
            _reap(self.proc, time.monotonic() + STOP_TIMEOUT, block=True)
            self.proc = None

    def close(self):
        """Stop and remove the directory with all mail. Does not wait for
        Dovecot's one-second shutdown: that finishes in the background and
        wait_closed() (called at exit at the latest) collects it."""
        _live.discard(self)
        if self.proc is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        _terminate(self.proc)
        _closing.append((self.proc, time.monotonic() + STOP_TIMEOUT, self.dir))
        self.proc = None
        wait_closed(block=False)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- mail ----------------------------------------------------------

    @classmethod
    def _unique_name(cls):
        # Strictly increasing (seconds, microseconds), so Dovecot's order
        # (by the time in the name) is the order of deliver() calls.
        ns = time.time_ns()
        tv = (ns // 10**9, ns // 1000 % 10**6)
        if tv <= cls._last_tv:
            sec, usec = cls._last_tv
            tv = (sec + 1, 0) if usec == 999999 else (sec, usec + 1)
        cls._last_tv = tv
        return "%d.M%06dP%dQ%d.mailferry-test" % (tv[0], tv[1], os.getpid(),
                                                  next(cls._names))

    def folder_dir(self, user, folder="INBOX"):
        """The Maildir of FOLDER ("Lists/dev" is Maildir++ ".Lists.dev")."""
        if folder == "INBOX":
            return self.maildir(user)
        return os.path.join(self.maildir(user), "." + folder.replace("/", "."))

    def deliver(self, user, message, folder="INBOX"):
        """Put MESSAGE (bytes, stored as given: use LF line endings) into
        USER's FOLDER (Maildir/new; another folder must exist: see
        create_folder) the Maildir way (tmp/ then rename), owned by uid 8
        with mode 0600. Returns the file name. Faster than append() for
        many messages."""
        if user not in self.users:
            raise KeyError("no such user %r" % user)
        name = self._unique_name()
        maildir = self.folder_dir(user, folder)
        tmp = os.path.join(maildir, "tmp", name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(message)
            os.fchown(fd, MAIL_UID, MAIL_GID)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(maildir, "new", name))
        return name

    def _files(self, user):
        """Paths of all message files in new/ and cur/, in Dovecot's order."""
        entries = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(user), sub)
            entries += [(n, os.path.join(d, n)) for n in os.listdir(d)
                        if not n.startswith(".")]
        entries.sort(key=lambda e: _maildir_sort_key(e[0]))
        return [path for _, path in entries]

    def stored_messages(self, user):
        """Every message in USER's Maildir (new/ and cur/; a POP3 login
        moves them to cur/), as bytes, in delivery order."""
        out = []
        for path in self._files(user):
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def count(self, user):
        return len(self._files(user))

    def pop3(self, user="alice"):
        """A plain-text POP3 session logged in as USER (the caller QUITs)."""
        pop = poplib.POP3("127.0.0.1", self.pop3_port, timeout=10)
        pop.user(user)
        pop.pass_(self.users[user])
        return pop

    def uids(self, user="alice"):
        """USER's UIDs in message-number order, by UIDL alone: no RETR,
        no DELE."""
        pop = self.pop3(user)
        try:
            _, lines, _ = pop.uidl()
        finally:
            pop.quit()
        return [line.split()[1].decode() for line in lines]

    # -- IMAP, as another client --------------------------------------

    def imap(self, user="alice"):
        """A plain-text IMAP session logged in as USER (imaplib; the caller
        logs out, or uses it in a with block)."""
        c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        c.login(user, self.users[user])
        return c

    def create_folder(self, name, user="alice"):
        with self.imap(user) as c:
            _imap_check("CREATE", *c.create(_imap_quote(name)))

    def delete_folder(self, name, user="alice"):
        with self.imap(user) as c:
            _imap_check("DELETE", *c.delete(_imap_quote(name)))

    def append(self, messages, folder="INBOX", user="alice", flags=()):
        """APPEND MESSAGES (bytes with LF line ends, or a list of them) to
        FOLDER with FLAGS (e.g. [r"\\Seen"]); returns the UID (a list of
        UIDs for a list), from the server's APPENDUID."""
        many = isinstance(messages, (list, tuple))
        uids = []
        with self.imap(user) as c:
            for m in messages if many else [messages]:
                data = _imap_check("APPEND", *c.append(
                    _imap_quote(folder),
                    "(%s)" % " ".join(flags) if flags else None, None,
                    m.replace(b"\n", b"\r\n")))
                code = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0])
                if code is None:
                    raise DovecotError("no APPENDUID in %r" % data)
                uids.append(int(code.group(1)))
        return uids if many else uids[0]

    def _select(self, c, folder):
        _imap_check("SELECT", *c.select(_imap_quote(folder)))

    def add_flags(self, uids, flags, folder="INBOX", user="alice"):
        """Add FLAGS (a string such as r"\\Deleted") to the messages with
        these UIDs, as another client would."""
        with self.imap(user) as c:
            self._select(c, folder)
            _imap_check("STORE", *c.uid(
                "STORE", ",".join(map(str, uids)), "+FLAGS.SILENT",
                "(%s)" % flags))

    def folder_info(self, folder="INBOX", user="alice"):
        """{"UIDVALIDITY": n, "UIDNEXT": n, "MESSAGES": n} by STATUS."""
        with self.imap(user) as c:
            data = _imap_check("STATUS", *c.status(
                _imap_quote(folder), "(UIDVALIDITY UIDNEXT MESSAGES)"))
        return {k.decode(): int(v) for k, v in re.findall(
            rb"(UIDVALIDITY|UIDNEXT|MESSAGES) (\d+)", data[0])}

    def folder_messages(self, folder="INBOX", user="alice"):
        """{uid: (set of flags, message bytes with LF line ends)} of every
        message in FOLDER, read with BODY.PEEK[] (nothing changes)."""
        out = {}
        with self.imap(user) as c:
            self._select(c, folder)
            typ, data = c.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
            _imap_check("FETCH", typ, data)
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head, body = item
                uid = int(re.search(rb"UID (\d+)", head).group(1))
                flags = re.search(rb"FLAGS \(([^)]*)\)", head).group(1)
                out[uid] = (set(flags.decode().split()), _crlf_to_lf(body))
        return out

    def folder_flags(self, folder="INBOX", user="alice"):
        """{uid: set of flags} of every message in FOLDER (nothing read,
        nothing changed)."""
        out = {}
        with self.imap(user) as c:
            self._select(c, folder)
            typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
            _imap_check("FETCH", typ, data)
            for item in data:
                if not isinstance(item, bytes):
                    continue
                m = re.search(rb"UID (\d+)", item)
                f = re.search(rb"FLAGS \(([^)]*)\)", item)
                if m and f:
                    out[int(m.group(1))] = set(f.group(1).decode().split())
        return out

    def folder_bytes(self, folder="INBOX", user="alice"):
        """The messages of FOLDER as bytes with LF line ends, in UID
        order (read with BODY.PEEK[]: nothing changes)."""
        msgs = self.folder_messages(folder, user)
        return [msgs[uid][1] for uid in sorted(msgs)]

    def recreate_folder(self, folder="INBOX", user="alice"):
        """Give FOLDER a new UIDVALIDITY with the same messages and flags,
        as a server does when it rebuilds a folder: another folder is
        deleted, created again and refilled by APPEND; the INBOX (which
        IMAP cannot delete) loses Dovecot's UID list and indexes, so
        Dovecot numbers it afresh. Needs no other session open on the
        folder. Returns the new UIDVALIDITY."""
        old = self.folder_info(folder, user)["UIDVALIDITY"]
        if folder == "INBOX":
            self._forget_uids(self.folder_dir(user, folder))
        else:
            msgs = self.folder_messages(folder, user)
            self.delete_folder(folder, user)
            self.create_folder(folder, user)
            for uid in sorted(msgs):
                flags, data = msgs[uid]
                self.append(data, folder, user, sorted(
                    f for f in flags if f != "\\Recent"))
        new = self.folder_info(folder, user)["UIDVALIDITY"]
        if new == old:
            raise DovecotError("UIDVALIDITY of %s stayed %d" % (folder, old))
        return new

    @staticmethod
    def _forget_uids(maildir):
        # Dovecot then gives the folder a UIDVALIDITY above any it gave
        # before (it keeps the last one in dovecot-uidvalidity).
        for name in os.listdir(maildir):
            if name == "dovecot-uidlist" or name.startswith("dovecot.index"):
                os.unlink(os.path.join(maildir, name))

    def doveadm_save(self, message, folder="INBOX", user="alice"):
        """Deliver MESSAGE into FOLDER with `doveadm save`, outside any
        IMAP session (as the MTA would): open sessions learn of it the way
        they learn of any new mail."""
        proc = subprocess.run(
            [_doveadm_binary(), "-c", self.conf_path, "save", "-u", user,
             "-m", folder], input=message, capture_output=True, timeout=30)
        if proc.returncode != 0:
            raise DovecotError("doveadm save failed (%d): %s" % (
                proc.returncode, proc.stderr.decode(errors="replace")))
