#!/usr/bin/python3
"""`make bench`: mailferry against the POP3 fetchers Debian ships.

    bench/run.py                     the full benchmark (about 30-40 min)
    bench/run.py --quick             N = 2,000, one run each, a few
                                     scenarios (under 5 min)
    bench/run.py --scenarios main,drop --reps 5

Needs root (it creates the user `mfbench`, runs every fetcher as that
user, and fills Dovecot's Maildirs as uid 8), Dovecot, cc with libssl-dev,
and the peers: `sh tests/deps.sh bench` installs them. mailferry is taken
from build/mailferry (`make` first), or --mailferry PATH.

A private Dovecot on 127.0.0.1 serves deterministic mailboxes (see
bench/mailbox.py); every fetcher gets a fresh Maildir and fresh state for
every run, keeps the mail on the server, and what it delivered is checked
byte for byte against what Dovecot stores. Wall time, CPU time (user +
system, the fetcher and the children it waited for, from wait4) and peak
RSS (the largest of the fetcher and its children) are the median of
--reps runs. Progress goes to standard error; the table goes to standard
output, in Markdown, and with the machine's description to
bench/results.md (--output).

The scenarios (--scenarios, comma-separated):
  main      N = 2,000 and 10,000, plain POP3 and POP3S: first run, and a
            second run that finds nothing new; every fetcher
  rules     mailferry without rules and with 100 header rules
  drop      half the messages deleted by a header rule: wall time and
            bytes read from the server (through a counting proxy)
  smtp      delivery by SMTP to a local sink (mailferry, fetchmail)
  parallel  4 accounts of 2,500 messages (parallel = 4 and 1) against one
            of 10,000
  latency   20 ms added round-trip time (a delaying proxy), against the
            same proxy without delay: mailferry, mpop and the floor at
            N = 5,000, the slower peers at N = 200
  rss       mailferry's peak RSS at N = 10,000, 100,000, and one 200 MB
            message
  nopipe    a server without PIPELINING that writes the +OK line and the
            message apart (popa3d, run privately by tests/integration/
            lib/otherpop3.py, downloaded on first use) at N = 2,000
            (--nopipe-n): mailferry and mpop against the floor in lockstep
            (-l: one RETR at a time, every read acknowledged at once),
            which is the best case a client may reach with that server
  imap      N = 10,000 (--imap-n) over IMAP, plain and IMAPS, from the
            same Dovecot's INBOX: mailferry, mbsync (isync), fetchmail,
            getmail, fdm and the IMAP floor (bench/floor-imap.c); first
            run and a second run that finds nothing new
Peers that are much slower than mailferry (fdm, fetchmail, getmail) run
once per measurement, and are skipped where their expected run time is
over --peer-budget seconds (a run over it is stopped and reported with
the rate it reached).
"""

import argparse
import collections
import datetime
import hashlib
import os
import platform
import pwd
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True      # no __pycache__ in bench/ or tests/
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration", "lib"))

import certs            # noqa: E402  tests/integration/lib
import dovecot          # noqa: E402
import otherpop3        # noqa: E402
import fetchers as fx   # noqa: E402  bench/
import fetchers_imap as fxi  # noqa: E402  bench/
import mailbox as mb    # noqa: E402

BENCH_USER = "mfbench"
T0 = time.monotonic()

# Dovecot as shipped forks a pop3-login process per connection, which on a
# small VM adds 40-120 ms before the greeting, for every client alike.
# High-performance mode takes that noise out of every measurement.
DOVECOT_TUNING = """\
service pop3-login {
  service_count = 0
  process_min_avail = 2
}
service imap-login {
  service_count = 0
  process_min_avail = 2
}
"""

# Free space under which finished runs are removed at once.
LOW_DISK = 8 << 30

HELPERS = ("measure", "floor", "floor-imap", "proxy", "smtpsink", "mda",
           "dropfilter")


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr,
          flush=True)


class BenchError(RuntimeError):
    pass


# -- running things ---------------------------------------------------------

@dataclass
class Result:
    wall: float
    cpu: float
    rss_kb: int
    rc: int
    timed_out: bool = False
    err: str = ""
    user: float = 0.0

    @property
    def rss_mb(self):
        return self.rss_kb / 1024


class Runner:
    """Runs a command as the benchmark user and measures it, through
    bench/measure.c (fork, exec, wait4: see there)."""

    def __init__(self, user, bin_dir):
        pw = pwd.getpwnam(user)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.measure = os.path.join(bin_dir, "measure")

    def run(self, argv, home, cwd, timeout, log_path, env_extra=None):
        env = {"HOME": home, "USER": BENCH_USER, "LOGNAME": BENCH_USER,
               "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
               "LANG": "C.UTF-8", "TZ": "UTC"}
        env.update(env_extra or {})
        result = log_path + ".result"
        cmd = [self.measure, result, str(int(timeout)), "setpriv",
               "--reuid=%d" % self.uid, "--regid=%d" % self.gid,
               "--init-groups", "--", *argv]
        with open(log_path, "ab") as out:
            out.write(("$ %s\n" % " ".join(argv)).encode())
            out.flush()
            p = subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=out, stderr=out, timeout=timeout + 60)
        if p.returncode != 0:
            raise BenchError("measure failed (%d), see %s" % (p.returncode,
                                                               log_path))
        with open(result) as f:
            wall, utime, stime, rss, rc, timed_out = f.read().split()
        os.unlink(result)
        rc, timed_out = int(rc), timed_out == "1"
        err = ""
        if rc != 0 or timed_out:
            with open(log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(log_path) - 600))
                err = f.read().decode(errors="replace").strip()
                err = " | ".join(l for l in err.splitlines()[-4:])
        return Result(wall=float(wall), cpu=float(utime) + float(stime),
                      rss_kb=int(rss), rc=rc, timed_out=timed_out, err=err,
                      user=float(utime))


class Helper:
    """A bench helper (proxy, SMTP sink) running in the background, its
    port read from its first line of output."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"PORT (\d+)", line)
        if not m:
            self.stop()
            raise BenchError("%s did not start: %r" % (argv[0], line))
        self.port = int(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Proxy(Helper):
    def __init__(self, bin_dir, work, target, delay_ms):
        self.stats = os.path.join(work, "proxy-%d-%d.stats" % (target,
                                                                delay_ms))
        super().__init__([os.path.join(bin_dir, "proxy"), str(target),
                          str(delay_ms), self.stats])

    def totals(self):
        with open(self.stats) as f:
            closed, c2s, s2c = map(int, f.read().split())
        return closed, c2s, s2c

    def wait_closed(self, n, timeout=5.0):
        """Totals once at least N connections have ended."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.totals()
            if t[0] >= n or time.monotonic() > deadline:
                return t
            time.sleep(0.005)


# -- checking what arrived --------------------------------------------------

def strip_fields(data, names):
    """DATA without the header fields NAMES at its very top (a fetcher's
    own trace fields); returns (data, how many were removed)."""
    removed = 0
    lower = tuple(n.lower().encode() + b":" for n in names)
    while lower and data[:64].lower().startswith(lower):
        end = data.find(b"\n")
        while end != -1 and data[end + 1:end + 2] in (b" ", b"\t"):
            end = data.find(b"\n", end + 1)
        if end == -1:
            break
        data = data[end + 1:]
        removed += 1
    return data, removed


def drop_fields(data, names):
    """DATA without the header fields NAMES wherever they stand in the
    header (a fetcher's own bookkeeping fields, such as mbsync's X-TUID);
    returns (data, how many were removed)."""
    end = data.find(b"\n\n")
    head = data[:end + 1] if end != -1 else data
    lower = tuple(n.lower().encode() + b":" for n in names)
    kept, removed = [], 0
    for line in head.splitlines(keepends=True):
        if line[:64].lower().startswith(lower):
            removed += 1
        else:
            kept.append(line)
    if not removed:
        return data, 0
    return b"".join(kept) + (data[end + 1:] if end != -1 else b""), removed


