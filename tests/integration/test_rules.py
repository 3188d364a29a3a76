"""Rules (mailferry.conf(5), RULES; mailferry(1)) end to end: the shipped rule sets in
rules/ and their sample messages in tests/rules/, --test-message,
--check-config, runaway regexes, dry runs, and every rule action and
condition against a private Dovecot.

Each test writes its own configuration (lib/rulestest.py on top of
lib/mfconf.py) into tmp_path and runs the real binary (MAILFERRY_BIN).
"""

import base64
import os
import re

import pytest

import mailgen
import mfconf
from rulestest import (EX_CONFIG, EX_DATAERR, EX_OK, RULES_DIR,
                       SAMPLES_DIR, World, assert_counts,
                       assert_same_messages, describe, include, outcome,
                       pop3_size, raw, result_line, summary)

EX_NOINPUT = 66

RULE_SETS = sorted(p.stem for p in RULES_DIR.glob("*.rules"))

# What each shipped rule set does with the messages it matches, as the
# start of the --test-message `result:` line.
SET_DECISION = {
    "drop-test-messages": "result: delete from the server",
    "mailing-lists": "result: deliver to lists",
    "quarantine-large-attachments": "result: deliver to quarantine",
}
FALL_THROUGH = "result: deliver to inbox"


def rule_names(rule_set):
    """The names of the rules in rules/RULE_SET.rules."""
    text = (RULES_DIR / ("%s.rules" % rule_set)).read_text()
    return re.findall(r'\bname\s*=\s*"([^"]+)"', text)


def account(dovecot, ca, **extra):
    """alice over implicit TLS, verified against the test CA."""
    return mfconf.account("alice", dovecot, tls="implicit",
                          tls_ca_file=ca.ca_file, **extra)


def offline_account(**extra):
    """An account for offline use (--test-message, --check-config): its
    server is a port nothing should ever connect to."""
    return mfconf.account("alice", None, server="127.0.0.1", port=9,
                          password="alice-secret", **extra)


def deliver_all(dovecot, msgs, user="alice"):
    for m in msgs:
        dovecot.deliver(user, m)


# ---- 1. drop-test-messages against a real server --------------------------

def test_drop_test_messages_deletes_from_server_even_with_keep(
        dovecot, ca, tmp_path):
    tests = [
        mailgen.message(subject="[TEST] plain tag"),
        mailgen.message(subject=mailgen.encode_word("[TEST] héllo wörld",
                                                    "UTF-8", "B")),
        mailgen.message(subject=mailgen.encode_word("[TEST] café crème",
                                                    "ISO-8859-1", "Q")),
        # Brackets encoded too, lower-case charset and encoding letter.
        mailgen.message(subject="=?iso-8859-1?q?=5BTEST=5D_r=E9sum=E9?="),
        # Folded before the tag: unfolded, the value starts with blanks.
        mailgen.message(subject="\n [TEST] folded subject"),
    ]
    normal = mailgen.generate(6, seed="drop-tests-normal") + [
        mailgen.message(subject="Re: [TEST] results are in"),
        mailgen.message(subject=mailgen.encode_word("Résumé [TEST] inside")),
        mailgen.message(subject="Testing plan for Q3"),
        mailgen.message(subject="TEST-driven design",
                        body="[TEST] only in the body\nX-Test: no\n"),
    ]
    # Interleaved, so deletions sit between deliveries.
    order = []
    for i in range(max(len(tests), len(normal))):
        order += normal[i:i + 1] + tests[i:i + 1]
    deliver_all(dovecot, order)
    uids = dovecot.uids()
    test_uids = {u for u, m in zip(uids, order) if m in tests}
    normal_uids = set(uids) - test_uids

    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=True,
                     rules=include("drop-test-messages"))])
    rc, out, err = w.run("-v")
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", len(order), len(normal),
                  deleted=len(tests))
    assert_same_messages(w.delivered(), normal, "Maildir after the run")
    assert_same_messages(dovecot.stored_messages("alice"), normal,
                         "server mailbox after the run (keep = true)")
    assert set(dovecot.uids()) == normal_uids
    # -v: one line per message, the deleted ones naming the deciding rule.
    for n, m in enumerate(order, 1):
        lines = [l for l in err.splitlines()
                 if re.search(r"\balice: message %d \(" % n, l)]
        assert len(lines) == 1, "-v: expected one line for message %d " \
            "(%s):\n%s" % (n, describe(m), err)
        if m in tests:
            assert '"drop-test-subject-tag"' in lines[0], lines[0]
            assert "delete" in lines[0], lines[0]
    # Only delivered messages are remembered; deleted ones left the server.
    assert w.store() == normal_uids, (
        "UID store %s, expected the delivered messages' UIDs %s"
        % (sorted(w.store()), sorted(normal_uids)))

    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 0, 0, deleted=0)
    assert_same_messages(w.delivered(), normal, "Maildir after run 2")
    assert_same_messages(dovecot.stored_messages("alice"), normal,
                         "server mailbox after run 2")


