"""IMAP accounts end to end against a private Dovecot serving IMAP: the
mixed mailbox in two folders fetched byte-exact over implicit TLS and
STARTTLS and recorded by folder, UIDVALIDITY and UID; a second run that
fetches nothing and a third that fetches exactly what arrived; flags
left alone unless mark_seen; keep = false, rule deletes and keep_days
removing exactly mailferry's messages while another client's \\Deleted
one stays; move_to; a recreated folder; header-only rules reading only
headers; a folder that cannot be opened; dry runs and the Received
field. The daemon, fault and kill tests are in test_imap_daemon.py,
test_imap_faults.py and test_imap_crash.py.
"""

import os
import re
import time

import pytest

import imapkit
import mailgen
import mfconf
from harness import run_mailferry, write_config
from msgcheck import assert_same_messages

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 0, 69, 75, 78
STORE_MAGIC = "mailferry-uids 1"
DAY = 86400


# ---- helpers ----------------------------------------------------------------

class World:
    """One test's mailferry: configuration, Maildir and state under
    tmp_path, fetching from the Dovecot as "alice"."""

    def __init__(self, tmp_path, dovecot, ca=None):
        self.dir = tmp_path
        self.dc = dovecot
        self.ca = ca
        self.conf = tmp_path / "mailferry.conf"
        self.maildir = tmp_path / "Maildir"
        self.state = tmp_path / "state"

    def configure(self, tls="implicit", dests=None, **extra):
        if tls != "none" and self.ca is not None:
            extra.setdefault("tls_ca_file", self.ca.ca_file)
        acct = imapkit.account("alice", self.dc, tls=tls, **extra)
        if dests is None:
            dests = {"inbox": mfconf.maildir(self.maildir)}
        write_config(self.conf, mfconf.config(self.state, dests, [acct]))

    def run(self, *args, rc=EX_OK, quiet=True):
        code, out, err = run_mailferry(self.conf, *args)
        assert code == rc, "exit %d, expected %d\n--- stdout ---\n%s\n" \
            "--- stderr ---\n%s" % (code, rc, out, err)
        if quiet and rc == EX_OK and not args:
            assert err == "", "a clean run wrote to stderr:\n" + err
        return out, err

    def delivered(self):
        d = self.maildir / "new"
        if not d.is_dir():
            return []
        return [(d / n).read_bytes() for n in sorted(os.listdir(d))]

    def records(self):
        path = self.state / "alice.uids"
        if not path.exists():
            return []
        lines = path.read_text().split("\n")
        assert lines[-1] == "", "%s does not end with a newline" % path
        assert lines[0] == STORE_MAGIC, "%s: first line %r" % (path,
                                                               lines[0])
        return [l for l in lines[1:-1] if l]

    def store(self):
        """{(folder, uidvalidity, uid): epoch} of the "+" records."""
        out = {}
        for rec in self.records():
            f = rec.split(" ")
            if f[0] != "+":
                continue
            assert len(f) == 3 and f[2].isdigit(), "bad record %r" % rec
            out[parse_key(f[1])] = int(f[2])
        return out


def parse_key(key):
    """FOLDER:UIDVALIDITY:UID, in the folder's name every byte outside
    0x21-0x7e, "%" and ":" written %XX."""
    m = re.fullmatch(r"([\x21-\x7e]+):([0-9]+):([0-9]+)", key)
    assert m, "UID store key %r is not FOLDER:UIDVALIDITY:UID" % key
    folder = re.sub(rb"%([0-9A-F]{2})", lambda x: bytes([int(x.group(1),
                                                             16)]),
                    m.group(1).encode()).decode()
    return folder, int(m.group(2)), int(m.group(3))


def summary(out, account="alice"):
    lines = [l for l in out.splitlines() if l.startswith(account + ":")]
    assert len(lines) == 1, "expected one summary line for %s:\n%s" % (
        account, out)
    m = re.fullmatch(r"%s: (\d+) new, (\d+) delivered, (\d+) deleted by "
                     r"rules, (\d+) failed, [\d.]+ [KMG]?B in [\d.]+ s(.*)"
                     % re.escape(account), lines[0])
    assert m, "summary line not in the documented form: %r" % lines[0]
    return tuple(int(m.group(i)) for i in range(1, 5)), m.group(5)


def expected_keys(dc, folders):
    """The store keys of every message now in FOLDERS."""
    keys = set()
    for f in folders:
        v = dc.folder_info(f)["UIDVALIDITY"]
        keys |= {(f, v, uid) for uid in dc.folder_flags(f)}
    return keys