def maildir_files(path):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        try:
            out += [os.path.join(d, n) for n in os.listdir(d)
                    if not n.startswith(".")]
        except FileNotFoundError:
            pass
    return out


def first_difference(want, got):
    """Where GOT first differs from WANT, as a short description."""
    k = 0
    n = min(len(want), len(got))
    while k < n and want[k] == got[k]:
        k += 1
    if k == n and len(want) == len(got):
        return "identical"
    line = want.count(b"\n", 0, k) + 1
    return "from line %d: %r became %r" % (
        line, want[max(0, k - 20):k + 25], got[max(0, k - 20):k + 25])


@dataclass
class Check:
    ok: bool
    text: str
    delivered: int = 0
    altered: bool = False           # all there, but some bytes differ


def compare(got, box, strip=(), subset=False, datas=None):
    """Compare GOT (Counter of digests) with BOX's expected messages.
    SUBSET: a run that was stopped early; what arrived must be right."""
    want = box.expected
    n_got = sum(got.values())
    missing = want - got
    extra = got - want
    if not extra and (subset or not missing):
        text = "ok" if not subset else "ok so far"
        if strip and datas and datas.get("stripped"):
            text += " (after removing %s)" % ", ".join(strip)
        return Check(True, text, n_got)
    nm, ne = sum(missing.values()), sum(extra.values())
    if subset:
        text = "MISMATCH: %d of %d delivered differ" % (ne, n_got)
    elif nm == ne:
        text = "MISMATCH: %d of %d messages differ" % (ne, box.n)
    else:
        text = "MISMATCH: %d of %d missing, %d unexpected" % (nm, box.n, ne)
    if datas and datas.get("example"):
        text += "; e.g. message %s, %s" % datas["example"]
    return Check(False, text, n_got, altered=not subset and nm == ne)


def check_maildir(path, box, strip=(), subset=False, drop=()):
    chk = _check_maildir(path, box, strip, subset, drop)
    try:
        left = len(os.listdir(os.path.join(path, "tmp")))
    except FileNotFoundError:
        left = 0
    if left and not subset:
        chk.text += "; %d file%s left in tmp/" % (left, "s" * (left != 1))
    return chk


def _check_maildir(path, box, strip=(), subset=False, drop=()):
    got = collections.Counter()
    stripped = 0
    example = None
    for p in maildir_files(path):
        with open(p, "rb") as f:
            data = f.read()
        if strip:
            data, k = strip_fields(data, strip)
            stripped += k
        if drop:
            data, k = drop_fields(data, drop)
            stripped += k
        h = hashlib.sha256(data).hexdigest()
        got[h] += 1
        if example is None and h not in box.expected:
            example = box.explain(data)
    return compare(got, box, tuple(strip) + tuple(drop), subset,
                   {"stripped": stripped, "example": example})


def check_digest_file(path, box, subset=False):
    got = collections.Counter()
    try:
        with open(path) as f:
            for line in f:
                got[line.split()[0]] += 1
    except FileNotFoundError:
        pass
    return compare(got, box, subset=subset)


# -- mailboxes ---------------------------------------------------------------

@dataclass
class Box:
    """One Dovecot user's mailbox and what it must deliver."""
    user: str
    n: int
    make: object                    # index -> message bytes
    indexes: object                 # the message indexes it holds
    expect: object = None           # index -> expected to be delivered?
    expected: collections.Counter = field(default_factory=collections.Counter)
    by_msgid: dict = field(default_factory=dict)

    @property
    def password(self):
        return "pw-" + self.user

    def explain(self, data):
        m = re.search(rb"(?im)^Message-ID: *(<[^>]+>)", data)
        i = self.by_msgid.get(m.group(1)) if m else None
        if i is None:
            return ("?", "not one of ours")
        return (str(i), first_difference(self.make(i), data))


# -- the benchmark ------------------------------------------------------------

@dataclass
class Row:
    group: str                      # scenario heading
    fetcher: str
    n: int = 0
    runs: list = field(default_factory=list)
    check: str = ""
    notes: str = ""
    status: str = "ok"              # ok, failed, timeout, skipped, n/a
    second: bool = False            # a second run (nothing new)
    ref: bool = True                # take part in ratios

    def med(self, attr):
        vals = [getattr(r, attr) for r in self.runs]
        return statistics.median(vals) if vals else None


