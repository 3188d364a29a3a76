"""Private instances of POP3 servers other than Dovecot, for the
interoperability tests (test_servers.py).

    with MailutilsPop3d(users={"alice": "pw"}) as srv:
        srv.deliver("alice", b"Subject: hi\\n\\nbody\\n")
        ... POP3 on 127.0.0.1:srv.port, log in as srv.login("alice") ...
        srv.served("alice")     # every message as RETR hands it out
        srv.count("alice")

Each instance lives in its own directory under /tmp, listens on a port
picked at run time on 127.0.0.1, logs to srv.log_path, runs in the
foreground under subreaper.py (as lib/dovecot.py does: no orphan is
left to PID 1, and a killed test stops it), and close() stops it and
removes the directory. Messages are given with LF line ends, as for
Dovecot. What a server hands out is not always the bytes given to
deliver() (see each class): "byte for byte" in the tests means "as the
server's RETR hands it out", which served() reads with a plain client
(harness.retr, which also checks CRLF and dot-stuffing).

GNU Mailutils' pop3d (package mailutils-pop3d, installed normally)
-------------------------------------------------------------------
- Started as `pop3d --config-file=FILE` with `foreground yes; mode
  daemon;` and one `server 127.0.0.1:PORT` block; it forks a process per
  connection. `logging { syslog no; }` sends its log to stderr, and
  `transcript yes` puts every line of the dialogue there (passwords as
  ***).
- Users: `virtdomain` authorization with a passwd-dir holding one
  passwd(5)-format file per domain, crypt(3) passwords in it, and
  `generic` authentication; the login is user@domain ("alice@test"). The
  maildrop is HOME/INBOX; a directory with new/, cur/ and tmp/ there is
  taken as a Maildir. It runs as root here.
- It locks each mailbox through /var/lock/subsys/mail unless
  `mandatory-locking { enable no; }`: without that every login fails
  with "-ERR [IN-USE]".
- Every greeting carries an APOP timestamp, but without an APOP database
  every APOP is refused ("-ERR [AUTH] Bad login") and the connection goes
  on: the case auth = "auto" must survive by falling back to USER/PASS.
- CAPA: TOP, UIDL, RESP-CODES, PIPELINING, AUTH-RESP-CODE, EXPIRENEVER,
  USER (IMPLEMENTATION after login). No SASL without GSASL set up.
- Once UIDL has named a message, it writes an X-UIDL header into the
  message file (and keeps a .mu-prop file): from then on RETR hands out
  the message with that header added, and LIST counts it; a session
  that RETRs without a UIDL first gets the message without it.
- It writes "+OK" and the message data (and the final ".") with
  separate write(2) calls, with Nagle's algorithm on: a client that does
  not acknowledge at once waits for its own delayed ACK on each message.
- `login-delay N` with `stat-file FILE` enforces LOGIN-DELAY, but 3.15
  announces it in CAPA as a bare line "N" instead of "LOGIN-DELAY N",
  and refuses to use a stat file it created itself ("statistics db fails
  safety check: Group readable file") until it is made mode 0600: the
  harness primes it (prime_login_delay()). A refused login gets
  "-ERR [LOGIN-DELAY] Attempt to log in within the minimum login delay
  interval".

popa3d (package popa3d, conflicts with dovecot-pop3d)
-----------------------------------------------------
- Not installed: `apt-get download popa3d` into a cache directory
  (MAILFERRY_TEST_CACHE, default /var/tmp/mailferry-test-cache) and
  `dpkg -x` it there, once (debian_package()).
- inetd-style only (its -D daemon mode has a fixed port): `socat
  TCP-LISTEN:PORT,bind=127.0.0.1,fork,reuseaddr EXEC:popa3d`.
- It authenticates system users through PAM (service "popa3d"), runs its
  unprivileged half as user popa3d chrooted in /var/lib/popa3d, and
  reads mbox files in /var/mail. None of that is touched on the host:
  the server runs in a private mount namespace (`unshare -m`, private
  propagation) where /etc/passwd, /etc/shadow, /etc/pam.d and /var/mail
  are bind-mounted from the instance's directory and /var/lib is a
  tmpfs.
- No CAPA at all ("-ERR"), no APOP, no PIPELINING, no SASL, no STLS:
  USER/PASS, STAT, LIST, UIDL, TOP, RETR, DELE, QUIT.
- The mbox is served as stored: a ">From " line is not unquoted, and the
  empty line before the next "From " separator is not part of the
  message. UIDL is a hash of the message's header, so two messages with
  the same header share a UID (tests give each a Message-ID).
"""

import fcntl
import os
import poplib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import retr

__all__ = ["MailutilsPop3d", "Popa3d", "ServerError", "debian_package",
           "SERVERS"]

PYTHON = "/usr/bin/python3"
SUBREAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "subreaper.py")
MAIL_UID = MAIL_GID = 8         # Debian's `mail`
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
CACHE = os.environ.get("MAILFERRY_TEST_CACHE",
                       "/var/tmp/mailferry-test-cache")


