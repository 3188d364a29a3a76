"""IMAP accounts against a server that misbehaves (lib/fakeimap.py): a
connection dropped at every step, NO, BAD and garbage answers, message
data longer or shorter than its literal announces, a stall, a trickle,
BYE in the middle of a message, untagged noise and an [ALERT]. Each
fault is met once, in a first run whose exit status is checked; a
second run against the healed server must then leave every message
delivered exactly once (at most the one message in flight twice),
byte for byte, and, with keep = false, the folders empty.
"""

import json
import os
import re

import pytest

import fakeimap
import imapkit
import mailgen
import mfconf
from fakeimap import Fault
from harness import run_mailferry, write_config
from msgcheck import assert_same_messages, digest

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL = 0, 69, 75
N = 6


class World:
    def __init__(self, tmp_path, srv, **extra):
        self.dir = tmp_path
        self.conf = tmp_path / "mailferry.conf"
        self.state = tmp_path / "state"
        self.maildir = tmp_path / "Maildir"
        extra.setdefault("folders", ["INBOX", "Lists/dev"])
        acct = imapkit.account("alice", tls="none", server="127.0.0.1",
                               port=srv.port, password="pw", **extra)
        write_config(self.conf, mfconf.config(
            self.state, {"inbox": mfconf.maildir(self.maildir)}, [acct],
            timeout=3))

    def run(self, *args):
        return run_mailferry(self.conf, *args, timeout=120)

    def delivered(self):
        d = self.maildir / "new"
        if not d.is_dir():
            return []
        return [(d / n).read_bytes() for n in sorted(os.listdir(d))]


def server(**kw):
    inbox = [fakeimap.Message(mailgen.message(subject="inbox %d" % i,
                                              body="inbox body %d\n" % i))
             for i in range(N)]
    dev = [fakeimap.Message(mailgen.message(subject="dev %d" % i,
                                            body="dev body %d\n" % i))
           for i in range(2)]
    return fakeimap.FakeIMAP({"INBOX": inbox, "Lists/dev": dev},
                             users={"alice": "pw"}, **kw)


def originals(srv):
    return [m.data for f in ("INBOX", "Lists/dev")
            for m in srv.folder(f).messages]


# (id, faults, keep, exit status of the first run)
CASES = [
    ("greeting-drop", [Fault("GREETING", "drop", nbytes=5)], True,
     EX_TEMPFAIL),
    ("login-drop", [Fault("AUTHENTICATE", "drop", nbytes=0)], True,
     EX_TEMPFAIL),
    ("login-garbage", [Fault("AUTHENTICATE", "garbage")], True,
     EX_TEMPFAIL),
    # keep = true changes nothing: folders are EXAMINEd.
    ("examine-drop", [Fault("EXAMINE", "drop", nbytes=10)], True,
     EX_TEMPFAIL),
    ("examine-bad", [Fault("EXAMINE", "bad")], True, EX_UNAVAILABLE),
    ("select-drop", [Fault("SELECT", "drop", nbytes=10)], False,
     EX_TEMPFAIL),
    ("select-no", [Fault("SELECT", "no", arg="Lists/dev")], False,
     EX_UNAVAILABLE),
    ("listing-drop", [Fault("UID FETCH", "drop", arg="1:*", nbytes=40)],
     True, EX_TEMPFAIL),
    ("listing-garbage", [Fault("UID FETCH", "garbage", arg="1:*")], True,
     EX_TEMPFAIL),
    ("fetch-drop", [Fault("UID FETCH", "drop", arg="3", nbytes=120)], True,
     EX_TEMPFAIL),
    ("fetch-no", [Fault("UID FETCH", "no", arg="3")], True, EX_TEMPFAIL),
    ("fetch-bad", [Fault("UID FETCH", "bad", arg="3")], True, EX_TEMPFAIL),
    ("fetch-garbage", [Fault("UID FETCH", "garbage", arg="3")], True,
     EX_TEMPFAIL),
    ("literal-longer", [Fault("UID FETCH", "literal_longer", arg="3",
                              by=40)], True, EX_TEMPFAIL),
    ("literal-shorter", [Fault("UID FETCH", "literal_shorter", arg="3",
                               by=40)], True, EX_TEMPFAIL),
    ("fetch-stall", [Fault("UID FETCH", "stall", arg="3", nbytes=60)],
     True, EX_TEMPFAIL),
    ("fetch-trickle", [Fault("UID FETCH", "trickle", arg="3", fast=30,
                             interval=0.5, forever=True)], True,
     EX_TEMPFAIL),
    ("fetch-bye", [Fault("UID FETCH", "bye", arg="3", nbytes=150,
                         text="shutting down")], True, EX_TEMPFAIL),
    # Deletions a reconnect makes good: warnings only.
    ("store-drop", [Fault("UID STORE", "drop", nbytes=0)], False, EX_OK),
    ("store-no", [Fault("UID STORE", "no", times=None)], False,
     EX_TEMPFAIL),
    ("expunge-drop", [Fault("UID EXPUNGE", "drop", nbytes=0)], False,
     EX_OK),
    ("expunge-no", [Fault("UID EXPUNGE", "no")], False, EX_OK),
    ("logout-drop", [Fault("LOGOUT", "drop", nbytes=0)], False, EX_OK),
    ("noise", [Fault("UID FETCH", "noise", arg="2")], True, EX_OK),
]