# ---- 2. the sample messages of every rule set ------------------------------

def _samples():
    out = []
    for d in sorted(SAMPLES_DIR.iterdir()):
        if d.is_dir():
            for f in sorted(d.glob("*.eml")):
                out.append(pytest.param(d.name, f, id="%s/%s" % (d.name,
                                                               f.name)))
    return out


def test_every_rule_set_has_samples_and_every_sample_a_rule_set():
    dirs = sorted(d.name for d in SAMPLES_DIR.iterdir() if d.is_dir())
    assert dirs == RULE_SETS, (
        "tests/rules/ directories %s do not match rules/*.rules %s"
        % (dirs, RULE_SETS))
    assert set(SET_DECISION) == set(RULE_SETS), (
        "a rule set without a known decision in this test: %s"
        % sorted(set(RULE_SETS) ^ set(SET_DECISION)))
    for d in dirs:
        names = [f.name for f in (SAMPLES_DIR / d).iterdir()]
        odd = [n for n in names if not re.fullmatch(
            r"(match|nomatch)-[A-Za-z0-9_-]+\.eml", n)]
        assert not odd, "%s: files not named match-*.eml or nomatch-*.eml:" \
            " %s" % (d, odd)


@pytest.fixture
def all_sets(tmp_path):
    """A configuration including the three rule sets, with the
    destinations they route to."""
    w = World(tmp_path, dests=("inbox", "lists", "quarantine"))
    w.write([offline_account(rules=include(*RULE_SETS))])
    return w


@pytest.mark.parametrize("rule_set,sample", _samples())
def test_sample_message_decision(all_sets, rule_set, sample):
    rc, out, err = all_sets.test_message(sample)
    assert rc == EX_OK, outcome(rc, out, err)
    result = result_line(out)
    if sample.name.startswith("match-"):
        assert result.startswith(SET_DECISION[rule_set]), (
            "%s should be decided by %s (%s...):\n%s"
            % (sample.name, rule_set, SET_DECISION[rule_set], out))
        assert any(n in result for n in rule_names(rule_set)), (
            "the result should name a rule of %s %s:\n%s"
            % (rule_set, rule_names(rule_set), out))
    else:
        assert result.startswith(FALL_THROUGH), (
            "%s should fall through to the account's deliver:\n%s"
            % (sample.name, out))
    assert not any(p.exists() for p in all_sets.maildirs.values()), (
        "--test-message created a mailbox")


