"""A private Postfix 3.7 that accepts mail by SMTP on 127.0.0.1 and delivers
it into Maildirs owned by the `mail` user (uid 8), for delivery tests.

    with Postfix(mailboxes=["alice@example.test"]) as pf:
        ... SMTP to 127.0.0.1:pf.port ...
        msgs = pf.wait_delivered("alice@example.test", 3)
        headers, rest = split_added_headers(msgs[0])

See /work/shared/TESTING-NOTES.md for the facts this relies on: its own
config directory (main.cf, master.cf), `postfix -c DIR check` once to make
the queue tree, then `master -c DIR` in the foreground as our child (under
subreaper.py, which reaps the daemons master leaves behind and stops the
tree if the test process dies); chroot off; maillog_file in the instance
directory; virtual delivery to uid 8 with texthash maps; everything else
bounced by default_transport = error; no alias maps; no header rewriting
for clients on 127.0.0.1.

stop() ends master (SIGTERM) and waits until every Postfix process is gone;
close() also removes the directory.
"""

import atexit
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

__all__ = ["Postfix", "PostfixError", "split_added_headers", "ADDED_HEADERS"]

MAIL_UID = 8
MAIL_GID = 8
PYTHON = "/usr/bin/python3"
SUBREAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "subreaper.py")
MASTER = "/usr/lib/postfix/sbin/master"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# What virtual(8) prepends to every message it delivers, in this order;
# Received is three lines (two continuations).
ADDED_HEADERS = ("Return-Path", "X-Original-To", "Delivered-To", "Received")

_live = set()


@atexit.register
def _close_all():
    for pf in list(_live):
        pf.close()


class PostfixError(RuntimeError):
    pass


def split_added_headers(message, names=ADDED_HEADERS):
    """Split the header fields a delivery agent prepended (NAMES, in that
    order, each with its continuation lines) off MESSAGE (bytes, LF).
    Returns ({name: unfolded value}, the rest). Raises ValueError when the
    message does not start with exactly those fields."""
    added = {}
    rest = message
    for name in names:
        m = re.match(rb"%s: ([^\n]*\n(?:[ \t][^\n]*\n)*)" % name.encode(),
                     rest)
        if not m:
            raise ValueError("expected a %s header at %r" % (name, rest[:80]))
        added[name] = re.sub(rb"\n[ \t]*", b" ", m.group(1)).strip().decode(
            errors="replace")
        rest = rest[m.end():]
    return added, rest


