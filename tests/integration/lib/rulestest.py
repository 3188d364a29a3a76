"""Helpers for the rules and plugins integration tests (test_rules.py,
test_plugins.py): a per-test mailferry world with several Maildir
destinations, configurations holding rules (including raw `@include`
lines, which mfconf cannot render), and reading back what happened on the
server, in the Maildirs and in the UID store.

    w = World(tmp_path, dests=("inbox", "junk"))
    w.write([mfconf.account("alice", dovecot,
                            rules=raw('@include "%s"' % path))])
    rc, out, err = w.run()
    w.delivered("inbox")        # [bytes, ...] in Maildir/new
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import mfconf
from harness import REPO, mailferry_path, run_mailferry, write_config
# Re-exported: the rule and plugin tests import them from here.
from msgcheck import assert_same_messages, describe, digest  # noqa: F401

__all__ = ["EX_OK", "EX_DATAERR", "EX_TEMPFAIL", "EX_CONFIG", "RULES_DIR",
           "SAMPLES_DIR", "plugin_dir", "raw", "render", "World", "outcome",
           "summary", "assert_counts", "digest", "describe",
           "assert_same_messages", "server_messages",
           "maildir_messages", "store_entries", "store_records",
           "pop3_size", "result_line", "compile_plugin", "PLUGIN_H"]

EX_OK, EX_DATAERR, EX_TEMPFAIL, EX_CONFIG = 0, 65, 75, 78

RULES_DIR = REPO / "rules"
SAMPLES_DIR = REPO / "tests" / "rules"
PLUGIN_H = REPO / "plugins" / "mailferry" / "plugin.h"
STORE_MAGIC = "mailferry-uids 1"


def plugin_dir():
    """The plugins built next to the binary under test."""
    return Path(mailferry_path()).parent / "plugins"


# ---- configuration text -----------------------------------------------

class raw:
    """A value written into the configuration as is (not quoted), such as
    `@include "FILE"` lines or hand-written rules. Use it as an account's
    `rules` (it is wrapped in `( ... )`) or as any other value."""

    def __init__(self, text, wrap=True):
        self.text = text
        self.wrap = wrap
        self.token = None

    def __fspath__(self):           # mfconf renders it as a quoted token
        return self.token


def render(state_dir, destinations, accounts, **globals):
    """mfconf.config(), with raw() values written as they are."""
    raws = []

    def walk(v):
        if isinstance(v, raw):
            v.token = "@@RAW_%d@@" % len(raws)
            raws.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    walk(destinations)
    walk(accounts)
    walk(globals)
    text = mfconf.config(state_dir, destinations, accounts, **globals)
    for r in raws:
        body = "(\n%s\n)" % r.text if r.wrap else r.text
        text = text.replace('"%s"' % r.token, body)
    return text


def include(*names):
    """raw() rules including the named rule sets of <repo>/rules."""
    return raw(",\n".join('@include "%s"' % (RULES_DIR / ("%s.rules" % n))
                          for n in names))


__all__.append("include")


class World:
    """One test's mailferry files under DIR: the configuration, the state
    directory and one Maildir per destination name."""

    def __init__(self, dir, dests=("inbox",), name="mailferry.conf"):
        self.dir = Path(dir)
        self.conf = self.dir / name
        self.state = self.dir / "state"
        self.maildirs = {d: self.dir / ("Maildir-" + d) for d in dests}
        self.text = None

    def dest_settings(self):
        return {d: mfconf.maildir(p) for d, p in self.maildirs.items()}

    def write(self, accounts, dests=None, **globals):
        """Write the configuration (mode 0600), plugin_dir defaulting to
        the build's; returns its text."""
        globals.setdefault("plugin_dir", str(plugin_dir()))
        self.text = render(self.state, dests or self.dest_settings(),
                           accounts, **globals)
        write_config(self.conf, self.text)
        return self.text

    def run(self, *args, **kwargs):
        return run_mailferry(self.conf, *args, **kwargs)

    def run_ok(self, *args, **kwargs):
        rc, out, err = self.run(*args, **kwargs)
        assert rc == EX_OK, "mailferry failed: " + outcome(rc, out, err)
        return out, err

    def test_message(self, path, account="alice"):
        return self.run("-a", account, "--test-message", str(path))

    def delivered(self, dest="inbox"):
        return maildir_messages(self.maildirs[dest])

    def all_delivered(self):
        return {d: self.delivered(d) for d in self.maildirs}

    def store(self, account="alice"):
        return store_entries(self.state, account)

    def records(self, account="alice"):
        return store_records(self.state, account)