def _large_message(with_attachment, named_part_only=False, size=10_500_000):
    """A message over SIZE bytes: a text part and a base64 part that is an
    attachment (Content-Disposition, or only a name= parameter), or the
    same size as plain text lines with no attachment at all."""
    line = base64.b64encode(bytes(range(57))) + b"\n"    # 76 columns
    filler = line * (size // len(line) + 1)
    head = (b"From: sender@example.org\nTo: alice@example.com\n"
            b"Subject: big one\nMessage-ID: <big.%d@example.test>\n"
            b"MIME-Version: 1.0\n" % with_attachment)
    if not with_attachment:
        return (head + b"Content-Type: text/plain; charset=us-ascii\n\n"
                + filler)
    part = (b'Content-Type: application/octet-stream; name="big.bin"\n'
            if named_part_only else
            b"Content-Type: application/octet-stream\n"
            b'Content-Disposition: attachment; filename="big.bin"\n')
    return (head + b'Content-Type: multipart/mixed; boundary="zz"\n\n'
            b"--zz\nContent-Type: text/plain\n\nsee the attachment\n"
            b"--zz\n" + part + b"Content-Transfer-Encoding: base64\n\n"
            + filler + b"--zz--\n")


@pytest.mark.parametrize("kind,expected", [
    ("attachment", "result: deliver to quarantine"),
    ("named-part", "result: deliver to quarantine"),
    ("no-attachment", FALL_THROUGH),
], ids=["attachment", "named-part", "no-attachment"])
def test_large_messages_and_quarantine(all_sets, tmp_path, kind, expected):
    m = _large_message(kind != "no-attachment",
                       named_part_only=kind == "named-part")
    assert len(m) > 10_000_000
    path = tmp_path / ("large-%s.eml" % kind)
    path.write_bytes(m)
    rc, out, err = all_sets.test_message(path)
    assert rc == EX_OK, outcome(rc, out, err)
    assert result_line(out).startswith(expected), out


ENCODED_SUBJECTS = {
    # The tag split over two encoded-words (the blank between them goes).
    "split-q": b"=?UTF-8?Q?[TE?= =?UTF-8?Q?ST]_x?=",
    # ... and over a fold.
    "split-b-folded": b"=?UTF-8?B?W1RF?=\n =?UTF-8?B?U1Rd?= hi",
    # RFC 2231 language tag, another charset, lower-case letters.
    "language": b"=?UTF-8*en?Q?[TEST]_lang?=",
    "windows-1252": b"=?windows-1252?Q?[TEST]_=80uro?=",
    "lower-case": b"=?utf-8?b?W1RFU1Rd?= lower",
    "tab-between": b"=?UTF-8?Q?=5BTEST=5D?=\t=?UTF-8?Q?_tab?=",
    "no-blank-after-colon": None,
}


@pytest.mark.parametrize("kind", sorted(ENCODED_SUBJECTS))
def test_encoded_and_odd_test_subjects_are_dropped(all_sets, tmp_path, kind):
    subject = ENCODED_SUBJECTS[kind]
    if subject is None:
        m = b"From: a@example.org\nsUbJeCt:[TEST] no blank\n\nbody\n"
    else:
        m = b"From: a@example.org\nSubject: " + subject + b"\n\nbody\n"
    path = tmp_path / ("subject-%s.eml" % kind)
    path.write_bytes(m)
    rc, out, err = all_sets.test_message(path)
    assert rc == EX_OK, outcome(rc, out, err)
    assert result_line(out).startswith(SET_DECISION["drop-test-messages"]), \
        out


def test_quarantine_on_a_real_fetch(dovecot, ca, tmp_path):
    big_attached = _large_message(True)
    big_plain = _large_message(False)
    small_attached = (SAMPLES_DIR / "quarantine-large-attachments" /
                      "nomatch-small-attachment.eml").read_bytes()
    deliver_all(dovecot, [big_attached, small_attached, big_plain])
    w = World(tmp_path, dests=("inbox", "lists", "quarantine"))
    w.write([account(dovecot, ca, rules=include(*RULE_SETS))])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 3, 3)
    assert_same_messages(w.delivered("quarantine"), [big_attached],
                         "quarantine")
    assert_same_messages(w.delivered("inbox"), [small_attached, big_plain],
                         "inbox")
    assert w.delivered("lists") == []


# ---- 3. --test-message on what is not a message -----------------------------

JUNK = {
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00"
            b"\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa" + bytes(range(256))),
    "random-no-nul": bytes((i * 197 + 13) % 255 + 1 for i in range(4096)),
    "empty": b"",
    "blank-lines": b"\n\n\n",
    "plain-text": b"just some words\nno header at all\n",
}


@pytest.mark.parametrize("kind", sorted(JUNK))
def test_test_message_refuses_non_messages(tmp_path, sentinel, kind):
    w = World(tmp_path)
    w.write([sentinel.account(rules=include("drop-test-messages"))])
    path = tmp_path / ("junk-%s.eml" % kind)
    path.write_bytes(JUNK[kind])
    rc, out, err = w.test_message(path)
    assert rc == EX_DATAERR, outcome(rc, out, err)
    assert path.name in err, "the error should name the file: %r" % err
    assert "result:" not in out
    assert sentinel.connections() == 0