def imap_sessions(dc):
    """Dovecot's log lines for IMAP sessions that ended (with their
    counters: hdr_count, body_count, deleted, expunged...)."""
    return [l for l in dc.log_text().splitlines()
            if re.search(r"imap\(alice\).*Disconnected", l)]


# ---- the mixed mailbox ---------------------------------------------------------

@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_mixed_mailbox_two_folders_byte_exact(dovecot, ca, tmp_path, tls):
    by_folder = imapkit.fill_folders(dovecot)
    stored = {f: dovecot.folder_bytes(f) for f in imapkit.FOLDERS}
    for f in imapkit.FOLDERS:
        assert_same_messages(stored[f], by_folder[f], "Dovecot's %s" % f)
    w = World(tmp_path, dovecot, ca)
    w.configure(tls=tls, folders=list(imapkit.FOLDERS))
    started = int(time.time())
    out, _ = w.run()
    finished = int(time.time()) + 1

    assert summary(out)[0] == (500, 500, 0, 0)
    assert_same_messages(w.delivered(), stored["INBOX"] + stored["Lists/dev"],
                         "Maildir/new after fetching two folders over " + tls)
    for sub in ("tmp", "cur"):
        assert os.listdir(w.maildir / sub) == [], "Maildir/%s not empty" % sub
    store = w.store()
    assert set(store) == expected_keys(dovecot, imapkit.FOLDERS)
    assert all(started <= t <= finished for t in store.values())
    # Reading changed nothing on the server: no flag, nothing removed.
    for f in imapkit.FOLDERS:
        flags = dovecot.folder_flags(f)
        assert len(flags) == 250
        assert all(v == set() for v in flags.values()), (
            "%s: flags changed by reading: %s" % (
                f, {u: v for u, v in flags.items() if v}))
    # mailferry logged in once, over TLS (the test's own helper
    # connections are plain IMAP).
    logins = [l for l in dovecot.log_text().splitlines()
              if "imap-login: Info: Login: user=<alice>" in l]
    assert len([l for l in logins if ", TLS," in l]) == 1, "\n".join(logins)


def test_second_run_nothing_third_run_exactly_the_new(dovecot, ca, tmp_path):
    by_folder = imapkit.fill_folders(dovecot, n=40, seed="imap-idem",
                                     big=False)
    w = World(tmp_path, dovecot, ca)
    w.configure(folders=list(imapkit.FOLDERS))
    out, _ = w.run()
    assert summary(out)[0] == (40, 40, 0, 0)
    first = {n: (w.maildir / "new" / n).read_bytes()
             for n in os.listdir(w.maildir / "new")}
    records = w.records()

    out, _ = w.run()
    assert summary(out)[0] == (0, 0, 0, 0)
    assert w.records() == records, "a run that found nothing wrote records"
    assert len(os.listdir(w.maildir / "new")) == 40

    extra = [mailgen.message(subject="late %d" % i, body="late %d\n.\n" % i)
             for i in range(3)]
    dovecot.append(extra[0], "INBOX")
    dovecot.append(extra[1:], "Lists/dev")
    out, _ = w.run()
    assert summary(out)[0] == (3, 3, 0, 0)
    now = {n: (w.maildir / "new" / n).read_bytes()
           for n in os.listdir(w.maildir / "new")}
    assert all(now[n] == data for n, data in first.items())
    assert_same_messages([now[n] for n in set(now) - set(first)], extra,
                         "the third run's deliveries")
    assert set(w.store()) == expected_keys(dovecot, imapkit.FOLDERS)
    assert sum(len(v) for v in by_folder.values()) + 3 == len(w.store())


# ---- flags -----------------------------------------------------------------------

def test_flags_untouched_unless_mark_seen(dovecot, ca, tmp_path):
    uids = dovecot.append(mailgen.generate(6, seed="imap-seen"))
    dovecot.add_flags([uids[1]], r"\Flagged")
    w = World(tmp_path, dovecot, ca)
    w.configure()
    w.run()
    flags = dovecot.folder_flags()
    assert flags == {u: ({r"\Flagged"} if u == uids[1] else set())
                     for u in uids}

    # With mark_seen, what is delivered is flagged \Seen; a message a
    # rule skips is left as it was.
    late = dovecot.append([mailgen.message(subject="late one"),
                           mailgen.message(subject="[skip] this")])
    w.configure(mark_seen=True, rules=[
        {"name": "skip", "match": {"header": "Subject",
                                   "regex": "^\\[skip\\]"},
         "action": "skip"}])
    out, _ = w.run()
    assert summary(out)[0][:2] == (2, 1)
    flags = dovecot.folder_flags()
    assert flags[late[0]] == {r"\Seen"}
    assert flags[late[1]] == set()
    # The earlier messages, delivered before mark_seen was set, stay.
    assert flags[uids[0]] == set() and flags[uids[1]] == {r"\Flagged"}


