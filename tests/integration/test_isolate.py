"""One message never holds back the others (mailferry(1), SET-ASIDE
MESSAGES and RECONNECTING). Against the fake POP3 server
(lib/fakepop3.py), with keep = false unless said otherwise:

1. A plugin that crashes (SIGSEGV, SIGABRT, SIGFPE, a stack overflow) or
   hangs on one message: that run exits 70 naming the plugin and the
   UID; the next run delivers and deletes every other message, leaves
   that one on the server and reports it set aside, at every run, until
   `--release UID` (or a rule that no longer calls the plugin) lets it
   through. Nothing lost, nothing delivered twice.
2. A message whose data goes over max_size although the server announced
   less: set aside ("L" record), the others delivered and deleted in the
   same run, later runs leave it alone until max_size is raised. A
   message larger than announced but under max_size is simply delivered.
3. A session that breaks mid-way (a drop, a stall, garbage): mailferry
   reconnects (at most 3 times a run) to delete what it delivered and to
   fetch the rest, the message that broke the session left for the next
   run (exit 75). A destination that fails leaves the session usable:
   the DELEs of what was delivered are sent and QUIT answered in it.
"""

import os
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

import mailgen
import mfconf
from crashkit import read_mbox
from fakepop3 import FakePOP3, Fault, Message
from harness import run_mailferry, write_config
from rulestest import compile_plugin, copy_plugins, plugin_dir

EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_SOFTWARE, EX_TEMPFAIL = 0, 64, 69, 70, 75
USER, PASSWORD = "alice", "isolate-pw"
# mailferry's `timeout`: short where the test waits for it (a plugin that
# hangs, a server that stalls), generous elsewhere, where a busy machine
# must not make it fire.
HANG_TIMEOUT = 2
TIMEOUT = 30
OUTER = 60                      # the bound on any one run


# ---- the test world ---------------------------------------------------------

class World:
    """A configuration, a Maildir (or mbox) and a state directory under
    DIR, for an account fetching from a fake server."""

    def __init__(self, dir):
        self.dir = Path(dir)
        self.conf = self.dir / "mailferry.conf"
        self.maildir = self.dir / "Maildir"
        self.mbox = self.dir / "mbox"
        self.state = self.dir / "state"
        self.plugins = self.dir / "plugins"

    def write(self, srv, dest="maildir", timeout=None, **extra):
        if timeout is None:
            stalls = any(f.action == "stall" for f in srv.faults)
            timeout = HANG_TIMEOUT if stalls else TIMEOUT
        extra.setdefault("keep", False)
        acct = mfconf.account(USER, None, server="127.0.0.1", port=srv.port,
                              password=PASSWORD, auth="user", **extra)
        if dest == "maildir":
            dests = {"inbox": mfconf.maildir(self.maildir)}
        elif dest == "mbox":
            dests = {"inbox": {"type": "mbox", "path": str(self.mbox)}}
        else:
            dests = {"inbox": dest}
        text = mfconf.config(self.state, dests, [acct], timeout=timeout,
                             plugin_dir=str(self.plugins))
        write_config(self.conf, text)

    def run(self, *args):
        rc, out, err = run_mailferry(self.conf, *args, timeout=OUTER)
        return Run(rc, out, err)

    def delivered(self):
        if self.mbox.exists():
            box = read_mbox(self.mbox)
            assert box.problems == [] and not box.lock_left, box
            return box.messages
        new = self.maildir / "new"
        if not new.is_dir():
            return []
        return [(new / n).read_bytes() for n in sorted(os.listdir(new))]

    def tmp_files(self):
        tmp = self.maildir / "tmp"
        return sorted(os.listdir(tmp)) if tmp.is_dir() else []

    def records(self):
        path = self.state / ("%s.uids" % USER)
        if not path.exists():
            return []
        lines = path.read_text().split("\n")
        assert lines[-1] == "", "the UID store ends without a newline"
        assert lines[0] == "mailferry-uids 1", lines[0]
        return lines[1:-1]


class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __str__(self):
        return "exit %s\n--- stdout ---\n%s--- stderr ---\n%s" % (
            self.rc, self.out, self.err[-6000:])


def explain(run, srv):
    return "%s\n--- server ---\n%s" % (run, srv.transcript())


