"""Filter plugins (mailferry-plugin(3)) end to end: the shipped headers, pipe and
dedup plugins against a private Dovecot, a plugin built outside the tree
against the installed <mailferry/plugin.h> and mailferry-plugin.pc, ABI
checks, and plugins that fail.

Each test writes its own configuration (lib/rulestest.py on top of
lib/mfconf.py) into tmp_path and runs the real binary (MAILFERRY_BIN).
"""

import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

import mailgen
import mfconf
from harness import REPO
from rulestest import (EX_CONFIG, EX_OK, EX_TEMPFAIL, PLUGIN_H, World,
                       assert_counts, assert_same_messages, compile_plugin,
                       copy_plugins, describe, outcome, result_line,
                       summary)

# mailferry(1), EXIT STATUS: a message a plugin deferred (or failed on)
# is a temporary failure that left something for the next run.
DEFERRED_RC = EX_TEMPFAIL


def abi_version():
    text = PLUGIN_H.read_text()
    major = re.search(r"#define\s+MAILFERRY_PLUGIN_ABI_MAJOR\s+(\d+)", text)
    minor = re.search(r"#define\s+MAILFERRY_PLUGIN_ABI_MINOR\s+(\d+)", text)
    return int(major.group(1)), int(minor.group(1))


def account(dovecot, ca, name="alice", user=None, **extra):
    return mfconf.account(name, dovecot, user=user, tls="implicit",
                          tls_ca_file=ca.ca_file, **extra)


def split_message(m):
    """(header fields as [(name, raw field bytes)], body) of M (LF form)."""
    head, _, body = m.partition(b"\n\n")
    fields = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + b"\n" + line)
        else:
            fields.append((line.split(b":", 1)[0].decode(), line))
    return fields, body


def header_values(m, name):
    fields, _ = split_message(m)
    return [raw.split(b":", 1)[1].strip().decode()
            for n, raw in fields if n.lower() == name.lower()]


def write_script(path, text):
    path = Path(path)
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP |
               stat.S_IXOTH)
    return path


def unrecorded(w, dovecot, msgs, account="alice", user="alice"):
    """MSGS are all still on USER's server and their UIDs are not in the
    account's store."""
    on_server = dovecot.stored_messages(user)
    for m in msgs:
        assert m in on_server, "not on the server any more: " + describe(m)
    uids = dovecot.uids(user)
    by_uid = dict(zip(uids, on_server))
    stored = w.store(account)
    for u, m in by_uid.items():
        if m in msgs:
            assert u not in stored, ("the deferred message %s (UID %s) was "
                                     "recorded" % (describe(m), u))


# ---- 1. headers ------------------------------------------------------------

def test_headers_plugin_add_set_remove(dovecot, ca, tmp_path):
    body = b"Body line\nX-Spam-Flag: stays, this is the body\n\n.\n"
    m = mailgen.message(subject="tag me", body=body, headers={
        "X-Spam-Flag": "YES", "X-Fetched-By": "something else"})
    # A second X-Spam-Flag in another case, and a second X-Fetched-By.
    m = m.replace(b"\n\n", b"\nx-spam-FLAG: again\nX-Fetched-By: old 2\n\n",
                  1)
    other = mailgen.message(subject="second", headers={"X-Spam-Flag": "NO"})
    dovecot.deliver("alice", m)
    dovecot.deliver("alice", other)
    uids = dovecot.uids()

    w = World(tmp_path)
    rules = [{"name": "tag", "plugin": "headers", "args": {
        "add": {"X-Original-Account": "%a", "X-Note": "100%% from %a"},
        "set": {"X-Fetched-By": "mailferry (%a)", "X-Uid": "%u"},
        "remove": ["X-Spam-Flag"],
    }}]
    # The account's name differs from the login: %a is the account.
    w.write([account(dovecot, ca, name="work", user="alice", rules=rules)])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "work", 2, 2)
    got = w.delivered()
    assert len(got) == 2
    for original, uid in ((m, uids[0]), (other, uids[1])):
        subject = header_values(original, "Subject")[0]
        [d] = [x for x in got if header_values(x, "Subject") == [subject]]
        assert header_values(d, "X-Original-Account") == ["work"], d
        assert header_values(d, "X-Note") == ["100% from work"], d
        assert header_values(d, "X-Fetched-By") == ["mailferry (work)"], d
        assert header_values(d, "X-Uid") == [uid], d
        assert header_values(d, "X-Spam-Flag") == [], d
        # Everything else is as it was, in its order; the body is intact.
        fields, dbody = split_message(d)
        ofields, obody = split_message(original)
        assert dbody == obody, "the body changed"
        touched = {"x-original-account", "x-note", "x-fetched-by", "x-uid",
                   "x-spam-flag"}
        assert [f for f in fields if f[0].lower() not in touched] == \
            [f for f in ofields if f[0].lower() not in touched], d
    assert dovecot.count("alice") == 2


