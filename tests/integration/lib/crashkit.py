"""Helpers for the crash-safety and disk-full tests (test_crash.py,
test_diskfull.py): running mailferry in the background and SIGKILLing it
at a chosen moment, reading back what each kind of destination holds,
checking mailferry(1) GUARANTEES (no loss, at most one duplicate per crash), and
small tmpfs mounts that fill up.

    run = start(conf)                      # mailferry -f CONF, in background
    res = run.finish(kill_after=0.3)       # SIGKILL after 0.3 s unless done
    res.killed, res.rc, res.elapsed, res.stderr
    start(conf, prefix=strace_kill([path], "write", 2)).finish()
                                           # SIGKILL at an exact syscall

    read_maildir(path)   -> Maildir(new=[bytes], tmp=[names], ...)
    read_mbox(path)      -> MboxContents(messages=[bytes], problems=[...])
    server_messages(dovecot)              # what is on the POP3 server
    tally(originals, delivered)           # lost / unknown / duplicates

    with Tmpfs(dir, "2m") as fs:          # mount; always unmounted
        fs.fill(leave=4096); fs.resize("64m")

Messages are compared as bytes in Maildir form (LF line ends): a Maildir
file, an mbox entry with its "From " line removed and mboxrd quoting
undone, an SMTP transaction's data with CRLF turned into LF. Identity is
the SHA-256 of those bytes; Message-IDs only name messages in reports.
"""

import collections
import mailbox
import os
import random
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import mailgen
from harness import mailferry_path
from msgcheck import digest

__all__ = ["EX_OK", "EX_TEMPFAIL", "env_int", "digest", "message_id",
           "describe", "unquote_mboxrd", "Result", "Run", "start",
           "strace_kill", "strace_supported",
           "run_clean", "Maildir", "read_maildir", "MboxContents",
           "read_mbox", "sink_messages", "server_messages", "Tally",
           "tally", "store_records", "sized_messages", "Tmpfs",
           "mount_supported", "NO_SPACE_RE"]

EX_OK, EX_TEMPFAIL = 0, 75

# How mailferry words a full disk (strerror(ENOSPC) and friends).
NO_SPACE_RE = re.compile(r"No space left on device|disk (is )?full|ENOSPC|"
                         r"Disk quota exceeded", re.I)