# ---- deleting ---------------------------------------------------------------------

def test_keep_false_spares_another_clients_deleted_message(dovecot, ca,
                                                           tmp_path):
    msgs = mailgen.generate(30, seed="imap-nokeep")
    uids = dovecot.append(msgs)
    # Another client flagged one \Deleted and has not expunged it yet.
    theirs = uids[7]
    dovecot.add_flags([theirs], r"\Deleted")
    w = World(tmp_path, dovecot, ca)
    w.configure(keep=False)
    out, err = w.run(quiet=False)
    counts, rest = summary(out)
    assert counts == (29, 29, 0, 0)
    assert "29 removed from the server" in rest, rest
    left = dovecot.folder_messages()
    assert list(left) == [theirs], "left on the server: %s" % list(left)
    assert left[theirs][0] == {r"\Deleted"}
    # It was never fetched: another client deleted it.
    assert_same_messages(w.delivered(), msgs[:7] + msgs[8:], "Maildir/new")
    # The next run has nothing to do and forgets the expunged UIDs.
    out, _ = w.run(quiet=False)
    assert summary(out)[0] == (0, 0, 0, 0)
    assert w.store() == {}
    assert list(dovecot.folder_flags()) == [theirs]


def test_rule_delete_and_keep_days(dovecot, ca, tmp_path):
    msgs = [mailgen.message(subject="[DROP] %d" % i if i % 3 == 0 else
                            "keep %d" % i, body="body %d\n" % i)
            for i in range(9)]
    uids = dovecot.append(msgs)
    w = World(tmp_path, dovecot, ca)
    rules = [{"name": "drop", "match": {"header": "Subject",
                                        "regex": "^\\[DROP\\]"},
              "action": "delete"}]
    w.configure(keep_days=2, rules=rules)
    out, _ = w.run()
    assert summary(out)[0] == (9, 6, 3, 0)
    kept = [u for i, u in enumerate(uids) if i % 3 != 0]
    assert sorted(dovecot.folder_flags()) == kept
    assert_same_messages(w.delivered(), [m for i, m in enumerate(msgs)
                                         if i % 3 != 0], "Maildir/new")

    # Two of them fetched three days ago: keep_days removes those.
    path = w.state / "alice.uids"
    aged = int(time.time()) - 3 * DAY
    old = set(kept[:2])
    lines = path.read_text().split("\n")
    for i, line in enumerate(lines):
        f = line.split(" ")
        if len(f) == 3 and f[0] == "+" and parse_key(f[1])[2] in old:
            lines[i] = "+ %s %d" % (f[1], aged)
    path.write_text("\n".join(lines))
    out, _ = w.run()
    counts, rest = summary(out)
    assert counts == (0, 0, 0, 0) and "2 removed from the server" in rest
    assert sorted(dovecot.folder_flags()) == kept[2:]


def test_move_to(dovecot, ca, tmp_path):
    dovecot.create_folder("Archive")
    msgs = mailgen.generate(12, seed="imap-move")
    uids = dovecot.append(msgs)
    w = World(tmp_path, dovecot, ca)
    w.configure(move_to="Archive")
    out, _ = w.run()
    counts, rest = summary(out)
    assert counts == (12, 12, 0, 0)
    assert "12 moved to the move_to folder" in rest, rest
    assert "removed" not in rest, rest
    assert dovecot.folder_flags() == {}, "the INBOX is not empty"
    assert_same_messages(dovecot.folder_bytes("Archive"), msgs,
                         "the Archive folder")
    assert all(f == set() for f in dovecot.folder_flags("Archive").values())
    assert_same_messages(w.delivered(), msgs, "Maildir/new")
    # Moved messages left the INBOX: their UIDs are forgotten, and the
    # Archive is not fetched.
    out, _ = w.run()
    assert summary(out)[0] == (0, 0, 0, 0)
    assert w.store() == {}
    assert len(uids) == 12


def test_recreated_folder_is_fetched_again(dovecot, ca, tmp_path):
    by_folder = imapkit.fill_folders(dovecot, n=10, seed="imap-recreate",
                                     big=False)
    w = World(tmp_path, dovecot, ca)
    w.configure(folders=list(imapkit.FOLDERS))
    w.run()
    old = dovecot.folder_info("Lists/dev")["UIDVALIDITY"]
    new = dovecot.recreate_folder("Lists/dev")
    out, err = w.run(quiet=False)
    assert summary(out)[0] == (5, 5, 0, 0)
    assert re.search(r'alice: folder "Lists/dev": UIDVALIDITY changed from '
                     r'%d to %d' % (old, new), err), err
    assert_same_messages(
        w.delivered(), by_folder["INBOX"] + 2 * by_folder["Lists/dev"],
        "Maildir/new: the recreated folder's messages delivered again")
    # The old UIDVALIDITY is forgotten.
    assert set(w.store()) == expected_keys(dovecot, imapkit.FOLDERS)