class Postfix:
    """A private Postfix instance.

    mailboxes: addresses (user@domain) delivered to Maildirs; their
    domains become virtual_mailbox_domains. hostname: myhostname.
    extra_main: {parameter: value} added to (or overriding) main.cf.
    listeners: {name: {parameter: value}}: further smtpd listeners, each
    on its own port with those `-o` overrides (for example
    {"lockstep": {"smtpd_discard_ehlo_keywords": "pipelining"}}).
    ports[name] is each one's port; ports["default"] (also .port) the one
    with no overrides.
    """

    def __init__(self, mailboxes=("alice@example.test",),
                 hostname="mta.test", extra_main=None, listeners=None):
        self.mailboxes = list(mailboxes)
        self.hostname = hostname
        self.extra_main = dict(extra_main or {})
        self.listeners = {"default": {}}
        self.listeners.update(listeners or {})
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="mf-postfix-", dir="/tmp")
        os.chmod(self.dir, 0o755)       # daemons run as postfix and uid 8
        self.conf_dir = os.path.join(self.dir, "conf")
        self.queue_dir = os.path.join(self.dir, "queue")
        self.data_dir = os.path.join(self.dir, "data")
        self.mail_base = os.path.join(self.dir, "vmail")
        self.log_path = os.path.join(self.dir, "maillog")
        self.stderr_path = os.path.join(self.dir, "master.stderr")
        for d in (self.conf_dir, self.queue_dir, self.data_dir,
                  self.mail_base):
            os.mkdir(d, 0o755)
        shutil.chown(self.data_dir, "postfix")
        os.chown(self.mail_base, MAIL_UID, MAIL_GID)
        self._pick_ports()
        self._checked = False
        _live.add(self)

    # -- configuration ---------------------------------------------------

    def _pick_ports(self):
        socks = []
        try:
            for _ in self.listeners:
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                socks.append(s)
            self.ports = {name: s.getsockname()[1]
                          for name, s in zip(self.listeners, socks)}
        finally:
            for s in socks:
                s.close()

    @property
    def port(self):
        return self.ports["default"]

    def maildir(self, address):
        local, _, domain = address.partition("@")
        return os.path.join(self.mail_base, domain, local, "Maildir")

    def _main_cf(self):
        domains = sorted({a.partition("@")[2] for a in self.mailboxes})
        p = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "shlib_directory": "/usr/lib/postfix",
            "meta_directory": "/etc/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "mydomain": self.hostname,
            "myorigin": self.hostname,
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.dir,
            "alias_maps": "",
            "alias_database": "",
            "local_header_rewrite_clients": "",
            "default_transport": "error:outside delivery disabled in tests",
            "relay_transport": "error:outside delivery disabled in tests",
            "virtual_mailbox_domains": " ".join(domains),
            "virtual_mailbox_base": self.mail_base,
            "virtual_mailbox_maps": "texthash:%s/vmailbox" % self.conf_dir,
            "virtual_uid_maps": "static:%d" % MAIL_UID,
            "virtual_gid_maps": "static:%d" % MAIL_GID,
            "virtual_minimum_uid": str(MAIL_UID),
            "smtpd_relay_restrictions":
                "permit_mynetworks, reject_unauth_destination",
            # mailgen writes lines of up to 4000 bytes; Postfix would
            # split those over 2048.
            "line_length_limit": "1000000",
            "biff": "no",
            "smtputf8_enable": "no",
            "delay_warning_time": "0",
        }
        p.update(self.extra_main)
        return "".join("%s = %s\n" % kv for kv in p.items())

    def _master_cf(self):
        inet = "".join(
            "127.0.0.1:%d inet n - n - - smtpd%s\n" % (
                self.ports[name],
                "".join("\n  -o %s=%s" % kv for kv in opts.items()))
            for name, opts in self.listeners.items())
        return inet + """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

    def _write_config(self):
        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write(self._main_cf())
        with open(os.path.join(self.conf_dir, "master.cf"), "w") as f:
            f.write(self._master_cf())
        # texthash: "key value", read at start (and on reload).
        with open(os.path.join(self.conf_dir, "vmailbox"), "w") as f:
            for a in self.mailboxes:
                local, _, domain = a.partition("@")
                f.write("%s %s/%s/Maildir/\n" % (a, domain, local))

    def log_text(self):
        text = ""
        for path in (self.stderr_path, self.log_path):
            try:
                with open(path, errors="replace") as f:
                    text += f.read()
            except FileNotFoundError:
                pass
        return text

    # -- process ---------------------------------------------------------

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        if self.running:
            return self
        for attempt in range(3):
            self._write_config()
            if not self._checked:
                r = subprocess.run(["postfix", "-c", self.conf_dir, "check"],
                                   capture_output=True, text=True,
                                   timeout=60)
                if r.returncode != 0:
                    raise PostfixError("postfix check failed (%d):\n%s%s\n%s"
                                       % (r.returncode, r.stdout, r.stderr,
                                          self.log_text()))
                self._checked = True
            try:
                self._spawn_and_wait()
                return self
            except PostfixError:
                if attempt < 2 and "in use" in self.log_text():
                    self._pick_ports()
                    continue
                raise
        raise AssertionError("unreachable")

    def _spawn_and_wait(self):
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [PYTHON, SUBREAPER, str(os.getpid()), MASTER,
                 "-c", self.conf_dir],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise PostfixError("postfix master exited with status %s "
                                   "during start-up; log:\n%s"
                                   % (rc, self.log_text()))
            if self._greets():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise PostfixError("postfix not ready after %.0f s; log:\n%s"
                                   % (READY_TIMEOUT, self.log_text()))
            time.sleep(0.02)

    def _greets(self):
        """True once every smtpd listener answers with its greeting."""
        for port in self.ports.values():
            try:
                with socket.create_connection(("127.0.0.1", port),
                                              timeout=2) as s:
                    ok = s.makefile("rb").readline().startswith(b"220")
                    s.sendall(b"QUIT\r\n")
                if not ok:
                    return False
            except OSError:
                return False
        return True

    def stop(self):
        """SIGTERM to master (via subreaper.py) and wait until every
        Postfix process has exited; SIGKILL the group after a while."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def close(self):
        _live.discard(self)
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- mail ------------------------------------------------------------

    def log_barrier(self, timeout=60):
        """Return once everything Postfix logged so far is in its log
        file. A marker session sends one unknown command, which smtpd
        counts in its disconnect line ("unknown=0/1"), and no client of
        the tests sends; that line is waited for. Postfix writes its log
        through one process, in order, so by then the lines of sessions
        that ended before it are written too."""
        mark = "unknown=0/1"
        before = self.log_text().count(mark)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=timeout) as s:
            s.ehlo("barrier.test")
            code, _ = s.docmd("XBARRIER")
            assert code >= 500, "postfix accepted XBARRIER: %d" % code
        deadline = time.monotonic() + timeout
        while self.log_text().count(mark) <= before:
            if time.monotonic() > deadline:
                raise AssertionError(
                    "the marker session is not in the postfix log after "
                    "%d s:\n%s" % (timeout, self.log_text()[-3000:]))
            time.sleep(0.02)

    def queue_empty(self):
        r = subprocess.run(["postqueue", "-c", self.conf_dir, "-p"],
                           capture_output=True, text=True, timeout=30)
        return "Mail queue is empty" in r.stdout

    def delivered(self, address):
        """The messages in ADDRESS's Maildir (new/ and cur/), as bytes,
        sorted by file name (delivery time first)."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(address), sub)
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
        return out

    def clear(self, address):
        """Remove every delivered message of ADDRESS."""
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(address), sub)
            if os.path.isdir(d):
                for name in os.listdir(d):
                    os.unlink(os.path.join(d, name))

    def wait_delivered(self, address, count, timeout=30):
        """Wait until ADDRESS's Maildir holds COUNT messages and the queue
        is empty; return the messages. Fails (with the log) on a timeout
        or when more than COUNT arrived."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.delivered(address)
            if len(msgs) >= count and self.queue_empty():
                msgs = self.delivered(address)
                if len(msgs) != count:
                    raise AssertionError(
                        "%s: %d messages delivered, expected %d"
                        % (address, len(msgs), count))
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(
                    "%s: %d of %d messages delivered after %d s; postfix "
                    "log:\n%s" % (address, len(msgs), count, timeout,
                                  self.log_text()[-5000:]))
            time.sleep(0.05)
