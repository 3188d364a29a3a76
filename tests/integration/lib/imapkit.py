"""Helpers of the IMAP suites (test_imap*.py): IMAP accounts for
mailferry's configuration, and the mixed mailbox spread over folders of
the private Dovecot.

    acct = imapkit.account("alice", dc, tls="starttls",
                           tls_ca_file=ca.ca_file, folders=imapkit.FOLDERS)
    by_folder = imapkit.fill_folders(dc)     # {folder: [messages]}

The server-side views (flags of a folder, its messages as bytes, a
folder recreated with a new UIDVALIDITY) are methods of lib/dovecot.py's
Dovecot: folder_flags(), folder_bytes(), folder_messages(),
recreate_folder().
"""

import mailgen
import mfconf

__all__ = ["account", "fill_folders", "FOLDERS", "MIXED_N"]

# The two folders of the mixed mailbox: the INBOX and one below another
# folder (a hierarchy separator in the name).
FOLDERS = ("INBOX", "Lists/dev")
# The size of the mixed mailbox, as in the POP3 bulk test.
MIXED_N = 500


def account(name, dovecot=None, tls="implicit", folders=None, **extra):
    """An IMAP account (see mfconf.account): protocol "imap", the
    Dovecot's IMAPS port for tls = "implicit", else its plain IMAP port
    (STARTTLS offered). FOLDERS: a list of folder names, or None for the
    default (the INBOX)."""
    a = mfconf.account(name, dovecot, tls=tls, **extra)
    a["protocol"] = "imap"
    if dovecot is not None and "port" not in extra:
        a["port"] = (dovecot.imaps_port if tls == "implicit"
                     else dovecot.imap_port)
    if folders is not None:
        a["folders"] = list(folders)
    # protocol first, where a reader looks for it.
    return dict([("name", a.pop("name")), ("protocol", a.pop("protocol"))]
                + list(a.items()))


def fill_folders(dovecot, n=MIXED_N, seed="imap-mixed", folders=FOLDERS,
                 big=True, user="alice"):
    """Spread N mixed messages (mailgen.generate; with BIG one of them
    over 5 MB) over FOLDERS in turn, creating the folders other than the
    INBOX. Returns {folder: [messages, in the order delivered]}."""
    msgs = mailgen.generate(n, seed=seed, big=big)
    for f in folders:
        if f != "INBOX":
            dovecot.create_folder(f, user)
    out = {f: [] for f in folders}
    for i, m in enumerate(msgs):
        f = folders[i % len(folders)]
        dovecot.deliver(user, m, f)
        out[f].append(m)
    return out