def messages(n, tag, bad=None, subject_of_bad=None):
    """N small messages, UIDs "TAG-1".. "TAG-N"; message BAD (1-based)
    gets the subject SUBJECT_OF_BAD."""
    out = []
    for i in range(1, n + 1):
        subject = "%s message %d" % (tag, i)
        if i == bad:
            subject = subject_of_bad
        out.append(Message(mailgen.message(subject=subject,
                                           body="body of %s %d\n" % (tag, i)),
                           "%s-%d" % (tag, i)))
    return out


def server(msgs, **kw):
    kw.setdefault("users", {USER: PASSWORD})
    return FakePOP3(msgs, **kw)


def summary(out):
    m = re.search(r"^%s: (\d+) new, (\d+) delivered, (\d+) deleted by rules, "
                  r"(\d+) failed, [^,]*(.*)$" % USER, out, re.M)
    assert m, "no summary line in:\n%s" % out
    return tuple(int(x) for x in m.groups()[:4]) + (m.group(5),)


def assert_delivered_once(w, msgs, run, srv):
    got = Counter(w.delivered())
    want = Counter(m.data for m in msgs)
    assert got == want, "delivered %d messages, expected %d\n%s" % (
        sum(got.values()), len(msgs), explain(run, srv))
    assert w.tmp_files() == [], w.tmp_files()


def retr_uids(srv, conn=None):
    """The UIDs of the messages RETR asked for (on connection CONN)."""
    conns = srv.connections if conn is None else [srv.connections[conn - 1]]
    out = []
    for c in conns:
        for line in c.received():
            if line.startswith(b"RETR "):
                out.append(int(line.split()[1]))
    return out


# ---- 1. plugins that crash or hang ------------------------------------------

CRASHER_SRC = r"""
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mailferry/plugin.h>

static const struct mf_host *host;

static int
init(const struct mf_host *h, const struct mf_options *options,
    void **state, char *err, size_t errlen)
{
	(void)options; (void)state; (void)err; (void)errlen;
	host = h;
	return 0;
}

static int
recurse(int depth)
{
	volatile char pad[4096];

	pad[0] = (char)depth;
	if (depth >= 0)		/* always: the compiler need not know */
		return recurse(depth + 1) + pad[0];
	return 0;
}

static enum mf_verdict
filter(void *state, struct mf_message *m, const struct mf_options *args,
    char *err, size_t errlen)
{
	const char *s = host->header_value(m, "Subject", 0, 1);
	volatile int zero = 0, quotient = 0;
	volatile int *nowhere = NULL;
	char *argv[] = { "sleep", "3", NULL };
	int status;

	(void)state; (void)args;
	if (s == NULL || %(ENABLED)d == 0)
		return MF_CONTINUE;
	if (strstr(s, "CRASH-SEGV") != NULL)
		*nowhere = 1;
	if (strstr(s, "CRASH-ABRT") != NULL)
		abort();
	if (strstr(s, "CRASH-FPE") != NULL)
		quotient = 7 / zero;
	if (strstr(s, "CRASH-STACK") != NULL)
		return (enum mf_verdict)recurse(0);
	if (strstr(s, "HANG") != NULL)
		for (;;)
			sleep(1);
	if (strstr(s, "SLOW-FILTER") != NULL &&
	    host->run_filter(m, argv, 10, 0, &status, err, errlen) == -1)
		return MF_ERROR;
	return quotient == 0 ? MF_CONTINUE : MF_ERROR;
}

MAILFERRY_PLUGIN(
	.name = "crasher",
	.version = "0.1",
	.init = init,
	.filter = filter,
);
"""


def build_crasher(w, enabled=True):
    w.plugins.mkdir(exist_ok=True)
    out = w.plugins / "crasher.so"
    tmp = w.plugins / "crasher-new.so"
    proc = compile_plugin(CRASHER_SRC % {"ENABLED": int(enabled)}, tmp)
    assert proc.returncode == 0, "%s\n%s" % (" ".join(proc.cmd), proc.stderr)
    tmp.with_suffix(".c").unlink()
    os.replace(tmp, out)


CRASHER_RULES = [{"name": "scan", "plugin": "crasher"}]