@pytest.mark.parametrize("faults,keep,rc", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_fault_then_recovery(tmp_path, faults, keep, rc):
    with server(faults=faults) as srv:
        msgs = originals(srv)
        w = World(tmp_path, srv, keep=keep)
        code, out, err = w.run()
        assert code == rc, "first run: exit %d, expected %d\n%s\n%s" % (
            code, rc, out, err)
        assert all(f.fired for f in faults), "a fault did not fire"
        if rc != EX_OK:
            assert "alice:" in err, err
        # Nothing delivered is damaged, nothing twice.
        got = w.delivered()
        assert len({digest(m) for m in got}) == len(got), "duplicates"
        assert {digest(m) for m in got} <= {digest(m) for m in msgs}

        srv.faults = []
        code, out, err = w.run()
        assert code == EX_OK, "second run: exit %d\n%s\n%s" % (code, out,
                                                               err)
        assert_same_messages(w.delivered(), msgs, "after the second run")
        left = sum(len(srv.folder(f).messages) for f in srv.folders)
        assert left == (len(msgs) if keep else 0), left

        # A third run has nothing to do.
        code, out, err = w.run()
        assert code == EX_OK and re.search(r"alice: 0 new", out), out
        assert len(w.delivered()) == len(msgs)


def test_alert_is_shown(tmp_path):
    with server(faults=[Fault("EXAMINE", "alert",
                              text="Mailbox over quota")]) as srv:
        w = World(tmp_path, srv)
        code, out, err = w.run("-q")
        assert code == EX_OK, err
        assert "Mailbox over quota" in err, err
        assert len(w.delivered()) == N + 2


def test_announced_larger_than_max_size_is_set_aside(tmp_path):
    """A literal larger than max_size although RFC822.SIZE claimed less:
    the message is left on the server and set aside; the others are
    delivered."""
    with server() as srv:
        big = srv.folder("INBOX").messages[2]
        big.data = big.data + b"x" * 5000 + b"\n"
        big.size = 100
        w = World(tmp_path, srv, max_size=3000)
        code, out, err = w.run()
        assert code == EX_TEMPFAIL, err
        assert re.search(r"larger than max_size", err), err
        got = w.delivered()
        assert len(got) == N + 1
        assert digest(big.data) not in {digest(m) for m in got}
        code, out, err = w.run()
        assert code == EX_OK, err
        assert len(w.delivered()) == N + 1


def test_sizes_overstated_cost_one_short_wait(tmp_path):
    """RFC822.SIZE overstated for every message (4 MB each): the wake
    mark (mailferry(1) "Fetch") is not met once, is lowered for the
    session, and every message arrives whole, none waiting out the
    3-second timeout."""
    with server() as srv:
        for f in ("INBOX", "Lists/dev"):
            for m in srv.folder(f).messages:
                m.size = 4 * 1024 * 1024
        want = originals(srv)
        w = World(tmp_path, srv, keep=False)
        code, out, err = w.run("-v")
        assert code == EX_OK, err
        assert_same_messages(w.delivered(), want, "Maildir")
        notes = re.findall(r"less came within 100 ms than the sizes", err)
        # Once: a wait that ran its course would have failed the run.
        assert len(notes) == 1, err
        assert all(srv.folder(f).messages == []
                   for f in ("INBOX", "Lists/dev"))


def test_uidplus_missing_and_another_clients_deleted(tmp_path):
    """Without UIDPLUS, EXPUNGE would take another client's \\Deleted
    message too: mailferry leaves its own flagged and says so."""
    caps = tuple(c for c in fakeimap.DEFAULT_CAPS if c != "UIDPLUS")
    with server(caps=caps) as srv:
        theirs = srv.folder("INBOX").messages[4]
        theirs.flags.add("\\Deleted")
        w = World(tmp_path, srv, keep=False, folders=["INBOX"])
        code, out, err = w.run()
        assert code == EX_OK, err
        assert re.search(r'folder "INBOX": 5 messages flagged \\Deleted by '
                         r'mailferry are left there, as 1 other', err), err
        inbox = srv.folder("INBOX").messages
        assert len(inbox) == N
        assert all("\\Deleted" in m.flags for m in inbox)
        # Once the other client expunged its message, ours go too.
        srv.folder("INBOX").messages.remove(theirs)
        code, out, err = w.run()
        assert code == EX_OK, err
        assert srv.folder("INBOX").messages == []
        assert len(w.delivered()) == N - 1


@pytest.mark.parametrize("flag", ["-c", "-n"])
def test_check_and_dry_run_open_folders_read_only(tmp_path, flag):
    """-c and -n change nothing, so even an account that deletes and
    marks read opens its folders with EXAMINE, and sends no STORE."""
    with server() as srv:
        w = World(tmp_path, srv, keep=False, mark_seen=True)
        code, out, err = w.run(flag)
        assert code == EX_OK, err
        cmds = srv.commands()
        assert "EXAMINE" in cmds and "SELECT" not in cmds, cmds
        assert not {"UID STORE", "EXPUNGE", "UID EXPUNGE"} & set(cmds), cmds
        assert len(srv.folder("INBOX").messages) == N
        assert w.delivered() == []
        # The same account, run for real, selects and deletes.
        code, out, err = w.run()
        assert code == EX_OK, err
        assert "SELECT" in srv.commands()
        assert srv.folder("INBOX").messages == []


def test_move_without_move_copies_then_deletes(tmp_path):
    caps = tuple(c for c in fakeimap.DEFAULT_CAPS if c != "MOVE")
    with server(caps=caps) as srv:
        srv.folders["Archive"] = fakeimap.Folder()
        msgs = [m.data for m in srv.folder("INBOX").messages]
        w = World(tmp_path, srv, move_to="Archive", folders=["INBOX"])
        code, out, err = w.run("-n")
        assert code == EX_OK, err
        assert "%d would be moved to the move_to folder" % N in out, out
        code, out, err = w.run("--json")
        assert code == EX_OK, err
        result = json.loads(out)
        assert (result["moved"], result["removed"]) == (N, 0), result
        assert srv.folder("INBOX").messages == []
        assert_same_messages([m.data for m in srv.folder("Archive").messages],
                             msgs, "Archive")
        cmds = srv.commands()
        assert "UID MOVE" not in cmds and "UID COPY" in cmds


def test_move_to_a_missing_folder(tmp_path):
    """The copy is refused: the messages stay, delivered and recorded,
    and are moved by a later run once the folder exists."""
    caps = tuple(c for c in fakeimap.DEFAULT_CAPS if c != "MOVE")
    with server(caps=caps) as srv:
        w = World(tmp_path, srv, move_to="Archive", folders=["INBOX"])
        code, out, err = w.run()
        assert code == EX_TEMPFAIL, err
        assert "Archive" in err, err
        assert len(srv.folder("INBOX").messages) == N
        assert all("\\Deleted" not in m.flags
                   for m in srv.folder("INBOX").messages)
        assert len(w.delivered()) == N
        srv.folders["Archive"] = fakeimap.Folder()
        code, out, err = w.run()
        assert code == EX_OK, err
        assert srv.folder("INBOX").messages == []
        assert len(srv.folder("Archive").messages) == N
        assert len(w.delivered()) == N


@pytest.mark.parametrize("move,fault", [
    (True, Fault("UID MOVE", "drop", nbytes=0)),
    (True, Fault("UID MOVE", "no", times=None)),
    (False, Fault("UID COPY", "drop", nbytes=0)),
    (False, Fault("UID STORE", "drop", nbytes=0)),
], ids=["move-drop", "move-no", "copy-drop", "store-after-copy-drop"])
def test_move_faults(tmp_path, move, fault):
    """A move that breaks: nothing lost, each message delivered once,
    and in the Archive once (a copy whose answer was lost may leave one
    more there: the message in flight)."""
    caps = fakeimap.DEFAULT_CAPS if move else tuple(
        c for c in fakeimap.DEFAULT_CAPS if c != "MOVE")
    with server(caps=caps, faults=[fault]) as srv:
        srv.folders["Archive"] = fakeimap.Folder()
        msgs = [m.data for m in srv.folder("INBOX").messages]
        w = World(tmp_path, srv, move_to="Archive", folders=["INBOX"])
        code, out, err = w.run()
        assert code in (EX_OK, EX_TEMPFAIL), (code, err)
        assert fault.fired
        srv.faults = []
        code, out, err = w.run()
        assert code == EX_OK, err
        assert_same_messages(w.delivered(), msgs, "Maildir/new")
        assert srv.folder("INBOX").messages == []
        archived = [m.data for m in srv.folder("Archive").messages]
        assert {digest(m) for m in archived} == {digest(m) for m in msgs}
        assert len(archived) <= len(msgs) + 1, len(archived)


def test_folder_name_too_long_for_the_store(tmp_path):
    """A folder whose name cannot fit in the UID store's keys is refused
    (its messages would otherwise share keys with another's); the other
    folders are fetched."""
    long_name = "L" * 300
    with server() as srv:
        srv.folders[long_name] = fakeimap.Folder(
            [mailgen.message(subject="deep")])
        w = World(tmp_path, srv, folders=["INBOX", long_name])
        code, out, err = w.run()
        assert code == 78, err
        assert re.search(r"its name is too long for the UID store", err), err
        assert len(w.delivered()) == N
        assert len(srv.folder(long_name).messages) == 1
