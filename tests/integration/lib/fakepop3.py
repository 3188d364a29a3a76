"""A scriptable fake POP3 server for fault-injection tests (stdlib only).

    msgs = [fakepop3.Message(mailgen.message(subject="m%d" % i), "uid-%d" % i)
            for i in range(3)]
    with FakePOP3(msgs, users={"alice": "pw"},
                  faults=[Fault("RETR", "drop", arg="2", nbytes=300)]) as srv:
        ... point mailferry at 127.0.0.1:srv.port (tls = "none") ...
    srv.commands()          # every command verb received, in order
    srv.mailbox()           # the messages still on the server (after QUIT)
    srv.transcript()        # the whole dialogue, printable, for messages

The server listens on 127.0.0.1 on a free port picked when it binds, runs
an accept thread and one thread per connection, and speaks RFC 1939 / 2449
/ 2595 / 5034: greeting (with an APOP timestamp when apop=True), CAPA,
STLS, USER/PASS, APOP, AUTH PLAIN/LOGIN/XOAUTH2, STAT, LIST, UIDL, RETR
(CRLF line ends and dot-stuffing), TOP, DELE, RSET, NOOP, QUIT. Deletions
take effect only when QUIT is answered in the TRANSACTION state.

Options (constructor keywords; most can be changed between runs):

    messages     list of Message (bytes with LF line ends, a UID or None
                 for "not in UIDL", an optional lying LIST size; with
                 crlf=True the bytes are stored as on the wire, lines
                 ended by CRLF, and a bare LF in them is sent unchanged,
                 as a server that keeps what SMTP gave it would)
    users        {user: password} for USER/PASS, APOP, PLAIN, LOGIN
    tokens       {user: token} for XOAUTH2; the decoded payload must be
                 exactly "user=U\\x01auth=Bearer T\\x01\\x01"
    checker      callable(mech, user, secret) -> bool replacing the check
                 above; mech is "USER", "APOP", "PLAIN", "LOGIN" or
                 "XOAUTH2"; secret is the password (str), for APOP the
                 hex digest, for XOAUTH2 the whole decoded payload (bytes)
    apop         put an APOP timestamp in the greeting and accept APOP
    apop_refused put an APOP timestamp in the greeting but refuse every
                 APOP with "-ERR [AUTH]" (a server that has no APOP secrets
                 set up, as GNU Mailutils' pop3d by default)
    capa         list of CAPA lines (without "CAPA"/"."), None: CAPA is
                 answered -ERR. Default: built from the flags pipelining,
                 uidl, top, user, sasl (a list of mechanisms), stls (None:
                 offered when a TLS context is set and tls = "starttls"),
                 resp_codes. STLS is never listed once under TLS.
    uidl         False: no UIDL capability and the UIDL command fails
    tls          "none" (plain, no STLS), "starttls" (plain, STLS offered
                 when cert/key are given), "implicit" (TLS from the start)
    cert, key    PEM paths for the server certificate (certs.py)
    tls_max_version  an ssl.TLSVersion cap for the server (e.g. TLSv1_2)
    handshake_alert  answer the client's TLS ClientHello with a fatal
                 plaintext TLS alert (handshake_failure) and hang up
    bare_lf      end every line sent with a bare LF instead of CRLF
    bare_lf_terminator  end multi-line replies with ".\\n" only
    greeting     the greeting text after "+OK "
    utf8         offer UTF8 (RFC 6856) in CAPA and take the UTF8 command
                 (before login only); a session that did not send it gets
                 every message whose header holds 8-bit bytes as a
                 generated "cannot be displayed" wrapper with the original
                 attached in base64 (utf8_wrapper()), from RETR and TOP
                 alike, while LIST keeps announcing the original's size
    split_writes send the status line of RETR and TOP replies and the data
                 after it in two separate writes, with Nagle's algorithm on
                 (as GNU Mailutils' pop3d does; with pipelining=False a
                 client that does not acknowledge at once waits for its
                 delayed ACK on every message)
    login_delay  seconds: CAPA says "LOGIN-DELAY n", and a login of a user
                 sooner than n seconds after that user's last successful
                 one is refused "-ERR [LOGIN-DELAY] ..." (RFC 2449)
    login_delay_user  seconds: before login CAPA says "LOGIN-DELAY n USER"
                 (n from login_delay), after login "LOGIN-DELAY m" with this
                 value, which is the one enforced
    on_command   callable(conn, verb, args) called as each command line
                 arrives, before it is answered (to synchronise a test on
                 what the client sent)
    faults       list of Fault (see below); srv.faults can be replaced

Faults. Fault(cmd, action, arg=None, nth=1, times=1, conn=None, **params):
`cmd` is a command verb ("RETR", "QUIT", ...), "GREETING", or "*" (any
command). It fires on the nth matching command (counted over the server's
life, across connections), `times` times in a row (None: every time);
`arg` restricts it to commands whose first argument is that string (e.g.
RETR "3"), `conn` to the conn-th connection (1-based). Actions, each
applied to the reply the command would get:

    drop         send the first `nbytes` (default 0) bytes of the reply,
                 then close the connection (rst=True: with a TCP reset;
                 the client's kernel then discards what it had not read)
    close_after  send the whole reply, then close (greet and hang up)
    err          answer "-ERR [code] text" (code: "SYS/TEMP", "IN-USE",
                 "AUTH", ... or None) without doing the command
    garbage      answer `data` (default: a line of binary garbage)
                 without doing the command; the session goes on
    replace      answer `data` (bytes) verbatim without doing the command
    long_line    send the first `at` bytes (default 0) of the reply, then
                 `length` (default 10 MB) bytes of "x" without any line
                 end, then wait for the client to hang up
    stall        send the first `nbytes` (default 0) bytes of the reply,
                 then never answer again (input is still read and logged)
    trickle      send the reply (or `data` instead) one byte (or `chunk`
                 bytes) every `interval` seconds; with forever=True keep
                 trickling `pattern` (default b"x") after it, never
                 ending
    endless      send the reply's status line (or the first `nbytes`),
                 then gen(i) for i = 0, 1, ... (a callable returning
                 bytes; default: `pattern`, b"x" unless given, every
                 time) as fast as the client takes it, `count` times
                 (None: until the client hangs up), then `tail` (bytes,
                 default none); the session then goes on
    delay        wait `seconds`, then answer normally
    bare_lf      answer normally but with LF line ends only
    tls_unclean  (under TLS) send `nbytes` of the reply, then close the TCP
                 connection without a TLS close_notify
    tls_close_notify  send `nbytes`, then a proper TLS shutdown and close
    tls_garbage  send `nbytes`, then raw garbage bytes into the TCP stream
                 under the TLS layer, then wait for the client to hang up
    tls_alert    send `nbytes`, then a raw plaintext fatal TLS alert record
                 into the TCP stream, then close

Where a fault sends part of the reply first (`nbytes`, `at`, `fast`), a
negative count means "all but that many bytes", and fraction=F (0 to 1)
instead means that share of the reply: Fault("RETR", "drop", arg="3",
fraction=0.5) hangs up in the middle of message 3, nbytes=-3 just before
its terminating ".\\r\\n". `trickle` takes `fast` (or fraction): bytes
sent at once before the trickle starts. A fault on AUTH applies to the
final reply, after the SASL exchange; a failed XOAUTH2 gets the RFC 7628
error challenge first. QUIT applies the deletions only when its +OK is
sent whole (not with drop, stall, err, garbage, replace).

Transcript: srv.connections is a list of Conn, one per TCP connection, in
order, each with `events` [(direction, bytes)] where direction is "C"
(a command line received, line end stripped), "c" (a SASL continuation
line received), "S" (bytes sent, as sent) or "*" (a note: TLS started,
fault fired, closed ...); Conn.early lists the command lines the client
had followed with more input before their reply was sent (pipelining).
Conn.received() (all lines), Conn.commands() (command verbs only) and
Conn.sent_lines() give the lines; Conn.auth
records every login attempt as (mech, user, secret) where secret is the
password, the APOP digest or the decoded XOAUTH2 payload. Read them
after the client is done (srv.close() or the with block joins the
handler threads). srv.logins lists (time.monotonic(), user) of every
successful login, srv.login_delay_refusals counts the logins refused for
coming too soon, and Conn.utf8 says whether the session enabled UTF8.
"""