def env_int(name, default, minimum=0):
    """The integer in environment variable NAME, or DEFAULT."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        n = int(value)
    except ValueError:
        raise ValueError("%s=%r is not an integer" % (name, value)) from None
    if n < minimum:
        raise ValueError("%s=%d: must be at least %d" % (name, n, minimum))
    return n


# ---- messages ---------------------------------------------------------------

_MSGID_RE = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.I | re.M)


def message_id(m):
    """The Message-ID of M (bytes) as str, or None. Only the header
    block is searched."""
    head = m.split(b"\n\n", 1)[0]
    found = _MSGID_RE.search(head)
    return found.group(1).decode(errors="replace") if found else None


def describe(m):
    """A short name for a message in reports."""
    subj = re.search(rb"^Subject: ([^\n]{0,50})", m.split(b"\n\n", 1)[0],
                     re.M)
    return "%s (%d bytes%s)" % (
        message_id(m) or "no Message-ID", len(m),
        ", " + subj.group(1).decode(errors="replace") if subj else "")


_QUOTED_FROM_RE = re.compile(rb"^>(>*From )", re.M)


def unquote_mboxrd(b):
    """Undo mboxrd quoting: one ">" less on every line matching
    ^>+From ."""
    return _QUOTED_FROM_RE.sub(rb"\1", b)


def sized_messages(n, size, tag):
    """N distinct messages of about SIZE bytes each (LF line ends, unique
    Message-IDs), with lines that trip mbox quoting and dot-stuffing.
    Deterministic for a given (n, size, tag), Message-IDs aside."""
    rng = random.Random("sized:%s:%d:%d" % (tag, n, size))
    edge = [b"From the start of a line", b">From quoted once",
            b">>From quoted twice", b".", b"..", b". dot", b"From",
            b"trailing blanks   "]
    words = (b"mail disk full space spool quota message fetch deliver "
             b"server mbox maildir batch journal record").split()
    out = []
    for i in range(n):
        lines, total = [], 0
        while total < size - 600:
            if rng.random() < 0.03:
                line = rng.choice(edge)
            else:
                line = b" ".join(rng.choice(words)
                                 for _ in range(rng.randint(3, 14)))
            lines.append(line)
            total += len(line) + 1
        body = b"\n".join(lines) + b"\n"
        out.append(mailgen.message(
            subject="[%s %d/%d] %d bytes" % (tag, i, n, size), body=body,
            headers={"X-Crashkit": "%s %d" % (tag, i)}))
    return out


# ---- running mailferry ------------------------------------------------------

@dataclass
class Result:
    rc: int                 # exit status; -9 when SIGKILLed
    killed: bool            # our SIGKILL ended it
    elapsed: float          # seconds from start to exit
    delay: float            # the kill delay asked for (None: no kill)
    stdout: str
    stderr: str
    hung: bool = False      # ran over the time limit of a clean run

    def outcome(self):
        what = ("killed after %.3f s" % self.elapsed if self.killed else
                "ran over its time limit (%.1f s), killed" % self.elapsed
                if self.hung else
                "exit %s after %.3f s" % (self.rc, self.elapsed))
        return "%s\n--- stdout ---\n%s--- stderr ---\n%s" % (
            what, self.stdout[-3000:], self.stderr[-3000:])


class Run:
    """One mailferry run in the background, in its own session (so its
    whole process group can be killed), output to files in LOG_DIR."""

    def __init__(self, config_path, args=(), log_dir=None, prefix=()):
        self._dir = log_dir or tempfile.mkdtemp(prefix="mf-crashkit-")
        self._out = os.path.join(self._dir, "run.stdout")
        self._err = os.path.join(self._dir, "run.stderr")
        # A prefix such as strace_kill() kills mailferry itself.
        self._prefix_kills = bool(prefix)
        cmd = [*prefix, mailferry_path(), "-f", str(config_path),
               *map(str, args)]
        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err,
                                         start_new_session=True)
        try:
            self._pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self._pidfd = None

    def _wait_exit(self, seconds):
        """Wait up to SECONDS for the process to exit, without reaping
        it; True if it did."""
        seconds = max(0.0, seconds)
        if self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], seconds)
            return bool(ready)
        try:
            self.proc.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _kill(self):
        # The process is not reaped yet, so its group id is still ours.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, kill_after=None, limit=120.0):
        """Let the run end by itself, or SIGKILL it KILL_AFTER seconds
        after its start if it is still running then. A run still going
        after LIMIT seconds is killed and reported as hung."""
        hung = killed = False
        if kill_after is not None and not self._wait_exit(
                self.started + kill_after - time.monotonic()):
            self._kill()
            killed = True
        elif not self._wait_exit(self.started + limit - time.monotonic()):
            self._kill()
            hung = True
        rc = self.proc.wait()
        elapsed = time.monotonic() - self.started
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        # It may have exited on its own just before the signal landed.
        killed = (killed or self._prefix_kills) and rc == -signal.SIGKILL
        with open(self._out, "rb") as f:
            out = f.read().decode(errors="replace")
        with open(self._err, "rb") as f:
            err = f.read().decode(errors="replace")
        return Result(rc=rc, killed=killed, elapsed=elapsed,
                      delay=kill_after, stdout=out, stderr=err, hung=hung)


def start(config_path, args=(), log_dir=None, prefix=()):
    return Run(config_path, args, log_dir, prefix)


def without_leak_check():
    """A command prefix for a run under strace: LeakSanitizer cannot work
    under ptrace, so a SANITIZE=1 build is told not to try."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return ["env", "ASAN_OPTIONS=%s" % ((asan + ":" if asan else "")
                                        + "detect_leaks=0")]