def test_test_message_on_a_missing_file(tmp_path, sentinel):
    w = World(tmp_path)
    w.write([sentinel.account()])
    rc, out, err = w.test_message(tmp_path / "nosuch.eml")
    assert rc == EX_NOINPUT, outcome(rc, out, err)
    assert "nosuch.eml" in err, err


def test_test_message_names_the_matching_rule_and_touches_nothing(
        tmp_path, sentinel):
    w = World(tmp_path, dests=("inbox", "lists", "quarantine"))
    w.write([sentinel.account(keep=False,
                              rules=include(*RULE_SETS))])
    sample = SAMPLES_DIR / "mailing-lists" / "match-list-id.eml"
    before = sample.read_bytes()
    rc, out, err = w.test_message(sample)
    assert rc == EX_OK, outcome(rc, out, err)
    assert result_line(out).startswith("result: deliver to lists"), out
    assert "list-id" in result_line(out), out
    # The trace names the rule with where it is defined.
    assert re.search(r'(?m)^rule \d+ "list-id" \(%s:\d+\):$'
                     % re.escape(str(RULES_DIR / "mailing-lists.rules")),
                     out), "the trace should name the rule and its file:\n" \
        + out
    assert re.search(r"(?m)^  matched$", out), out
    # A deleting decision, offline: nothing is touched either.
    rc, out, err = w.test_message(SAMPLES_DIR / "drop-test-messages" /
                                  "match-tag.eml")
    assert rc == EX_OK, outcome(rc, out, err)
    assert "drop-test-subject-tag" in result_line(out), out
    assert sentinel.connections() == 0, "--test-message connected"
    assert not any(p.exists() for p in w.maildirs.values())
    assert w.records() == []
    assert sample.read_bytes() == before


# ---- 4. --check-config -----------------------------------------------------

def _rule_lines(text, name):
    """The first and last line numbers of the rule named NAME, as mfconf
    renders it (one setting per line, `action` last)."""
    first = mfconf.line_of(text, 'name = "%s";' % name) - 1
    return first, mfconf.line_of(text, "action = ", first + 1) + 1


BAD_REGEXES = {
    "header": {"header": "Subject", "regex": "^(unclosed"},
    "body": {"body": "[z-a]"},
    "nested": {"all": [{"header": "From", "regex": "ok"},
                       {"not": {"any": [{"size_over": 10},
                                        {"body": "a{2,1}"}]}}]},
}


@pytest.mark.parametrize("where", sorted(BAD_REGEXES))
def test_check_config_bad_regex_points_at_the_rule(tmp_path, sentinel,
                                                    where):
    rules = [
        {"name": "fine", "match": {"header": "Subject", "regex": "^ok$"},
         "action": "skip"},
        {"name": "broken", "match": BAD_REGEXES[where], "action": "delete"},
        {"name": "also-fine", "match": {"body": "x+"}, "deliver": "inbox"},
    ]
    w = World(tmp_path)
    text = w.write([sentinel.account(rules=rules)])
    first, last = _rule_lines(text, "broken")
    for args in (("--check-config",), ()):
        rc, out, err = w.run(*args)
        assert rc == EX_CONFIG, outcome(rc, out, err) + text
        m = re.search(r"(?m)^(?:mailferry: )?%s:(\d+): " % re.escape(
            str(w.conf)), err)
        assert m, "expected CONF:LINE: in the error:\n%s\n%s" % (err, text)
        assert first <= int(m.group(1)) <= last, (
            "the error points at line %s, the rule is on lines %d-%d:\n%s\n%s"
            % (m.group(1), first, last, err, text))
        assert "broken" in err, err
        assert out == "", "nothing should be printed on stdout: %r" % out
    assert sentinel.connections() == 0