import base64
import hashlib
import itertools
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

__all__ = ["FakePOP3", "Message", "Fault", "Conn", "TEN_MB",
           "server_context", "crlf_size", "encode_multiline",
           "utf8_wrapper", "has_8bit_header"]

TEN_MB = 10 * 1024 * 1024
POLL = 0.1                      # how often blocked threads check for stop
GARBAGE = b"\x00\xff\xfe garbage \x1b[31m\x7f\xc3(\r\n"
# A fatal TLS alert record: content type 21, TLS 1.2 record version,
# length 2, level fatal (2), description handshake_failure (40).
TLS_ALERT = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
MAX_COMMAND_LINE = 64 * 1024

_stamps = itertools.count(1)


@dataclass
class Message:
    """A message on the fake server. data: bytes with LF line ends (as in
    a Maildir), or with crlf=True with CRLF line ends, a bare LF being
    part of a line. uid: str/bytes for UIDL, None to leave it out of
    UIDL. list_size: the size LIST claims (default: the true CRLF
    size)."""
    data: bytes
    uid: object = None
    list_size: int = None
    crlf: bool = False

    def size(self):
        if self.list_size is not None:
            return self.list_size
        return len(self.data) if self.crlf else crlf_size(self.data)


class Fault:
    """One injected fault (see the module documentation). `seen` counts
    the matching commands so far, `fired` the times it took effect."""

    def __init__(self, cmd, action, arg=None, nth=1, times=1, conn=None,
                 **params):
        if action not in _ACTIONS:
            raise ValueError("unknown fault action %r" % action)
        self.cmd = cmd.upper()
        self.action = action
        self.arg = None if arg is None else str(arg)
        self.nth = nth
        self.times = times
        self.conn = conn
        self.params = params
        self.seen = 0
        self.fired = 0

    def __repr__(self):
        extra = "".join(", %s=%r" % kv for kv in self.params.items())
        return "Fault(%r, %r, arg=%r, nth=%r%s; fired %d)" % (
            self.cmd, self.action, self.arg, self.nth, extra, self.fired)


_ACTIONS = {"drop", "close_after", "err", "garbage", "replace", "long_line",
            "stall", "trickle", "endless", "delay", "bare_lf", "tls_unclean",
            "tls_close_notify", "tls_garbage", "tls_alert"}


