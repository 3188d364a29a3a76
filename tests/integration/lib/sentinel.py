"""A listening socket that only counts connections: the server of tests
that must prove mailferry never connected (bad configuration,
--test-message, --check-config)."""

import socket

import mfconf


class Sentinel:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def connections(self):
        """How many connections arrived since the last call."""
        self.sock.setblocking(False)
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1

    def account(self, **extra):
        """An account for user alice whose server is this sentinel."""
        return mfconf.account("alice", None, server="127.0.0.1",
                              port=self.port, password="alice-secret",
                              **extra)

    def close(self):
        self.sock.close()
