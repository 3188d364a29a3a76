"""The fetchers of `make bench`'s IMAP scenario, and how each is configured.

The same Job as the POP3 fetchers (bench/fetchers.py), with the accounts'
ports being Dovecot's IMAP (plain) and IMAPS ports. Every fetcher reads
the INBOX, leaves the mail on the server, keeps its state in the run's
directory and writes into a fresh Maildir, which the driver compares byte
for byte with what Dovecot stores.

Some peers mark what they fetched \\Seen on the server (fdm fetches with
BODY[], fetchmail stores \\Seen itself) and find new mail by that flag
alone; the driver removes \\Seen from the folder before every first run
(floor-imap -u), so each fetcher starts from the same folder.
"""

import os

from fetchers import (Fetcher, Floor, Mailferry, NotSupported, _make_maildir,
                      _q, _write)

__all__ = ["IMAP_FETCHERS", "IMAP_CORE"]


class ImapPeer(Fetcher):
    """An IMAP fetcher compared on plain fetches into a Maildir."""
    label = "?"

    def check_job(self, job):
        if job.deliver != "maildir" or job.rules or len(job.accounts) != 1:
            raise NotSupported("not compared")


class FloorImap(Floor):
    """bench/floor-imap.c: LOGIN, SELECT, UID FETCH 1:* (UID), then every
    UID FETCH BODY.PEEK[] pipelined, data discarded. For a second run,
    the listing a fetcher needs (UID, RFC822.SIZE, FLAGS) only."""
    name = "floor-imap"
    label = "floor"
    note = ("IMAP floor: bench/floor-imap.c, LOGIN, SELECT, UID FETCH 1:* "
            "(UID), then one UID FETCH BODY.PEEK[] per message pipelined "
            "(256 in flight), data discarded; its second run is UID FETCH "
            "1:* (UID RFC822.SIZE FLAGS)")

    def version(self):
        return "bench/floor-imap.c"

    def prepare(self, run, job, second=False):
        a = job.accounts[0]
        argv = [os.path.join(run.bin_dir, "floor-imap")]
        if second:
            argv.append("-n")
        argv += ["127.0.0.1", str(a.port), a.user, a.password]
        if a.tls:
            argv.append(job.ca_file)
        return argv, {}


class MailferryImap(Mailferry):
    name = "mailferry-imap"
    label = "mailferry"

    def check_job(self, job):
        if job.deliver != "maildir" or job.rules:
            raise NotSupported("not compared")

    def prepare(self, run, job):
        a = job.accounts[0]
        lines = ['name = "a1";', 'protocol = "imap";',
                 'server = "127.0.0.1";', "port = %d;" % a.port,
                 'tls = "%s";' % ("implicit" if a.tls else "none"),
                 "user = %s;" % _q(a.user),
                 "password = %s;" % _q(a.password),
                 'folders = [ "INBOX" ];', "keep = true;",
                 'deliver = "inbox";']
        if a.tls:
            lines.append("tls_ca_file = %s;" % _q(job.ca_file))
        else:
            lines.append("allow_plaintext_auth = true;")
        text = ("# mailferry configuration written by bench/fetchers_imap.py\n"
                "state_dir = %s;\ntimeout = 300;\n"
                "destinations = {\n  inbox = { type = \"maildir\"; "
                "path = %s; };\n};\naccounts = (\n  {\n    %s\n  }\n);\n"
                % (_q(run.path("state")), _q(run.maildir),
                   "\n    ".join(lines)))
        conf = run.path("mailferry.conf")
        _write(conf, text)
        return [self.path, "-f", conf], {}


class Mbsync(ImapPeer):
    name = "mbsync"
    label = "mbsync"
    package = "isync"
    binary = "mbsync"
    slow = False
    drop_fields = ("X-TUID",)
    settle = 1.1                    # see the note
    note = ("mbsync (isync): IMAPStore + MaildirStore, one Channel on the "
            "INBOX, Sync Pull, Expunge None, SyncState in the run's "
            "directory, FSync yes (its default), AuthMechs LOGIN; TLS with "
            "SSLType IMAPS and CertificateFile the test CA, Host localhost "
            "(its name check ignores IP subjectAltNames). It writes an "
            "X-TUID field of its own into every message's header, which the "
            "check removes first. Its Maildir store waits out the second in "
            "which a directory last changed, so its second run starts 1.1 s "
            "after the first ended (as a real second run would)")

    def prepare(self, run, job):
        a = job.accounts[0]
        _make_maildir(run.maildir)
        os.makedirs(run.path("mbsync"), exist_ok=True)
        out = ["FSync yes", "",
               "IMAPAccount far",
               "Host %s" % ("localhost" if a.tls else "127.0.0.1"),
               "Port %d" % a.port,
               'User "%s"' % a.user,
               'Pass "%s"' % a.password,
               "AuthMechs LOGIN"]
        if a.tls:
            out += ["SSLType IMAPS", "CertificateFile %s" % job.ca_file,
                    "SystemCertificates no"]
        else:
            out += ["SSLType None"]
        out += ["", "IMAPStore far", "Account far", "",
                "MaildirStore near", "Path %s/" % run.path("mbsync"),
                "Inbox %s" % run.maildir, "",
                "Channel a1", "Far :far:", "Near :near:", "Sync Pull",
                "Create None", "Remove None", "Expunge None",
                "SyncState %s/" % run.path("mbsync")]
        rc = run.path("mbsyncrc")
        _write(rc, "\n".join(out) + "\n")
        return ["mbsync", "-c", rc, "-q", "a1"], {}