def strace_kill(paths, syscall, when):
    """A command prefix that SIGKILLs mailferry as it enters its WHEN-th
    SYSCALL (e.g. "write", "openat", "renameat2") touching one of PATHS
    (file names, or directories for *at() calls relative to them), before
    that call does anything: a kill at an exact point. strace(1) signals
    the tracee, then dies of the same signal, so the run ends with -9."""
    cmd = without_leak_check() + ["strace", "-f", "-qq", "-o", "/dev/null"]
    for p in paths:
        cmd += ["-P", str(p)]
    return cmd + ["-e", "trace=%s" % syscall,
                  "-e", "inject=%s:signal=SIGKILL:when=%d" % (syscall, when)]


def strace_supported():
    """None if strace can trace and kill a child here, else why not."""
    if shutil.which("strace") is None:
        return "strace not installed"
    p = subprocess.run(["strace", "-qq", "-o", "/dev/null", "-e",
                        "trace=exit_group", "-e",
                        "inject=exit_group:signal=SIGKILL:when=1",
                        "true"], capture_output=True, text=True)
    if p.returncode != -signal.SIGKILL:
        return "strace cannot inject a signal here (exit %s): %s" % (
            p.returncode, p.stderr.strip()[-200:])
    return None


def run_clean(config_path, args=(), log_dir=None, limit=120.0):
    """Run mailferry to its end (killed and reported hung after LIMIT)."""
    return Run(config_path, args, log_dir).finish(limit=limit)


# ---- what the destinations hold ---------------------------------------------

@dataclass
class Maildir:
    new: list               # message bytes in new/ and cur/
    names: list             # their paths relative to the Maildir
    tmp: list               # names left in tmp/
    other: list             # anything else unexpected (directories...)


def read_maildir(path):
    """What a Maildir holds (an absent Maildir holds nothing)."""
    new, names, tmp, other = [], [], [], []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if not os.path.isfile(p):
                other.append("%s/%s" % (sub, name))
                continue
            with open(p, "rb") as f:
                new.append(f.read())
            names.append("%s/%s" % (sub, name))
    d = os.path.join(path, "tmp")
    if os.path.isdir(d):
        tmp = sorted(os.listdir(d))
    return Maildir(new=new, names=names, tmp=tmp, other=other)


@dataclass
class MboxContents:
    messages: list          # each message as bytes, unquoted, LF
    size: int               # file size
    problems: list          # format violations found
    lock_left: bool         # PATH.lock exists


def read_mbox(path, allow_partial_tail=False):
    """Parse an mboxrd file with mailbox.mbox, undo the quoting. Format
    problems (no "From " at the start, no blank line after the last
    message) are listed; with ALLOW_PARTIAL_TAIL (right after a kill) the
    end of the file is not checked."""
    problems = []
    lock_left = os.path.exists(str(path) + ".lock")
    if not os.path.exists(path):
        return MboxContents([], 0, problems, lock_left)
    with open(path, "rb") as f:
        raw = f.read()
    if raw and not raw.startswith(b"From "):
        problems.append("mbox %s does not start with a \"From \" line: %r"
                        % (path, raw[:60]))
    if raw and not allow_partial_tail and not raw.endswith(b"\n\n"):
        problems.append("mbox %s does not end with a blank line (a cut "
                        "message?): ends with %r" % (path, raw[-60:]))
    msgs = []
    box = mailbox.mbox(str(path), create=False)
    try:
        for key in box.iterkeys():
            msgs.append(unquote_mboxrd(box.get_bytes(key)))
    finally:
        box.close()
    return MboxContents(msgs, len(raw), problems, lock_left)


def sink_messages(sink, start=0):
    """The messages an SmtpSink accepted with a 2xx after START, as LF
    bytes (dot-stuffing is already undone by the sink)."""
    with sink.lock:
        recs = list(sink.messages[start:])
    return [r.data.replace(b"\r\n", b"\n") for r in recs
            if r.reply.startswith("2")]


def server_messages(dovecot, user="alice"):
    """Every message in USER's Dovecot Maildir. A Dovecot session that is
    ending may rename files under us: list again then."""
    for attempt in range(50):
        try:
            return dovecot.stored_messages(user)
        except FileNotFoundError:
            time.sleep(0.02)
    return dovecot.stored_messages(user)