def outcome(rc, out, err):
    return "exit %s\n--- stdout ---\n%s--- stderr ---\n%s" % (rc, out, err)


def result_line(out):
    """The `result: ...` line of a --test-message trace."""
    lines = [l for l in out.splitlines() if l.startswith("result: ")]
    assert len(lines) == 1, "expected one `result:` line:\n" + out
    return lines[0]


# ---- summaries ----------------------------------------------------------

def summary(out, account):
    """The one summary line for ACCOUNT on stdout, as a match object with
    groups new, delivered, deleted, failed and the rest of the line."""
    lines = [l for l in out.splitlines() if l.startswith(account + ":")]
    assert len(lines) == 1, "expected one summary line for %s, got:\n%s" % (
        account, out)
    m = re.fullmatch(r"%s: (?P<new>\d+) new, (?P<delivered>\d+) delivered, "
                     r"(?P<deleted>\d+) deleted by rules, (?P<failed>\d+) "
                     r"failed, [\d.]+ [KMG]?B in [\d.]+ s(?P<rest>.*)"
                     % re.escape(account), lines[0])
    assert m, "summary line not in the documented form: %r" % lines[0]
    return m


def assert_counts(out, account, new, delivered, deleted=0, failed=0):
    s = summary(out, account)
    got = (int(s["new"]), int(s["delivered"]), int(s["deleted"]),
           int(s["failed"]))
    want = (new, delivered, deleted, failed)
    assert got == want, ("%s: expected (new, delivered, deleted by rules, "
                         "failed) = %s, got %s; summary: %r"
                         % (account, want, got, s.group(0)))
    return s


# ---- messages -----------------------------------------------------------

def pop3_size(m):
    """The size a POP3 LIST reports for M (LF form): CRLF line endings."""
    return len(m) + m.count(b"\n")


def maildir_messages(maildir):
    """Messages in MAILDIR/new and MAILDIR/cur (bytes, sorted by name);
    [] when the Maildir does not exist. Checks tmp/ holds nothing."""
    maildir = Path(maildir)
    out = []
    for sub in ("new", "cur"):
        d = maildir / sub
        if d.is_dir():
            for name in sorted(os.listdir(d)):
                out.append((d / name).read_bytes())
    tmp = maildir / "tmp"
    if tmp.is_dir():
        left = os.listdir(tmp)
        assert not left, "%s/tmp holds %s" % (maildir, left)
    return out


# ---- server -------------------------------------------------------------

def server_messages(dovecot, user="alice"):
    """The messages in USER's server Maildir (bytes, as stored)."""
    return dovecot.stored_messages(user)


# ---- UID store ----------------------------------------------------------

def _store_path(state_dir, account):
    return os.path.join(state_dir, "%s.uids" % account)


def store_records(state_dir, account):
    """Every record line after the header of the account's UID store."""
    path = _store_path(state_dir, account)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = f.read().splitlines()
    if lines:
        assert lines[0] == STORE_MAGIC, "%s: first line %r" % (path,
                                                               lines[0])
    return [l for l in lines[1:] if l.strip()]


def store_entries(state_dir, account):
    """The UIDs the account's store remembers (any record kind naming a
    UID in its second field), as a set."""
    out = set()
    for rec in store_records(state_dir, account):
        fields = rec.split(" ")
        if len(fields) >= 2:
            out.add(fields[1])
    return out


# ---- plugins ------------------------------------------------------------

def compile_plugin(source, out_path, cflags=None, cc="cc", env=None):
    """Compile C SOURCE (text) into the shared object OUT_PATH. CFLAGS:
    the include flags (default: -I<repo>/plugins, the public header).
    Returns the compiler's CompletedProcess (check returncode)."""
    out_path = Path(out_path)
    src = out_path.with_suffix(".c")
    src.write_text(source)
    if cflags is None:
        cflags = ["-I%s" % (REPO / "plugins")]
    cmd = [cc, "-std=c11", "-Wall", "-Werror", "-shared", "-fPIC",
           *cflags, "-o", str(out_path), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    proc.cmd = cmd
    return proc


def copy_plugins(dest_dir, *names):
    """Copy the build's NAME.so plugins into DEST_DIR (a plugin_dir of the
    test's own, for plugins written by the test)."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy2(plugin_dir() / ("%s.so" % n), dest_dir / ("%s.so" % n))
    return dest_dir


__all__.append("copy_plugins")