# ---- 2. pipe ---------------------------------------------------------------

def _pipe_rule(command, **args):
    rule = {"name": "filter", "plugin": "pipe",
            "args": dict(command=command, **args)}
    deliver = rule["args"].pop("deliver", None)
    if deliver:
        rule["deliver"] = deliver
    return rule


def test_pipe_replace_adds_a_header(dovecot, ca, tmp_path):
    script = write_script(tmp_path / "add-header.sh",
                          'printf "X-Filtered: yes\\n"\nexec cat\n')
    msgs = [mailgen.message(subject="pipe %d" % i) for i in range(2)]
    msgs += mailgen.generate(2, seed="pipe-replace")
    for m in msgs:
        dovecot.deliver("alice", m)
    w = World(tmp_path)
    w.write([account(dovecot, ca, rules=[
        _pipe_rule(str(script), replace=True)])])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 4, 4)
    assert_same_messages(w.delivered(), [b"X-Filtered: yes\n" + m
                                         for m in msgs],
                         "Maildir (each message behind the filter's header)")


def test_pipe_without_replace_keeps_the_message(dovecot, ca, tmp_path):
    script = write_script(tmp_path / "add-header.sh",
                          'printf "X-Filtered: yes\\n"\nexec cat\n')
    m = mailgen.message(subject="no replace")
    dovecot.deliver("alice", m)
    w = World(tmp_path)
    w.write([account(dovecot, ca, rules=[_pipe_rule(str(script))])])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert w.delivered() == [m]


def test_pipe_match_status_delivers_to_the_rules_destination(dovecot, ca,
                                                              tmp_path):
    # Spam-style: exit 1 for messages mentioning "viagra", 0 otherwise.
    script = write_script(tmp_path / "spamc.sh",
                          'if grep -q viagra; then exit 1; fi\nexit 0\n')
    spam = mailgen.message(subject="cheap", body="buy viagra now\n")
    ham = mailgen.message(subject="lunch", body="at noon\n")
    for m in (spam, ham):
        dovecot.deliver("alice", m)
    w = World(tmp_path, dests=("inbox", "junk"))
    w.write([account(dovecot, ca, rules=[
        _pipe_rule(str(script), match_status=1, deliver="junk")])])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 2, 2)
    assert w.delivered("junk") == [spam]
    assert w.delivered("inbox") == [ham]


def test_pipe_exit_75_defers_until_the_filter_is_fixed(dovecot, ca,
                                                       tmp_path):
    script = tmp_path / "filter.sh"
    write_script(script, "cat >/dev/null\nexit 75\n")
    msgs = [mailgen.message(subject="defer %d" % i) for i in range(2)]
    for m in msgs:
        dovecot.deliver("alice", m)
    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=False, rules=[
        _pipe_rule(str(script))])])
    for run in (1, 2):
        rc, out, err = w.run()
        assert rc == DEFERRED_RC, outcome(rc, out, err)
        s = summary(out, "alice")
        assert (int(s["new"]), int(s["delivered"])) == (2, 0), s.group(0)
        assert "pipe" in err, "the deferral should name the plugin:\n" + err
        assert w.delivered() == []
        unrecorded(w, dovecot, msgs)
        assert w.records() == [], w.records()
    # Fixed: delivered, once.
    write_script(script, "exec cat >/dev/null\n")
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 2, 2)
    assert_same_messages(w.delivered(), msgs, "Maildir after the fix")
    assert dovecot.count("alice") == 0
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 0, 0)
    assert_same_messages(w.delivered(), msgs, "Maildir after another run")