CRASHES = {
    "segv": ("CRASH-SEGV", r"crashed \(SIGSEGV\)"),
    "abort": ("CRASH-ABRT", r"aborted \(SIGABRT\)"),
    "fpe": ("CRASH-FPE", r"crashed \(SIGFPE\)"),
    "stack-overflow": ("CRASH-STACK", r"crashed \(SIGSEGV\)"),
    "hang": ("HANG", r"did not return within %d s" % HANG_TIMEOUT),
}


@pytest.mark.parametrize("dest", ["maildir", "mbox"])
@pytest.mark.parametrize("case", list(CRASHES))
def test_plugin_crash_sets_the_message_aside(tmp_path, case, dest):
    subject, reason = CRASHES[case]
    msgs = messages(5, "crash", bad=3, subject_of_bad="please " + subject)
    bad, others = msgs[2], msgs[:2] + msgs[3:]
    w = World(tmp_path)
    build_crasher(w)
    with server(msgs) as srv:
        w.write(srv, dest=dest, rules=CRASHER_RULES,
                timeout=HANG_TIMEOUT if case == "hang" else TIMEOUT)
        first = w.run()
        assert first.rc == EX_SOFTWARE, explain(first, srv)
        assert re.search(r"alice: plugin crasher %s on the message with UID "
                         r"crash-3: it is set aside" % reason, first.err), (
            explain(first, srv))
        assert "--release crash-3" in first.err, first.err
        assert [r.split(" ")[0::3] for r in w.records()
                if r.startswith("C ")] == [["C", "crasher"]], w.records()
        assert srv.mailbox_data() == [m.data for m in msgs]
        # Whatever reached the destination before the crash is complete.
        assert set(w.delivered()) <= {m.data for m in msgs[:2]}

        second = w.run()
        assert second.rc == EX_OK, explain(second, srv)
        assert_delivered_once(w, others, second, srv)
        assert srv.mailbox_data() == [bad.data], explain(second, srv)
        assert 3 not in retr_uids(srv, conn=2), "the bad message was fetched"
        assert re.search(r"message 3 \(UID crash-3\) is set aside and left "
                         r"on the server: plugin crasher crashed or hung on "
                         r"it", second.err), second.err
        assert "1 set aside" in second.out, second.out

        third = w.run()
        assert third.rc == EX_OK, explain(third, srv)
        assert "set aside" in third.err and "crash-3" in third.err
        assert "1 set aside" in third.out, third.out
        assert retr_uids(srv, conn=3) == []
        assert_delivered_once(w, others, third, srv)


def test_crash_run_then_the_others(tmp_path):
    """The brief's case in numbers: 5 messages, the third crashes the
    plugin; the first run exits 70 with nothing lost, the second delivers
    and deletes the other 4 and says so."""
    msgs = messages(5, "five", bad=3, subject_of_bad="CRASH-SEGV now")
    w = World(tmp_path)
    build_crasher(w)
    with server(msgs) as srv:
        w.write(srv, rules=CRASHER_RULES)
        first = w.run()
        assert first.rc == EX_SOFTWARE, explain(first, srv)
        assert len(srv.mailbox()) == 5
        second = w.run()
        assert second.rc == EX_OK, explain(second, srv)
        new, delivered, by_rules, failed, rest = summary(second.out)
        assert (new, delivered, by_rules, failed) == (4, 4, 0, 0), second.out
        assert "4 removed from the server" in rest, second.out
        assert "1 set aside" in rest, second.out
        assert_delivered_once(w, msgs[:2] + msgs[3:], second, srv)
        assert srv.mailbox_data() == [msgs[2].data]


def test_release_lets_the_message_through(tmp_path):
    msgs = messages(3, "rel", bad=2, subject_of_bad="CRASH-SEGV")
    w = World(tmp_path)
    build_crasher(w)
    with server(msgs) as srv:
        w.write(srv, rules=CRASHER_RULES)
        assert w.run().rc == EX_SOFTWARE
        assert w.run().rc == EX_OK
        assert srv.mailbox_data() == [msgs[1].data]
        # The plugin is fixed; the message still waits for a release.
        build_crasher(w, enabled=False)
        run = w.run()
        assert run.rc == EX_OK and "set aside" in run.err, run
        assert srv.mailbox_data() == [msgs[1].data]

        bad = w.run("-a", USER, "--release", "no-such-uid")
        assert bad.rc == EX_USAGE, bad
        assert "no message with UID no-such-uid is set aside" in bad.err
        rel = w.run("-a", USER, "--release", "rel-2")
        assert rel.rc == EX_OK, rel
        assert "released the message with UID rel-2" in rel.out, rel
        assert any(r.startswith("R rel-2 ") for r in w.records())
        again = w.run("-a", USER, "--release", "rel-2")
        assert again.rc == EX_USAGE, again

        run = w.run()
        assert run.rc == EX_OK, explain(run, srv)
        assert "set aside" not in run.err, run.err
        assert_delivered_once(w, msgs, run, srv)
        assert srv.mailbox() == []
        # Delivered and gone from the server: every record forgotten.
        assert w.records() == [], w.records()