class ServerError(RuntimeError):
    pass


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _hash(password):
    """PASSWORD as a crypt(3) SHA-512 hash."""
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                          input=password, capture_output=True, text=True,
                          check=True).stdout.strip()


def debian_package(name):
    """The directory NAME's Debian package is unpacked in (dpkg -x),
    fetched with `apt-get download` the first time. Raises ServerError
    saying what to do when the archive cannot be reached."""
    root = os.path.join(CACHE, name)
    if os.path.isdir(os.path.join(root, "usr")):
        return root
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isdir(os.path.join(root, "usr")):
            return root
        work = tempfile.mkdtemp(prefix=name + ".", dir=CACHE)
        try:
            got = subprocess.run(["apt-get", "download", name], cwd=work,
                                 capture_output=True, text=True,
                                 timeout=300)
            debs = [f for f in os.listdir(work) if f.endswith(".deb")]
            if got.returncode != 0 or not debs:
                raise ServerError(
                    "cannot fetch the Debian package %s (needed to run it "
                    "privately; it conflicts with dovecot-pop3d, so it is "
                    "not installed): `apt-get download %s` said:\n%s\n"
                    "Check the network and run `apt-get update`, or put "
                    "the unpacked package in %s." % (
                        name, name, (got.stderr or got.stdout).strip(),
                        root))
            tree = os.path.join(work, "tree")
            subprocess.run(["dpkg", "-x", os.path.join(work, debs[0]),
                            tree], check=True, timeout=120)
            os.rename(tree, root)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return root


def _exited(proc):
    return proc.poll() is not None


class _PrivateServer:
    """What both servers share: a directory, a port, a log, a process
    group under subreaper.py, and reading back what the server serves."""

    name = "?"

    def __init__(self, users=None):
        self.users = dict(users or {})
        self.dir = tempfile.mkdtemp(prefix="mf-%s-" % self.name, dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.log_path = os.path.join(self.dir, "server.log")
        self.port = _free_port()
        self.proc = None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def command(self):
        raise NotImplementedError

    def start(self):
        if self.proc is not None:
            return self
        self.prepare()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, SUBREAPER, str(os.getpid())] + self.command(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, cwd=self.dir)
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._greets():
            if _exited(self.proc):
                raise ServerError("%s exited during start-up; log:\n%s"
                                  % (self.name, self.log_text()))
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError("%s not ready after %.0f s; log:\n%s"
                                  % (self.name, READY_TIMEOUT,
                                     self.log_text()))
            time.sleep(0.02)
        return self

    def _greets(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=2) as s:
                return s.makefile("rb").readline().startswith(b"+OK")
        except OSError:
            return False

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- reading back -------------------------------------------------------

    def pop3(self, user):
        pop = poplib.POP3("127.0.0.1", self.port, timeout=10)
        pop.user(self.login(user))
        pop.pass_(self.users[user])
        return pop

    def served(self, user):
        """Every message of USER as this server's RETR hands it out (LF
        line ends, unstuffed), in message-number order; changes nothing."""
        pop = self.pop3(user)
        try:
            pop.uidl()                  # as a client that tracks UIDs
            n = len(pop.list()[1])
            return [retr(pop, i) for i in range(1, n + 1)]
        finally:
            pop.quit()

    def count(self, user):
        pop = self.pop3(user)
        try:
            return pop.stat()[0]
        finally:
            pop.quit()