def test_check_config_bad_regex_in_an_included_rule_file(tmp_path, sentinel):
    rules_file = tmp_path / "mine.rules"
    rules_file.write_text(
        '# my rules\n'
        '{ name = "good"; match = { header = "Subject"; regex = "a"; };\n'
        '  action = "skip"; },\n'
        '{ name = "bad";\n'
        '  match = { body = "x)"; };\n'
        '  action = "delete"; }\n')
    w = World(tmp_path)
    w.write([sentinel.account(rules=raw(
        '@include "%s"' % rules_file))])
    rc, out, err = w.run("--check-config")
    assert rc == EX_CONFIG, outcome(rc, out, err)
    m = re.search(r"%s:(\d+): " % re.escape(str(rules_file)), err)
    assert m, "the error should point into the included file:\n" + err
    assert 4 <= int(m.group(1)) <= 6, err
    assert sentinel.connections() == 0


@pytest.mark.parametrize("where", ["rule", "plugins-list"])
def test_check_config_missing_plugin(tmp_path, sentinel, where):
    w = World(tmp_path)
    if where == "rule":
        rules = [{"name": "spam", "plugin": "no-such-plugin",
                  "args": {"command": "/bin/true"}}]
        text = w.write([sentinel.account(rules=rules)])
        line = mfconf.line_of(text, 'plugin = "no-such-plugin"')
    else:
        text = w.write([sentinel.account()],
                       plugins=[{"name": "no-such-plugin",
                                 "options": {"x": 1}}])
        line = mfconf.line_of(text, '"no-such-plugin"')
    rc, out, err = w.run("--check-config")
    assert rc == EX_CONFIG, outcome(rc, out, err) + text
    assert "no-such-plugin" in err, err
    m = re.search(r"%s:(\d+): " % re.escape(str(w.conf)), err)
    assert m, "expected CONF:LINE: in the error:\n" + err
    assert abs(int(m.group(1)) - line) <= 2, (
        "the error points at line %s, the plugin is named on line %d:\n%s"
        % (m.group(1), line, err))
    assert sentinel.connections() == 0


def test_check_config_valid_with_rules_and_plugins(tmp_path, sentinel):
    w = World(tmp_path, dests=("inbox", "lists", "quarantine", "junk"))
    rules = raw(",\n".join([
        '{ name = "dedup"; plugin = "dedup"; }',
        '{ name = "tag"; plugin = "headers"; '
        'args = { add = { X-Original-Account = "%a"; }; }; }',
        '{ name = "spam"; plugin = "pipe"; args = { command = "/bin/cat"; '
        'match_status = 1; timeout = 5; }; deliver = "junk"; }',
    ] + ['@include "%s"' % (RULES_DIR / ("%s.rules" % s))
         for s in RULE_SETS]))
    w.write([sentinel.account(rules=rules)],
            plugins=[{"name": "dedup", "options": {"window_days": 30}}])
    rc, out, err = w.run("--check-config")
    assert rc == EX_OK, outcome(rc, out, err)
    first = out.splitlines()[0]
    assert first.startswith("%s: OK: " % w.conf), out
    assert "3 plugins" in first, first
    assert err == "", "a valid configuration drew complaints: %r" % err
    assert sentinel.connections() == 0, "--check-config connected"


# ---- 5. runaway regexes ----------------------------------------------------

# A body regex, a body it matches quickly, and a body on which it backtracks
# catastrophically (about 1 MB).
RUNAWAY = {
    "nested-plus": ("(a+)+$", b"aaaa\n"),
    "alternation": ("(a|aa)+b", b"aaab\n"),
}


@pytest.mark.parametrize("kind", sorted(RUNAWAY))
def test_catastrophic_backtracking_never_loses_the_message(
        dovecot, ca, tmp_path, kind):
    if os.environ.get("MAILFERRY_NO_JIT") and kind == "alternation":
        # PCRE2's interpreter (make valgrind) sees at once that no "b"
        # is there: a correct no-match, not a runaway to test.
        pytest.skip("the interpreter proves this one a quick no-match")
    regex, quick = RUNAWAY[kind]
    evil = mailgen.message(subject="evil", body=b"a" * 1_000_000 + b"!\n")
    fast = mailgen.message(subject="fast match", body=quick)
    other = mailgen.message(subject="other", body="nothing to see\n")
    deliver_all(dovecot, [fast, evil, other])

    w = World(tmp_path, dests=("inbox", "junk", "rest"))
    rules = [
        {"name": "runaway", "match": {"body": regex}, "deliver": "junk"},
        # Were the runaway rule silently a no-match, the message would end
        # here, not in the account's destination.
        {"name": "catch-all", "deliver": "rest"},
    ]
    w.write([account(dovecot, ca, rules=rules, keep=False)])
    rc, out, err = w.run(timeout=120)

    # mailferry.conf(5), Conditions: a rule that cannot be evaluated
    # sends the message to the account's deliver, with a warning; the run
    # itself succeeds.
    assert rc == EX_OK, outcome(rc, out, err)
    assert_same_messages(w.delivered("junk"), [fast], "junk")
    assert_same_messages(w.delivered("rest"), [other], "rest")
    warn = [l for l in err.splitlines() if "runaway" in l]
    assert warn, "stderr should warn naming the rule:\n" + err
    assert_same_messages(w.delivered("inbox"), [evil],
                         "inbox (the account's deliver)")
    assert_counts(out, "alice", 3, 3)
    assert dovecot.count("alice") == 0


