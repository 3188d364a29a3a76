"""Helpers for the operations tests (test_daemon.py): a mailferry daemon
under test, waiting with deadlines, a TCP proxy that slows a server down,
and a private tmux server to give mailferry a terminal.

    with MailferryDaemon(conf, 3600, dir=tmp_path) as d:
        d.wait_summaries("alice", 1)        # the first poll is done
        d.wait_idle()                       # ... and its process reaped
        d.signal(signal.SIGUSR1)
        d.wait_summaries("alice", 2)
        rc = d.stop()                       # SIGTERM, wait, exit status

    with DelayProxy(dovecot.pop3_port, delay=0.02) as proxy:
        ... point an account at 127.0.0.1:proxy.port ...

    with Tmux() as tm:
        tm.run(["mailferry", "-f", conf])   # in a 200x50 terminal
        tm.capture()                        # what the pane shows now

Daemon output goes to files (not pipes): nothing can block on a full
pipe, and a test reads what was written so far at any moment.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from harness import mailferry_path

__all__ = ["wait_until", "MailferryDaemon", "DelayProxy", "Tmux",
           "summary_lines", "child_pids", "SUMMARY_RE"]

# A summary line, as mailferry(1) OUTPUT documents it.
SUMMARY_RE = (r"(?P<new>\d+) new, (?P<delivered>\d+) delivered, "
              r"(?P<deleted>\d+) deleted by rules, (?P<failed>\d+) failed, "
              r"[\d.]+ [KMG]?B in [\d.]+ s(?P<rest>.*)")


def wait_until(predicate, timeout, what, interval=0.02, details=None):
    """Call PREDICATE until it returns something true (returned) or
    TIMEOUT seconds pass (AssertionError naming WHAT, plus DETAILS() if
    given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = ("\n" + details()) if details is not None else ""
            raise AssertionError("timed out after %.0f s waiting for %s%s"
                                 % (timeout, what, extra))
        time.sleep(interval)


def summary_lines(text, account):
    """ACCOUNT's summary lines in TEXT (stdout), as match objects."""
    out = []
    for line in text.splitlines():
        m = re.fullmatch(re.escape(account) + ": " + SUMMARY_RE, line)
        if m:
            out.append(m)
    return out


def child_pids(pid):
    """PIDs of the processes whose parent is PID, zombies included (a
    child stays listed until its parent reaps it)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


class MailferryDaemon:
    """`mailferry -f CONF -d INTERVAL ARGS...` in its own session, stdout
    and stderr going to files in DIR."""

    def __init__(self, conf, interval, *args, dir, env=None, name="daemon"):
        self.cmd = [mailferry_path(), "-f", str(conf), "-d", str(interval),
                    *map(str, args)]
        self.dir = Path(dir)
        self.out_path = self.dir / ("%s.stdout" % name)
        self.err_path = self.dir / ("%s.stderr" % name)
        self.env = env
        self.proc = None
        self.returncode = None

    # -- life cycle ------------------------------------------------------

    def start(self):
        with open(self.out_path, "wb") as out, \
                open(self.err_path, "wb") as err:
            # Own session and process group: cleanup can kill the fetch
            # processes too, and a terminal's Ctrl-C reaches pytest only.
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=self.env, start_new_session=True)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        assert self.running(), "the daemon is not running:\n" + self.report()
        os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Wait for the exit; returns the exit status (negative: killed
        by that signal). AssertionError after TIMEOUT seconds."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the daemon did not exit within %s s\n%s"
                                 % (timeout, self.report())) from None
        return self.returncode

    def stop(self, timeout=30):
        """SIGTERM, then wait (at most TIMEOUT seconds) for the exit."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def close(self):
        """Kill whatever is left of the daemon's process group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        else:
            # The daemon is gone; its group may still hold fetches.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- output ----------------------------------------------------------

    def out(self):
        return self.out_path.read_bytes().decode(errors="replace")

    def err(self):
        return self.err_path.read_bytes().decode(errors="replace")

    def report(self):
        return ("command: %s\nexit status: %s\n--- stdout ---\n%s"
                "--- stderr ---\n%s" % (
                    " ".join(self.cmd),
                    self.proc.poll() if self.proc else None,
                    self.out(), self.err()))

    def summaries(self, account):
        return summary_lines(self.out(), account)

    # -- waiting ---------------------------------------------------------

    def wait_for(self, predicate, what, timeout=30):
        """Wait until PREDICATE() is true; fail early if the daemon
        exits meanwhile."""
        def check():
            value = predicate()
            if value:
                return value
            if not self.running():
                raise AssertionError("the daemon exited while waiting for "
                                     "%s\n%s" % (what, self.report()))
            return None
        return wait_until(check, timeout, what, details=self.report)

    def wait_summaries(self, account, n, timeout=30):
        """Wait until ACCOUNT has N summary lines on stdout; returns the
        Nth (a match object, see SUMMARY_RE)."""
        lines = self.wait_for(
            lambda: (lambda s: s if len(s) >= n else None)(
                self.summaries(account)),
            "summary line %d of %s" % (n, account), timeout)
        return lines[n - 1]

    def wait_stderr(self, pattern, count=1, timeout=30):
        """Wait until PATTERN (a regex) matches COUNT times on stderr;
        returns the list of matches."""
        rx = re.compile(pattern)

        def found():
            ms = list(rx.finditer(self.err()))
            return ms if len(ms) >= count else None
        return self.wait_for(found, "%r on stderr (%d times)"
                             % (pattern, count), timeout)

    def wait_idle(self, timeout=30):
        """Wait until the daemon has no child process, not even an
        unreaped one: every fetch has ended and been accounted for."""
        self.wait_for(lambda: not child_pids(self.proc.pid),
                      "the daemon to reap its fetch processes", timeout)


class DelayProxy:
    """A TCP proxy on 127.0.0.1 to TARGET_HOST:TARGET_PORT that passes
    what the server sends in chunks of at most CHUNK bytes, sleeping DELAY
    seconds before each: a slow server. What the client sends goes
    through at once. Each connection gets two threads of its own."""

    def __init__(self, target_port, delay=0.02, chunk=16384,
                 target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.delay = delay
        self.chunk = chunk
        self.port = None
        self.connections = 0
        self._listener = None
        self._socks = []
        self._lock = threading.Lock()
        self._closed = False

    def start(self):
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="delayproxy",
                         daemon=True).start()
        return self

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self.connections += 1
                self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, 0),
                             daemon=True).start()
            threading.Thread(target=self._pump,
                             args=(server, client, self.delay),
                             daemon=True).start()

    def _pump(self, src, dst, delay):
        try:
            while True:
                data = src.recv(self.chunk)
                if not data:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        with self._lock:
            self._closed = True
            socks, self._socks = self._socks, []
        if self._listener is not None:
            self._listener.close()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Tmux:
    """A tmux server of our own (own socket, no configuration file),
    giving a command a real terminal of WIDTH x HEIGHT."""

    def __init__(self, width=200, height=50):
        self.tmux = shutil.which("tmux")
        if self.tmux is None:
            raise FileNotFoundError("tmux is not installed")
        # Short: unix socket paths are limited to 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="mf-tmux-", dir="/tmp")
        self.socket = os.path.join(self.dir, "sock")
        self.width, self.height = width, height
        self.session = "mf"
        self.rc_path = os.path.join(self.dir, "rc")
        self.started = False

    def _tmux(self, *args, check=True):
        proc = subprocess.run([self.tmux, "-S", self.socket, "-f",
                               "/dev/null", *args],
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=30)
        if check and proc.returncode != 0:
            raise RuntimeError("tmux %s failed (%d): %s" % (
                " ".join(args), proc.returncode, proc.stderr))
        return proc

    def run(self, argv, env=None):
        """Run ARGV in a new session's only pane. Its exit status goes to
        a file (see exit_status()); the pane then stays open, showing the
        output, until close()."""
        assert not self.started, "one command per Tmux"
        cmd = " ".join(shlex.quote(str(a)) for a in argv)
        if env:
            cmd = "env %s %s" % (" ".join(
                shlex.quote("%s=%s" % kv) for kv in env.items()), cmd)
        script = "%s; echo $? > %s; exec sleep 3600" % (
            cmd, shlex.quote(self.rc_path))
        self._tmux("new-session", "-d", "-s", self.session,
                   "-x", str(self.width), "-y", str(self.height),
                   "/bin/sh", "-c", script)
        self.started = True

    def capture(self):
        """The pane's visible text now (trailing blanks trimmed)."""
        return self._tmux("capture-pane", "-p", "-t", self.session).stdout

    def exit_status(self):
        """The command's exit status, or None while it runs."""
        try:
            with open(self.rc_path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return int(text) if text.strip() else None

    def close(self):
        if self.started:
            self._tmux("kill-server", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