class FetchmailImap(ImapPeer):
    name = "fetchmail-imap"
    label = "fetchmail"
    package = "fetchmail"
    binary = "fetchmail"
    ok_codes_second = (0, 1)        # 1: no new mail
    note = ("fetchmail over IMAP: keep (it stores \\Seen on what it fetched "
            "and fetches unseen messages), set invisible, no rewrite, no "
            "opportunistic STARTTLS (sslproto \"\"); Maildir through "
            "bench/mda.c; TLS with ssl sslcertck sslcertfile, "
            "sslcommonname localhost")

    def prepare(self, run, job):
        a = job.accounts[0]
        _make_maildir(run.maildir)
        opts = ["keep", "no rewrite"]
        if a.tls:
            opts += ["ssl", "sslcertck", 'sslcertfile "%s"' % job.ca_file,
                     'sslcommonname "localhost"']
        else:
            opts.append('sslproto ""')
        opts.append('mda "%s %s"' % (os.path.join(run.bin_dir, "mda"),
                                     run.maildir))
        out = ["set no syslog", "set invisible",
               "poll 127.0.0.1 service %d protocol imap auth password"
               % a.port,
               '  user "%s" there with password "%s" is "mfbench" here %s'
               % (a.user, a.password, " ".join(opts))]
        rc = run.path("fetchmailrc")
        _write(rc, "\n".join(out) + "\n")
        return ["fetchmail", "-f", rc, "--idfile", run.path("fetchmail.ids"),
                "--pidfile", run.path("fetchmail.pid"), "-s"], {}


class GetmailImap(ImapPeer):
    name = "getmail-imap"
    label = "getmail"
    package = "getmail6"
    binary = "getmail"
    strip_headers = ("Return-Path",)
    note = ("getmail over IMAP: SimpleIMAPRetriever/SimpleIMAPSSLRetriever "
            "(ca_certs) on the INBOX, record_mailbox false, Maildir "
            "destination, read_all false, delete false, delivered_to false, "
            "received false; the "
            "Return-Path field it adds is removed before the check")

    def prepare(self, run, job):
        a = job.accounts[0]
        _make_maildir(run.maildir)
        gdir = run.path("getmail")
        os.makedirs(gdir, exist_ok=True)
        ret = ["[retriever]"]
        if a.tls:
            ret += ["type = SimpleIMAPSSLRetriever",
                    "ca_certs = %s" % job.ca_file]
        else:
            ret += ["type = SimpleIMAPRetriever"]
        ret += ["server = 127.0.0.1", "port = %d" % a.port,
                "username = %s" % a.user, "password = %s" % a.password,
                "mailboxes = (\"INBOX\",)", "record_mailbox = false", "",
                "[destination]", "type = Maildir",
                "path = %s/" % run.maildir, "", "[options]",
                "verbose = 0", "read_all = false", "delete = false",
                "delivered_to = false", "received = false",
                "message_log_syslog = false"]
        rc = run.path("getmailrc")
        _write(rc, "\n".join(ret) + "\n")
        return ["getmail", "--getmaildir", gdir, "--quiet", "--rcfile",
                rc], {}


class FdmImap(ImapPeer):
    name = "fdm-imap"
    label = "fdm"
    package = "fdm"
    binary = "fdm"
    note = ("fdm over IMAP: imap/imaps account with new-only (unseen "
            "messages; it fetches with BODY[], which sets \\Seen) and keep, "
            "action maildir, set no-received; TLS with verify-certificates "
            "and SSL_CERT_FILE=the test CA")

    def prepare(self, run, job):
        a = job.accounts[0]
        _make_maildir(run.maildir)
        out = ['set lock-file "%s"' % run.path("fdm.lock"),
               "set no-received"]
        env = {}
        if a.tls:
            out.append("set verify-certificates")
            env["SSL_CERT_FILE"] = job.ca_file
        out.append('account "a1" %s server "127.0.0.1" port %d user "%s" '
                   'pass "%s" new-only keep'
                   % ("imaps" if a.tls else "imap", a.port, a.user,
                      a.password))
        out += ['action "inbox" maildir "%s"' % run.maildir,
                'match all action "inbox"']
        conf = run.path("fdm.conf")
        _write(conf, "\n".join(out) + "\n")
        return ["fdm", "-q", "-f", conf, "fetch"], env


def IMAP_FETCHERS(mailferry_binary):
    """All IMAP fetchers, in table order."""
    return [FloorImap(), MailferryImap(mailferry_binary), Mbsync(),
            FetchmailImap(), GetmailImap(), FdmImap()]


IMAP_CORE = ("floor", "mailferry", "mbsync")