# ---- 6. dry run with a delete rule -----------------------------------------

def test_dry_run_with_delete_rule_changes_nothing(dovecot, ca, tmp_path):
    tests = [mailgen.message(subject="[TEST] dry %d" % i) for i in range(3)]
    normal = [mailgen.message(subject="real %d" % i) for i in range(2)]
    deliver_all(dovecot, tests[:2] + normal + tests[2:])
    before = dovecot.stored_messages("alice")
    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=False,
                     rules=include("drop-test-messages"))])
    for flag in ("-n", "--dry-run"):
        rc, out, err = w.run(flag, "-v")
        assert rc == EX_OK, outcome(rc, out, err)
        s = summary(out, "alice")
        assert int(s["new"]) == 5 and int(s["deleted"]) == 3, s.group(0)
        assert "dry run" in out.lower(), s.group(0)
        assert w.delivered() == [], "a dry run delivered"
        assert w.records() == [], "a dry run recorded UIDs"
        assert not os.path.exists(w.state / "dedup.db")
        assert_same_messages(dovecot.stored_messages("alice"), before,
                             "server mailbox after " + flag)
    # The real run does it.
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 5, 2, deleted=3)
    assert_same_messages(w.delivered(), normal, "Maildir")
    assert dovecot.count("alice") == 0


# ---- 7. actions, ordering and conditions -----------------------------------

@pytest.mark.parametrize("keep", [True, False], ids=["keep", "nokeep"])
def test_skip_leaves_it_on_the_server_and_remembers_it(dovecot, ca,
                                                       tmp_path, keep):
    skipped = [mailgen.message(subject="skip me %d" % i,
                               headers={"X-Skip": "yes"}) for i in range(2)]
    normal = [mailgen.message(subject="normal %d" % i) for i in range(3)]
    deliver_all(dovecot, [normal[0], skipped[0], normal[1], skipped[1],
                          normal[2]])
    uids = dovecot.uids()
    skipped_uids = {uids[1], uids[3]}
    w = World(tmp_path)
    w.write([account(dovecot, ca, keep=keep, rules=[
        {"name": "skipper", "match": {"header": "X-Skip", "regex": "^yes$"},
         "action": "skip"}])])
    for run in (1, 2, 3):
        rc, out, err = w.run()
        assert rc == EX_OK, outcome(rc, out, err)
        s = summary(out, "alice")
        if run == 1:
            assert (int(s["new"]), int(s["delivered"])) == (5, 3), s.group(0)
            assert "2 skipped" in s["rest"], s.group(0)
        else:
            assert (int(s["new"]), int(s["delivered"])) == (0, 0), (
                "run %d fetched again: %s" % (run, s.group(0)))
        assert_same_messages(w.delivered(), normal, "Maildir, run %d" % run)
        on_server = dovecot.stored_messages("alice")
        assert_same_messages(on_server, skipped + (normal if keep else []),
                             "server mailbox after run %d" % run)
        assert skipped_uids <= w.store(), (
            "run %d: skipped messages are not remembered: %s"
            % (run, sorted(w.store())))