class MailutilsPop3d(_PrivateServer):
    """GNU Mailutils' pop3d serving Maildirs (see the module notes).
    login_delay: seconds for its `login-delay` (with a stat file)."""

    name = "mailutils"
    DOMAIN = "test"

    def __init__(self, users=None, login_delay=None):
        super().__init__(users)
        self.login_delay = login_delay
        self.conf_path = os.path.join(self.dir, "pop3d.conf")
        self.passwd_dir = os.path.join(self.dir, "domains")
        self.home_dir = os.path.join(self.dir, "home")
        self.stat_file = os.path.join(self.dir, "logins.db")

    def login(self, user):
        return "%s@%s" % (user, self.DOMAIN)

    def maildir(self, user):
        return os.path.join(self.home_dir, user, "INBOX")

    def prepare(self):
        os.makedirs(self.passwd_dir, exist_ok=True)
        lines = []
        for user, password in self.users.items():
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(self.maildir(user), sub),
                            exist_ok=True)
            lines.append("%s:%s:%d:%d:%s:%s:/bin/false\n" % (
                user, _hash(password), MAIL_UID, MAIL_GID, user,
                os.path.join(self.home_dir, user)))
        with open(os.path.join(self.passwd_dir, self.DOMAIN), "w") as f:
            f.writelines(lines)
        delay = ""
        if self.login_delay is not None:
            delay = 'login-delay %d;\nstat-file "%s";\n' % (
                self.login_delay, self.stat_file)
        with open(self.conf_path, "w") as f:
            f.write("""\
# Generated by tests/integration/lib/otherpop3.py.
logging {{ syslog no; }};
auth {{ authentication generic; authorization virtdomain; }};
virtdomain {{ passwd-dir "{passwd}"; }};
mandatory-locking {{ enable no; }};
foreground yes;
mode daemon;
{delay}server 127.0.0.1:{port} {{ transcript yes; }};
""".format(passwd=self.passwd_dir, port=self.port, delay=delay))

    def command(self):
        return [shutil.which("pop3d") or "/usr/sbin/pop3d",
                "--config-file=" + self.conf_path]

    def deliver(self, user, message):
        """Put MESSAGE into USER's Maildir/new the Maildir way."""
        name = "%d.M%dP%d.mailferry-test" % (time.time_ns() // 10**9,
                                             time.time_ns() // 1000 % 10**6,
                                             os.getpid())
        while os.path.exists(os.path.join(self.maildir(user), "new", name)):
            name += "x"
        tmp = os.path.join(self.maildir(user), "tmp", name)
        with open(tmp, "wb") as f:
            f.write(message)
        os.rename(tmp, os.path.join(self.maildir(user), "new", name))
        return name

    def prime_login_delay(self, user):
        """Make the LOGIN-DELAY bookkeeping work (see the module notes):
        a login creates the stat file and records itself there, and the
        file is made 0600 so that the next login can read it: a login of
        USER within login_delay seconds is then refused."""
        self.count(user)
        os.chmod(self.stat_file, 0o600)


class Popa3d(_PrivateServer):
    """popa3d behind socat, in a private mount namespace, serving mbox
    files (see the module notes)."""

    name = "popa3d"

    def __init__(self, users=None):
        super().__init__(users)
        self.root = debian_package("popa3d")
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "mail")
        self.script = os.path.join(self.dir, "run.sh")

    def login(self, user):
        return user

    def mbox(self, user):
        return os.path.join(self.spool, user)

    def prepare(self):
        os.makedirs(os.path.join(self.etc, "pam.d"), exist_ok=True)
        os.makedirs(self.spool, exist_ok=True)
        os.chown(self.spool, 0, MAIL_GID)
        os.chmod(self.spool, 0o2775)
        ours = set(self.users) | {"popa3d"}
        with open("/etc/passwd") as f:
            passwd = [l for l in f if l.split(":")[0] not in ours]
        with open("/etc/shadow") as f:
            shadow = [l for l in f if l.split(":")[0] not in ours]
        passwd.append("popa3d:x:65500:65534::/nonexistent:/usr/sbin/nologin\n")
        shadow.append("popa3d:*:19000:0:99999:7:::\n")
        for user, password in self.users.items():
            passwd.append("%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n"
                          % (user, MAIL_UID, MAIL_GID))
            shadow.append("%s:%s:19000:0:99999:7:::\n" % (user,
                                                         _hash(password)))
            path = self.mbox(user)
            if not os.path.exists(path):
                open(path, "wb").close()
                os.chown(path, MAIL_UID, MAIL_GID)
                os.chmod(path, 0o600)
        for name, lines, mode in (("passwd", passwd, 0o644),
                                  ("shadow", shadow, 0o640)):
            path = os.path.join(self.etc, name)
            with open(path, "w") as f:
                f.writelines(lines)
            os.chmod(path, mode)
        with open(os.path.join(self.etc, "pam.d", "popa3d"), "w") as f:
            f.write("auth required pam_unix.so\n"
                    "account required pam_unix.so\n")
        with open(self.script, "w") as f:
            f.write("""\
#!/bin/sh
# Run by `unshare -m` (private mounts): nothing here reaches the host.
set -e
mount --bind {etc}/passwd /etc/passwd
mount --bind {etc}/shadow /etc/shadow
mount --bind {etc}/pam.d /etc/pam.d
mount --bind {spool} /var/mail
mount -t tmpfs -o mode=755 tmpfs /var/lib
mkdir -m 755 /var/lib/popa3d
exec socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr \\
    EXEC:{popa3d},stderr
""".format(etc=self.etc, spool=self.spool, port=self.port,
           popa3d=os.path.join(self.root, "usr/sbin/popa3d")))
        os.chmod(self.script, 0o755)

    def command(self):
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh",
                self.script]

    def deliver(self, user, message, sender="MAILER-DAEMON"):
        """Append MESSAGE to USER's mbox: a "From " line, the message with
        ">From " quoting (mboxrd), an empty line."""
        lines = message.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        quoted = [b">" + l if l.lstrip(b">").startswith(b"From ") else l
                  for l in lines]
        stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime())
        with open(self.mbox(user), "ab") as f:
            f.write(("From %s %s\n" % (sender, stamp)).encode())
            f.write(b"\n".join(quoted) + b"\n\n")


SERVERS = {"mailutils": MailutilsPop3d, "popa3d": Popa3d}
