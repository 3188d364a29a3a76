"""A scriptable fake IMAP server for fault-injection tests (stdlib only),
the IMAP sibling of fakepop3.py (whose connection handling it shares).

    inbox = [fakeimap.Message(mailgen.message(subject="m%d" % i))
             for i in range(3)]
    with FakeIMAP({"INBOX": inbox, "Lists/dev": []}, users={"alice": "pw"},
                  faults=[Fault("UID FETCH", "drop", arg="2", nbytes=300)]
                  ) as srv:
        ... point the client at 127.0.0.1:srv.port (tls = "none") ...
    srv.folder("INBOX").messages   # what is left, with UIDs and flags
    srv.commands()                 # every command name received, in order
    srv.transcript()               # the dialogue, printable

The server listens on 127.0.0.1 (a free port), runs one thread per
connection and speaks enough of RFC 3501 and its extensions for a mail
fetcher: CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE (PLAIN,
LOGIN, XOAUTH2, OAUTHBEARER; SASL-IR), ENABLE, SELECT, EXAMINE, CREATE,
LIST, CLOSE, EXPUNGE, IDLE, and UID FETCH, STORE, COPY, MOVE, EXPUNGE,
SEARCH (keys ALL, [UN]DELETED, [UN]SEEN, UID set, NOT; RETURN (COUNT ALL)
with ESEARCH in caps). Client literals, synchronizing or not, are read as RFC 7888 says.
Message data goes out as literals with CRLF line ends; RFC822.SIZE is that
size (or Message.size, to lie).

Folders: {name: Folder or list of Message}; a Folder has `uidvalidity`,
`uidnext` and `messages` (in sequence order). A Message has `data` (LF
line ends), `uid` (given by the folder when None) and `flags` (a set of
str such as "\\\\Seen"). Changing them between runs is fine; while a client
is connected use the methods, which tell selected sessions (IDLE
included) what changed, as a real server does:

    srv.append("INBOX", data, flags=())     -> the new UID; "* N EXISTS"
    srv.add_flags("INBOX", uid, "\\\\Deleted") -> "* N FETCH (FLAGS ...)"
    srv.recreate("INBOX")                   a new UIDVALIDITY, same mail

Options (constructor keywords):

    users        {user: password} for LOGIN, PLAIN and LOGIN
    tokens       {user: token} for XOAUTH2 and OAUTHBEARER
    caps         capabilities after login (and before it, with those
                 below); default: IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS
                 MOVE ENABLE AUTH=PLAIN AUTH=LOGIN AUTH=XOAUTH2
                 AUTH=OAUTHBEARER. Leave one out to switch it off: without
                 UIDPLUS, MOVE or IDLE the command is refused with BAD.
    tls          "none", "starttls" (STARTTLS offered) or "implicit"
    cert, key    PEM paths of the server certificate (certs.py)
    logindisabled  offer LOGINDISABLED (and refuse LOGIN) before TLS
    greeting_caps  put [CAPABILITY ...] in the greeting (default True)
    preauth      greet with PREAUTH as user "alice"
    uid_last     in FETCH answers, put UID after the message data
    faults       list of Fault; srv.faults may be replaced between runs

Faults. Fault(cmd, action, arg=None, nth=1, times=1, conn=None,
**params): `cmd` is the command name as sent ("LOGIN", "SELECT",
"UID FETCH", "UID STORE", "IDLE", ...), "GREETING", or "*" (any command,
not the greeting); `arg` its
first argument (for UID FETCH the UID set, e.g. "3"). It fires on the
nth matching command, `times` times in a row (None: always), only on the
conn-th connection if given. Each action applies to the whole reply the
command would get (its untagged responses and its completion):

    drop         send the first `nbytes` (or `fraction`) of it, then close
    close_after  send it all, then close
    no, bad      answer "tag NO [code] text" / "tag BAD text" instead
    garbage      answer `data` (default: a line of binary garbage)
    replace      answer `data` (bytes) verbatim
    stall        send `nbytes` of it, then nothing more, ever
    trickle      one byte every `interval` seconds (`fast` bytes at once
                 first); forever=True keeps sending "x" after it
    delay        wait `seconds`, then answer normally
    bye          send `nbytes` of it, then "* BYE `text`", then close
    literal_longer   message data `by` bytes (default 3) longer than its
                 literal announces
    literal_shorter  message data `by` bytes shorter than announced
    noise        untagged responses first: `data`, by default an EXISTS,
                 an EXPUNGE and a FETCH FLAGS of other messages
    alert        "* OK [ALERT] `text`" first
    tls_* faults of fakepop3 (tls_unclean, tls_close_notify, tls_garbage,
                 tls_alert) work here too.

Transcript: srv.connections holds a fakepop3.Conn per connection (events
"C" command lines, "c" continuation lines and literal data, "S" bytes
sent, "*" notes; Conn.auth the login attempts as (mech, user, secret)).
"""