def test_a_rule_without_the_plugin_releases_it(tmp_path):
    """A set-aside record names its plugin: once no rule of the account
    calls that plugin, the message is fetched as any other."""
    msgs = messages(2, "norule", bad=1, subject_of_bad="CRASH-ABRT")
    w = World(tmp_path)
    build_crasher(w)
    with server(msgs) as srv:
        w.write(srv, rules=CRASHER_RULES)
        assert w.run().rc == EX_SOFTWARE
        w.write(srv)
        run = w.run()
        assert run.rc == EX_OK, explain(run, srv)
        assert_delivered_once(w, msgs, run, srv)
        assert srv.mailbox() == []


def test_crash_in_a_dry_run_records_nothing(tmp_path):
    msgs = messages(2, "dry", bad=2, subject_of_bad="CRASH-SEGV")
    w = World(tmp_path)
    build_crasher(w)
    with server(msgs) as srv:
        w.write(srv, rules=CRASHER_RULES)
        run = w.run("-n")
        assert run.rc == EX_SOFTWARE, explain(run, srv)
        assert "UID dry-2 (nothing recorded)" in run.err, run.err
        assert w.records() == []
        assert w.delivered() == []


def test_crash_under_test_message(tmp_path):
    w = World(tmp_path)
    build_crasher(w)
    with server([]) as srv:
        w.write(srv, rules=CRASHER_RULES)
    eml = tmp_path / "m.eml"
    eml.write_bytes(mailgen.message(subject="CRASH-SEGV"))
    run = w.run("-a", USER, "--test-message", str(eml))
    assert run.rc == EX_SOFTWARE, run
    assert "plugin crasher crashed (SIGSEGV) on a message without a UID" \
        in run.err, run
    assert 'rule 1 "scan"' in run.out, "lines before the crash were lost"


def test_time_in_a_filter_program_is_not_the_plugins(tmp_path):
    """run_filter() bounds its program with its own timeout: waiting for
    it does not count against the plugin's `timeout` (2 s here)."""
    msgs = messages(2, "slow", bad=1, subject_of_bad="SLOW-FILTER")
    w = World(tmp_path)
    build_crasher(w)
    with server(msgs) as srv:
        w.write(srv, rules=CRASHER_RULES)
        run = w.run()
        assert run.rc == EX_OK, explain(run, srv)
        assert_delivered_once(w, msgs, run, srv)


def test_parallel_accounts_one_crashes(tmp_path):
    """With parallel = 2, the crash ends only its account's process."""
    bad = messages(2, "par-a", bad=1, subject_of_bad="CRASH-SEGV")
    good = messages(2, "par-b")
    w = World(tmp_path)
    build_crasher(w)
    with server(bad) as s1, server(good) as s2:
        accts = [mfconf.account(n, None, server="127.0.0.1", port=s.port,
                                user=USER, password=PASSWORD, auth="user",
                                keep=False, rules=CRASHER_RULES)
                 for n, s in (("a", s1), ("b", s2))]
        write_config(w.conf, mfconf.config(
            w.state, {"inbox": mfconf.maildir(w.maildir)}, accts,
            timeout=TIMEOUT, plugin_dir=str(w.plugins), parallel=2))
        run = w.run()
        assert run.rc == EX_SOFTWARE, run
        assert s2.mailbox() == [], "the other account was held back"
        run = w.run()
        assert run.rc == EX_OK, run
        assert s1.mailbox_data() == [bad[0].data]
        assert Counter(w.delivered()) == Counter(
            m.data for m in [bad[1]] + good)