def test_deliver_to_two_destinations(dovecot, ca, tmp_path):
    both_list = mailgen.message(subject="to a and b (list)",
                                headers={"X-Route": "list"})
    both_array = mailgen.message(subject="to a and c (array)",
                                 headers={"X-Route": "array"})
    plain = mailgen.message(subject="plain")
    deliver_all(dovecot, [both_list, both_array, plain])
    w = World(tmp_path, dests=("inbox", "a", "b", "c"))
    rules = raw(
        '{ name = "two-list"; match = { header = "X-Route"; '
        'regex = "^list$"; }; deliver = ( "a", "b" ); },\n'
        '{ name = "two-array"; match = { header = "X-Route"; '
        'regex = "^array$"; }; deliver = [ "a", "c" ]; }')
    w.write([account(dovecot, ca, rules=rules)])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 3, 3)
    assert_same_messages(w.delivered("a"), [both_list, both_array], "a")
    assert_same_messages(w.delivered("b"), [both_list], "b")
    assert_same_messages(w.delivered("c"), [both_array], "c")
    assert_same_messages(w.delivered("inbox"), [plain], "inbox")
    assert len(w.store()) == 3
    rc, out, err = w.run()
    assert_counts(out, "alice", 0, 0)
    assert len(w.delivered("a")) == 2


def test_first_deciding_rule_wins_and_stop(dovecot, ca, tmp_path):
    first = mailgen.message(subject="order", headers={"X-Order": "both"})
    stopped = mailgen.message(subject="stop here",
                              headers={"X-Stop": "yes", "X-Order": "late"})
    stop_only = mailgen.message(subject="stop, no plugin",
                                headers={"X-Stop-Plain": "1"})
    rest = mailgen.message(subject="falls to the end")
    deliver_all(dovecot, [first, stopped, stop_only, rest])
    w = World(tmp_path, dests=("inbox", "a", "late"))
    rules = [
        # A plugin rule that continues does not decide...
        {"name": "tag-all", "plugin": "headers",
         "args": {"add": {"X-Seen-By": "tag-all"}}},
        # ... nor does one whose condition fails.
        {"name": "no-match", "match": {"header": "X-Nothing", "regex": ""},
         "action": "delete"},
        {"name": "first", "match": {"header": "X-Order", "regex": "^both$"},
         "deliver": "a"},
        {"name": "second", "match": {"header": "X-Order", "regex": "both"},
         "action": "delete"},
        # stop = true: after the plugin's change, deliver as it stands
        # (the account's deliver), whatever the later rules say.
        {"name": "stopper", "match": {"header": "X-Stop", "regex": "yes"},
         "plugin": "headers", "args": {"add": {"X-Stopped": "yes"}},
         "stop": True},
        {"name": "plain-stop", "match": {"header": "X-Stop-Plain",
                                         "regex": "."}, "stop": True},
        {"name": "late", "match": {"header": "X-Order", "regex": "late"},
         "deliver": "late"},
        {"name": "drop-rest", "match": {"not": {"header": "X-Keep",
                                                "regex": "."}},
         "action": "delete"},
    ]
    w.write([account(dovecot, ca, rules=rules)])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 4, 3, deleted=1)
    tag = b"X-Seen-By: tag-all\n"

    def hdr(m):
        return m.split(b"\n\n", 1)[0] + b"\n"

    a = w.delivered("a")
    assert len(a) == 1 and tag in hdr(a[0]), a
    assert a[0].split(b"\n\n", 1)[1] == first.split(b"\n\n", 1)[1]
    inbox = w.delivered("inbox")
    assert len(inbox) == 2, [describe(m) for m in inbox]
    by_subject = {re.search(rb"(?m)^Subject: (.*)$", m).group(1): m
                  for m in inbox}
    s = by_subject[b"stop here"]
    assert tag in hdr(s) and b"X-Stopped: yes\n" in hdr(s), s
    assert s.split(b"\n\n", 1)[1] == stopped.split(b"\n\n", 1)[1]
    assert tag in hdr(by_subject[b"stop, no plugin"])
    assert w.delivered("late") == []
    assert dovecot.count("alice") == 3, "only `rest` should be deleted"
    assert rest not in dovecot.stored_messages("alice")