@dataclass
class Conn:
    index: int
    events: list = field(default_factory=list)
    auth: list = field(default_factory=list)
    tls: bool = False
    logged_in: str = None
    quit_done: bool = False     # QUIT answered, deletions applied
    # Command lines the client had already followed with more input when
    # the server read them, i.e. before it could see their reply: what a
    # pipelining client does (RFC 2449 allows it only with PIPELINING).
    early: list = field(default_factory=list)
    closed: bool = False
    error: str = None           # an unexpected exception in the handler
    utf8: bool = False          # the UTF8 command was accepted

    def received(self):
        """Every line received from the client, in order (bytes), SASL
        continuation lines included."""
        return [d for k, d in self.events if k in ("C", "c")]

    def sent(self):
        """Everything sent to the client, as one bytes object."""
        return b"".join(d for k, d in self.events if k == "S")

    def sent_lines(self):
        return self.sent().split(b"\n")

    def commands(self):
        """The verbs of the commands received (upper case str)."""
        out = []
        for line in [d for k, d in self.events if k == "C"]:
            word = line.split(b" ", 1)[0]
            out.append(word.decode("latin-1").upper())
        return out

    def notes(self):
        return [d.decode("latin-1") for k, d in self.events if k == "*"]


def crlf_size(data):
    """The size of a message in POP3 (CRLF) form, before dot-stuffing."""
    return len(data) + data.count(b"\n") + (0 if data.endswith(b"\n")
                                            or not data else 2)


def encode_multiline(data, eol=b"\r\n", terminator=None, sep=b"\n"):
    """A message as sent in a RETR/TOP reply body: SEP line ends become
    EOL, lines starting with "." get another one, a last line without an
    end gets one, then the terminating "." line."""
    out = []
    lines = data.split(sep)
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines:
        if line.startswith(b"."):
            line = b"." + line
        out.append(line + eol)
    out.append(terminator if terminator is not None else b"." + eol)
    return b"".join(out)


def has_8bit_header(data):
    """Does the header of DATA (up to the first empty line) hold a byte
    over 127?"""
    head = data.split(b"\n\n", 1)[0]
    return any(b > 0x7f for b in head)


UTF8_BOUNDARY = b"fakepop3-utf8-wrapper"


def utf8_wrapper(data):
    """What a UTF8-capable server hands a client that did not enable UTF8
    instead of a message with 8-bit header bytes (RFC 6856 section 7.1
    lets it): an ASCII notice with the original attached."""
    encoded = base64.encodebytes(data)
    b = UTF8_BOUNDARY
    return (b"From: Mail System <mailer-daemon@fakepop3.test>\n"
            b"Subject: A message that cannot be displayed\n"
            b"MIME-Version: 1.0\n"
            b'Content-Type: multipart/mixed; boundary="' + b + b'"\n'
            b"\n"
            b"--" + b + b"\n"
            b"Content-Type: text/plain; charset=us-ascii\n"
            b"\n"
            b"This message has internationalized header fields, which your\n"
            b"mail client did not ask for (RFC 6856 UTF8 command). The\n"
            b"original message is attached.\n"
            b"\n"
            b"--" + b + b"\n"
            b"Content-Type: application/octet-stream; name=original.eml\n"
            b"Content-Transfer-Encoding: base64\n"
            b"\n" + encoded +
            b"--" + b + b"--\n")