def test_folder_known_however_it_is_spelled(dovecot, ca, tmp_path):
    """A folder written in UTF-8 or in modified UTF-7 is one folder, with
    one set of records in the store."""
    dovecot.create_folder("Entw&APw-rfe")
    msgs = mailgen.generate(3, seed="imap-utf7")
    dovecot.append(msgs, "Entw&APw-rfe")
    w = World(tmp_path, dovecot, ca)
    w.configure(folders=["Entw\u00fcrfe"])
    out, _ = w.run()
    assert summary(out)[0] == (3, 3, 0, 0)
    v = dovecot.folder_info("Entw&APw-rfe")["UIDVALIDITY"]
    assert set(w.store()) == {("Entw&APw-rfe", v, u) for u in (1, 2, 3)}
    w.configure(folders=["Entw&APw-rfe"])
    out, _ = w.run()
    assert summary(out)[0] == (0, 0, 0, 0)
    assert_same_messages(w.delivered(), msgs, "Maildir/new")


# ---- reading less ---------------------------------------------------------------

def test_header_rules_fetch_only_headers(dovecot, ca, tmp_path):
    msgs = [mailgen.message(subject="[DROP] %d" % i if i % 2 else
                            "keep %d" % i, body=("x" * 70 + "\n") * 2000)
            for i in range(10)]
    dovecot.append(msgs)
    w = World(tmp_path, dovecot, ca)
    w.configure(keep=True, rules=[
        {"name": "drop", "match": {"header": "Subject",
                                   "regex": "^\\[DROP\\]"},
         "action": "delete"}])
    out, _ = w.run()
    assert summary(out)[0] == (10, 5, 5, 0)
    sessions = imap_sessions(dovecot)
    assert sessions
    body = sum(int(re.search(r"body_count=(\d+)", l).group(1))
               for l in sessions)
    hdr = sum(int(re.search(r"hdr_count=(\d+)", l).group(1))
              for l in sessions)
    assert (hdr, body) == (10, 5), "\n".join(sessions)


def test_folder_missing_others_fetched(dovecot, ca, tmp_path):
    msgs = mailgen.generate(4, seed="imap-missing")
    dovecot.append(msgs)
    w = World(tmp_path, dovecot, ca)
    w.configure(folders=["Nope", "INBOX"])
    out, err = w.run(rc=EX_UNAVAILABLE)
    assert summary(out)[0][:2] == (4, 4)
    assert re.search(r'cannot open folder "Nope"', err), err
    assert_same_messages(w.delivered(), msgs, "Maildir/new")


def test_dry_run_changes_nothing(dovecot, ca, tmp_path):
    dovecot.append(mailgen.generate(5, seed="imap-dry"))
    w = World(tmp_path, dovecot, ca)
    w.configure(keep=False, mark_seen=True)
    out, err = w.run("-n", quiet=False)
    assert summary(out)[0] == (5, 5, 0, 0)
    assert err.count("would deliver to inbox") == 5, err
    assert w.delivered() == [] and w.records() == []
    # -n opens the folder with EXAMINE, which leaves \Recent for the next
    # session (here the test's own); nothing else may be set.
    flags = dovecot.folder_flags()
    assert all(f <= {"\\Recent"} for f in flags.values()), flags
    assert len(flags) == 5


@pytest.mark.parametrize("tls", ["implicit", "none"])
def test_received_field_names_imap(dovecot, ca, tmp_path, tls):
    dovecot.append(mailgen.message(subject="traced"))
    w = World(tmp_path, dovecot, ca)
    w.configure(tls=tls, dests={"inbox": dict(mfconf.maildir(w.maildir),
                                              received_header=True)})
    w.run()
    [m] = w.delivered()
    head = m.split(b"\n\n", 1)[0].decode().replace("\n ", " ")
    v = dovecot.folder_info()["UIDVALIDITY"]
    assert re.match(r'Received: from \[127\.0\.0\.1\] \(account "alice", UID '
                    r'INBOX:%d:1\) by \S+ \(mailferry [^)]*\) with %s; ' % (
                        v, "IMAPS" if tls == "implicit" else "IMAP"),
                    head), head