def store_records(state_dir, account="alice"):
    """The record lines of an account's UID store (no header), [] when
    there is none."""
    path = os.path.join(state_dir, "%s.uids" % account)
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    return [l for l in lines[1:] if l.strip()]


# ---- checking ---------------------------------------------------------------

@dataclass
class Tally:
    lost: list = field(default_factory=list)        # originals missing
    unknown: list = field(default_factory=list)     # delivered, no original
    duplicates: int = 0                             # extra copies in all
    duplicated: list = field(default_factory=list)  # (message, copies)
    delivered: int = 0                              # distinct originals


def tally(originals, delivered, also_present=()):
    """Compare DELIVERED (bytes) with ORIGINALS (bytes): which originals
    were not delivered (and are not in ALSO_PRESENT either, e.g. still on
    the server), which delivered messages are no original (partial or
    altered), and how many extra copies there are."""
    orig = {digest(m): m for m in originals}
    counts = collections.Counter(digest(m) for m in delivered)
    present = {digest(m) for m in also_present}
    t = Tally()
    for d, m in orig.items():
        if counts[d] == 0 and d not in present:
            t.lost.append(m)
    for m in delivered:
        if digest(m) not in orig:
            t.unknown.append(m)
    for d, c in counts.items():
        if d in orig:
            t.delivered += 1
            if c > 1:
                t.duplicates += c - 1
                t.duplicated.append((orig[d], c))
    return t


# ---- a small file system that fills up --------------------------------------

def mount_supported():
    """None if this process can mount a tmpfs, else the reason why not."""
    if os.geteuid() != 0:
        return "not root: cannot mount a tmpfs"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "mount/umount not installed"
    d = tempfile.mkdtemp(prefix="mf-tmpfs-probe-")
    try:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k",
                            "tmpfs", d], capture_output=True, text=True)
        if p.returncode != 0:
            return "cannot mount a tmpfs: %s" % p.stderr.strip()
        subprocess.run(["umount", d], capture_output=True)
        return None
    finally:
        try:
            os.rmdir(d)
        except OSError:
            pass


class Tmpfs:
    """A tmpfs of SIZE (mount(8) syntax: "2m", "64k") mounted on DIR
    (created if missing) for as long as the object is in use; close()
    (or leaving the with block) unmounts it, lazily if it is busy."""

    def __init__(self, dir, size):
        self.dir = str(dir)
        self.size = size
        self.mounted = False
        os.makedirs(self.dir, exist_ok=True)
        self._run("mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                  "tmpfs", self.dir)
        self.mounted = True

    @staticmethod
    def _run(*cmd):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (
                " ".join(cmd), p.returncode, p.stderr.strip()))

    def resize(self, size):
        """Grow (or shrink) the file system in place; files stay."""
        self._run("mount", "-o", "remount,size=%s" % size, self.dir)
        self.size = size

    def free(self):
        st = os.statvfs(self.dir)
        return st.f_bavail * st.f_frsize

    def fill(self, leave=0, name=".filler"):
        """Fill the file system with a file NAME, then give back LEAVE
        bytes (rounded up to whole blocks) of it. Returns its path."""
        path = os.path.join(self.dir, name)
        chunk = b"\0" * 65536
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:
                try:
                    n = os.write(fd, chunk)
                except OSError:
                    break               # ENOSPC
                if n < len(chunk):
                    # A short write: the rest of the space is one
                    # block or less; the next write reports ENOSPC.
                    continue
            if leave > 0:
                size = os.fstat(fd).st_size
                bs = os.statvfs(self.dir).f_frsize
                give = -(-leave // bs) * bs
                os.ftruncate(fd, max(0, size - give))
        finally:
            os.close(fd)
        return path

    def close(self):
        if not self.mounted:
            return
        p = subprocess.run(["umount", self.dir], capture_output=True,
                           text=True)
        if p.returncode != 0:
            # Busy (a process still has a file open): detach it now; the
            # kernel frees it when the last user goes.
            subprocess.run(["umount", "-l", self.dir], capture_output=True)
        self.mounted = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