import base64
import itertools
import re
import threading
import time
from dataclasses import dataclass, field

import fakepop3
from fakepop3 import GARBAGE, Conn, _Closed, server_context

__all__ = ["FakeIMAP", "Folder", "Message", "Fault", "NOISE", "crlf"]

DEFAULT_CAPS = ("IMAP4rev1", "LITERAL+", "SASL-IR", "IDLE", "UIDPLUS",
                "MOVE", "ENABLE", "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=XOAUTH2",
                "AUTH=OAUTHBEARER")
NOISE = (b"* 9 EXISTS\r\n* 2 EXPUNGE\r\n* 1 FETCH (FLAGS (\\Seen))\r\n"
         b"* 8 EXISTS\r\n")
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
_ACTIONS = {"drop", "close_after", "no", "bad", "garbage", "replace", "stall",
            "trickle", "delay", "bye", "literal_longer", "literal_shorter",
            "noise", "alert", "tls_unclean", "tls_close_notify",
            "tls_garbage", "tls_alert"}
_validity = itertools.count(int(time.time()) % 1000000 * 1000)


def crlf(data):
    """DATA (LF line ends) as sent in IMAP: CRLF line ends."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass
class Message:
    data: bytes
    uid: int = None
    flags: set = field(default_factory=set)
    size: int = None            # RFC822.SIZE claimed; default the true one

    def rfc822_size(self):
        return self.size if self.size is not None else len(crlf(self.data))

    def header(self):
        head, sep, _ = self.data.partition(b"\n\n")
        return head + (b"\n\n" if sep else b"\n")


class Folder:
    def __init__(self, messages=(), uidvalidity=None, uidnext=1):
        self.uidvalidity = uidvalidity or next(_validity)
        self.uidnext = uidnext
        self.messages = []
        for m in messages:
            self.add(m if isinstance(m, Message) else Message(m))

    def add(self, m):
        if m.uid is None:
            m.uid = self.uidnext
        self.uidnext = max(self.uidnext, m.uid + 1)
        self.messages.append(m)
        return m

    def by_uid(self, uid):
        for i, m in enumerate(self.messages):
            if m.uid == uid:
                return i + 1, m
        return None, None

    def uids(self):
        return [m.uid for m in self.messages]


class Fault(fakepop3.Fault):
    """A fault (see the module documentation)."""

    def __init__(self, cmd, action, arg=None, nth=1, times=1, conn=None,
                 **params):
        if action not in _ACTIONS:
            raise ValueError("unknown fault action %r" % action)
        self.cmd = cmd.upper()
        self.action = action
        self.arg = None if arg is None else str(arg)
        self.nth, self.times, self.conn = nth, times, conn
        self.params = params
        self.seen = self.fired = 0


class FakeIMAP(fakepop3.FakePOP3):
    """The server: fakepop3's listener, threads and inspection, with IMAP
    sessions."""

    def __init__(self, folders=None, users=None, tokens=None,
                 caps=DEFAULT_CAPS, tls="none", cert=None, key=None,
                 logindisabled=False, greeting_caps=True, preauth=False,
                 uid_last=False, faults=()):
        super().__init__(users=users, tokens=tokens, tls=tls, cert=cert,
                         key=key, faults=faults)
        folders = {"INBOX": []} if folders is None else folders
        self.folders = {name: f if isinstance(f, Folder) else Folder(f)
                        for name, f in folders.items()}
        self.caps = list(caps)
        self.logindisabled = logindisabled
        self.greeting_caps = greeting_caps
        self.preauth = preauth
        self.uid_last = uid_last
        self.sessions = set()

    # ---- the mailbox, as another client changes it ------------------------

    def folder(self, name):
        return self.folders[name]

    def _tell(self, name, line_for):
        """Queue an untagged response for each session with folder NAME
        selected; line_for(session) gives it (or None)."""
        with self.lock:
            for s in list(self.sessions):
                if s.selected == name:
                    line = line_for(s)
                    if line:
                        s.untagged.append(line)

    def append(self, name, data, flags=()):
        with self.lock:
            f = self.folders[name]
            m = f.add(Message(data, flags=set(flags)))
            n = len(f.messages)
        self._tell(name, lambda s: b"* %d EXISTS\r\n" % n)
        return m.uid

    def add_flags(self, name, uid, *flags):
        with self.lock:
            seq, m = self.folders[name].by_uid(uid)
            m.flags.update(flags)
            line = b"* %d FETCH (FLAGS (%s))\r\n" % (
                seq, " ".join(sorted(m.flags)).encode())
        self._tell(name, lambda s: line)

    def recreate(self, name):
        """The folder deleted and created again with the same messages:
        a new UIDVALIDITY and new UIDs."""
        with self.lock:
            old = self.folders[name]
            self.folders[name] = Folder(
                [Message(m.data, flags=set(m.flags)) for m in old.messages])

    def _fault_for(self, conn, cmd, arg):
        # "*" is any command, never the greeting: nothing may come first.
        if cmd == "GREETING":
            with self.lock:
                saved = self.faults
                self.faults = [f for f in saved if f.cmd != "*"]
                try:
                    return super()._fault_for(conn, cmd, arg)
                finally:
                    self.faults = saved
        return super()._fault_for(conn, cmd, arg)

    def commands(self, conn=None):
        conns = self.connections if conn is None else [
            self.connections[conn - 1]]
        out = []
        for c in conns:
            for kind, line in c.events:
                if kind == "C":
                    out.append(_command_name(line))
        return out

    def capabilities(self, under_tls=False, logged_in=False):
        caps = list(self.caps)
        if self.tls == "starttls" and not under_tls and not logged_in:
            caps.append("STARTTLS")
        if self.logindisabled and not under_tls and not logged_in:
            caps.append("LOGINDISABLED")
        return caps

    # ---- connections --------------------------------------------------------

    def _serve(self, s, conn):
        s.settimeout(fakepop3.POLL)
        sess = _Session(self, s, conn)
        with self.lock:
            self.sessions.add(sess)
        try:
            sess.run()
        except _Closed:
            pass
        except (OSError, fakepop3.ssl.SSLError) as e:
            conn.events.append(("*", ("socket error: %r" % (e,)).encode()))
        except Exception as e:          # a bug here: make it visible
            conn.error = repr(e)
            conn.events.append(("*", ("handler error: %r" % (e,)).encode()))
        finally:
            with self.lock:
                self.sessions.discard(sess)
            sess.close()
            conn.closed = True


def _command_name(line):
    words = line.split(b" ")
    name = words[1].decode("latin-1").upper() if len(words) > 1 else ""
    if name == "UID" and len(words) > 2:
        name += " " + words[2].decode("latin-1").upper()
    return name


# ---- client command parsing ---------------------------------------------------

class _Str(bytes):
    """A quoted string or literal (an atom is plain bytes)."""


def _tokens(raw):
    """The arguments of a command, as sent (literals inline): atoms as
    bytes, strings as _Str, lists as Python lists."""
    stack, pos = [[]], 0
    while pos < len(raw):
        c = raw[pos:pos + 1]
        if c in b" \r\n":
            pos += 1
        elif c == b"(":
            stack.append([])
            pos += 1
        elif c == b")":
            done = stack.pop() if len(stack) > 1 else []
            stack[-1].append(done)
            pos += 1
        elif c == b'"':
            out, pos = bytearray(), pos + 1
            while pos < len(raw) and raw[pos:pos + 1] != b'"':
                if raw[pos:pos + 1] == b"\\":
                    pos += 1
                out += raw[pos:pos + 1]
                pos += 1
            stack[-1].append(_Str(out))
            pos += 1
        elif c == b"{":
            m = re.match(rb"\{(\d+)\+?\}\r\n", raw[pos:])
            n, pos = int(m.group(1)), pos + m.end()
            stack[-1].append(_Str(raw[pos:pos + n]))
            pos += n
        else:
            m = re.match(rb"(?:[^ ()\[\r\n]|\[[^\]]*\])+", raw[pos:])
            stack[-1].append(bytes(m.group(0)))
            pos += m.end()
    return stack[0]


def _uid_set(spec, folder):
    """The UIDs of FOLDER in an IMAP set such as "1:3,7,9:*"."""
    top = max(folder.uids(), default=0)
    want = set()
    for part in spec.decode().split(","):
        lo, _, hi = part.partition(":")
        lo = top if lo == "*" else int(lo)
        hi = lo if not hi else (top if hi == "*" else int(hi))
        lo, hi = min(lo, hi), max(lo, hi)
        want.update(u for u in folder.uids() if lo <= u <= hi)
    return sorted(want)


def _quote(s):
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class _Session(fakepop3._Session):
    """One IMAP connection (fakepop3's session I/O, IMAP commands)."""

    def __init__(self, server, sock, conn):
        super().__init__(server, sock, conn)
        self.user = None
        self.selected = None
        self.read_only = False
        self.untagged = []          # queued by the server's methods
        self.literal_delta = 0      # literal_longer/shorter faults
        self.tag = b"*"

    @property
    def eol(self):
        return b"\r\n"

    # ---- reading commands -----------------------------------------------------

    def read_exact(self, n):
        while len(self.buf) < n:
            data = self.recv()
            if not data:
                self.note("client closed the connection in a literal")
                raise _Closed()
            self.buf += data
        data, self.buf = self.buf[:n], self.buf[n:]
        self.conn.events.append(("c", data))
        return data

    def read_command(self):
        """The next command, its literals inline, as sent."""
        raw = self.readline()
        out = raw
        while True:
            m = re.search(rb"\{(\d+)(\+?)\}$", raw)
            if m is None or int(m.group(1)) > 1 << 20:
                return out + b"\r\n"
            if not m.group(2):
                self.send(b"+ Ready for literal data\r\n")
            data = self.read_exact(int(m.group(1)))
            raw = self.readline("c")
            out += b"\r\n" + data + raw

    # ---- replies ----------------------------------------------------------------

    def done(self, status="OK", text="done", code=None):
        code = b"[%s] " % code.encode() if code else b""
        return b"%s %s %s%s\r\n" % (self.tag, status.encode(), code,
                                    text.encode())

    def pending(self):
        with self.srv.lock:
            out, self.untagged = b"".join(self.untagged), []
        return out

    # ---- the session -------------------------------------------------------------

    def run(self):
        if self.srv.tls == "implicit":
            self.start_tls()
        if self.srv.preauth:
            self.user = "alice"
        self.tag = b"*"
        self.respond("GREETING", "", self.greeting)
        while True:
            raw = self.read_command()
            words = raw.split(b" ", 3)
            self.tag = words[0]
            name = _command_name(raw.rstrip(b"\r\n"))
            rest = raw.split(b" ", 3 if name.startswith("UID ") else 2)
            args = _tokens(rest[-1]) if len(rest) > (
                3 if name.startswith("UID ") else 2) else []
            handler = getattr(self, "cmd_" + name.replace(" ", "_"), None)
            arg = args[0].decode("latin-1") if args and isinstance(
                args[0], bytes) else ""
            if handler is None:
                self.respond(name, arg, lambda: (
                    self.done("BAD", "unknown command"), None))
                continue
            self.respond(name, arg, lambda: handler(args))

    def greeting(self):
        caps = b""
        if self.srv.greeting_caps:
            caps = b"[CAPABILITY %s] " % " ".join(
                self.srv.capabilities(self.conn.tls)).encode()
        kind = b"PREAUTH" if self.srv.preauth else b"OK"
        return b"* %s %sfakeimap ready\r\n" % (kind, caps), None

    def respond(self, name, arg, produce):
        """Apply any fault to the reply PRODUCE() gives: (bytes, after)."""
        f = self.srv._fault_for(self.conn, name, arg)
        p, a = (f.params, f.action) if f is not None else ({}, None)
        if f is not None:
            self.note("fault %s on %s %s" % (a, name, arg))
        if a in ("no", "bad"):
            self.send(self.done(a.upper(), p.get("text", "fault injected"),
                                p.get("code")))
            return
        if a in ("garbage", "replace"):
            self.send(p.get("data", GARBAGE))
            return
        if a == "delay":
            self.pause(p.get("seconds", 1))
        if a in ("literal_longer", "literal_shorter"):
            by = p.get("by", 3)
            self.literal_delta = -by if a == "literal_longer" else by
        try:
            reply, after = produce()
        finally:
            self.literal_delta = 0
        reply = self.pending() + reply
        if a == "noise":
            reply = p.get("data", NOISE) + reply
        if a == "alert":
            reply = b"* OK [ALERT] %s\r\n" % p.get("text", "fault").encode(
                ) + reply
        if a in (None, "delay", "noise", "alert", "literal_longer",
                 "literal_shorter"):
            self.send(reply)
            if after:
                after()
            return
        self.partial_reply(a, p, reply)

    def pause(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.stopping:
                raise _Closed()
            time.sleep(min(fakepop3.POLL, max(0, end - time.monotonic())))

    def partial_reply(self, a, p, reply):
        """The faults that send part of a reply, or send it oddly."""
        if a == "close_after":
            self.send(reply)
            self.hard_close(p.get("rst", False))
        if a == "drop":
            self.send(self.cut(reply, p))
            self.hard_close(p.get("rst", False))
        if a == "bye":
            self.send(self.cut(reply, p))
            self.send(b"* BYE %s\r\n" % p.get("text", "fault").encode())
            self.hard_close()
        if a == "stall":
            self.send(self.cut(reply, p))
            self.wait_for_hangup()
        if a == "trickle":
            fast = self.cut(reply, p, "fast")
            self.send(fast)
            for i in itertools.count(len(fast)):
                if i >= len(reply) and not p.get("forever"):
                    return
                self.send(reply[i:i + 1] if i < len(reply) else b"x")
                self.pause(p.get("interval", 1.0))
        if not self.conn.tls:
            raise RuntimeError("fault %s needs a TLS session" % a)
        self.send(self.cut(reply, p))
        if a == "tls_unclean":
            self.hard_close()
        if a == "tls_close_notify":
            try:
                self.sock.unwrap()
                self.note("TLS close_notify sent")
            except (fakepop3.ssl.SSLError, OSError) as e:
                self.note("unwrap: %s" % e)
            self.hard_close()
        if a == "tls_garbage":
            self.raw_send(p.get("data", b"\x17\x03\x03\x00\x20"
                                + fakepop3.os.urandom(32)))
            self.wait_for_hangup()
        self.raw_send(p.get("data", fakepop3.TLS_ALERT))
        self.hard_close()

    # ---- commands: any state -------------------------------------------------------

    def caps_line(self):
        return b"* CAPABILITY %s\r\n" % " ".join(self.srv.capabilities(
            self.conn.tls, self.user is not None)).encode()

    def cmd_CAPABILITY(self, args):
        return self.caps_line() + self.done(), None

    def cmd_NOOP(self, args):
        return self.done(), None

    def cmd_LOGOUT(self, args):
        return b"* BYE logging out\r\n" + self.done(), self.hard_close

    def cmd_STARTTLS(self, args):
        if self.conn.tls or self.srv.tls != "starttls" or self.user:
            return self.done("BAD", "STARTTLS not possible"), None
        return self.done(text="Begin TLS negotiation now"), self.start_tls

    def cmd_ENABLE(self, args):
        on = [a for a in args if a.decode().upper() in
              (c.upper() for c in self.srv.caps)]
        return (b"* ENABLED %s\r\n" % b" ".join(on)) + self.done(), None

    # ---- login ------------------------------------------------------------------------

    def login(self, mech, user, secret):
        self.conn.auth.append((mech, user, secret))
        if mech in ("XOAUTH2", "OAUTHBEARER"):
            token = self.srv.tokens.get(user)
            good = token is not None and ("auth=Bearer %s\x01" % token
                                          ).encode() in secret
        else:
            good = self.srv.users.get(user) == secret
        if not good:
            self.note("login of %r (%s) refused" % (user, mech))
            return self.done("NO", "Authentication failed.",
                             "AUTHENTICATIONFAILED")
        self.user = user
        self.note("logged in as %r (%s)" % (user, mech))
        return self.done(text="Logged in")

    def cmd_LOGIN(self, args):
        if self.user:
            return self.done("BAD", "already logged in"), None
        if self.srv.logindisabled and not self.conn.tls:
            return self.done("NO", "LOGIN disabled", "PRIVACYREQUIRED"), None
        if len(args) != 2:
            return self.done("BAD", "LOGIN user password"), None
        return self.login("LOGIN", args[0].decode("utf-8", "replace"),
                          args[1].decode("utf-8", "replace")), None

    def challenge(self, data):
        """Send "+ DATA"; the client's answer (None when it cancels)."""
        self.send(b"+ " + data + b"\r\n")
        line = self.readline("c")
        return None if line == b"*" else line

    def cmd_AUTHENTICATE(self, args):
        mech = args[0].decode().upper() if args else ""
        if self.user or "AUTH=" + mech not in self.srv.caps:
            return self.done("NO", "unsupported mechanism"), None
        initial = args[1] if len(args) > 1 else None
        if initial is not None and "SASL-IR" not in self.srv.caps:
            return self.done("BAD", "no SASL-IR here"), None
        if mech == "LOGIN":
            u = self.challenge(base64.b64encode(b"Username:"))
            p = u and self.challenge(base64.b64encode(b"Password:"))
            if p is None:
                return self.done("BAD", "cancelled"), None
            return self.login("LOGIN", _b64(u).decode(), _b64(p).decode()
                              ), None
        resp = initial if initial is not None else self.challenge(b"")
        if resp is None:
            return self.done("BAD", "cancelled"), None
        raw = b"" if resp == b"=" else _b64(resp)
        if mech == "PLAIN":
            parts = raw.split(b"\0")
            if len(parts) != 3:
                return self.done("BAD", "bad PLAIN response"), None
            return self.login("PLAIN", parts[1].decode(),
                              parts[2].decode()), None
        user = re.search(rb"(?:user=|a=)([^\x01,]*)", raw)
        user = user.group(1).decode() if user else ""
        reply = self.login(mech, user, raw)
        if b" NO " in reply:
            # RFC 7628: the error as a challenge, then NO.
            self.challenge(base64.b64encode(b'{"status":"401"}'))
        return reply, None

    # ---- folders --------------------------------------------------------------------

    def need(self, selected=True):
        if self.user is None:
            return self.done("BAD", "log in first"), None
        if selected and self.selected is None:
            return self.done("BAD", "select a folder first"), None
        return None

    def folder(self):
        return self.srv.folders[self.selected]

    def open(self, args, read_only):
        bad = self.need(selected=False)
        if bad:
            return bad
        name = args[0].decode("utf-8", "replace") if args else ""
        if name.upper() == "INBOX":
            name = "INBOX"
        self.selected = None
        with self.srv.lock:
            f = self.srv.folders.get(name)
            if f is None:
                return self.done("NO", "Mailbox doesn't exist",
                                 "NONEXISTENT"), None
            self.untagged = []
            self.selected, self.read_only = name, read_only
            out = (b"* FLAGS (%s)\r\n* %d EXISTS\r\n* 0 RECENT\r\n"
                   b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
                   b"* OK [UIDNEXT %d] Predicted next UID\r\n" % (
                       " ".join(SYSTEM_FLAGS).encode(), len(f.messages),
                       f.uidvalidity, f.uidnext))
        return out + self.done(code="READ-ONLY" if read_only else
                               "READ-WRITE"), None

    def cmd_SELECT(self, args):
        return self.open(args, False)

    def cmd_EXAMINE(self, args):
        return self.open(args, True)

    def cmd_CREATE(self, args):
        bad = self.need(selected=False)
        if bad:
            return bad
        with self.srv.lock:
            self.srv.folders.setdefault(args[0].decode(), Folder())
        return self.done(), None

    def cmd_LIST(self, args):
        bad = self.need(selected=False)
        if bad:
            return bad
        out = b"".join(b'* LIST () "/" %s\r\n' % _quote(n.encode())
                       for n in sorted(self.srv.folders))
        return out + self.done(), None

    def expunge(self, uids):
        """Remove these UIDs (already chosen); the EXPUNGE responses."""
        out = []
        with self.srv.lock:
            f = self.folder()
            for uid in sorted(uids, reverse=True):
                seq, _ = f.by_uid(uid)
                if seq is not None:
                    del f.messages[seq - 1]
                    out.append(b"* %d EXPUNGE\r\n" % seq)
        return b"".join(out)

    def flagged_deleted(self, uids=None):
        return [m.uid for m in self.folder().messages if "\\Deleted" in
                m.flags and (uids is None or m.uid in uids)]

    def cmd_EXPUNGE(self, args):
        bad = self.need()
        if bad:
            return bad
        return self.expunge(self.flagged_deleted()) + self.done(), None

    def cmd_CLOSE(self, args):
        bad = self.need()
        if bad:
            return bad
        self.expunge(self.flagged_deleted())
        self.selected = None
        return self.done(), None

    def cmd_UID_EXPUNGE(self, args):
        bad = self.need()
        if bad:
            return bad
        if "UIDPLUS" not in self.srv.caps:
            return self.done("BAD", "no UIDPLUS"), None
        want = set(_uid_set(args[0], self.folder()))
        return self.expunge(self.flagged_deleted(want)) + self.done(), None

    def match_key(self, m, keys):
        """Does message M match the next search key in KEYS (consumed)?"""
        k = keys.pop(0)
        if isinstance(k, list):
            return self.matches(m, k)
        name = k.decode().upper()
        if name == "NOT":
            return not self.match_key(m, keys)
        if name == "UID":
            return m.uid in _uid_set(keys.pop(0), self.folder())
        if name == "ALL":
            return True
        flag = {"DELETED": "\\Deleted", "SEEN": "\\Seen"}.get(
            name[2:] if name.startswith("UN") else name)
        if flag is None:
            raise ValueError("unknown search key %s" % name)
        return (flag in m.flags) != name.startswith("UN")

    def matches(self, m, keys):
        """Does M match all of KEYS?"""
        keys, ok = list(keys), True
        while keys:
            hit = self.match_key(m, keys)
            ok = ok and hit
        return ok

    def cmd_UID_SEARCH(self, args):
        bad = self.need()
        if bad:
            return bad
        ret = None
        if args and args[0].upper() == b"RETURN":
            ret, args = args[1], args[2:]
        try:
            uids = [m.uid for m in self.folder().messages
                    if self.matches(m, list(args))]
        except (ValueError, IndexError) as e:
            return self.done("BAD", str(e)), None
        if ret is None:
            return (b"* SEARCH%s\r\n" % b"".join(b" %d" % u for u in uids)
                    + self.done()), None
        if "ESEARCH" not in self.srv.caps:
            return self.done("BAD", "no ESEARCH"), None
        parts = [b"COUNT %d" % len(uids)] if b"COUNT" in ret else []
        if uids and (b"ALL" in ret or not ret):
            parts.append(b"ALL " + b",".join(b"%d" % u for u in uids))
        return (b'* ESEARCH (TAG "%s") UID %s\r\n' % (
            self.tag, b" ".join(parts)) + self.done()), None

    # ---- messages -------------------------------------------------------------------

    def fetch_one(self, seq, m, items):
        """The FETCH response for message M."""
        parts, body = [], []
        names = [i.decode().upper() if isinstance(i, bytes) else i
                 for i in items]
        for name in names:
            if name == "FLAGS":
                parts.append(b"FLAGS (%s)" % " ".join(sorted(m.flags)
                                                      ).encode())
            elif name == "RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % m.rfc822_size())
            elif name == "INTERNALDATE":
                parts.append(b'INTERNALDATE "01-Jan-2024 00:00:00 +0000"')
            elif name.startswith("BODY"):
                section = name[name.index("["):]
                data = crlf(m.header() if section == "[HEADER]" else m.data)
                size = max(0, len(data) + self.literal_delta)
                body.append(b"BODY%s {%d}\r\n%s" % (section.encode(), size,
                                                    data))
                if ".PEEK" not in name and not self.read_only:
                    m.flags.add("\\Seen")
        uid = [b"UID %d" % m.uid]
        parts = parts + body + uid if self.srv.uid_last else (
            uid + parts + body)
        return b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts))

    def cmd_UID_FETCH(self, args):
        bad = self.need()
        if bad:
            return bad
        if len(args) < 2:
            return self.done("BAD", "UID FETCH set items"), None
        items = args[1] if isinstance(args[1], list) else [args[1]]
        out = []
        with self.srv.lock:
            f = self.folder()
            for uid in _uid_set(args[0], f):
                seq, m = f.by_uid(uid)
                out.append(self.fetch_one(seq, m, items))
        return b"".join(out) + self.done(), None

    def cmd_UID_STORE(self, args):
        bad = self.need()
        if bad:
            return bad
        op = args[1].decode().upper()
        flags = {a.decode() for a in (args[2] if isinstance(args[2], list)
                                      else [args[2]])}
        out = []
        with self.srv.lock:
            f = self.folder()
            for uid in _uid_set(args[0], f):
                seq, m = f.by_uid(uid)
                if op.startswith("+"):
                    m.flags |= flags
                elif op.startswith("-"):
                    m.flags -= flags
                else:
                    m.flags = set(flags)
                if not op.endswith(".SILENT"):
                    out.append(self.fetch_one(seq, m, [b"FLAGS"]))
        return b"".join(out) + self.done(), None

    def copy(self, args, move):
        bad = self.need()
        if bad:
            return bad
        dest = args[1].decode("utf-8", "replace")
        with self.srv.lock:
            f = self.folder()
            to = self.srv.folders.get(dest)
            if to is None:
                return self.done("NO", "no such folder", "TRYCREATE"), None
            src = _uid_set(args[0], f)
            new = [to.add(Message(f.by_uid(u)[1].data, flags=set(
                f.by_uid(u)[1].flags) - {"\\Deleted"})).uid for u in src]
        code = "COPYUID %d %s %s" % (to.uidvalidity, ",".join(map(str, src)),
                                     ",".join(map(str, new)))
        if not move:
            return self.done(code=code), None
        out = b"* OK [%s] moved\r\n" % code.encode() + self.expunge(src)
        return out + self.done(), None

    def cmd_UID_COPY(self, args):
        return self.copy(args, False)

    def cmd_UID_MOVE(self, args):
        if "MOVE" not in self.srv.caps:
            return self.done("BAD", "no MOVE"), None
        return self.copy(args, True)

    def cmd_IDLE(self, args):
        bad = self.need()
        if bad:
            return bad
        if "IDLE" not in self.srv.caps:
            return self.done("BAD", "no IDLE"), None
        self.send(self.pending() + b"+ idling\r\n")
        while b"\n" not in self.buf:
            pushed = self.pending()
            if pushed:
                self.send(pushed)
            data = self.recv_some()
            if data is None:
                continue
            if not data:
                self.note("client closed the connection in IDLE")
                raise _Closed()
            self.buf += data
        line = self.readline("c")
        if line.upper() != b"DONE":
            return self.done("BAD", "expected DONE"), None
        return self.done(text="Idle completed"), None

    def recv_some(self):
        """Input if there is any within a poll interval, else None."""
        if self.stopping:
            raise _Closed()
        try:
            return self.sock.recv(65536)
        except (fakepop3.socket.timeout, fakepop3.ssl.SSLWantReadError,
                fakepop3.ssl.SSLWantWriteError):
            return None
        except (ConnectionResetError, BrokenPipeError):
            return b""


def _b64(s):
    try:
        return base64.b64decode(s, validate=True)
    except (ValueError, TypeError):
        return b""