# ---- 2. max_size and lying sizes ------------------------------------------

def big_message(tag, nbytes):
    line = ("%s " % tag) + "y" * 76 + "\n"
    return mailgen.message(subject="%s big" % tag,
                           body=line * (nbytes // len(line) + 1))


def test_larger_than_announced_under_max_size_is_delivered(tmp_path):
    msgs = messages(3, "under")
    msgs[1] = Message(big_message("under", 3_000_000), "under-2",
                      list_size=1000)
    w = World(tmp_path)
    with server(msgs) as srv:
        w.write(srv)
        run = w.run()
        assert run.rc == EX_OK, explain(run, srv)
        assert_delivered_once(w, msgs, run, srv)
        assert srv.mailbox() == []


def test_over_max_size_although_announced_smaller(tmp_path):
    msgs = messages(5, "liar")
    msgs[2] = Message(big_message("liar", 3_000_000), "liar-3",
                      list_size=1000)
    others = msgs[:2] + msgs[3:]
    w = World(tmp_path)
    with server(msgs) as srv:
        w.write(srv, max_size=1_000_000)
        first = w.run()
        assert first.rc == EX_TEMPFAIL, explain(first, srv)
        assert re.search(r"message 3 \(UID liar-3\) is larger than max_size "
                         r"\(1000000 bytes\) although the server announced "
                         r"1000 bytes: left on the server and set aside",
                         first.err), first.err
        # The others are delivered and deleted in the same run.
        assert_delivered_once(w, others, first, srv)
        assert srv.mailbox_data() == [msgs[2].data], explain(first, srv)
        assert len(srv.connections) == 2, explain(first, srv)
        assert any(r.startswith("L liar-3 ") and r.endswith(" 1000000")
                   for r in w.records()), w.records()
        assert "1 set aside" in first.out, first.out

        second = w.run()
        assert second.rc == EX_OK, explain(second, srv)
        assert "RETR" not in srv.connections[-1].commands()
        assert re.search(r"UID liar-3\) is set aside .*larger than max_size "
                         r"\(1000000 bytes\)", second.err), second.err
        assert "1 set aside" in second.out

        # A max_size above the limit it went over fetches it.
        w.write(srv, max_size=10_000_000)
        third = w.run()
        assert third.rc == EX_OK, explain(third, srv)
        assert_delivered_once(w, msgs, third, srv)
        assert srv.mailbox() == []
        assert w.records() == []


def test_max_size_zero_means_the_default(tmp_path):
    """max_size = 0 (once "no limit") is the default, 256 MiB: a message
    announced over it is left on the server untouched."""
    msgs = messages(2, "zero")
    msgs[1].list_size = 256 * 1024 * 1024 + 1
    w = World(tmp_path)
    with server(msgs) as srv:
        for value in (0, None):
            w.write(srv, max_size=value)
            run = w.run()
            assert run.rc == EX_OK, explain(run, srv)
            assert "1 over max_size left on the server" in run.out, run.out
            assert srv.mailbox_data() == [msgs[1].data]
        assert_delivered_once(w, msgs[:1], run, srv)


# ---- 3. reconnecting after a broken session --------------------------------

BREAKS = {      # Fault arguments: a Fault counts, so one per test
    "drop-mid-message": (("RETR", "drop"), {"arg": "3", "fraction": 0.5}),
    "drop-status": (("RETR", "drop"), {"arg": "3", "nbytes": 0}),
    "stall-mid-message": (("RETR", "stall"), {"arg": "3", "fraction": 0.5}),
    "garbage-status": (("RETR", "garbage"), {"arg": "3"}),
}


@pytest.mark.parametrize("pipelining", [True, False],
                         ids=["pipelining", "no-pipelining"])
@pytest.mark.parametrize("case", list(BREAKS))
def test_reconnect_deletes_and_goes_on(tmp_path, case, pipelining):
    msgs = messages(5, "recon")
    others = msgs[:2] + msgs[3:]
    w = World(tmp_path)
    args, kw = BREAKS[case]
    fault = Fault(*args, **kw)
    with server(msgs, pipelining=pipelining, faults=[fault]) as srv:
        w.write(srv)
        first = w.run()
        assert fault.fired, srv.transcript()
        assert first.rc == EX_TEMPFAIL, explain(first, srv)
        assert "reconnecting to go on (1 of at most 3 reconnects)" in \
            first.err, first.err
        assert_delivered_once(w, others, first, srv)
        assert srv.mailbox_data() == [msgs[2].data], explain(first, srv)
        assert len(srv.connections) == 2
        second = srv.connections[1]
        assert 3 not in retr_uids(srv, conn=2), second.commands()
        assert second.quit_done
        new, delivered, _, failed, rest = summary(first.out)
        assert (new, delivered, failed) == (5, 4, 1), first.out
        assert "4 removed from the server" in rest, first.out
        # The message that broke the session comes last next time.
        assert any(r.startswith("F recon-3 ") for r in w.records())

        srv.faults = []
        run = w.run()
        assert run.rc == EX_OK, explain(run, srv)
        assert_delivered_once(w, msgs, run, srv)
        assert srv.mailbox() == []


def test_reconnects_are_bounded(tmp_path):
    """A server that drops every RETR: one session and three reconnects,
    each setting one message aside for the run, then exit 75."""
    msgs = messages(6, "bound")
    w = World(tmp_path)
    with server(msgs, pipelining=False, faults=[
            Fault("RETR", "drop", fraction=0.5, times=None)]) as srv:
        w.write(srv)
        run = w.run()
        assert run.rc == EX_TEMPFAIL, explain(run, srv)
        assert len(srv.connections) == 4, explain(run, srv)
        assert run.err.count("reconnecting to go on") == 3, run.err
        assert w.delivered() == []
        assert len(srv.mailbox()) == 6
        assert sorted(retr_uids(srv)) == [1, 2, 3, 4]


@pytest.mark.parametrize("case", ["quit-stall", "quit-drop", "dele-drop"])
def test_reconnect_when_the_deletions_did_not_happen(tmp_path, case):
    """Every message was delivered; the deletions were lost with the
    connection (QUIT never answered, or a drop at DELE): a new session
    deletes them, without fetching any again. Nothing was left for the
    next run: exit 0, the lost connection a warning."""
    msgs = messages(4, "dele")
    w = World(tmp_path)
    fault = {"quit-stall": Fault("QUIT", "stall"),
             "quit-drop": Fault("QUIT", "drop"),
             "dele-drop": Fault("DELE", "drop", arg="2")}[case]
    with server(msgs, faults=[fault]) as srv:
        w.write(srv)
        run = w.run()
        assert fault.fired, srv.transcript()
        assert run.rc == EX_OK, explain(run, srv)
        assert re.search(r"warning: alice: .*(closed by the server|timed "
                         r"out)", run.err), run.err
        assert srv.mailbox() == [], explain(run, srv)
        assert "RETR" not in srv.connections[-1].commands()
        assert_delivered_once(w, msgs, run, srv)
        assert "4 removed from the server" in run.out, run.out
        assert w.records() == [], w.records()


def test_a_failed_destination_still_deletes_what_was_delivered(tmp_path):
    """The delivery program cannot be run for message 3 (exit 127: the
    destination is down). The session itself is fine: the DELEs of
    messages 1 and 2 are sent and QUIT applies them, in that session."""
    script = tmp_path / "deliver.sh"
    script.write_text("#!/bin/sh\nout=%s/$$.eml\ncat > \"$out\"\n"
                      "if grep -q 'Subject: BREAK' \"$out\"; then rm \"$out\";"
                      " exit 127; fi\nexit 0\n" % (tmp_path / "got"))
    script.chmod(0o755)
    (tmp_path / "got").mkdir()
    msgs = messages(5, "down", bad=3, subject_of_bad="BREAK")
    w = World(tmp_path)
    with server(msgs) as srv:
        w.write(srv, dest={"type": "mda", "command": str(script),
                             "received_header": False})
        run = w.run()
        assert run.rc == EX_UNAVAILABLE, explain(run, srv)
        assert len(srv.connections) == 1, explain(run, srv)
        assert srv.connections[0].quit_done
        assert srv.mailbox_data() == [m.data for m in msgs[2:]], (
            explain(run, srv))
        got = sorted((tmp_path / "got").iterdir())
        assert Counter(p.read_bytes() for p in got) == Counter(
            m.data for m in msgs[:2])
