"""The fetchers `make bench` compares, and how each is configured.

Every fetcher is told the same thing through a Job: which POP3 accounts
(user, password, port, TLS or not), where to deliver (a fresh Maildir, or
an SMTP server), and optionally a rule set. prepare() writes the
fetcher's configuration into the run's directory (owned by the benchmark
user) and returns the command line; the driver runs it as that user.

The configurations keep the mail on the server (keep mode), remember what
was fetched in a state file of the run's own, and ask every fetcher not to
add trace headers, so that what lands in the Maildir can be compared byte
for byte with what the server stores. Where a fetcher cannot be told so,
`strip_headers` names the header fields it adds at the top, which the
check removes (and says so) before comparing.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["Account", "Job", "NotSupported", "FETCHERS", "CORE",
           "mailferry_rules", "DROP_SUBJECT_RE"]

DROP_SUBJECT_RE = r"^\[DROP\]"


class NotSupported(Exception):
    """This fetcher has nothing equivalent for the job: n/a in the table."""


@dataclass
class Account:
    user: str
    password: str
    port: int
    tls: bool = False


@dataclass
class Job:
    accounts: list
    ca_file: str = ""
    deliver: str = "maildir"        # or "smtp"
    smtp_port: int = 0
    rules: str = ""                 # "", "rules100", "drop", "drop-body"
    parallel: int = 1
    lockstep: bool = False          # floor: one command at a time (-l)
    tmpfs: bool = False             # the Maildir on tmpfs: no disk syncs


@dataclass
class Run:
    """One run's private directory (everything in it belongs to the
    benchmark user)."""
    dir: str
    bin_dir: str                    # the bench's compiled helpers

    @property
    def home(self):
        return os.path.join(self.dir, "home")

    @property
    def maildir(self):
        return os.path.join(self.dir, "Maildir")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)


def _write(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _q(s):
    """A libconfig string literal."""
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


def _make_maildir(path):
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def _dpkg_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        text = (p.stdout or p.stderr).strip().splitlines()
        return text[0] if text else None
    except (OSError, subprocess.SubprocessError):
        return None


# -- mailferry rule sets --------------------------------------------------

def mailferry_rules(kind):
    """The rules list (libconfig text) for a rule-set KIND."""
    if kind == "rules100":
        # 100 header rules that all deliver to the inbox anyway, so the
        # result is the same Maildir and only the cost of the rules shows:
        # anchored and unanchored, case-insensitive, on decoded RFC 2047
        # subjects, on fields that are missing. A few match some messages
        # (the last one most of those with a "Köln" subject); none match
        # most messages.
        rules = []
        for k in range(100):
            kind5 = k % 5
            if kind5 == 0:
                field_, rx = "Subject", "^\\\\[ALERT-%03d\\\\] " % k
            elif kind5 == 1:
                field_, rx = "From", "billing%03d@invoices\\\\.example" % k
            elif kind5 == 2:
                field_, rx = "Subject", "(?i)urgent: account %03d suspended" % k
            elif kind5 == 3:
                field_, rx = "Subject", "Grüße aus München %d" % k
            else:
                field_, rx = ("List-Id" if k % 10 == 4 else "X-Mailgen",
                              "^<?list%03d\\\\.lists\\\\.example" % k)
            if k == 99:
                field_, rx = "Subject", "(?i)grüße aus köln"
            rules.append('{ name = "r%03d"; match = { header = %s; '
                         'regex = "%s"; }; deliver = "inbox"; }'
                         % (k, _q(field_), rx))
        return "(\n      " + ",\n      ".join(rules) + "\n    )"
    if kind == "drop":
        return ('( { name = "drop"; match = { header = "Subject"; '
                'regex = "^\\\\[DROP\\\\]"; }; action = "delete"; } )')
    if kind == "drop-body":
        # The same verdicts, but a body condition (true for every message)
        # makes the rule need the whole message: no TOP prefilter.
        return ('( { name = "drop"; match = { all = ( { header = "Subject"; '
                'regex = "^\\\\[DROP\\\\]"; }, { body = ""; } ); }; '
                'action = "delete"; } )')
    raise ValueError(kind)


# -- the fetchers ----------------------------------------------------------

class Fetcher:
    name = "?"
    package = None
    binary = None
    strip_headers = ()              # fields it prepends that we remove
    ok_codes = (0,)                 # exit statuses meaning success
    ok_codes_second = None          # ... for a run that finds nothing
    note = ""                       # shown under the table
    slow = True                     # subject to the peer time budget

    def available(self):
        return self.binary is None or shutil.which(self.binary) is not None

    def version(self):
        v = _dpkg_version(self.package) if self.package else None
        return v or "?"

    def check_job(self, job):
        """Raise NotSupported if the job cannot be expressed."""

    def prepare(self, run, job):
        """Write the configuration; return (argv, extra_env)."""
        raise NotImplementedError

    def second_ok(self, rc):
        return rc in (self.ok_codes_second or self.ok_codes)


class Floor(Fetcher):
    """The bench's own C client: pipelined RETR of everything, data thrown
    away. For a second run, LIST and UIDL only."""
    name = "floor"
    slow = False
    note = ("floor: bench/floor.c, login then every RETR pipelined "
            "(256 in flight), data discarded; its second run is LIST+UIDL")

    def version(self):
        return "bench/floor.c"

    def check_job(self, job):
        if job.rules or job.deliver != "maildir" or len(job.accounts) != 1:
            raise NotSupported("floor fetches one mailbox, no rules")

    def prepare(self, run, job, second=False):
        a = job.accounts[0]
        argv = [os.path.join(run.bin_dir, "floor")]
        if second:
            argv.append("-n")
        elif job.lockstep:
            argv.append("-l")
        argv += ["127.0.0.1", str(a.port), a.user, a.password]
        if a.tls:
            argv.append(job.ca_file)
        return argv, {}


class Mailferry(Fetcher):
    name = "mailferry"
    slow = False

    def __init__(self, binary):
        self.path = binary

    def available(self):
        return os.access(self.path, os.X_OK)

    def version(self):
        v = _first_line([self.path, "--version"]) or "?"
        return v[len("mailferry "):] if v.startswith("mailferry ") else v

    def prepare(self, run, job):
        accts = []
        for i, a in enumerate(job.accounts):
            lines = ['name = "a%d";' % (i + 1), 'server = "127.0.0.1";',
                     "port = %d;" % a.port,
                     'tls = "%s";' % ("implicit" if a.tls else "none"),
                     "user = %s;" % _q(a.user),
                     "password = %s;" % _q(a.password),
                     "keep = true;", 'deliver = "inbox";']
            if a.tls:
                lines.append("tls_ca_file = %s;" % _q(job.ca_file))
            else:
                lines.append("allow_plaintext_auth = true;")
            if job.rules:
                lines.append("rules = %s;" % mailferry_rules(job.rules))
            accts.append("  {\n    " + "\n    ".join(lines) + "\n  }")
        if job.deliver == "smtp":
            # Compared byte for byte: without the Received field.
            dest = ('inbox = { type = "smtp"; host = "127.0.0.1"; port = %d; '
                    'to = "mfbench@localhost"; received_header = false; };'
                    % job.smtp_port)
        else:
            dest = 'inbox = { type = "maildir"; path = %s; };' % _q(run.maildir)
        text = ("# mailferry configuration written by bench/fetchers.py\n"
                "state_dir = %s;\ntimeout = 300;\nparallel = %d;\n"
                "destinations = {\n  %s\n};\naccounts = (\n%s\n);\n"
                % (_q(run.path("state")), job.parallel, dest,
                   ",\n".join(accts)))
        conf = run.path("mailferry.conf")
        _write(conf, text)
        return [self.path, "-f", conf], {}


class Mpop(Fetcher):
    name = "mpop"
    package = "mpop"
    binary = "mpop"
    slow = False
    note = ("mpop: delivery maildir, received_header off, uidls_file, "
            "pipelining auto; TLS with tls_trust_file")

    def check_job(self, job):
        if job.deliver != "maildir":
            raise NotSupported("mpop delivers to a Maildir, mbox or MDA only")
        if job.rules == "rules100":
            raise NotSupported("no header rules in mpop")
        if job.rules == "drop-body":
            raise NotSupported("mpop filters on headers only")

    def prepare(self, run, job):
        _make_maildir(run.maildir)
        out = ["defaults", "keep on", "only_new on", "received_header off",
               "auth user", "delivery maildir %s" % run.maildir,
               "uidls_file %s" % run.path("mpop-%U_at_%H.uidls")]
        if job.rules == "drop":
            # bench/dropfilter.c: exit 1 (delete, do not fetch) for a
            # Subject starting with [DROP]; with keep on, mpop leaves
            # such messages on the server instead.
            out.append("filter %s" % os.path.join(run.bin_dir, "dropfilter"))
        names = []
        for i, a in enumerate(job.accounts):
            name = "a%d" % (i + 1)
            names.append(name)
            out += ["", "account %s" % name, "host 127.0.0.1",
                    "port %d" % a.port, "user %s" % a.user,
                    "password %s" % a.password]
            if a.tls:
                out += ["tls on", "tls_starttls off",
                        "tls_trust_file %s" % job.ca_file]
            else:
                out += ["tls off"]
        rc = run.path("mpoprc")
        _write(rc, "\n".join(out) + "\n")
        return ["mpop", "-C", rc, "-q", *names], {}


class MaildirPeer(Fetcher):
    """A peer compared only on plain fetches into a Maildir."""

    def check_job(self, job):
        if job.deliver != "maildir" or job.rules:
            raise NotSupported("not compared")


class Fdm(MaildirPeer):
    name = "fdm"
    package = "fdm"
    binary = "fdm"
    note = ("fdm: pop3/pop3s account with new-only cache and keep, action "
            "maildir, set no-received; TLS with verify-certificates and "
            "SSL_CERT_FILE=the test CA (fdm checks the chain, it has no "
            "option for a CA file)")

    def prepare(self, run, job):
        _make_maildir(run.maildir)
        out = ['set lock-file "%s"' % run.path("fdm.lock"),
               "set no-received"]
        env = {}
        if any(a.tls for a in job.accounts):
            out.append("set verify-certificates")
            env["SSL_CERT_FILE"] = job.ca_file
        for i, a in enumerate(job.accounts):
            out.append('account "a%d" %s server "127.0.0.1" port %d user "%s" '
                       'pass "%s" new-only cache "%s" keep'
                       % (i + 1, "pop3s" if a.tls else "pop3", a.port, a.user,
                          a.password, run.path("fdm-a%d.cache" % (i + 1))))
        out += ['action "inbox" maildir "%s"' % run.maildir,
                'match all action "inbox"']
        conf = run.path("fdm.conf")
        _write(conf, "\n".join(out) + "\n")
        return ["fdm", "-q", "-f", conf, "fetch"], env


class Fetchmail(Fetcher):
    name = "fetchmail"
    package = "fetchmail"
    binary = "fetchmail"
    ok_codes_second = (0, 1)        # 1: no new mail
    note = ("fetchmail: keep, uidl with --idfile, set invisible, no "
            "rewrite, no opportunistic STLS (sslproto \"\"); Maildir through "
            "bench/mda.c (tmp/, fsync, new/) as it has no Maildir delivery; "
            "TLS with ssl sslcertck sslcertfile, sslcommonname localhost "
            "(its name check ignores IP subjectAltNames)")

    def check_job(self, job):
        if job.rules:
            raise NotSupported("not compared")

    def prepare(self, run, job):
        out = ["set no syslog", "set invisible"]
        for a in job.accounts:
            out.append("poll 127.0.0.1 service %d protocol pop3 uidl "
                       "auth password" % a.port)
            opts = ["keep", "no rewrite"]
            if a.tls:
                opts += ["ssl", "sslcertck", 'sslcertfile "%s"' % job.ca_file,
                         'sslcommonname "localhost"']
            else:
                opts.append('sslproto ""')
            if job.deliver == "smtp":
                opts.append('smtphost "127.0.0.1/%d"' % job.smtp_port)
            else:
                _make_maildir(run.maildir)
                opts.append('mda "%s %s"' % (
                    os.path.join(run.bin_dir, "mda"), run.maildir))
            out.append('  user "%s" there with password "%s" is "mfbench" '
                       'here %s' % (a.user, a.password, " ".join(opts)))
        rc = run.path("fetchmailrc")
        _write(rc, "\n".join(out) + "\n")
        return ["fetchmail", "-f", rc, "--idfile", run.path("fetchmail.ids"),
                "--pidfile", run.path("fetchmail.pid"), "-s"], {}


class Getmail(MaildirPeer):
    name = "getmail"
    package = "getmail6"
    binary = "getmail"
    strip_headers = ("Return-Path",)
    note = ("getmail: SimplePOP3Retriever/SimplePOP3SSLRetriever (ca_certs), "
            "Maildir destination, read_all false, delete false, "
            "delivered_to false, received false; it always adds a "
            "Return-Path field, which the check removes first")

    def prepare(self, run, job):
        _make_maildir(run.maildir)
        gdir = run.path("getmail")
        os.makedirs(gdir, exist_ok=True)
        argv = ["getmail", "--getmaildir", gdir, "--quiet"]
        for i, a in enumerate(job.accounts):
            ret = ["[retriever]"]
            if a.tls:
                ret += ["type = SimplePOP3SSLRetriever",
                        "ca_certs = %s" % job.ca_file]
            else:
                ret += ["type = SimplePOP3Retriever"]
            ret += ["server = 127.0.0.1", "port = %d" % a.port,
                    "username = %s" % a.user, "password = %s" % a.password,
                    "", "[destination]", "type = Maildir",
                    "path = %s/" % run.maildir, "", "[options]",
                    "verbose = 0", "read_all = false", "delete = false",
                    "delivered_to = false", "received = false",
                    "message_log_syslog = false"]
            rc = run.path("getmailrc-%d" % (i + 1))
            _write(rc, "\n".join(ret) + "\n")
            argv += ["--rcfile", rc]
        return argv, {}


def FETCHERS(mailferry_binary):
    """All fetchers, in table order."""
    return [Floor(), Mailferry(mailferry_binary), Mpop(), Fdm(), Fetchmail(),
            Getmail()]


CORE = ("floor", "mailferry", "mpop")