def server_context(cert, key, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


class _Closed(Exception):
    """The client hung up, the server is stopping, or a fault ended the
    session."""


class FakePOP3:
    def __init__(self, messages=(), users=None, tokens=None, checker=None,
                 apop=False, capa="default", pipelining=True, uidl=True,
                 top=True, user=True, sasl=("PLAIN", "LOGIN", "XOAUTH2"),
                 stls=None, resp_codes=True, tls="none", cert=None,
                 key=None, tls_max_version=None, handshake_alert=False,
                 bare_lf=False, bare_lf_terminator=False,
                 greeting="fakepop3 ready", faults=(),
                 auth_fail_code="AUTH", apop_refused=False, utf8=False,
                 split_writes=False, login_delay=None,
                 login_delay_user=None, on_command=None):
        if tls not in ("none", "starttls", "implicit"):
            raise ValueError("tls must be none, starttls or implicit")
        if tls != "none" and (cert is None or key is None):
            raise ValueError("TLS needs cert and key")
        self.messages = [m if isinstance(m, Message) else Message(m)
                         for m in messages]
        self.users = dict(users or {})
        self.tokens = dict(tokens or {})
        self.checker = checker
        self.apop = apop
        self._capa = capa
        self.pipelining, self.uidl, self.top, self.user = (pipelining, uidl,
                                                            top, user)
        self.sasl = list(sasl or ())
        self.stls = stls
        self.resp_codes = resp_codes
        self.tls = tls
        self.context = (server_context(cert, key, tls_max_version)
                        if cert is not None else None)
        self.handshake_alert = handshake_alert
        self.bare_lf = bare_lf
        self.bare_lf_terminator = bare_lf_terminator
        self.greeting = greeting
        self.faults = list(faults)
        self.auth_fail_code = auth_fail_code
        self.apop_refused = apop_refused
        self.utf8 = utf8
        self.split_writes = split_writes
        self.login_delay = login_delay
        self.login_delay_user = login_delay_user
        self.on_command = on_command
        self.logins = []
        self.login_delay_refusals = 0
        self.connections = []
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._threads = []
        self._socks = set()
        self.sock = None
        self.port = None

    # ---- life cycle ---------------------------------------------------------

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(32)
        s.settimeout(POLL)
        self.sock = s
        self.port = s.getsockname()[1]
        t = threading.Thread(target=self._accept_loop,
                             name="fakepop3-accept-%d" % self.port,
                             daemon=True)
        self._threads.append(t)
        t.start()
        return self

    def close(self, timeout=10):
        """Stop accepting, end every session, join every thread. Raises
        RuntimeError if a thread would not end (never silently leaks)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        if self._threads:
            # The accept thread first: after it, no thread is added.
            self._threads[0].join(timeout)
        with self.lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if self.sock is not None:
            self.sock.close()
        with self.lock:
            for s in list(self._socks):
                try:
                    s.close()
                except OSError:
                    pass
            self._socks.clear()
        if alive:
            raise RuntimeError("fakepop3 threads did not stop: %s" % alive)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.close()
        errors = [c.error for c in self.connections if c.error]
        if errors and exc_type is None:
            # A bug in this server must not pass for mailferry's success.
            raise RuntimeError("fakepop3 handler failed: %s\n%s" % (
                errors, self.transcript()))

    # ---- inspection ---------------------------------------------------------

    def mailbox(self):
        """The messages on the server now (Message objects, in order)."""
        with self.lock:
            return list(self.messages)

    def mailbox_data(self):
        return [m.data for m in self.mailbox()]

    def commands(self, conn=None):
        """Every command verb received (all connections, or the conn-th,
        1-based), in order."""
        conns = self.connections if conn is None else [
            self.connections[conn - 1]]
        return [c for k in conns for c in k.commands()]

    def received(self):
        return [l for c in self.connections for l in c.received()]

    def transcript(self, limit=200):
        """The dialogue as text: "C: line", "S: line", "*: note" per
        connection; long lines and long replies are abbreviated."""
        out = []
        for c in self.connections:
            out.append("--- connection %d%s ---" % (
                c.index, " (error: %s)" % c.error if c.error else ""))
            for kind, data in c.events:
                if kind == "S":
                    lines = data.split(b"\n")
                    if lines and lines[-1] == b"":
                        lines.pop()
                    if len(lines) > 8:
                        lines = lines[:4] + [b"... (%d lines)" % (
                            len(lines) - 6)] + lines[-2:]
                else:
                    lines = [data]
                for line in lines:
                    n = len(line)
                    line = line[:limit].rstrip(b"\r")
                    text = "".join(
                        ch if " " <= ch < "\x7f" or ch >= "\xa0"
                        else "\\x%02x" % ord(ch)
                        for ch in line.decode("latin-1"))
                    if n > limit:
                        text += "... (%d bytes)" % n
                    out.append("%s: %s" % (kind, text))
        return "\n".join(out)

    def fired(self):
        """(cmd, action) of every fault that fired, in fault order."""
        return [(f.cmd, f.action) for f in self.faults if f.fired]

    def capabilities(self, under_tls=False, logged_in=False):
        if self._capa is None:
            return None
        if self._capa != "default":
            caps = list(self._capa)
        else:
            caps = []
            if self.top:
                caps.append("TOP")
            if self.uidl:
                caps.append("UIDL")
            if self.user:
                caps.append("USER")
            if self.pipelining:
                caps.append("PIPELINING")
            if self.resp_codes:
                caps.append("RESP-CODES")
            if self.sasl:
                caps.append("SASL " + " ".join(self.sasl))
            if self.utf8:
                caps.append("UTF8")
            if self.login_delay_user is not None and logged_in:
                caps.append("LOGIN-DELAY %d" % self.login_delay_user)
            elif self.login_delay_user is not None:
                caps.append("LOGIN-DELAY %d USER" % (self.login_delay or 0))
            elif self.login_delay is not None:
                caps.append("LOGIN-DELAY %d" % self.login_delay)
            stls = self.stls
            if stls is None:
                stls = self.tls == "starttls" and self.context is not None
            if stls:
                caps.append("STLS")
            caps.append("IMPLEMENTATION fakepop3")
        if under_tls:
            caps = [c for c in caps if c.upper() != "STLS"]
        return caps

    # ---- server -------------------------------------------------------------

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                conn = Conn(index=len(self.connections) + 1)
                self.connections.append(conn)
                self._socks.add(s)
            t = threading.Thread(target=self._serve, args=(s, conn),
                                 name="fakepop3-conn-%d-%d" % (self.port,
                                                                conn.index),
                                 daemon=True)
            with self.lock:
                self._threads.append(t)
            t.start()

    def _serve(self, s, conn):
        s.settimeout(POLL)
        sess = _Session(self, s, conn)
        try:
            sess.run()
        except _Closed:
            pass
        except (OSError, ssl.SSLError) as e:
            conn.events.append(("*", ("socket error: %r" % (e,)).encode()))
        except Exception as e:          # a bug here: make it visible
            conn.error = repr(e)
            conn.events.append(("*", ("handler error: %r" % (e,)).encode()))
        finally:
            sess.close()
            conn.closed = True

    def _fault_for(self, conn, cmd, arg):
        """The fault that fires for this command, if any (counts it)."""
        with self.lock:
            for f in self.faults:
                if f.cmd not in ("*", cmd):
                    continue
                if f.arg is not None and f.arg != arg:
                    continue
                if f.conn is not None and f.conn != conn.index:
                    continue
                f.seen += 1
                if f.seen < f.nth:
                    continue
                if f.times is not None and f.fired >= f.times:
                    continue
                f.fired += 1
                return f
        return None


class _Session:
    def __init__(self, server, sock, conn):
        self.srv = server
        self.sock = sock
        self.raw_fd = sock.fileno()
        self.conn = conn
        self.buf = b""
        self.state = "AUTH"          # AUTH, TRANS
        self.maildrop = None          # list of Message (snapshot at login)
        self.deleted = set()          # indexes into maildrop
        self.stamp = None
        self.pending_user = None
        self.force_lf = False
        self.utf8 = False             # UTF8 enabled in this session

    # ---- low-level I/O ------------------------------------------------------

    @property
    def stopping(self):
        return self.srv._stop.is_set()

    @property
    def eol(self):
        return b"\n" if self.srv.bare_lf or self.force_lf else b"\r\n"

    def note(self, text):
        self.conn.events.append(("*", text.encode("latin-1", "replace")))

    def close(self):
        with self.srv.lock:
            self.srv._socks.discard(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data, record=True):
        """Send all of DATA, in pieces, giving up when the server stops or
        the client is gone."""
        view = memoryview(data)
        off = 0
        while off < len(data):
            if self.stopping:
                raise _Closed()
            chunk = view[off:off + 16384]
            try:
                n = self.sock.send(chunk)
            except (socket.timeout, ssl.SSLWantWriteError,
                    ssl.SSLWantReadError):
                continue
            except (BrokenPipeError, ConnectionResetError) as e:
                if record and off:
                    self.conn.events.append(("S", bytes(view[:off])))
                self.note("client gone while sending: %s" % e)
                raise _Closed()
            off += n
        if record and data:
            self.conn.events.append(("S", bytes(data)))

    def readline(self, kind="C"):
        """One line from the client, without its line end; logged as KIND
        ("C" a command, "c" a SASL continuation line)."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                if line.endswith(b"\r"):
                    line = line[:-1]
                self.conn.events.append((kind, line))
                if self.buf and kind == "C":
                    self.conn.early.append(line)
                return line
            if len(self.buf) > MAX_COMMAND_LINE:
                self.note("command line too long")
                raise _Closed()
            data = self.recv()
            if not data:
                if self.buf:
                    self.conn.events.append(("C", self.buf))
                self.note("client closed the connection")
                raise _Closed()
            self.buf += data

    def recv(self):
        while True:
            if self.stopping:
                raise _Closed()
            try:
                return self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                continue
            except (ConnectionResetError, BrokenPipeError):
                return b""
            except ssl.SSLError as e:
                self.note("TLS error while reading: %s" % e)
                return b""

    def wait_for_hangup(self):
        """Read and log whatever the client sends, answer nothing, until it
        hangs up or the server stops."""
        self.note("no more answers")
        while True:
            self.readline()

    def hard_close(self, rst=False):
        """Close the TCP connection under any TLS layer, without a TLS
        close_notify. Pending input is read first so the kernel sends FIN
        (not RST) and the client gets every byte already sent."""
        raw = socket.socket(fileno=os.dup(self.raw_fd))
        try:
            if rst:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.note("connection reset (RST)")
                return
            try:
                raw.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.note("connection closed (FIN)")
            raw.settimeout(POLL)
            end = time.monotonic() + 5
            while time.monotonic() < end and not self.stopping:
                try:
                    if not raw.recv(65536):
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
        finally:
            raw.close()
            raise _Closed()

    def raw_send(self, data):
        """Write bytes into the TCP stream, under the TLS layer."""
        raw = socket.socket(fileno=os.dup(self.raw_fd))
        try:
            raw.sendall(data)
        except OSError:
            pass
        finally:
            raw.close()
        self.conn.events.append(("*", b"raw bytes under TLS: "
                                 + data[:40].hex().encode()))

    def start_tls(self):
        ctx = self.srv.context
        if self.srv.handshake_alert:
            # Read (some of) the ClientHello, answer with a fatal alert.
            self.recv()
            self.raw_send(TLS_ALERT)
            self.note("sent a fatal TLS alert instead of a handshake")
            self.hard_close()
        # The handshake is bounded: a client that never speaks TLS does
        # not keep this thread beyond 10 s (or the server's stop).
        tls = ctx.wrap_socket(self.sock, server_side=True,
                              do_handshake_on_connect=False)
        with self.srv.lock:
            self.srv._socks.discard(self.sock)
            self.srv._socks.add(tls)
        self.sock = tls
        end = time.monotonic() + 10
        while True:
            if self.stopping or time.monotonic() > end:
                raise _Closed()
            try:
                tls.do_handshake()
                break
            except (socket.timeout, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                continue
            except (ssl.SSLError, OSError) as e:
                self.note("TLS handshake failed: %s" % e)
                raise _Closed()
        self.conn.tls = True
        self.note("TLS established (%s)" % tls.version())

    # ---- replies ------------------------------------------------------------

    def line(self, text):
        if isinstance(text, str):
            text = text.encode("utf-8")
        return text + self.eol

    def ok(self, text=""):
        return self.line(b"+OK" + (b" " + text.encode() if text else b""))

    def err(self, text, code=None):
        code = ("[%s] " % code) if code else ""
        return self.line("-ERR %s%s" % (code, text))

    def multiline(self, status, lines):
        out = [self.ok(status)]
        for l in lines:
            if isinstance(l, str):
                l = l.encode("utf-8")
            if l.startswith(b"."):
                l = b"." + l
            out.append(l + self.eol)
        out.append(self.terminator())
        return b"".join(out)

    def terminator(self):
        if (self.srv.bare_lf_terminator or self.srv.bare_lf
                or self.force_lf):
            return b".\n"
        return b".\r\n"

    def message_body(self, data, crlf=False):
        return encode_multiline(data, self.eol, self.terminator(),
                                b"\r\n" if crlf else b"\n")

    # ---- the session --------------------------------------------------------

    def run(self):
        if self.srv.tls == "implicit":
            self.start_tls()
        if self.srv.apop or self.srv.apop_refused:
            self.stamp = "<%d.%d.%d@fakepop3.test>" % (
                os.getpid(), next(_stamps), int(time.time()))
        greet = "+OK %s%s" % (self.srv.greeting,
                              " " + self.stamp if self.stamp else "")
        self.respond("GREETING", "", lambda: (self.line(greet), None))
        while True:
            line = self.readline()
            parts = line.split(b" ")
            verb = parts[0].decode("latin-1").upper()
            args = [p.decode("latin-1") for p in parts[1:]]
            if self.srv.on_command is not None:
                self.srv.on_command(self.conn, verb, args)
            handler = getattr(self, "cmd_" + verb, None)
            if handler is None or not verb.isalnum():
                self.respond(verb, "", lambda: (self.err("unknown command"),
                                                None))
                continue
            self.respond(verb, args[0] if args else "",
                         lambda: handler(args))

    @staticmethod
    def cut(reply, p, key="nbytes"):
        """The part of REPLY a fault sends first: p[KEY] bytes (negative:
        all but that many), or p["fraction"] of it."""
        if "fraction" in p:
            return reply[:int(len(reply) * p["fraction"])]
        return reply[:p.get(key, 0)]

    def send_whole(self, verb, reply, after):
        if verb == "QUIT":
            self.quit_update()
        if (self.srv.split_writes and verb in ("RETR", "TOP")
                and reply.startswith(b"+OK")):
            # Status line and data in two writes: two TCP segments.
            status, sep, rest = reply.partition(b"\n")
            self.send(status + sep)
            self.send(rest)
        else:
            self.send(reply)
        if after:
            after()

    def respond(self, verb, arg, produce):
        """Apply any fault to the reply PRODUCE() would give. PRODUCE
        returns (reply bytes, after) where after() runs once the reply is
        sent (STLS handshake, QUIT update) or is None."""
        f = self.srv._fault_for(self.conn, verb, arg)
        if f is None:
            self.send_whole(verb, *produce())
            return
        p = f.params
        a = f.action
        self.note("fault %s on %s %s" % (a, verb, arg))
        if a == "err":
            self.send(self.err(p.get("text", "fault injected"),
                               p.get("code")))
            return
        if a == "garbage":
            self.send(p.get("data", GARBAGE))
            return
        if a == "replace":
            self.send(p["data"])
            return
        if a == "delay":
            end = time.monotonic() + p.get("seconds", 1)
            while time.monotonic() < end:
                if self.stopping:
                    raise _Closed()
                time.sleep(min(POLL, max(0, end - time.monotonic())))
            self.send_whole(verb, *produce())
            return
        if a == "bare_lf":
            self.force_lf = True        # only this reply
            try:
                reply, after = produce()
            finally:
                self.force_lf = False
            self.send_whole(verb, reply, after)
            return
        reply, after = produce()
        if a == "close_after":
            if verb == "QUIT":
                self.quit_update()
            self.send(reply)
            self.hard_close(p.get("rst", False))
        if a == "drop":
            self.send(self.cut(reply, p))
            self.hard_close(p.get("rst", False))
        if a == "stall":
            self.send(self.cut(reply, p))
            self.wait_for_hangup()
        if a == "long_line":
            self.send(self.cut(reply, p, "at"))
            self.send(b"x" * p.get("length", TEN_MB), record=False)
            self.note("sent a %d-byte line without a line end"
                      % p.get("length", TEN_MB))
            self.wait_for_hangup()
        if a == "endless":
            self.endless(reply, p)
            if after:
                after()
            return
        if a == "trickle":
            interval = p.get("interval", 1.0)
            chunk = p.get("chunk", 1)
            pattern = p.get("pattern", b"x")
            data = reply = p.get("data", reply)
            if verb == "QUIT" and not p.get("forever"):
                self.quit_update()
            fast = self.cut(reply, p, "fast")
            self.send(fast)
            for i in itertools.count(len(fast), chunk):
                if i < len(data):
                    b = data[i:i + chunk]
                elif p.get("forever"):
                    b = (pattern * (chunk // len(pattern) + 2))[
                        (i - len(data)) % len(pattern):][:chunk]
                else:
                    break
                self.send(b, record=i < len(data))
                end = time.monotonic() + interval
                while time.monotonic() < end:
                    if self.stopping:
                        raise _Closed()
                    time.sleep(min(POLL, max(0, end - time.monotonic())))
            if after:
                after()
            return
        if a.startswith("tls_"):
            if not self.conn.tls:
                raise RuntimeError("fault %s needs a TLS session" % a)
            self.send(self.cut(reply, p))
            if a == "tls_unclean":
                self.hard_close()
            if a == "tls_close_notify":
                try:
                    self.sock.unwrap()
                    self.note("TLS close_notify sent")
                except (ssl.SSLError, OSError) as e:
                    self.note("unwrap: %s" % e)
                self.hard_close()
            if a == "tls_garbage":
                self.raw_send(p.get("data", b"\x17\x03\x03\x00\x20"
                                    + os.urandom(32)))
                self.wait_for_hangup()
            if a == "tls_alert":
                self.raw_send(p.get("data", TLS_ALERT))
                self.hard_close()
        raise AssertionError("unhandled fault action %s" % a)

    def endless(self, reply, p):
        """The "endless" fault: see the module documentation. Only the
        first bytes are recorded in the transcript."""
        if "nbytes" in p or "fraction" in p:
            first = self.cut(reply, p)
        else:
            first = reply[:reply.index(b"\n") + 1]
        self.send(first)
        gen = p.get("gen") or (lambda i, x=p.get("pattern", b"x"): x)
        count = p.get("count")
        i, batch = 0, []
        size = 0
        while count is None or i < count:
            b = gen(i)
            batch.append(b)
            size += len(b)
            i += 1
            if size >= 65536:
                self.send(b"".join(batch), record=False)
                batch, size = [], 0
        self.send(b"".join(batch), record=False)
        self.note("sent %d generated pieces" % i)
        self.send(p.get("tail", b""))

    # ---- commands -----------------------------------------------------------

    def need_trans(self):
        if self.state != "TRANS":
            return self.err("not logged in"), None
        return None

    def cmd_CAPA(self, args):
        caps = self.srv.capabilities(under_tls=self.conn.tls,
                                     logged_in=self.state == "TRANS")
        if caps is None:
            return self.err("CAPA not supported"), None
        return self.multiline("Capability list follows", caps), None

    def cmd_NOOP(self, args):
        return self.ok(), None

    def cmd_UTF8(self, args):
        if not self.srv.utf8:
            return self.err("unknown command"), None
        if self.state != "AUTH":
            return self.err("UTF8 only before login"), None
        self.utf8 = self.conn.utf8 = True
        return self.ok("UTF8 enabled"), None

    def cmd_STLS(self, args):
        if self.conn.tls or self.state != "AUTH":
            return self.err("STLS not allowed now"), None
        if self.srv.context is None or self.srv.tls == "none":
            return self.err("STLS not supported"), None
        return self.ok("Begin TLS negotiation"), self.start_tls

    def login(self, mech, user, secret):
        self.conn.auth.append((mech, user, secret))
        chk = self.srv.checker
        if chk is not None:
            good = chk(mech, user, secret)
        elif mech == "XOAUTH2":
            token = self.srv.tokens.get(user)
            good = token is not None and secret == (
                "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode()
        elif mech == "APOP" and self.srv.apop_refused:
            good = False
        elif mech == "APOP":
            pw = self.srv.users.get(user)
            good = (pw is not None and self.stamp is not None and
                    secret == hashlib.md5((self.stamp + pw).encode())
                    .hexdigest())
        else:
            good = user in self.srv.users and self.srv.users[user] == secret
        if not good:
            self.note("login of %r (%s) refused" % (user, mech))
            return self.err("Authentication failed.", self.srv.auth_fail_code)
        if self.too_soon(user):
            self.note("login of %r (%s) refused: LOGIN-DELAY" % (user, mech))
            return self.err("minimum time between logins not reached",
                            "LOGIN-DELAY")
        self.state = "TRANS"
        self.conn.logged_in = user
        with self.srv.lock:
            self.maildrop = list(self.srv.messages)
        self.note("logged in as %r (%s)" % (user, mech))
        return self.ok("Logged in.")

    def too_soon(self, user):
        """LOGIN-DELAY: is this login too soon after USER's last one?
        Records the login when it is not."""
        delay = (self.srv.login_delay_user if self.srv.login_delay_user
                 is not None else self.srv.login_delay)
        now = time.monotonic()
        with self.srv.lock:
            last = [t for t, u in self.srv.logins if u == user]
            if delay and last and now - last[-1] < delay:
                self.srv.login_delay_refusals += 1
                return True
            self.srv.logins.append((now, user))
        return False

    def served(self, m):
        """The bytes RETR and TOP serve for message M (see utf8)."""
        if self.srv.utf8 and not self.utf8 and has_8bit_header(m.data):
            return utf8_wrapper(m.data)
        return m.data

    def cmd_USER(self, args):
        if self.state != "AUTH" or not args:
            return self.err("USER not allowed now"), None
        self.pending_user = " ".join(args)
        return self.ok(), None

    def cmd_PASS(self, args):
        if self.state != "AUTH" or self.pending_user is None:
            return self.err("USER first"), None
        user, self.pending_user = self.pending_user, None
        return self.login("USER", user, " ".join(args)), None

    def cmd_APOP(self, args):
        if self.state != "AUTH" or len(args) != 2 or self.stamp is None:
            return self.err("APOP not available"), None
        return self.login("APOP", args[0], args[1]), None

    def sasl_exchange(self, challenge):
        """Send "+ CHALLENGE", return the client's line (None: cancelled)."""
        self.send(self.line(b"+ " + challenge))
        line = self.readline("c")
        if line == b"*":
            return None
        return line

    def cmd_AUTH(self, args):
        if not args:
            return self.multiline("SASL mechanisms", self.srv.sasl), None
        if self.state != "AUTH":
            return self.err("already logged in"), None
        mech = args[0].upper()
        if mech not in [m.upper() for m in self.srv.sasl]:
            return self.err("unsupported mechanism"), None
        initial = args[1] if len(args) > 1 else None

        def b64(s):
            try:
                return base64.b64decode(s, validate=True)
            except (ValueError, TypeError):
                return None

        if mech == "PLAIN":
            resp = initial if initial is not None else self.sasl_exchange(b"")
            if resp is None:
                return self.err("cancelled"), None
            raw = b64(resp) if resp != "=" else b""
            if raw is None or raw.count(b"\0") != 2:
                return self.err("bad PLAIN response"), None
            _, user, pw = raw.split(b"\0")
            return self.login("PLAIN", user.decode("utf-8", "replace"),
                              pw.decode("utf-8", "replace")), None
        if mech == "LOGIN":
            u = initial if initial is not None else self.sasl_exchange(
                base64.b64encode(b"Username:"))
            if u is None:
                return self.err("cancelled"), None
            p = self.sasl_exchange(base64.b64encode(b"Password:"))
            if p is None:
                return self.err("cancelled"), None
            user, pw = b64(u), b64(p)
            if user is None or pw is None:
                return self.err("bad LOGIN response"), None
            return self.login("LOGIN", user.decode("utf-8", "replace"),
                              pw.decode("utf-8", "replace")), None
        if mech == "XOAUTH2":
            resp = initial if initial is not None else self.sasl_exchange(b"")
            if resp is None:
                return self.err("cancelled"), None
            raw = b64(resp)
            if raw is None:
                return self.err("bad XOAUTH2 response"), None
            user = ""
            for part in raw.split(b"\x01"):
                if part.startswith(b"user="):
                    user = part[5:].decode("utf-8", "replace")
            reply = self.login("XOAUTH2", user, raw)
            if reply.startswith(b"-ERR"):
                # RFC 7628 style: the error as a challenge, then -ERR.
                self.state = "AUTH"
                err = base64.b64encode(
                    b'{"status":"401","schemes":"bearer","scope":"mail"}')
                if self.sasl_exchange(err) is None:
                    pass
            return reply, None
        return self.err("unsupported mechanism"), None

    def live(self):
        """[(number, Message)] of the messages not marked deleted."""
        return [(i + 1, m) for i, m in enumerate(self.maildrop)
                if i not in self.deleted]

    def get(self, args):
        if not args or not args[0].isdigit():
            return None, self.err("message number required")
        n = int(args[0])
        if n < 1 or n > len(self.maildrop) or (n - 1) in self.deleted:
            return None, self.err("no such message")
        return n, None

    def cmd_STAT(self, args):
        bad = self.need_trans()
        if bad:
            return bad
        live = self.live()
        return self.ok("%d %d" % (len(live), sum(m.size() for _, m in live))
                       ), None

    def cmd_LIST(self, args):
        bad = self.need_trans()
        if bad:
            return bad
        if args:
            n, e = self.get(args)
            if e:
                return e, None
            return self.ok("%d %d" % (n, self.maildrop[n - 1].size())), None
        live = self.live()
        return self.multiline("%d messages" % len(live),
                              ["%d %d" % (n, m.size()) for n, m in live]
                              ), None

    @staticmethod
    def uid_bytes(m):
        u = m.uid
        return u if isinstance(u, bytes) else str(u).encode("utf-8")

    def cmd_UIDL(self, args):
        bad = self.need_trans()
        if bad:
            return bad
        if not self.srv.uidl:
            return self.err("UIDL not supported"), None
        if args:
            n, e = self.get(args)
            if e:
                return e, None
            m = self.maildrop[n - 1]
            if m.uid is None:
                return self.err("no UID for that message"), None
            return self.line(b"+OK %d " % n + self.uid_bytes(m)), None
        lines = [b"%d " % n + self.uid_bytes(m) for n, m in self.live()
                 if m.uid is not None]
        return self.multiline("", lines), None

    def cmd_RETR(self, args):
        bad = self.need_trans()
        if bad:
            return bad
        n, e = self.get(args)
        if e:
            return e, None
        m = self.maildrop[n - 1]
        data = self.served(m)
        # A UTF8 wrapper is generated with LF line ends.
        crlf = m.crlf and data is m.data
        return (self.ok("%d octets" % m.size())
                + self.message_body(data, crlf)), None

    def cmd_TOP(self, args):
        bad = self.need_trans()
        if bad:
            return bad
        n, e = self.get(args)
        if e:
            return e, None
        if len(args) < 2 or not args[1].isdigit():
            return self.err("TOP needs a line count"), None
        m = self.maildrop[n - 1]
        data = self.served(m)
        crlf = m.crlf and data is m.data
        nl = b"\r\n" if crlf else b"\n"
        head, sep, body = data.partition(nl + nl)
        body_lines = body.split(nl)[:int(args[1])] if sep else []
        part = head + (nl + nl + nl.join(body_lines) if sep else b"")
        if not part.endswith(nl):
            part += nl
        return self.ok() + self.message_body(part, crlf), None

    def cmd_DELE(self, args):
        bad = self.need_trans()
        if bad:
            return bad
        n, e = self.get(args)
        if e:
            return e, None
        self.deleted.add(n - 1)
        return self.ok("message %d deleted" % n), None

    def cmd_RSET(self, args):
        bad = self.need_trans()
        if bad:
            return bad
        self.deleted.clear()
        return self.ok(), None

    def cmd_QUIT(self, args):
        return self.ok("bye"), self.hard_close

    def quit_update(self):
        """The UPDATE state: apply the deletions. Done just before the
        +OK to QUIT is sent, and only when it is sent whole."""
        if self.state == "TRANS":
            gone = {id(self.maildrop[i]) for i in self.deleted}
            with self.srv.lock:
                self.srv.messages = [m for m in self.srv.messages
                                     if id(m) not in gone]
            self.note("update: %d messages deleted" % len(gone))
        self.conn.quit_done = True