def test_pipe_failure_defers_and_names_the_plugin(dovecot, ca, tmp_path):
    script = write_script(tmp_path / "broken.sh",
                          'cat >/dev/null\necho "broken filter" >&2\n'
                          "exit 2\n")
    m = mailgen.message(subject="filter fails")
    dovecot.deliver("alice", m)
    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=False, rules=[
        _pipe_rule(str(script))])])
    rc, out, err = w.run()
    assert rc == DEFERRED_RC, outcome(rc, out, err)
    lines = [l for l in err.splitlines() if "pipe" in l]
    assert lines, "the error should name the plugin:\n" + err
    assert any("2" in l for l in lines), (
        "the error should give the exit status:\n" + err)
    assert int(summary(out, "alice")["delivered"]) == 0
    assert w.delivered() == []
    unrecorded(w, dovecot, [m])


def test_pipe_timeout_defers_and_the_run_ends(dovecot, ca, tmp_path):
    script = write_script(tmp_path / "slow.sh",
                          "cat >/dev/null\nexec sleep 60\n")
    msgs = [mailgen.message(subject="slow %d" % i) for i in range(2)]
    for m in msgs:
        dovecot.deliver("alice", m)
    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=False, rules=[
        _pipe_rule(str(script), timeout=1)])], timeout=30)
    started = time.monotonic()
    rc, out, err = w.run(timeout=90)
    elapsed = time.monotonic() - started
    assert rc == DEFERRED_RC, outcome(rc, out, err)
    assert elapsed < 30, ("the run took %.1f s with a 1 s filter timeout"
                          % elapsed)
    assert "pipe" in err, err
    assert int(summary(out, "alice")["delivered"]) == 0
    assert w.delivered() == []
    unrecorded(w, dovecot, msgs)


# script, replace, what happens: "same" (delivered unchanged) or "deferred"
ODD_FILTERS = {
    "cat-replace": ("exec cat\n", True, "same"),
    "reads-nothing": ("exit 0\n", False, "same"),
    "reads-half": ("head -c 1000 >/dev/null\nexit 0\n", False, "same"),
    # replace = true and nothing printed: never an empty message.
    "prints-nothing": ("cat >/dev/null\nexit 0\n", True, "deferred"),
}


@pytest.mark.parametrize("kind", sorted(ODD_FILTERS))
def test_pipe_with_large_messages_and_odd_filters(dovecot, ca, tmp_path,
                                                  kind):
    text, replace, expect = ODD_FILTERS[kind]
    script = write_script(tmp_path / "odd.sh", text)
    msgs = mailgen.generate(3, seed="pipe-odd", big=True)
    assert max(map(len, msgs)) > 5_000_000
    for m in msgs:
        dovecot.deliver("alice", m)
    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=False, rules=[
        _pipe_rule(str(script), replace=replace)])])
    rc, out, err = w.run()
    if expect == "same":
        assert rc == EX_OK, outcome(rc, out, err)
        assert_counts(out, "alice", 3, 3)
        assert_same_messages(w.delivered(), msgs, "Maildir")
        assert dovecot.count("alice") == 0
    else:
        assert rc == DEFERRED_RC, outcome(rc, out, err)
        assert w.delivered() == []
        assert "pipe" in err, err
        unrecorded(w, dovecot, msgs)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_pipe_timeout_ends_the_whole_filter(dovecot, ca, tmp_path):
    """A filter is often a script around the real program (spamc, ...):
    when it times out, what it started must not live on."""
    pidfile = tmp_path / "child.pid"
    script = write_script(tmp_path / "wrapper.sh",
                          "cat >/dev/null\nsleep 120 &\necho $! > %s\n"
                          "wait\n" % pidfile)
    dovecot.deliver("alice", mailgen.message(subject="wrapped"))
    w = World(tmp_path)
    w.write([account(dovecot, ca, rules=[
        _pipe_rule(str(script), timeout=1)])])
    rc, out, err = w.run(timeout=90)
    pid = None
    try:
        assert rc == DEFERRED_RC, outcome(rc, out, err)
        assert w.delivered() == []
        pid = int(pidfile.read_text())
        # Killed before mailferry exited; PID 1 may take a while to reap.
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), (
            "the filter timed out, but the process it started (pid %d, "
            "`sleep 120`) still runs: mailferry killed only the filter, "
            "not its process group" % pid)
    finally:
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_pipe_runs_no_shell(dovecot, ca, tmp_path):
    markers = {k: tmp_path / ("pwned-%s" % k) for k in
               ("subj-dollar", "subj-semicolon", "subj-backtick",
                "cmd-dollar", "cmd-semicolon", "cmd-backtick", "cmd-pipe")}
    argv_file = tmp_path / "argv.txt"
    stdin_file = tmp_path / "stdin.eml"
    # The filter records its arguments and its input, and passes it on.
    script = write_script(tmp_path / "record.sh",
                          'for a in "$@"; do printf "%%s\\n" "$a"; done > %s'
                          "\ntee %s\n" % (argv_file, stdin_file))
    subject = ("$(touch %s) ; touch %s ; `touch %s`"
               % (markers["subj-dollar"], markers["subj-semicolon"],
                  markers["subj-backtick"]))
    m = mailgen.message(subject=subject,
                        body="$(touch %s)\n" % markers["subj-dollar"])
    dovecot.deliver("alice", m)
    command = ("%s '$(touch %s)' ; touch %s `touch %s` | touch %s"
               % (script, markers["cmd-dollar"], markers["cmd-semicolon"],
                  markers["cmd-backtick"], markers["cmd-pipe"]))
    w = World(tmp_path)
    w.write([account(dovecot, ca, rules=[
        _pipe_rule(command, replace=True)])])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    made = sorted(k for k, p in markers.items() if p.exists())
    assert not made, "a shell ran: %s created" % made
    expected_argv = ["$(touch %s)" % markers["cmd-dollar"], ";", "touch",
                     str(markers["cmd-semicolon"]), "`touch",
                     "%s`" % markers["cmd-backtick"], "|", "touch",
                     str(markers["cmd-pipe"])]
    assert argv_file.read_text().splitlines() == expected_argv, (
        "the command was not split into words as written")
    assert stdin_file.read_bytes() == m
    assert w.delivered() == [m]


