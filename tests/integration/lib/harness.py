"""Helpers shared by the integration tests: running mailferry, writing its
configuration, and reading POP3 replies the way a careful client must."""

import os
import signal
import subprocess
from pathlib import Path

__all__ = ["REPO", "mailferry_path", "write_config", "lc_str",
           "run_mailferry", "retr", "EXAMPLE_PROGRAMS", "with_stand_ins"]

REPO = Path(__file__).resolve().parents[3]


def mailferry_path():
    """The binary under test: $MAILFERRY_BIN, else <repo>/build/mailferry."""
    path = Path(os.environ.get("MAILFERRY_BIN")
                or REPO / "build" / "mailferry")
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            "mailferry binary not found at %s: run `make` in %s first "
            "(or point MAILFERRY_BIN at a build)" % (path, REPO))
    return str(path)


def write_config(path, text):
    """Write a configuration file with mode 0600 (mailferry refuses a
    configuration holding a password that others can read)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)            # an existing file keeps its mode
        f.write(text)
    return path


def isolated_env(home, **extra):
    """The environment with HOME as ~, no XDG_* variables, and EXTRA."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["HOME"] = str(home)
    env.update(extra)
    return env


# Programs the documented examples and the converted rc files name that
# a test machine may lack.
EXAMPLE_PROGRAMS = ("pass", "secret-tool", "spamc", "oauth2-token")


def with_stand_ins(env, directory, names=EXAMPLE_PROGRAMS):
    """ENV with DIRECTORY first in PATH, holding an executable stand-in
    for each of NAMES (one that fails if run), so that --check-config,
    which looks programs up in PATH, passes configurations written for a
    machine that has them."""
    os.makedirs(directory, exist_ok=True)
    for name in names:
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho \"$0: a stand-in\" >&2\nexit 1\n")
        os.chmod(path, 0o755)
    env = dict(env)
    env["PATH"] = "%s:%s" % (directory, env.get("PATH", "/usr/bin:/bin"))
    return env


class Result:
    """What one run printed and how it ended."""

    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def __str__(self):
        return "exit %s after %.1f s\n--- stdout ---\n%s--- stderr ---\n%s" % (
            self.rc, self.elapsed, self.out, self.err[-4000:])


def lc_str(s):
    """S as a libconfig string literal, quotes and backslashes escaped."""
    return '"%s"' % (str(s).replace("\\", "\\\\").replace('"', '\\"')
                     .replace("\n", "\\n").replace("\t", "\\t"))


def run_mailferry(config_path, *args, timeout=120, env=None, input=None):
    """Run `mailferry -f CONFIG ARGS...`; return (returncode, stdout,
    stderr), both decoded as UTF-8 with replacement. Standard input is
    empty unless INPUT (bytes) is given. A run over TIMEOUT seconds is
    killed, with any children it started (delivery programs, filters), and
    fails the test with what it printed so far."""
    cmd = [mailferry_path(), "-f", str(config_path), *map(str, args)]
    # Own process group, so a timeout can kill the whole tree.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            stdin=subprocess.PIPE if input is not None
                            else subprocess.DEVNULL)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)     # not reaped yet: still ours
        out, err = proc.communicate()
        raise AssertionError(
            "mailferry ran over %s s: %s\n"
            "--- stdout ---\n%s\n--- stderr ---\n%s"
            % (timeout, " ".join(cmd), out.decode(errors="replace"),
               err.decode(errors="replace"))) from None
    return (proc.returncode, out.decode(errors="replace"),
            err.decode(errors="replace"))


def retr(pop, which):
    """RETR message WHICH over a poplib connection, reading the raw reply
    (poplib's own retr() tolerates bare LF and caps line length): checks
    that every line ends in CRLF and that lines starting with "." are
    stuffed, undoes both, and returns the message as stored in a Maildir.
    """
    pop.sock.sendall(b"RETR %d\r\n" % which)
    status = pop.file.readline()
    if not status.startswith(b"+OK"):
        raise AssertionError("RETR %d: %r" % (which, status))
    out = []
    while True:
        line = pop.file.readline()
        if not line.endswith(b"\r\n"):
            raise AssertionError("RETR %d: line without CRLF: %r"
                                 % (which, line[-80:]))
        line = line[:-2]
        if line == b".":
            return b"".join(out)
        if line.startswith(b"."):
            if not line.startswith(b".."):
                raise AssertionError("RETR %d: unstuffed dot line %r"
                                     % (which, line[:80]))
            line = line[1:]
        out.append(line + b"\n")
