"""A recording SMTP server for delivery tests, built on aiosmtpd.

    with SmtpSink(pipelining=False, size=20000) as sink:
        ... point an smtp destination at 127.0.0.1:sink.port ...
    sink.connections        # one Conn per TCP connection, in order
    sink.commands()         # every command line received, in order
    sink.messages           # every message whose data arrived

The server runs its own asyncio loop in a thread of the test process, on a
free port of 127.0.0.1 picked when it binds (no race). What it offers in
its EHLO reply is set per instance:

    pipelining   advertise PIPELINING (aiosmtpd handles pipelined input
                 either way; the extension only tells the client it may)
    size         advertise SIZE N and refuse MAIL ... SIZE= over N with
                 552; None: no SIZE extension, no limit
    eightbitmime advertise 8BITMIME
    tls_context  an ssl.SSLContext for the server side: STARTTLS offered
    auth         {user: password}: AUTH PLAIN LOGIN offered (also without
                 TLS, so a test can see a client refuse to use it)
    reply        callable(cmd, arg, conn) -> str or None, asked before the
                 normal handling of each command: a string is sent as the
                 reply instead. cmd is the upper-case verb ("MAIL",
                 "RCPT", "DATA", "RSET", ...) or "DATA_END" once the
                 message data arrived (arg: the data as bytes, un-stuffed,
                 CRLF line ends). Only refusals make sense for MAIL, RCPT
                 and DATA (a 2xx there is recorded as accepted anyway).
                 Can be changed between runs: sink.reply = ...
    probe_delay  seconds to wait before answering MAIL and RCPT; after the
                 wait, the complete command lines already received but not
                 yet read are recorded in Conn.waiting (what a pipelining
                 client sent before it had any reply). 0: no probing.

Records (read them once the client is done; a lock guards the lists):

    Conn:     index, commands [str], waiting {command index: [str]},
              tls (STARTTLS completed), auth_user, closed, raw (every
              byte the client sent before any STARTTLS, as sent: DATA
              with its stuffing and line ends)
    Received: conn (Conn.index), mail_from ("" for <>), mail_options,
              rcpt_tos, data (bytes, CRLF, dot-stuffing undone), reply
"""

import asyncio
import logging
import ssl
import threading
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP

__all__ = ["SmtpSink", "Conn", "Received", "server_tls_context"]

# aiosmtpd logs every command at INFO; keep failing tests' output readable.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class Conn:
    index: int
    commands: list = field(default_factory=list)
    waiting: dict = field(default_factory=dict)
    tls: bool = False
    auth_user: str = None
    closed: bool = False
    raw: bytearray = field(default_factory=bytearray)


@dataclass
class Received:
    conn: int
    mail_from: str
    mail_options: list
    rcpt_tos: list
    data: bytes
    reply: str