# ---- 3. dedup --------------------------------------------------------------

DEDUP_PLUGINS = [{"name": "dedup", "options": {"window_days": 30}}]
DEDUP_RULES = [{"name": "dedup", "plugin": "dedup"}]


def _dedup_world(tmp_path, dovecot, ca, keep, parallel=1):
    w = World(tmp_path)
    w.write([account(dovecot, ca, "alice", keep=keep, rules=DEDUP_RULES),
             account(dovecot, ca, "bob", keep=keep, rules=DEDUP_RULES)],
            plugins=DEDUP_PLUGINS, parallel=parallel)
    return w


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
def test_dedup_across_two_accounts(dovecot, ca, tmp_path, keep):
    shared = mailgen.message(subject="to alice and bob")
    # No Message-ID: known by its content.
    no_id = mailgen.message(subject="no id, same content",
                            headers={"Message-ID": None})
    # Different messages that share From/To/Date/Subject but not the body.
    similar = [mailgen.message(subject="similar", body="body %d\n" % i,
                               headers={"Message-ID": None,
                                        "Date": "Mon, 1 Jan 2024 00:00:00 "
                                                "+0000"})
               for i in range(2)]
    only_alice = mailgen.message(subject="only alice")
    only_bob = mailgen.message(subject="only bob")
    for m in (shared, no_id, similar[0], only_alice):
        dovecot.deliver("alice", m)
    for m in (only_bob, no_id, shared, similar[1]):
        dovecot.deliver("bob", m)
    w = _dedup_world(tmp_path, dovecot, ca, keep)
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_same_messages(w.delivered(), [shared, no_id, only_alice,
                                         only_bob] + similar,
                         "the shared Maildir")
    a, b = summary(out, "alice"), summary(out, "bob")
    assert (int(a["new"]), int(a["delivered"])) == (4, 4), a.group(0)
    assert (int(b["new"]), int(b["delivered"])) == (4, 2), b.group(0)
    if keep:
        assert "2 skipped" in b["rest"], b.group(0)
        assert dovecot.count("alice") == 4 and dovecot.count("bob") == 4
    else:
        assert int(b["deleted"]) == 2, b.group(0)
        assert dovecot.count("alice") == 0 and dovecot.count("bob") == 0, (
            "keep = false: duplicates should be deleted from the server")

    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 0, 0)
    assert_counts(out, "bob", 0, 0)
    assert len(w.delivered()) == 6
    if keep:
        # The skipped duplicates stay, remembered.
        assert dovecot.count("bob") == 4
        assert set(dovecot.uids("bob")) == w.store("bob")


