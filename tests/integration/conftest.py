"""Fixtures for mailferry's integration tests against a private Dovecot.

Helpers live in lib/ (on sys.path from here): certs, dovecot, mailgen,
harness. Tests import them directly, e.g. `from harness import
run_mailferry, write_config` and `import mailgen`.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

import certs                                            # noqa: E402
import dovecot as dovecot_lib                           # noqa: E402
from harness import mailferry_path                      # noqa: E402
from sentinel import Sentinel                           # noqa: E402
# Part of the harness API; tests import them with `from harness import ...`.
from harness import run_mailferry, write_config         # noqa: E402,F401

# Users of the `dovecot` fixture; also available as dovecot.users.
USERS = {"alice": "alice-secret", "bob": "bob-secret"}

# Every line every mailferry run logs, at -vv level whatever its options,
# goes to one file for the session (MAILFERRY_TRACE_FILE); the last test,
# test_zz_no_secrets.py, checks that no password ever appears in it.
TRACE_FILE = os.environ.setdefault(
    "MAILFERRY_TRACE_FILE",
    "/tmp/mailferry-test-trace-%d.log" % os.getpid())


@dataclass
class Pki:
    """The session's test CA and a server certificate it signed for
    127.0.0.1 and localhost."""
    dir: str
    ca: certs.CA
    server_cert: str
    server_key: str

    @property
    def ca_file(self):
        return self.ca.cert

    def make_cert(self, name, **kwargs):
        """Another certificate from this CA (see certs.make_cert)."""
        return certs.make_cert(self.ca, self.dir, name, **kwargs)


@pytest.fixture(scope="session")
def ca(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    test_ca = certs.make_ca(d)
    cert, key = certs.make_cert(test_ca, d, "server")
    return Pki(dir=d, ca=test_ca, server_cert=cert, server_key=key)


@pytest.fixture
def dovecot(ca):
    """A running Dovecot with TLS (the `ca` server certificate) and the
    users in USERS, stopped and removed after the test."""
    dc = dovecot_lib.Dovecot(cert=ca.server_cert, key=ca.server_key,
                             users=USERS)
    try:
        dc.start()
        yield dc
    finally:
        # Captured by pytest and shown only when the test failed.
        print("--- dovecot log (%s) ---\n%s" % (dc.dir, dc.log_text()))
        dc.close()


@pytest.fixture(scope="session", autouse=True)
def _dovecot_reaper():
    # close() leaves Dovecot's one-second shutdown running in the
    # background; wait for all of them before the session ends.
    yield
    dovecot_lib.wait_closed()


@pytest.fixture
def mailferry_bin():
    try:
        return mailferry_path()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def sentinel():
    """A port where nothing may connect; see lib/sentinel.py."""
    s = Sentinel()
    yield s
    s.close()