def server_tls_context(cert, key):
    """A server-side context for STARTTLS with CERT and KEY (PEM paths)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class _Handler:
    """aiosmtpd hooks; `server` is the _RecordingSMTP of the connection."""

    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        sink = self.sink
        exts = []
        for r in responses[1:]:
            word = r[4:].split(" ", 1)[0].upper()
            if word == "SIZE" and sink.size is not None:
                exts.append(r[4:])
            elif word == "8BITMIME" and sink.eightbitmime:
                exts.append(r[4:])
            elif word == "STARTTLS":
                exts.append(r[4:])
            elif word == "AUTH" and sink.auth is not None:
                exts.append("AUTH LOGIN PLAIN")
        if sink.pipelining:
            exts.append("PIPELINING")
        exts.append("HELP")
        lines = [responses[0][4:]] + exts
        return ["250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                for i, l in enumerate(lines)]

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        # aiosmtpd treats an empty mail_from as "no MAIL yet": keep the
        # null sender as "<>" internally, report it as "".
        envelope.mail_from = address or "<>"
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data = bytes(envelope.original_content)
        reply = self.sink._reply("DATA_END", data, server.rec)
        if reply is None:
            reply = "250 2.0.0 OK: queued as %d" % len(self.sink.messages)
        sender = "" if envelope.mail_from == "<>" else envelope.mail_from
        with self.sink.lock:
            self.sink.messages.append(Received(
                conn=server.rec.index, mail_from=sender,
                mail_options=list(envelope.mail_options),
                rcpt_tos=list(envelope.rcpt_tos), data=data, reply=reply))
        return reply


class _RecordingSMTP(SMTP):
    # Message lines of any length (aiosmtpd's default is RFC 5321's 1000).
    line_length_limit = 1 << 20

    def __init__(self, sink, handler, **kwargs):
        self.sink = sink
        self.rec = None
        super().__init__(handler, **kwargs)
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._wrap(name, method)

    def connection_made(self, transport):
        if self.rec is None:
            with self.sink.lock:
                self.rec = Conn(index=len(self.sink.connections))
                self.sink.connections.append(self.rec)
        else:                           # again, after STARTTLS
            self.rec.tls = True
        super().connection_made(transport)

    def data_received(self, data):
        if self.rec is not None and not self.rec.tls:
            self.rec.raw += data
        super().data_received(data)

    def connection_lost(self, error):
        if self.rec is not None:
            self.rec.closed = True
        super().connection_lost(error)

    def _wrap(self, name, method):
        async def recorded(arg):
            line = name if arg is None else "%s %s" % (name, arg)
            with self.sink.lock:
                self.rec.commands.append(line)
                pos = len(self.rec.commands) - 1
            delay = self.sink.probe_delay
            if delay and name in ("MAIL", "RCPT"):
                await asyncio.sleep(delay)
                pending = bytes(self._reader._buffer)
                self.rec.waiting[pos] = [
                    l.decode("ascii", "replace")
                    for l in pending.split(b"\r\n")[:-1]]
            reply = self.sink._reply(name, arg, self.rec)
            if reply is not None:
                await self.push(reply)
                return
            await method(arg)
            if name == "AUTH" and self.session.authenticated:
                data = self.session.auth_data
                login = getattr(data, "login", None)
                self.rec.auth_user = (login.decode() if isinstance(
                    login, bytes) else login)
        return recorded


class SmtpSink:
    def __init__(self, pipelining=True, size=None, eightbitmime=True,
                 tls_context=None, auth=None, reply=None, probe_delay=0.0,
                 hostname="sink.test"):
        self.pipelining = pipelining
        self.size = size
        self.eightbitmime = eightbitmime
        self.tls_context = tls_context
        self.auth = auth
        self.reply = reply
        self.probe_delay = probe_delay
        self.hostname = hostname
        self.host = "127.0.0.1"
        self.port = None
        self.connections = []
        self.messages = []
        self.lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._server = None
        self._error = None

    # -- what happened ---------------------------------------------------

    def commands(self):
        """Every command line received, over all connections, in order."""
        with self.lock:
            return [c for conn in self.connections for c in conn.commands]

    def verbs(self, conn=None):
        """The command verbs ("EHLO", "MAIL", ...), of one connection or
        of all."""
        conns = self.connections if conn is None else [conn]
        return [c.split(" ", 1)[0] for x in conns for c in x.commands]

    def used_connections(self):
        """Connections that sent at least one command."""
        return [c for c in self.connections if c.commands]

    def reset(self):
        with self.lock:
            self.connections.clear()
            self.messages.clear()

    # -- internals -------------------------------------------------------

    def _reply(self, cmd, arg, conn):
        f = self.reply
        return f(cmd, arg, conn) if f is not None else None

    def _auth_callback(self, mechanism, login, password):
        if self.auth is None:
            return False
        user = login.decode(errors="replace")
        return self.auth.get(user) == password.decode(errors="replace")

    def _factory(self):
        kwargs = dict(data_size_limit=self.size, hostname=self.hostname,
                      tls_context=self.tls_context, timeout=60,
                      enable_SMTPUTF8=False, loop=self._loop,
                      auth_require_tls=False,
                      auth_callback=self._auth_callback)
        return _RecordingSMTP(self, _Handler(self), **kwargs)

    def _run(self, ready):
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                self._loop.create_server(self._factory, self.host, 0))
            self.port = self._server.sockets[0].getsockname()[1]
        except Exception as e:          # reported by start()
            self._error = e
            ready.set()
            return
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(self._loop)
            for t in tasks:
                t.cancel()
            self._loop.run_until_complete(
                asyncio.gather(*tasks, return_exceptions=True))
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

    # -- life cycle ------------------------------------------------------

    def start(self):
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,),
                                        name="smtpsink", daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError("SMTP sink did not start: %r" % self._error)
        return self

    def stop(self):
        if self._thread is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