class Bench:
    def __init__(self, args):
        self.args = args
        self.rows = []
        self.rates = {}             # fetcher -> msg/s seen (first runs)
        self.targets = []
        self.work = args.workdir or tempfile.mkdtemp(prefix="mfbench-",
                                                     dir="/tmp")
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.bin_dir = os.path.join(self.work, "bin")
        self.runs_dir = os.path.join(self.work, "runs")
        os.makedirs(self.runs_dir, exist_ok=True)
        self.nrun = 0
        self.finished_runs = []     # removed later, see discard_run()
        self.boxes = {}
        self.dc = None
        self.load_start = os.getloadavg()
        self.disk_free = shutil.disk_usage(self.work).free

    # -- setup ---------------------------------------------------------------

    def preflight(self):
        if os.geteuid() != 0:
            raise BenchError("run as root: the bench creates the user %s, "
                             "runs each fetcher as that user and writes "
                             "Dovecot's mail as uid 8" % BENCH_USER)
        for tool in ("setpriv", "cc", "openssl"):
            if not shutil.which(tool):
                raise BenchError("%s not found" % tool)
        if not shutil.which("dovecot") and not os.path.exists(
                "/usr/sbin/dovecot"):
            raise BenchError("dovecot not found: sh tests/deps.sh bench")
        try:
            pwd.getpwnam(BENCH_USER)
        except KeyError:
            log("creating user %s" % BENCH_USER)
            subprocess.run(["useradd", "--system", "--no-create-home",
                            "--home-dir", "/nonexistent", "--shell",
                            "/usr/sbin/nologin", BENCH_USER], check=True)
        self.fetchers = [f for f in fx.FETCHERS(self.args.mailferry)]
        only = self.args.fetchers
        for f in list(self.fetchers):
            if only and f.name not in only and f.name not in fx.CORE:
                self.fetchers.remove(f)
            elif not f.available():
                log("%s is not installed: left out (sh tests/deps.sh bench)"
                    % f.name)
                self.fetchers.remove(f)
        if not any(f.name == "mailferry" for f in self.fetchers):
            raise BenchError("%s not found or not executable: run `make`"
                             % self.args.mailferry)
        self.fx = {f.name: f for f in self.fetchers}
        self.imap_fetchers = []
        if "imap" in self.args.scenarios:
            for f in fxi.IMAP_FETCHERS(self.args.mailferry):
                if only and f.label not in only and \
                        f.label not in fxi.IMAP_CORE:
                    continue
                if not f.available():
                    log("%s is not installed: left out of the IMAP scenario "
                        "(sh tests/deps.sh bench)" % f.label)
                    continue
                self.imap_fetchers.append(f)

    def build_helpers(self):
        os.makedirs(self.bin_dir, exist_ok=True)
        for h in HELPERS:
            out = os.path.join(self.bin_dir, h)
            cmd = ["cc", "-O2", "-Wall", "-o", out,
                   os.path.join(HERE, h + ".c"), "-lssl", "-lcrypto"]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise BenchError("cannot build %s:\n%s" % (h, p.stderr))
        # mailferry too: the build tree may be rebuilt during the run.
        copy = os.path.join(self.bin_dir, "mailferry")
        shutil.copy2(self.args.mailferry, copy)
        self.fx["mailferry"].path = copy
        for f in self.imap_fetchers:
            if isinstance(f, fx.Mailferry):
                f.path = copy
        os.chmod(self.bin_dir, 0o755)
        self.runner = Runner(BENCH_USER, self.bin_dir)
        self.versions = ["%s %s" % (f.name, f.version()) for f in self.fetchers
                         if f.name != "floor"]
        self.versions += ["%s %s" % (f.label, f.version())
                          for f in self.imap_fetchers
                          if f.label not in [v.split()[0]
                                             for v in self.versions]
                          and f.label != "floor"]
        log("built %s in %s" % (", ".join(HELPERS), self.bin_dir))

    def start_dovecot(self, boxes):
        pki = os.path.join(self.work, "pki")
        ca = certs.make_ca(pki)
        crt, key = certs.make_cert(ca, pki, "server")
        os.chmod(pki, 0o755)
        os.chmod(ca.cert, 0o644)        # fetchers read it as mfbench
        self.ca_file = ca.cert
        self.dc = dovecot.Dovecot(
            cert=crt, key=key, extra_config=DOVECOT_TUNING,
            users={b.user: b.password for b in boxes})
        self.dc.start()
        log("dovecot on 127.0.0.1:%d (POP3), :%d (POP3S), :%d (IMAP) and "
            ":%d (IMAPS), in %s" % (self.dc.pop3_port, self.dc.pop3s_port,
                                    self.dc.imap_port, self.dc.imaps_port,
                                    self.dc.dir))

    def add_box(self, user, n, make, indexes, expect=None):
        b = Box(user=user, n=n, make=make, indexes=indexes, expect=expect)
        self.boxes[user] = b
        return b

    def fill(self, boxes):
        """Write every box's messages into Dovecot's Maildirs (uid 8,
        tmp/ then new/, as dovecot.py's deliver() does), noting the
        digest of each message the box must deliver."""
        t = time.monotonic()
        total = 0
        for b in boxes:
            for i in b.indexes:
                data = b.make(i)
                self.dc.deliver(b.user, data)
                total += len(data)
                if b.expect is None or b.expect(i):
                    b.expected[hashlib.sha256(data).hexdigest()] += 1
                m = re.search(rb"(?im)^Message-ID: *(<[^>]+>)", data)
                if m:
                    b.by_msgid[m.group(1)] = i
        log("wrote %s (%.0f MB) in %.1f s"
            % (", ".join("%s: %d" % (b.user, b.n) for b in boxes),
               total / 1e6, time.monotonic() - t))

    def refill(self, box):
        """Put BOX back as it was (after a run that deleted mail)."""
        md = self.dc.maildir(box.user)
        self.nrun += 1
        old = os.path.join(self.runs_dir, "%04d-old-%s" % (self.nrun, box.user))
        os.rename(md, old)
        self.discard_run(old)
        for d in (md, *(os.path.join(md, s) for s in ("tmp", "new", "cur"))):
            os.makedirs(d, mode=0o700)
            os.chown(d, dovecot.MAIL_UID, dovecot.MAIL_GID)
        box.expected.clear()
        for i in box.indexes:
            data = box.make(i)
            self.dc.deliver(box.user, data)
            if box.expect is None or box.expect(i):
                box.expected[hashlib.sha256(data).hexdigest()] += 1
        self.warm(box)

    def warm(self, box, fetch=True):
        """One unmeasured session, so that no fetcher pays for Dovecot
        indexing the mailbox, computing sizes, moving new/ to cur/ or
        flagging messages seen, and the files are in the page cache."""
        argv = [os.path.join(self.bin_dir, "floor")]
        if not fetch:
            argv.append("-n")
        argv += ["127.0.0.1", str(self.dc.pop3_port), box.user, box.password]
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=1800)
        if p.returncode != 0:
            raise BenchError("warm-up of %s failed: %s\n%s" % (
                box.user, p.stderr, self.dc.log_text()[-2000:]))

    def stored_check(self, box):
        """What Dovecot stores is what we wrote (after the warm-up renamed
        the files)."""
        got = collections.Counter()
        for p in maildir_files(self.dc.maildir(box.user)):
            with open(p, "rb") as f:
                got[hashlib.sha256(f.read()).hexdigest()] += 1
        if box.expect is None and got != box.expected:
            raise BenchError("Dovecot's copy of %s differs from what was "
                             "written" % box.user)

    # -- one measurement -------------------------------------------------------

    def new_run(self, label):
        self.nrun += 1
        d = os.path.join(self.runs_dir, "%04d-%s" % (self.nrun, label))
        os.makedirs(os.path.join(d, "home"))
        os.makedirs(os.path.join(d, "state"))
        return fx.Run(dir=d, bin_dir=self.bin_dir)

    def chown_run(self, run):
        uid, gid = self.runner.uid, self.runner.gid
        for root, dirs, files in os.walk(run.dir):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), uid, gid)
        os.chown(run.dir, uid, gid)

    def account(self, box, tls=False, port=None):
        return fx.Account(user=box.user, password=box.password,
                          port=port or (self.dc.pop3s_port if tls
                                        else self.dc.pop3_port), tls=tls)

    def timeout_for(self, f):
        return (self.args.timeout if not f.slow
                else min(self.args.timeout, self.args.peer_budget))

    def estimate(self, f, n, slow=None):
        """Seconds a slow peer is expected to take for N messages, or
        None when it is not known or not limited."""
        if not (f.slow if slow is None else slow):
            return None
        if f.name not in self.rates:
            return None
        return n / self.rates[f.name]

    def measure(self, f, job, box, second=False, label=None,
                smtp=False, before=None, after=None):
        """One fresh run of F (and with SECOND a second run on the same
        state); returns (first, check, second, check2). BEFORE and AFTER
        are called around the first run (proxy counters)."""
        run = self.new_run(label or f.name)
        shm = None
        if job.tmpfs:
            # The run's Maildir is a link to a directory on tmpfs.
            shm = tempfile.mkdtemp(prefix="mfbench-", dir="/dev/shm")
            os.chown(shm, self.runner.uid, self.runner.gid)
            os.symlink(shm, run.maildir)
        sink = None
        if smtp:
            digests = run.path("sink.digests")
            sink = Helper([os.path.join(self.bin_dir, "smtpsink"), digests])
            job.smtp_port = sink.port
        try:
            argv, env = f.prepare(run, job)
            self.chown_run(run)
            logp = run.path("output.log")
            if before:
                before()
            r1 = self.runner.run(argv, run.home, run.dir, self.timeout_for(f),
                                 logp, env)
            extra = after() if after else None
            if smtp:
                sink.stop()
                c1 = check_digest_file(digests, box, subset=r1.timed_out)
            elif isinstance(f, fx.Floor):
                c1 = Check(r1.rc == 0, "(no delivery)", box.n)
            else:
                c1 = check_maildir(run.maildir, box, f.strip_headers,
                                   subset=r1.timed_out,
                                   drop=getattr(f, "drop_fields", ()))
            if r1.timed_out:
                c1.text = ("stopped after %.0f s with %d of %d delivered "
                           "(%s)" % (r1.wall, c1.delivered, box.n, c1.text))
            elif r1.rc not in f.ok_codes:
                c1 = Check(False, "exit %d: %s" % (r1.rc, r1.err[-300:]),
                           c1.delivered)
            r2 = c2 = None
            if second and (c1.ok or c1.altered) and not r1.timed_out:
                if isinstance(f, fx.Floor):
                    argv, env = f.prepare(run, job, second=True)
                # A real second run comes minutes later: let the first
                # run's second pass for a fetcher that would wait it out.
                time.sleep(getattr(f, "settle", 0))
                r2 = self.runner.run(argv, run.home, run.dir,
                                     self.timeout_for(f), logp, env)
                if isinstance(f, fx.Floor):
                    c2 = Check(r2.rc == 0, "(LIST+UIDL)" if r2.rc == 0 else
                               "exit %d: %s" % (r2.rc, r2.err))
                else:
                    n_after = len(maildir_files(run.maildir))
                    ok = f.second_ok(r2.rc) and n_after == c1.delivered
                    c2 = Check(ok, "ok, nothing new" if ok else
                               "exit %d, %d files (was %d): %s"
                               % (r2.rc, n_after, c1.delivered, r2.err))
            if c1.delivered and not r1.timed_out and (c1.ok or c1.altered):
                self.rates[f.name] = c1.delivered / r1.wall
            elif r1.timed_out and c1.delivered:
                self.rates[f.name] = c1.delivered / r1.wall
            elif r1.timed_out:
                self.rates[f.name] = 0.1
            return r1, c1, r2, c2, extra
        finally:
            if sink:
                sink.stop()
            if shm:
                shutil.rmtree(shm, ignore_errors=True)
            if not self.args.keep_runs:
                self.discard_run(run.dir)

    def discard_run(self, path):
        """Remove a finished run's files, but as late as disk space
        allows: for a minute or more after files are deleted, ext4 makes
        every file creation in that inode group scan past the freed
        inodes (recently_deleted() in fs/ext4/ialloc.c), which costs the
        next fetcher up to a millisecond of system CPU per message and
        would bill one fetcher for another's cleanup."""
        self.finished_runs.append(path)
        if shutil.disk_usage(self.work).free > LOW_DISK:
            return
        log("disk space low: removing %d finished runs"
            % len(self.finished_runs))
        for d in self.finished_runs:
            shutil.rmtree(d, ignore_errors=True)
        self.finished_runs.clear()

    def series(self, group, entries, reps, second=False, n=None):
        """Measure each entry (label, fetcher, job, box, options) REPS
        times, interleaved (rep 1 of all, rep 2 of all, ...), and add the
        rows. Returns {label: (first row, second row)}."""
        rows = {}
        for label, f, job, box, opts in entries:
            r1 = Row(group=group, fetcher=label, n=n or box.n)
            r2 = Row(group=group + ", second run", fetcher=label,
                     second=True) if second else None
            try:
                f.check_job(job)
            except fx.NotSupported as e:
                r1.status, r1.check = "n/a", str(e)
                if r2:
                    r2.status, r2.check = "n/a", str(e)
            rows[label] = [r1, r2]
        for rep in range(reps):
            order = entries[rep % len(entries):] + entries[:rep % len(entries)]
            for label, f, job, box, opts in order:
                r1, r2 = rows[label]
                if r1.status not in ("ok", "mismatch"):
                    continue
                slow = opts.get("slow", f.slow)
                if slow and rep >= self.args.peer_reps:
                    continue
                est = (None if opts.get("no_estimate") else
                       self.estimate(f, box.n, opts.get("slow")))
                # Peers tend to slow down as the mailbox grows: a margin.
                if est is not None and est * 1.1 > self.args.peer_budget:
                    if not r1.runs:
                        r1.status = "skipped"
                        r1.check = ("skipped: about %.0f s expected at the "
                                    "%.0f msg/s it reached before (over "
                                    "--peer-budget %d s)" % (
                                        est, self.rates[f.name],
                                        self.args.peer_budget))
                        if r2:
                            r2.status, r2.check = "skipped", "see first run"
                    continue
                if opts.get("prepare"):
                    opts["prepare"]()
                log("%s: %s, run %d" % (group, label, rep + 1))
                res1, c1, res2, c2, extra = self.measure(
                    f, job, box, second=second, label=f.name,
                    smtp=opts.get("smtp", False), before=opts.get("before"),
                    after=opts.get("after"))
                if opts.get("done"):
                    opts["done"](r1, res1, c1, extra)
                r1.runs.append(res1)
                if res1.timed_out:
                    log("  stopped: %s" % c1.text)
                    r1.status = "timeout"
                    r1.check = c1.text
                    if r2:
                        r2.status, r2.check = "skipped", "first run stopped"
                    continue
                if not c1.ok and not c1.altered:
                    r1.status, r1.check = "failed", c1.text
                    log("  %s FAILED: %s" % (label, c1.text))
                    if r2:
                        r2.status, r2.check = "skipped", "first run failed"
                    continue
                r1.check = c1.text
                if c1.altered:
                    r1.status = "mismatch"
                log("  %.2f s wall, %.2f s CPU, %.1f MB; %s"
                    % (res1.wall, res1.cpu, res1.rss_mb, c1.text))
                if r2 and res2 is not None:
                    r2.runs.append(res2)
                    r2.check = c2.text
                    if not c2.ok:
                        r2.status = "failed"
                    log("  second run %.3f s; %s" % (res2.wall, c2.text))
        for label in rows:
            r1, r2 = rows[label]
            self.rows.append(r1)
        for label in rows:
            r1, r2 = rows[label]
            if r2:
                self.rows.append(r2)
        return rows

    # -- scenarios -------------------------------------------------------------

    def main_scenario(self, ns):
        for n in ns:
            box = self.boxes["n%d" % n]
            for tls in (False, True):
                group = "N=%s %s" % (fmt_n(n), "POP3S" if tls else "plain")
                entries = []
                for f in self.fetchers:
                    if tls and f.slow and self.args.quick:
                        continue        # --quick: peers in plain POP3 only
                    job = fx.Job(accounts=[self.account(box, tls)],
                                 ca_file=self.ca_file)
                    entries.append((f.name, f, job, box, {}))
                self.series(group, entries, self.args.reps, second=True)

    def rules_scenario(self, ns):
        mf = self.fx["mailferry"]
        for n in ns:
            box = self.boxes["n%d" % n]
            for tls in ((False, True) if not self.args.quick else (False,)):
                group = "Rules, N=%s %s" % (fmt_n(n),
                                            "POP3S" if tls else "plain")
                entries = []
                for rules, label in (("", "mailferry, no rules"),
                                     ("rules100", "mailferry, 100 rules")):
                    job = fx.Job(accounts=[self.account(box, tls)],
                                 ca_file=self.ca_file, rules=rules)
                    entries.append((label, mf, job, box, {}))
                rows = self.series(group, entries, self.args.reps,
                                   second=True)
                base, ruled = (rows["mailferry, no rules"][0],
                               rows["mailferry, 100 rules"][0])
                if base.runs and ruled.runs:
                    pct = (ruled.med("wall") / base.med("wall") - 1) * 100
                    cpct = (ruled.med("cpu") / base.med("cpu") - 1) * 100
                    upct = (ruled.med("user") / base.med("user") - 1) * 100
                    ruled.notes = ("rules overhead %+.1f%% wall, %+.1f%% CPU "
                                   "(user CPU %+.0f%%: %.2f s → %.2f s)" % (
                                       pct, cpct, upct, base.med("user"),
                                       ruled.med("user")))
                    walls = [r.wall for r in base.runs]
                    spread = (max(walls) - min(walls)) / base.med("wall") * 100
                    self.rules_overhead = getattr(self, "rules_overhead", {})
                    self.rules_overhead[(n, tls)] = (pct, (
                        "user CPU %+.2f s = %.1f%% of the wall time%s" % (
                            ruled.med("user") - base.med("user"),
                            (ruled.med("user") - base.med("user"))
                            / base.med("wall") * 100,
                            "; wall spread without rules %.0f%%" % spread
                            if len(walls) > 1 else "")))
                peers = [f.name for f in self.fetchers
                         if f.name not in ("mailferry", "floor")]
                if peers:
                    self.rows.append(Row(
                        group=group, fetcher=", ".join(peers), status="n/a",
                        check="n/a: no equivalent header rules compared"))

    def drop_scenario(self, n):
        box = self.boxes["drop"]
        proxy = Proxy(self.bin_dir, self.work, self.dc.pop3_port, 0)
        try:
            group = "Half deleted by a rule, N=%s plain" % fmt_n(n)
            state = {"dirty": False}

            def fresh():
                if state["dirty"]:
                    log("  refilling the mailbox")
                    self.refill(box)
                    state["dirty"] = False
            counts = {}

            def before():
                counts["before"] = proxy.wait_closed(0)

            def after():
                closed0, c2s0, s2c0 = counts["before"]
                closed, c2s, s2c = proxy.wait_closed(closed0 + 1)
                return s2c - s2c0

            def done_left(left):
                def done(row, res, chk, s2c):
                    row.notes_bytes = getattr(row, "notes_bytes", []) + [s2c]
                    on_server = len(maildir_files(self.dc.maildir(box.user)))
                    if on_server != n:
                        state["dirty"] = True
                    if on_server != left and chk.ok:
                        chk.ok = False
                        chk.text = ("%d messages left on the server, not %d"
                                    % (on_server, left))
                return done
            entries = []
            opts = {"prepare": fresh, "before": before, "after": after,
                    "done": done_left(n - n // 2)}
            keep_all = dict(opts, done=done_left(n))
            acct = self.account(box, port=proxy.port)
            floor_box = Box(user=box.user, n=n, make=box.make,
                            indexes=box.indexes)
            entries.append(("floor", self.fx["floor"],
                            fx.Job(accounts=[acct]), floor_box, keep_all))
            entries.append(("mailferry, header rule (TOP prefilter)",
                            self.fx["mailferry"],
                            fx.Job(accounts=[acct], rules="drop"), box, opts))
            entries.append(("mailferry, rule needing the body",
                            self.fx["mailferry"],
                            fx.Job(accounts=[acct], rules="drop-body"), box,
                            opts))
            if "mpop" in self.fx:
                # With keep on, mpop never deletes: its kill filter only
                # leaves the [DROP] messages on the server, unfetched.
                entries.append(("mpop, header filter (keeps them)",
                                self.fx["mpop"],
                                fx.Job(accounts=[acct], rules="drop"), box,
                                dict(keep_all, slow=True)))
            rows = self.series(group, entries, self.args.reps)
            for label, (row, _) in rows.items():
                b = getattr(row, "notes_bytes", [])
                if b:
                    row.notes = "%.1f MB read from the server%s" % (
                        statistics.median(b) / 1e6,
                        " (fetches everything)" if label == "floor" else "")
                    row.server_bytes = statistics.median(b)
            peers = [f.name for f in self.fetchers
                     if f.name in ("fdm", "fetchmail", "getmail")]
            if peers:
                self.rows.append(Row(group=group, fetcher=", ".join(peers),
                                     status="n/a", check="n/a: not compared"))
        finally:
            proxy.stop()

    def smtp_scenario(self, ns):
        mf = self.fx["mailferry"]
        for n in ns:
            box = self.boxes["n%d" % n]
            group = "SMTP to a local sink, N=%s plain" % fmt_n(n)
            entries = []
            opts = {"smtp": True}
            entries.append(("mailferry", mf, fx.Job(
                accounts=[self.account(box)], deliver="smtp"), box, opts))
            if "fetchmail" in self.fx and n <= 2000:
                entries.append(("fetchmail", self.fx["fetchmail"], fx.Job(
                    accounts=[self.account(box)], deliver="smtp"), box,
                    opts))
            self.series(group, entries, self.args.reps)

    def parallel_scenario(self):
        accts = [self.boxes["acct%d" % k] for k in range(1, 5)]
        union = Box(user="acct*", n=sum(b.n for b in accts),
                    make=mb.message, indexes=range(10000))
        for b in accts:
            union.expected.update(b.expected)
            union.by_msgid.update(b.by_msgid)
        big = self.boxes["n10000"]
        group = "4 accounts of 2,500 vs 1 of 10,000, plain"
        mf = self.fx["mailferry"]
        entries = [
            ("mailferry, 4 accounts, parallel = 4", mf,
             fx.Job(accounts=[self.account(b) for b in accts], parallel=4),
             union, {}),
            ("mailferry, 4 accounts, parallel = 1", mf,
             fx.Job(accounts=[self.account(b) for b in accts], parallel=1),
             union, {}),
            ("mailferry, 1 account of 10,000", mf,
             fx.Job(accounts=[self.account(big)]), big, {}),
            ("floor", self.fx["floor"], fx.Job(accounts=[self.account(big)]),
             big, {}),
        ]
        if "mpop" in self.fx:
            entries.append(("mpop, 4 accounts (one after the other)",
                            self.fx["mpop"],
                            fx.Job(accounts=[self.account(b) for b in accts]),
                            union, {}))
        self.series(group, entries, self.args.reps)

    def latency_scenario(self):
        for n, names in ((self.args.latency_n, [f.name for f in self.fetchers
                                                if not f.slow]),
                         (self.args.latency_peer_n, [f.name for f in
                                                     self.fetchers
                                                     if f.slow])):
            if not names:
                continue
            box = self.boxes["n%d" % n]
            base = {}
            for delay in (0, 10):
                proxy = Proxy(self.bin_dir, self.work, self.dc.pop3_port,
                              delay)
                try:
                    group = ("20 ms round trip added, N=%s plain" % fmt_n(n)
                             if delay else
                             "Same through the proxy, no delay, N=%s plain"
                             % fmt_n(n))
                    # Small N for the slow peers: no estimate from their
                    # rate on big mailboxes (some slow down as N grows);
                    # the time limit still applies.
                    entries = [(name, self.fx[name],
                                fx.Job(accounts=[self.account(
                                    box, port=proxy.port)]), box,
                                {"no_estimate": True})
                               for name in names]
                    rows = self.series(group, entries, self.args.reps)
                finally:
                    proxy.stop()
                for name, (row, _) in rows.items():
                    if not row.runs:
                        continue
                    if delay == 0:
                        base[name] = row.med("wall")
                    elif name in base:
                        added = row.med("wall") - base[name]
                        row.notes = ("+%.2f s for the delay: about %.0f "
                                     "round trips" % (added, added / 0.020)
                                     if added >= 0.02 else
                                     "no added time measurable (%+.2f s)"
                                     % added)

    def nopipe_box(self, srv, n):
        """popa3d's mailbox of N messages, and what it must deliver: the
        messages as popa3d serves them (its mbox keeps ">From " quoting,
        see otherpop3.py), read back once, which is also the warm-up."""
        box = Box(user="nopipe", n=n, make=mb.message, indexes=range(n))
        for i in box.indexes:
            srv.deliver(box.user, mb.message(i))
        for data in srv.served(box.user):
            box.expected[hashlib.sha256(data).hexdigest()] += 1
            m = re.search(rb"(?im)^Message-ID: *(<[^>]+>)", data)
            if m:
                box.by_msgid[m.group(1)] = len(box.by_msgid)
        return box

    def nopipe_scenario(self):
        n = self.args.nopipe_n
        group = "Server without PIPELINING (popa3d), N=%s plain" % fmt_n(n)
        t = time.monotonic()
        try:
            srv = otherpop3.Popa3d(users={"nopipe": "pw-nopipe"}).start()
        except otherpop3.ServerError as e:
            raise BenchError(str(e)) from None
        try:
            box = self.nopipe_box(srv, n)
            log("popa3d on 127.0.0.1:%d with %d messages, ready in %.1f s"
                % (srv.port, n, time.monotonic() - t))
            acct = fx.Account(user=box.user, password=box.password,
                              port=srv.port)
            entries = [
                ("floor", self.fx["floor"], fx.Job(accounts=[acct],
                                                   lockstep=True), box, {}),
                ("mailferry", self.fx["mailferry"], fx.Job(accounts=[acct]),
                 box, {}),
                ("mailferry, Maildir on tmpfs", self.fx["mailferry"],
                 fx.Job(accounts=[acct], tmpfs=True), box, {}),
                ("floor, pipelined anyway", self.fx["floor"],
                 fx.Job(accounts=[acct]), box, {}),
            ]
            if "mpop" in self.fx:
                entries.append(("mpop", self.fx["mpop"],
                                fx.Job(accounts=[acct]), box, {}))
            rows = self.series(group, entries, self.args.reps)
            notes = {
                "floor": "the best case: one RETR at a time, every read "
                         "acknowledged at once (floor -l)",
                "mailferry, Maildir on tmpfs": "the same without the cost "
                                               "of syncing each message to "
                                               "disk",
                "floor, pipelined anyway": "every RETR pipelined, which "
                                           "the server does not offer",
            }
            for label, (row, _) in rows.items():
                row.notes = notes.get(label, row.notes)
        finally:
            srv.close()

    def rss_scenario(self):
        mf = self.fx["mailferry"]
        group = "Memory: mailferry's peak RSS, plain"
        entries = []
        for name, label in (("n10000", "mailferry, N=10,000 (28 KB mean)"),
                            ("small", "mailferry, N=%s of 2 KB"
                             % fmt_n(self.args.rss_n)),
                            ("huge", "mailferry, one %d MB message"
                             % (self.args.huge_mb))):
            box = self.boxes[name]
            entries.append((label, mf, fx.Job(accounts=[self.account(box)]),
                            box, {}))
        if "mpop" in self.fx:
            box = self.boxes["huge"]
            entries.append(("mpop, one %d MB message" % self.args.huge_mb,
                            self.fx["mpop"],
                            fx.Job(accounts=[self.account(box)]), box, {}))
        rows = self.series(group, entries, 1)
        self.rss_rows = {k: v[0] for k, v in rows.items()}

    def imap_floor(self, box, *flags):
        """An unmeasured floor-imap session on BOX's INBOX (plain IMAP):
        FLAGS "-n" lists only, "-u" first removes \\Seen everywhere."""
        argv = [os.path.join(self.bin_dir, "floor-imap"), *flags,
                "127.0.0.1", str(self.dc.imap_port), box.user, box.password]
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=1800)
        if p.returncode != 0:
            raise BenchError("floor-imap %s on %s failed: %s\n%s" % (
                " ".join(flags), box.user, p.stderr,
                self.dc.log_text()[-2000:]))

    def imap_scenario(self, n):
        box = self.boxes["n%d" % n]
        # Dovecot's first IMAP session on a folder moves new/ to cur/ and
        # builds its index; its cache learns the fields fetchers ask for
        # (sizes, flags, headers). None of that is any fetcher's cost.
        self.imap_floor(box, "-u", "-n")
        self.imap_floor(box)
        self.stored_check(box)

        def unseen():
            # fdm and fetchmail leave the folder \Seen, and find new
            # mail by that flag: every first run starts from unseen mail.
            self.imap_floor(box, "-u", "-n")
        for tls in (False, True):
            group = "IMAP, N=%s %s" % (fmt_n(n), "IMAPS" if tls else "plain")
            port = self.dc.imaps_port if tls else self.dc.imap_port
            entries = []
            for f in self.imap_fetchers:
                if tls and f.slow and self.args.quick:
                    continue
                job = fx.Job(accounts=[fx.Account(
                    user=box.user, password=box.password, port=port,
                    tls=tls)], ca_file=self.ca_file)
                entries.append((f.label, f, job, box, {"prepare": unseen}))
            self.series(group, entries, self.args.reps, second=True)

    # -- the whole run -------------------------------------------------------------

    def smtp_ns(self):
        """Sizes for the SMTP scenario: those asked for, and 2,000 (where
        fetchmail is compared) unless all are smaller."""
        ns = self.args.n
        return sorted(set(ns) | {min(2000, max(ns))})

    def plan_boxes(self, sc, ns):
        """The mailboxes the chosen scenarios need."""
        boxes = []
        need_main = set()
        if "main" in sc or "rules" in sc or "smtp" in sc:
            need_main.update(ns)
        if "smtp" in sc:
            need_main.update(self.smtp_ns())
        if "parallel" in sc or "rss" in sc:
            need_main.add(10000)
        if "latency" in sc:
            need_main.add(self.args.latency_n)
            need_main.add(self.args.latency_peer_n)
        if "imap" in sc:
            need_main.add(self.args.imap_n)
        for n in sorted(need_main):
            boxes.append(self.add_box("n%d" % n, n, mb.message, range(n)))
        if "parallel" in sc:
            for k in range(4):
                boxes.append(self.add_box("acct%d" % (k + 1), 2500,
                                          mb.message,
                                          range(k * 2500, (k + 1) * 2500)))
        if "drop" in sc:
            nd = max(ns)
            boxes.append(self.add_box(
                "drop", nd, lambda i: mb.message(i, drop=True), range(nd),
                expect=lambda i: i % 2 == 0))
        if "rss" in sc:
            boxes.append(self.add_box("small", self.args.rss_n, mb.small,
                                      range(self.args.rss_n)))
            size = self.args.huge_mb * 1_000_000
            boxes.append(self.add_box("huge", 1,
                                      lambda i: mb.huge_message(size),
                                      range(1)))
        return boxes

    def run(self):
        a = self.args
        self.preflight()
        self.build_helpers()
        sc = a.scenarios
        ns = a.n
        boxes = self.plan_boxes(sc, ns)
        self.start_dovecot(boxes)
        self.fill(boxes)
        t = time.monotonic()
        for b in boxes:
            self.warm(b)
            self.stored_check(b)
        log("warm-up sessions done in %.1f s" % (time.monotonic() - t))
        for name in sc:
            log("== scenario %s ==" % name)
            try:
                if name == "main":
                    self.main_scenario(ns)
                elif name == "rules":
                    self.rules_scenario(ns)
                elif name == "drop":
                    self.drop_scenario(max(ns))
                elif name == "smtp":
                    self.smtp_scenario(self.smtp_ns())
                elif name == "parallel":
                    self.parallel_scenario()
                elif name == "latency":
                    self.latency_scenario()
                elif name == "rss":
                    self.rss_scenario()
                elif name == "nopipe":
                    self.nopipe_scenario()
                elif name == "imap":
                    self.imap_scenario(self.args.imap_n)
            except KeyboardInterrupt:
                raise
            except Exception as e:
                import traceback
                traceback.print_exc()
                log("scenario %s failed: %s" % (name, e))
                self.rows.append(Row(group=name, fetcher="-",
                                     status="failed", check=str(e)[:300]))
        self.load_end = os.getloadavg()


# -- the report ---------------------------------------------------------------

def fmt_n(n):
    return "{:,}".format(n)


def fmt_t(t):
    if t is None:
        return ""
    return "%.3f" % t if t < 1 else "%.2f" % t if t < 100 else "%.0f" % t


def ratio(a, b):
    if a is None or not b:
        return ""
    return "%.2f" % (a / b)


def table(rows):
    head = ("| Scenario | Fetcher | Runs | Wall s | Wall range | CPU s | "
            "User s | Peak RSS MB | msg/s | Wall ×ref | CPU ×ref | "
            "Wall ×floor | Check | Notes |")
    out = [head, "|" + "---|" * 14]
    by_group = collections.defaultdict(dict)
    for r in rows:
        if r.runs:
            by_group[r.group][r.fetcher] = r
    for r in rows:
        g = by_group[r.group]
        # The reference: mpop in POP3 groups, mbsync in IMAP ones.
        mp, fl = g.get("mpop") or g.get("mbsync"), g.get("floor")
        if not r.runs:
            out.append("| %s | %s | 0 | | | | | | | | | | %s | %s |"
                       % (r.group, r.fetcher, esc(r.check or r.status),
                          esc(r.notes)))
            continue
        wall, cpu, rss = r.med("wall"), r.med("cpu"), r.med("rss_mb")
        user = r.med("user")
        walls = [x.wall for x in r.runs]
        spread = ("%s–%s" % (fmt_t(min(walls)), fmt_t(max(walls)))
                  if len(walls) > 1 else "")
        if r.status == "timeout":
            out.append("| %s | %s | %d | >%s | | %.2f | %.2f | %.1f | | | | "
                       "| %s | %s |"
                       % (r.group, r.fetcher, len(r.runs), fmt_t(wall), cpu,
                          user, rss, esc(r.check), esc(r.notes)))
            continue
        rate = "" if r.second or not r.n else "%.0f" % (r.n / wall)
        out.append("| %s | %s | %d | %s | %s | %.2f | %.2f | %.1f | %s | %s "
                   "| %s | %s | %s | %s |" % (
                       r.group, r.fetcher, len(r.runs), fmt_t(wall), spread,
                       cpu, user, rss, rate,
                       ratio(wall, mp.med("wall")) if mp and mp is not r else "",
                       ratio(cpu, mp.med("cpu")) if mp and mp is not r else "",
                       ratio(wall, fl.med("wall")) if fl and fl is not r else "",
                       esc(r.check if r.status in ("ok", "mismatch") else
                           r.status.upper() + ": " + r.check),
                       esc(r.notes)))
    return "\n".join(out)


def esc(s):
    return (s or "").replace("|", "\\|").replace("\n", " ")


def find(rows, group, fetcher):
    for r in rows:
        if r.group == group and r.fetcher == fetcher and r.runs:
            return r
    return None


def targets(bench):
    """The issue's targets, each with what was measured."""
    rows, a = bench.rows, bench.args
    n = max(a.n)
    out = []

    def add(name, measured, ok):
        out.append((name, measured,
                    "n/a" if ok is None else "met" if ok else "NOT met"))
    for tls in (False, True):
        g = "N=%s %s" % (fmt_n(n), "POP3S" if tls else "plain")
        mf, mp, fl = (find(rows, g, "mailferry"), find(rows, g, "mpop"),
                      find(rows, g, "floor"))
        if mf and mp:
            w = mf.med("wall") / mp.med("wall")
            c = mf.med("cpu") / mp.med("cpu")
            add("wall ≤ 0.8× mpop (%s)" % g, "%.2f×" % w, w <= 0.8)
            add("CPU ≤ 0.35× mpop (%s)" % g, "%.2f× (%.2f s vs %.2f s; user "
                "CPU alone %.2f s vs %.2f s)" % (
                    c, mf.med("cpu"), mp.med("cpu"), mf.med("user"),
                    mp.med("user")), c <= 0.35)
        if mf and fl:
            w = mf.med("wall") / fl.med("wall")
            add("wall ≤ 1.3× floor (%s)" % g, "%.2f× (%.2f s vs %.2f s)" % (
                w, mf.med("wall"), fl.med("wall")), w <= 1.3)
        s = find(rows, g + ", second run", "mailferry")
        sf = find(rows, g + ", second run", "floor")
        if s and sf:
            w = s.med("wall") / sf.med("wall")
            add("second run ≤ 1.2× floor's LIST+UIDL (%s)" % g,
                "%.2f× (%.0f ms vs %.0f ms)" % (
                    w, s.med("wall") * 1000, sf.med("wall") * 1000), w <= 1.2)
    imap_targets(bench, add)
    for (nn, tls), (pct, note) in sorted(getattr(bench, "rules_overhead",
                                                 {}).items()):
        if nn == n:
            add("100 rules add ≤ 10%% wall (N=%s %s)" % (
                fmt_n(nn), "POP3S" if tls else "plain"),
                "%+.1f%% (%s)" % (pct, note), pct <= 10)
    rss = getattr(bench, "rss_rows", {})
    rr = [r for r in rss.values() if r.runs and r.fetcher.startswith(
        "mailferry")]
    if rr:
        peak = max(r.med("rss_mb") for r in rr)
        low = min(r.med("rss_mb") for r in rr)
        add("peak RSS < 16 MB", "%.1f MB (largest of %s)" % (
            peak, ", ".join("%.1f" % r.med("rss_mb") for r in rr)), peak < 16)
        flat = peak <= max(low * 1.25, low + 2)
        add("RSS flat in N and message size", "%.1f–%.1f MB" % (low, peak),
            flat)
    else:
        mfs = [r for r in rows if r.fetcher == "mailferry" and r.runs]
        if mfs:
            peak = max(r.med("rss_mb") for r in mfs)
            add("peak RSS < 16 MB", "%.1f MB (largest seen; rss scenario "
                "not run)" % peak, peak < 16)
    for r in rows:
        if not r.group.startswith("Server without PIPELINING") or \
                r.fetcher != "mailferry" or not r.runs:
            continue
        best, mp = find(rows, r.group, "floor"), find(rows, r.group, "mpop")
        shm = find(rows, r.group, "mailferry, Maildir on tmpfs")
        if best:
            w = r.med("wall") / best.med("wall")
            add("wall ≤ 1.5× the same server's best case (%s)" % r.group,
                "%.2f× (%.2f s vs %.2f s, floor in lockstep)%s" % (
                    w, r.med("wall"), best.med("wall"),
                    "; with the Maildir on tmpfs %.2f×" % (
                        shm.med("wall") / best.med("wall")) if shm else ""),
                w <= 1.5)
        if mp:
            w = r.med("wall") / mp.med("wall")
            add("wall ≤ 0.5× mpop (%s)" % r.group, "%.2f× (%.2f s vs "
                "%.2f s)" % (w, r.med("wall"), mp.med("wall")), w <= 0.5)
    for r in rows:
        if r.group.startswith("SMTP") and r.fetcher == "mailferry" and r.runs \
                and r.status == "ok":
            rate = r.n / r.med("wall")
            add("SMTP forwarding ≥ 1,000 msg/s (%s)" % r.group,
                "%.0f msg/s" % rate, rate >= 1000)
    return out


def imap_targets(bench, add):
    """The IMAP scenario's targets: wall and CPU at most mbsync's, wall
    within 1.5x the floor's, peak RSS under 16 MB."""
    n = bench.args.imap_n
    for tls in (False, True):
        g = "IMAP, N=%s %s" % (fmt_n(n), "IMAPS" if tls else "plain")
        mf, ms, fl = (find(bench.rows, g, "mailferry"),
                      find(bench.rows, g, "mbsync"),
                      find(bench.rows, g, "floor"))
        # A run that failed measured nothing worth comparing.
        mf, ms, fl = (r if r and r.status == "ok" else None
                      for r in (mf, ms, fl))
        if mf and ms:
            w = mf.med("wall") / ms.med("wall")
            c = mf.med("cpu") / ms.med("cpu")
            add("wall ≤ mbsync (%s)" % g, "%.2f×" % w, w <= 1.0)
            add("CPU ≤ mbsync (%s)" % g, "%.2f× (%.2f s vs %.2f s)" % (
                c, mf.med("cpu"), ms.med("cpu")), c <= 1.0)
        if mf and fl:
            w = mf.med("wall") / fl.med("wall")
            add("wall ≤ 1.5× floor (%s)" % g, "%.2f×" % w, w <= 1.5)
        if mf:
            add("peak RSS < 16 MB (%s)" % g, "%.1f MB" % mf.med("rss_mb"),
                mf.med("rss_mb") < 16)


def machine(bench):
    def cpu_model():
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "?"

    def mem():
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return "%.1f GB" % (int(line.split()[1]) / 1024 / 1024)
        return "?"
    try:
        with open("/etc/debian_version") as f:
            deb = "Debian " + f.read().strip()
    except OSError:
        deb = platform.platform()
    dv = subprocess.run(["dovecot", "--version"], capture_output=True,
                        text=True).stdout.strip()
    lines = [
        "- CPUs: %d × %s" % (os.cpu_count(), cpu_model()),
        "- RAM: %s; disk free in %s: %.1f GB" % (
            mem(), os.path.dirname(bench.work), bench.disk_free / 1e9),
        "- Kernel: %s; %s; Python %s" % (platform.release(), deb,
                                          platform.python_version()),
        "- Load average at start: %.2f, at end: %.2f" % (
            bench.load_start[0], getattr(bench, "load_end",
                                         os.getloadavg())[0]),
        "- Dovecot %s, pop3-login and imap-login in high-performance "
        "mode (service_count = 0)" % dv,
    ]
    lines.append("- Fetchers: " + "; ".join(getattr(bench, "versions", [])))
    return "\n".join(lines)


def report(bench, elapsed, for_file=False):
    a = bench.args
    h2 = "#" if for_file else "##"
    h3 = "##" if for_file else "###"
    out = []
    out.append("%s mailferry benchmark (%s)\n" % (
        h2, "quick" if a.quick else "full"))
    out.append("%s, %d run%s per measurement (median; slower peers: %d), "
               "took %.0f s. Mailbox: bench/mailbox.py, seed %s, 1 KB to "
               "3.7 MB, mean 28 KB; every fetcher into a fresh Maildir "
               "(or SMTP sink), keep mode, as an unprivileged user; every "
               "delivered message compared byte for byte (SHA-256) with "
               "Dovecot's copy.\n" % (
                   datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                   a.reps, "" if a.reps == 1 else "s", a.peer_reps, elapsed,
                   mb.SEED))
    if for_file:
        out.append("%s Machine\n\n%s\n\n%s Results\n" % (
            h3, machine(bench), h3))
    out.append(table(bench.rows))
    t = targets(bench)
    if t:
        out.append("\n%s Targets\n" % h3)
        out.append("| Target | Measured | |\n|---|---|---|")
        for name, measured, verdict in t:
            out.append("| %s | %s | %s |" % (esc(name), esc(measured),
                                             verdict))
    notes = [f.note for f in bench.fetchers if f.note]
    notes += [f.note for f in getattr(bench, "imap_fetchers", []) if f.note]
    notes.append("Ratios (×ref): against mpop in the POP3 groups, against "
                 "mbsync in the IMAP groups. In the IMAP groups, \\Seen "
                 "is removed from the folder before every first run "
                 "(unmeasured), as fdm and fetchmail set it and find new "
                 "mail by it")
    notes.append("mailferry: maildir destination, keep = true, state_dir "
                 "per run; TLS with tls = \"implicit\" and tls_ca_file")
    notes.append("CPU: user + system time of the fetcher and the children "
                 "it waited for (wait4); peak RSS: the largest single "
                 "process among them. Ratios use the medians. msg/s: "
                 "messages / wall time of a first run.")
    out.append("\n%s Notes\n" % h3)
    out.extend("- " + n for n in notes)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(
        description="Benchmark mailferry against mpop, fdm, fetchmail and "
                    "getmail on a private Dovecot.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--quick", action="store_true",
                    help="N = 2,000, one run each, scenarios main, rules, "
                         "drop, smtp, imap (under 5 minutes)")
    ap.add_argument("--scenarios", help="comma-separated: main, rules, drop, "
                    "smtp, parallel, latency, rss, nopipe, imap (default: "
                    "all; --quick: main,rules,drop,smtp,imap)")
    ap.add_argument("--n", help="mailbox sizes for main, rules, smtp, drop "
                    "(default 2000,10000; --quick: 2000)")
    ap.add_argument("--reps", type=int, help="runs per measurement "
                    "(default 3; --quick: 1)")
    ap.add_argument("--peer-reps", type=int, default=1,
                    help="runs per measurement of fdm, fetchmail, getmail "
                         "(default 1)")
    ap.add_argument("--peer-budget", type=int,
                    help="seconds a run of fdm, fetchmail or getmail may "
                         "take; longer ones are skipped or stopped "
                         "(default 200; --quick: 40)")
    ap.add_argument("--fetchers", help="comma-separated peers to include "
                    "(floor, mailferry and mpop always are)")
    ap.add_argument("--timeout", type=int, default=600,
                    help="seconds any one run may take (default 600)")
    ap.add_argument("--mailferry", default=os.path.join(REPO, "build",
                                                        "mailferry"),
                    help="the binary to measure (default build/mailferry; "
                         "copied at the start, so a rebuild during the run "
                         "does not matter)")
    ap.add_argument("--latency-n", type=int, default=5000,
                    help="mailbox size for mailferry, mpop and the floor in "
                         "the latency scenario (default 5000)")
    ap.add_argument("--latency-peer-n", type=int, default=200,
                    help="mailbox size for the slower peers in the latency "
                         "scenario (default 200)")
    ap.add_argument("--rss-n", type=int, default=100_000,
                    help="messages of 2 KB in the rss scenario's big "
                         "mailbox (default 100000)")
    ap.add_argument("--nopipe-n", type=int, default=2000,
                    help="mailbox size in the nopipe scenario (default "
                         "2000)")
    ap.add_argument("--huge-mb", type=int, default=200,
                    help="size of the rss scenario's one big message "
                         "(default 200)")
    ap.add_argument("--imap-n", type=int,
                    help="mailbox size of the imap scenario (default "
                         "10000; --quick: 2000)")
    ap.add_argument("--output", default=os.path.join(HERE, "results.md"),
                    help="where to write the report (default bench/"
                         "results.md; '-' for none)")
    ap.add_argument("--workdir", help="work directory (default: a new one "
                    "in /tmp, removed at the end)")
    ap.add_argument("--keep-runs", action="store_true",
                    help="keep each run's directory (configuration, "
                         "Maildir, output.log) in the work directory")
    a = ap.parse_args()
    all_sc = ["main", "rules", "drop", "smtp", "parallel", "latency", "rss",
              "nopipe", "imap"]
    if a.scenarios:
        a.scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
        bad = [s for s in a.scenarios if s not in all_sc]
        if bad:
            ap.error("unknown scenario %s (choose from %s)"
                     % (", ".join(bad), ", ".join(all_sc)))
    else:
        a.scenarios = (["main", "rules", "drop", "smtp", "imap"] if a.quick
                       else all_sc)
    a.n = ([int(x) for x in a.n.split(",")] if a.n else
           [2000] if a.quick else [2000, 10000])
    if a.imap_n is None:
        a.imap_n = 2000 if a.quick else 10000
    if a.reps is None:
        a.reps = 1 if a.quick else 3
    if a.peer_budget is None:
        a.peer_budget = 40 if a.quick else 200
    a.peer_reps = min(a.peer_reps, a.reps)
    a.fetchers = ([x.strip() for x in a.fetchers.split(",")]
                  if a.fetchers else None)
    a.mailferry = os.path.abspath(a.mailferry)

    bench = Bench(a)
    started = time.monotonic()
    rc = 0
    try:
        bench.run()
    except BenchError as e:
        log("error: %s" % e)
        rc = 1
    except KeyboardInterrupt:
        log("interrupted: reporting what was measured")
        rc = 130
    finally:
        if bench.dc is not None:
            bench.dc.close()
            dovecot.wait_closed()
        if not a.workdir and not a.keep_runs:
            shutil.rmtree(bench.work, ignore_errors=True)
    if not bench.rows:
        return rc or 1
    elapsed = time.monotonic() - started
    sys.stdout.write(report(bench, elapsed))
    if a.output != "-":
        with open(a.output, "w") as f:
            f.write(report(bench, elapsed, for_file=True))
        log("report written to %s" % a.output)
    return rc


if __name__ == "__main__":
    sys.exit(main())