def test_conditions_headers_body_and_combinations(dovecot, ca, tmp_path):
    cases = {
        # name: (message, expected destination)
        "case": (mailgen.message(subject="case",
                                 headers={"X-MIXED-case": "Yes Indeed"}),
                 "a"),
        "folded": (mailgen.message(subject="folded",
                                   headers={"X-Folded": "one\n two\n three"}),
                   "b"),
        "second-occurrence": (
            mailgen.message(subject="two occurrences",
                            headers={"X-Tag": "first"})
            .replace(b"\n\n", b"\nX-Tag: second\n\n", 1), "c"),
        "encoded-from": (
            mailgen.message(subject="from", sender="%s <jm@example.org>"
                            % mailgen.encode_word("Jörg Müller", "UTF-8",
                                                  "Q")), "d"),
        "boss": (mailgen.message(subject="report",
                                 sender="The Boss <boss@example.org>"),
                 "e"),
        "boss-lunch": (mailgen.message(subject="Lunch?",
                                       sender="boss@example.org"), "inbox"),
        "boss-urgent": (mailgen.message(subject="report 2",
                                        sender="boss@example.org",
                                        body="see\nurgent\nnow\n"), "inbox"),
        "body-not-header": (mailgen.message(subject="Secret stuff",
                                            body="nothing here\n"),
                            "inbox"),
        "body": (mailgen.message(subject="plain",
                                 body="first\nSecret stuff\n"), "f"),
    }
    deliver_all(dovecot, [m for m, _ in cases.values()])
    w = World(tmp_path, dests=("inbox", "a", "b", "c", "d", "e", "f"))
    rules = [
        {"name": "case", "match": {"header": "x-Mixed-CASE",
                                   "regex": "^Yes Indeed$"}, "deliver": "a"},
        {"name": "folded", "match": {"header": "X-FOLDED",
                                     "regex": "^one two three$"},
         "deliver": "b"},
        {"name": "occurrence", "match": {"header": "x-tag",
                                         "regex": "^second$"},
         "deliver": "c"},
        {"name": "decoded", "match": {"header": "From",
                                      "regex": "^Jörg Müller <"},
         "deliver": "d"},
        {"name": "combo", "match": {"all": [
            {"header": "From", "regex": "boss@"},
            {"not": {"any": [{"header": "Subject", "regex": "(?i)lunch"},
                             {"body": "(?m)^urgent$"}]}}]},
         "deliver": "e"},
        {"name": "body", "match": {"body": "(?m)^Secret stuff$"},
         "deliver": "f"},
    ]
    w.write([account(dovecot, ca, rules=rules)])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", len(cases), len(cases))
    got = w.all_delivered()
    for dest in w.maildirs:
        want = [m for m, d in cases.values() if d == dest]
        names = [n for n, (_, d) in cases.items() if d == dest]
        assert_same_messages(got[dest], want, "%s (expected %s)" % (dest,
                                                                   names))


def _message_of_list_size(subject, list_size, lines):
    """A message with LINES short body lines whose POP3 LIST size (CRLF)
    is exactly LIST_SIZE."""
    base = mailgen.message(subject=subject, body="")
    body_lines = [b"x"] * (lines - 1)
    m = base + b"\n".join(body_lines) + b"\n"
    need = list_size - pop3_size(m)
    assert need >= 2
    m += b"y" * (need - 2) + b"\n"         # counts need - 1 + 2 (CRLF)
    assert pop3_size(m) == list_size
    return m


def test_size_over_uses_the_size_the_server_lists(dovecot, ca, tmp_path):
    limit = 20_000
    # Over the limit only when counted as the server counts it (CRLF).
    crlf_over = _message_of_list_size("over by CRLF", limit + 200, 1000)
    assert len(crlf_over) < limit
    exact = _message_of_list_size("exactly the limit", limit, 10)
    one_over = _message_of_list_size("one over", limit + 1, 10)
    small = mailgen.message(subject="small")
    deliver_all(dovecot, [crlf_over, exact, one_over, small])
    w = World(tmp_path, dests=("inbox", "big"))
    w.write([account(dovecot, ca, rules=[
        {"name": "big", "match": {"size_over": limit}, "deliver": "big"}])])
    rc, out, err = w.run()
    assert rc == EX_OK, outcome(rc, out, err)
    assert_counts(out, "alice", 4, 4)
    assert_same_messages(w.delivered("big"), [crlf_over, one_over], "big")
    assert_same_messages(w.delivered("inbox"), [exact, small], "inbox")
