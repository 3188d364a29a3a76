"""IMAP accounts in daemon mode (-d): with idle = true and a server that
offers IDLE, the account's process waits in IDLE on its first folder
between polls, so a message appended there is delivered within seconds
although the poll interval is an hour; without IDLE (or idle = false)
the account is polled like a POP3 account. SIGUSR1 and SIGTERM work as
for POP3.
"""

import signal
import time

import fakeimap
import imapkit
import mailgen
import mfconf
from daemonkit import MailferryDaemon, wait_until
from harness import write_config
from msgcheck import assert_same_messages

EX_OK = 0
HOUR = 3600


class World:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.conf = tmp_path / "mailferry.conf"
        self.state = tmp_path / "state"
        self.maildir = tmp_path / "Maildir"

    def configure(self, acct):
        write_config(self.conf, mfconf.config(
            self.state, {"inbox": mfconf.maildir(self.maildir)}, [acct]))

    def daemon(self, *args):
        return MailferryDaemon(self.conf, HOUR, *args, dir=self.dir)

    def delivered(self):
        d = self.maildir / "new"
        if not d.is_dir():
            return []
        return [p.read_bytes() for p in sorted(d.iterdir())]

    def wait_delivered(self, n, timeout, d):
        return d.wait_for(lambda: len(self.delivered()) >= n,
                          "%d messages in Maildir/new" % n, timeout)


def test_idle_delivers_within_seconds(dovecot, ca, tmp_path):
    first = mailgen.generate(2, seed="imap-idle")
    dovecot.append(first)
    w = World(tmp_path)
    w.configure(imapkit.account("alice", dovecot, tls="implicit",
                                tls_ca_file=ca.ca_file))
    with w.daemon("-v") as d:
        d.wait_summaries("alice", 1)
        d.wait_stderr(r"alice: waiting for new mail in \"INBOX\" \(IDLE\)")
        assert_same_messages(w.delivered(), first, "the first poll")

        # APPEND from another client, then a delivery by doveadm save:
        # each is delivered within 5 seconds, with the next poll an
        # hour away.
        late = mailgen.message(subject="appended while idle")
        started = time.monotonic()
        dovecot.append(late)
        w.wait_delivered(3, 5, d)
        took = time.monotonic() - started
        assert took <= 5, took
        saved = mailgen.message(subject="saved by doveadm")
        dovecot.doveadm_save(saved)
        w.wait_delivered(4, 5, d)
        assert_same_messages(w.delivered(), first + [late, saved],
                             "Maildir/new")
        d.wait_summaries("alice", 3)
        # Nothing marked read. (\Recent is still there for the test's
        # session to see: mailferry only EXAMINEs the folder.)
        flags = dovecot.folder_flags()
        assert all(f <= {"\\Recent"} for f in flags.values()), flags

        # SIGUSR1 still polls at once.
        n = len(d.summaries("alice"))
        d.signal(signal.SIGUSR1)
        d.wait_summaries("alice", n + 1)
        # SIGHUP: the account's process ends and a new one, with the
        # configuration read again, fetches and waits in IDLE again.
        waits = len(d.wait_stderr(r"waiting for new mail in"))
        d.signal(signal.SIGHUP)
        d.wait_summaries("alice", n + 2)
        d.wait_stderr(r"waiting for new mail in", count=waits + 1)
        after = mailgen.message(subject="after SIGHUP")
        dovecot.append(after)
        w.wait_delivered(5, 5, d)
        # SIGTERM ends the daemon cleanly.
        assert d.stop() == EX_OK, d.report()
    assert_same_messages(w.delivered(), first + [late, saved, after],
                         "Maildir/new")


def test_without_idle_the_account_is_polled(tmp_path):
    inbox = [fakeimap.Message(mailgen.message(subject="m%d" % i))
             for i in range(2)]
    caps = tuple(c for c in fakeimap.DEFAULT_CAPS if c != "IDLE")
    with fakeimap.FakeIMAP({"INBOX": inbox}, users={"alice": "pw"},
                           caps=caps) as srv:
        w = World(tmp_path)
        w.configure(imapkit.account("alice", tls="none", server="127.0.0.1",
                                    port=srv.port, password="pw"))
        with w.daemon("-v") as d:
            d.wait_summaries("alice", 1)
            d.wait_stderr(r"alice: the server does not offer IDLE: "
                          r"polling")
            d.wait_idle()
            srv.append("INBOX", mailgen.message(subject="late"))
            d.signal(signal.SIGUSR1)
            d.wait_summaries("alice", 2)
            w.wait_delivered(3, 10, d)
            assert d.stop() == EX_OK, d.report()
        assert "IDLE" not in srv.commands()
        assert len(w.delivered()) == 3


def test_idle_false_polls(dovecot, ca, tmp_path):
    dovecot.append(mailgen.generate(1, seed="imap-noidle"))
    w = World(tmp_path)
    w.configure(imapkit.account("alice", dovecot, tls="implicit",
                                tls_ca_file=ca.ca_file, idle=False))
    with w.daemon("-v") as d:
        d.wait_summaries("alice", 1)
        # The fetch process ends after each poll: nobody waits in IDLE.
        d.wait_idle()
        assert "IDLE" not in d.err()
        dovecot.append(mailgen.message(subject="late"))
        d.signal(signal.SIGUSR1)
        d.wait_summaries("alice", 2)
        wait_until(lambda: len(w.delivered()) == 2, 10, "two deliveries")
        assert d.stop() == EX_OK, d.report()