def test_dedup_parallel_accounts(dovecot, ca, tmp_path):
    """Accounts fetched at once (parallel = 2): dedup knows a message only
    once its delivery is durable, so two copies fetched at the very same
    moment may both get through (documented); none is ever lost. Copies
    arriving apart, the usual case, are delivered once."""
    shared = [mailgen.message(subject="shared %d" % i) for i in range(3)]
    for user in ("alice", "bob"):
        for m in shared:
            dovecot.deliver(user, m)
    w = _dedup_world(tmp_path, dovecot, ca, keep=True, parallel=2)
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    got = w.delivered()
    for m in shared:
        assert 1 <= got.count(m) <= 2, (
            "a shared message delivered %d times" % got.count(m))
    # Later: one copy reaches alice first, the other bob afterwards.
    later = mailgen.message(subject="later")
    dovecot.deliver("alice", later)
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    dovecot.deliver("bob", later)
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert w.delivered().count(later) == 1


def test_dedup_same_message_twice_in_one_mailbox_and_run(dovecot, ca,
                                                         tmp_path):
    """One mailbox holding the same message twice (a list copy and a
    direct copy, say), fetched in one run: delivered once, as it would be
    over two runs."""
    m = mailgen.message(subject="twice")
    other = mailgen.message(subject="other")
    for x in (m, other, m):
        dovecot.deliver("alice", x)
    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=True, rules=DEDUP_RULES)],
            plugins=DEDUP_PLUGINS)
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_same_messages(w.delivered(), [m, other], (
        "Maildir: a message whose Message-ID was delivered earlier in the "
        "same run (same batch) was delivered again"))


def test_dedup_remembers_nothing_offline_or_in_a_dry_run(dovecot, ca,
                                                         tmp_path):
    m = mailgen.message(subject="remember me only when delivered")
    for user in ("alice", "bob"):
        dovecot.deliver(user, m)
    eml = tmp_path / "m.eml"
    eml.write_bytes(m)
    w = _dedup_world(tmp_path, dovecot, ca, keep=True)
    for _ in range(2):
        rc, out, err = w.test_message(eml)
        assert rc == EX_OK, outcome(rc, out, err)
        assert result_line(out).startswith("result: deliver to inbox"), out
    rc, out, err = w.run("-n")
    assert rc == EX_OK, outcome(rc, out, err)
    assert w.delivered() == []
    # The real run: delivered once, the copy skipped.
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert w.delivered() == [m]
    assert "1 skipped" in summary(out, "bob")["rest"], out
    # Now it is known: --test-message says so.
    rc, out, err = w.test_message(eml)
    assert rc == EX_OK, outcome(rc, out, err)
    assert result_line(out).startswith("result: skip"), out


# ---- 4. a plugin built outside the tree -----------------------------------

OUTSIDE_SRC = r"""
#include <stdio.h>
#include <string.h>

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

static enum mf_verdict
filter(void *state, struct mf_message *m, const struct mf_options *args,
    char *err, size_t errlen)
{
	(void)state; (void)args;
	if (host->header_add(m, "X-Outside", "yes") != 0) {
		snprintf(err, errlen, "cannot add X-Outside");
		return MF_ERROR;
	}
	return MF_CONTINUE;
}

%(DECL)s
"""

OUTSIDE_DECL = """MAILFERRY_PLUGIN(
	.name = "%(NAME)s",
	.version = "0.1",
	.init = init,
	.filter = filter,
);"""

FOREIGN_ABI_DECL = """const struct mf_plugin mailferry_plugin = {
	.abi_major = %(MAJOR)d,
	.abi_minor = %(MINOR)d,
	.name = "%(NAME)s",
	.version = "0.1",
	.init = init,
	.filter = filter,
};"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`make install` into a DESTDIR: (destdir, None) when it worked, or
    (destdir, why) when it failed only for lack of the manual pages."""
    dest = tmp_path_factory.mktemp("destdir")
    proc = subprocess.run(["make", "-C", str(REPO), "install",
                           "DESTDIR=%s" % dest, "PREFIX=/usr/local"],
                          capture_output=True, text=True)
    if proc.returncode == 0:
        return dest, None
    text = proc.stdout + proc.stderr
    missing_man = re.search(r"cannot stat '(man/[^']+)'", text)
    assert missing_man, "make install failed:\n" + text
    return dest, ("make install fails: %s does not exist yet (manual pages "
                  "not written)" % missing_man.group(1))


def test_make_install_completes(installed):
    dest, problem = installed
    if problem:
        pytest.skip(problem)
    usr = dest / "usr" / "local"
    for p in ("bin/mailferry", "include/mailferry/plugin.h",
              "lib/pkgconfig/mailferry-plugin.pc",
              "lib/mailferry/headers.so", "lib/mailferry/pipe.so",
              "lib/mailferry/dedup.so", "share/man/man1/mailferry.1",
              "share/man/man3/mailferry-plugin.3",
              "share/man/man5/mailferry.conf.5"):
        assert (usr / p).is_file(), "not installed: " + p


@pytest.fixture(scope="module")
def plugin_cflags(installed):
    """`pkg-config --cflags mailferry-plugin` against the installed tree."""
    dest, problem = installed
    pc = dest / "usr/local/lib/pkgconfig/mailferry-plugin.pc"
    if not pc.is_file():
        pytest.skip("mailferry-plugin.pc was not installed (%s)"
                    % (problem or "?"))
    env = dict(os.environ, PKG_CONFIG_PATH=str(pc.parent),
               PKG_CONFIG_SYSROOT_DIR=str(dest))
    proc = subprocess.run(["pkg-config", "--cflags", "mailferry-plugin"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    flags = proc.stdout.split()
    assert any(f.startswith("-I%s" % dest) for f in flags), (
        "pkg-config --cflags should point into the installed tree: %r"
        % proc.stdout)
    # The installed header is the tree's, and nothing else is needed.
    assert (dest / "usr/local/include/mailferry/plugin.h").read_bytes() == \
        PLUGIN_H.read_bytes()
    return flags


def _build_outside(tmp_path, flags, name, decl):
    pdir = tmp_path / "plugins"
    pdir.mkdir(exist_ok=True)
    src = OUTSIDE_SRC % {"DECL": decl}
    proc = compile_plugin(src, pdir / ("%s.so" % name), cflags=flags)
    assert proc.returncode == 0, "%s\n%s" % (" ".join(proc.cmd), proc.stderr)
    return pdir


def test_outside_plugin_loads_and_runs(installed, plugin_cflags, dovecot,
                                       ca, tmp_path):
    pdir = _build_outside(tmp_path, plugin_cflags, "outside",
                          OUTSIDE_DECL % {"NAME": "outside"})
    m = mailgen.message(subject="outside")
    dovecot.deliver("alice", m)
    w = World(tmp_path)
    w.write([account(dovecot, ca, rules=[
        {"name": "outside-rule", "plugin": "outside"}])],
        plugin_dir=str(pdir))
    rc, out, err = w.run("--check-config")
    assert rc == EX_OK, outcome(rc, out, err)
    eml = tmp_path / "m.eml"
    eml.write_bytes(m)
    rc, out, err = w.test_message(eml)
    assert rc == EX_OK, outcome(rc, out, err)
    assert "X-Outside: yes" in out, out
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    [d] = w.delivered()
    assert header_values(d, "X-Outside") == ["yes"], d
    assert d.partition(b"\n\n")[2] == m.partition(b"\n\n")[2]


@pytest.mark.parametrize("which", ["major", "minor"])
def test_plugin_for_another_abi_is_refused(installed, plugin_cflags,
                                           tmp_path, which):
    major, minor = abi_version()
    theirs = (99, 0) if which == "major" else (major, minor + 7)
    pdir = _build_outside(tmp_path, plugin_cflags, "foreign",
                          FOREIGN_ABI_DECL % {"MAJOR": theirs[0],
                                              "MINOR": theirs[1],
                                              "NAME": "foreign"})
    w = World(tmp_path)
    w.write([mfconf.account("alice", None, server="127.0.0.1", port=9,
                            password="pw", rules=[
                                {"name": "f", "plugin": "foreign"}])],
            plugin_dir=str(pdir))
    eml = tmp_path / "m.eml"
    eml.write_bytes(mailgen.message())
    for args in (("--check-config",), ("-a", "alice", "--test-message",
                                       str(eml)), ()):
        rc, out, err = w.run(*args)
        assert rc == EX_CONFIG, outcome(rc, out, err)
        assert "foreign" in err, err
        assert "%d.%d" % theirs in err, (
            "the error should give the plugin's ABI %d.%d:\n%s"
            % (theirs + (err,)))
        assert "%d.%d" % (major, minor) in err, (
            "the error should give mailferry's ABI %d.%d:\n%s"
            % (major, minor, err))


# ---- 5. failing plugins ----------------------------------------------------

FAILING_SRC = r"""
#include <stdio.h>
#include <string.h>

#include <mailferry/plugin.h>

static const struct mf_host *host;

static int
init(const struct mf_host *h, const struct mf_options *options,
    void **state, char *err, size_t errlen)
{
	(void)options; (void)state;
	host = h;
	if (%(INIT_FAILS)d) {
		snprintf(err, errlen, "the licence key is missing");
		return -1;
	}
	return 0;
}

static enum mf_verdict
filter(void *state, struct mf_message *m, const struct mf_options *args,
    char *err, size_t errlen)
{
	const char *s = host->header_value(m, "Subject", 0, 1);

	(void)state; (void)args;
	if (s != NULL && strstr(s, "fail") != NULL) {
		snprintf(err, errlen, "the scanner database is unavailable");
		return MF_ERROR;
	}
	if (s != NULL && strstr(s, "bogus") != NULL)
		return (enum mf_verdict)42;
	return MF_CONTINUE;
}

MAILFERRY_PLUGIN(
	.name = "%(NAME)s",
	.version = "0.1",
	.init = init,
	.filter = filter,
);
"""


def _build_failing(tmp_path, name, init_fails):
    pdir = tmp_path / "plugins"
    pdir.mkdir(exist_ok=True)
    proc = compile_plugin(FAILING_SRC % {"NAME": name,
                                         "INIT_FAILS": int(init_fails)},
                          pdir / ("%s.so" % name))
    assert proc.returncode == 0, "%s\n%s" % (" ".join(proc.cmd), proc.stderr)
    return pdir


def test_plugin_init_failure_is_a_configuration_error(tmp_path):
    pdir = _build_failing(tmp_path, "grumpy", init_fails=True)
    w = World(tmp_path)
    w.write([mfconf.account("alice", None, server="127.0.0.1", port=9,
                            password="pw", rules=[
                                {"name": "g", "plugin": "grumpy"}])],
            plugin_dir=str(pdir))
    eml = tmp_path / "m.eml"
    eml.write_bytes(mailgen.message())
    for args in (("--check-config",), ("-a", "alice", "--test-message",
                                       str(eml)), ()):
        rc, out, err = w.run(*args)
        assert rc == EX_CONFIG, outcome(rc, out, err)
        assert "grumpy" in err, err
        assert "the licence key is missing" in err, err
        assert re.search(r"%s:\d+: " % re.escape(str(w.conf)), err), err


# ---- --check-config leaves no trace --------------------------------------

# A plugin whose init() says whether it was started to check, and, when
# not checking (or when it predates the flag: ABI 1.0), leaves a file in
# state_dir, as a plugin keeping a database there would.
TRACE_SRC = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <mailferry/plugin.h>

static int
init(const struct mf_host *h, const struct mf_options *options,
    void **state, char *err, size_t errlen)
{
	char path[4096];
	int fd;

	(void)options; (void)state;
	if (%(KNOWS_FLAG)d) {
		h->log(MF_LOG_WARNING, "init checking=%%d", h->checking);
		if (h->checking)
			return 0;
	}
	snprintf(path, sizeof path, "%%s/%(NAME)s.started", h->state_dir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %%s", path);
		return -1;
	}
	close(fd);
	return 0;
}

static enum mf_verdict
filter(void *state, struct mf_message *m, const struct mf_options *args,
    char *err, size_t errlen)
{
	(void)state; (void)m; (void)args; (void)err; (void)errlen;
	return MF_CONTINUE;
}

const struct mf_plugin mailferry_plugin = {
	.abi_major = MAILFERRY_PLUGIN_ABI_MAJOR,
	.abi_minor = %(MINOR)d,
	.name = "%(NAME)s",
	.version = "0.1",
	.init = init,
	.filter = filter,
};
"""


def _build_tracing(tmp_path, name, minor):
    pdir = tmp_path / "plugins"
    pdir.mkdir(exist_ok=True)
    proc = compile_plugin(TRACE_SRC % {"NAME": name, "MINOR": minor,
                                       "KNOWS_FLAG": int(minor >= 1)},
                          pdir / ("%s.so" % name))
    assert proc.returncode == 0, "%s\n%s" % (" ".join(proc.cmd), proc.stderr)
    return pdir


def test_check_config_starts_plugins_in_checking_mode(tmp_path):
    """--check-config starts a plugin of this ABI with host->checking set,
    creates no state_dir, and the plugin leaves nothing; a real start
    (here --test-message) has the flag clear and creates state_dir."""
    major, minor = abi_version()
    pdir = _build_tracing(tmp_path, "tracer", minor)
    copy_plugins(pdir, "dedup")
    w = World(tmp_path)
    w.write([mfconf.account("alice", None, server="127.0.0.1", port=9,
                            password="pw", rules=[
                                {"name": "t", "plugin": "tracer"},
                                {"name": "d", "plugin": "dedup"}])],
            plugin_dir=str(pdir),
            plugins=[{"name": "dedup", "options": {"window_days": 3}}])
    rc, out, err = w.run("--check-config")
    assert rc == EX_OK, outcome(rc, out, err)
    assert err == "mailferry: warning: plugin tracer: init checking=1\n", err
    assert "2 plugins" in out.splitlines()[0], out
    assert not w.state.exists(), "--check-config created state_dir"
    eml = tmp_path / "m.eml"
    eml.write_bytes(mailgen.message())
    rc, out, err = w.test_message(eml)
    assert rc == EX_OK, outcome(rc, out, err)
    assert "plugin tracer: init checking=0" in err, err
    assert (w.state / "tracer.started").is_file()
    assert (w.state / "dedup.db").is_file()
    assert w.state.stat().st_mode & 0o777 == 0o700


def test_check_config_does_not_start_an_abi_1_0_plugin(tmp_path):
    """A plugin built before the checking flag cannot promise to leave no
    trace: --check-config loads it, does not start it, and says so."""
    major, minor = abi_version()
    assert (major, minor) >= (1, 1), "the checking flag came with 1.1"
    pdir = _build_tracing(tmp_path, "oldie", 0)
    w = World(tmp_path)
    w.write([mfconf.account("alice", None, server="127.0.0.1", port=9,
                            password="pw", rules=[
                                {"name": "o", "plugin": "oldie"}])],
            plugin_dir=str(pdir))
    w.state.mkdir(mode=0o700)
    rc, out, err = w.run("--check-config")
    assert rc == EX_OK, outcome(rc, out, err)
    assert not (w.state / "oldie.started").exists(), (
        "--check-config started a plugin that cannot honour checking")
    assert err == ("mailferry: warning: plugin \"oldie\" (%s/oldie.so) is "
                   "built for plugin ABI 1.0: loaded but not started, so "
                   "its options and args are checked only when mailferry "
                   "runs; rebuild it to have them checked here\n" % pdir), err
    eml = tmp_path / "m.eml"
    eml.write_bytes(mailgen.message())
    rc, out, err = w.test_message(eml)
    assert rc == EX_OK, outcome(rc, out, err)
    assert (w.state / "oldie.started").is_file()


def test_plugin_error_defers_the_message(dovecot, ca, tmp_path):
    pdir = _build_failing(tmp_path, "flaky", init_fails=False)
    copy_plugins(pdir, "headers")
    failing = mailgen.message(subject="this one will fail")
    bogus = mailgen.message(subject="bogus verdict")
    fine = [mailgen.message(subject="fine %d" % i) for i in range(2)]
    for m in (fine[0], failing, bogus, fine[1]):
        dovecot.deliver("alice", m)
    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=False, rules=[
        {"name": "scan", "plugin": "flaky"},
        {"name": "tag", "plugin": "headers",
         "args": {"add": {"X-Scanned": "yes"}}}])],
        plugin_dir=str(pdir))
    for run in (1, 2):
        rc, out, err = w.run()
        assert rc == DEFERRED_RC, outcome(rc, out, err)
        s = summary(out, "alice")
        assert int(s["delivered"]) == (2 if run == 1 else 0), s.group(0)
        assert int(s["failed"]) == 2, s.group(0)
        lines = [l for l in err.splitlines() if "flaky" in l]
        assert any("the scanner database is unavailable" in l
                   for l in lines), (
            "the error should name the plugin and its reason:\n" + err)
        assert len(lines) >= 2, "both deferred messages should be " \
            "reported naming the plugin:\n" + err
        got = w.delivered()
        assert len(got) == 2 and all(
            header_values(d, "X-Scanned") == ["yes"] for d in got)
        unrecorded(w, dovecot, [failing, bogus])
        assert_same_messages(dovecot.stored_messages("alice"),
                             [failing, bogus], "server mailbox")
