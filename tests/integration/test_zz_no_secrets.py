"""Runs last: nothing mailferry printed or logged during the whole test
session (every line at -vv level, collected through MAILFERRY_TRACE_FILE,
see conftest.py) contains a test password, in clear or in the base64 forms
SASL PLAIN and LOGIN would send it.

The test first logs in itself, with every POP3 method and with SMTP AUTH,
so that the trace it checks always holds logins, also when this file runs
alone or is picked with -k."""

import base64
import os

import mfconf
from conftest import TRACE_FILE, USERS
from harness import run_mailferry, write_config
from smtpsink import SmtpSink

# The SMTP destination's credentials, here and in test_deliver.py.
SMTP_USERS = {"mfuser": "smtp-secret"}
# What each login leaves in the trace, its secret masked.
MASKED = {
    "user": "> PASS ***",
    "apop": "> APOP alice ***",
    "plain": "> AUTH PLAIN",
    "login": "> AUTH LOGIN",
}


def forms(user, secret):
    """The password as it could leak: itself, and its SASL encodings."""
    yield secret
    yield base64.b64encode(secret.encode()).decode()
    yield base64.b64encode(b"\0" + user.encode() + b"\0" +
                           secret.encode()).decode()


def log_in_every_way(dovecot, tmp_path, smtp_port):
    """One run per POP3 login method, delivering over SMTP with AUTH, at
    -vv; every line goes to TRACE_FILE as for any other run."""
    accounts = [mfconf.account("alice-%s" % method, dovecot, user="alice",
                               auth=method, deliver="mta")
                for method in MASKED]
    dest = {"type": "smtp", "host": "127.0.0.1", "port": smtp_port,
            "to": ["a@example.test"], "user": "mfuser",
            "password": SMTP_USERS["mfuser"], "allow_plaintext_auth": True}
    conf = write_config(tmp_path / "mailferry.conf", mfconf.config(
        tmp_path / "state", {"mta": dest}, accounts))
    env = dict(os.environ, MAILFERRY_TRACE_FILE=TRACE_FILE)
    rc, out, err = run_mailferry(conf, "-vv", env=env)
    assert rc == 0, "exit %s\n%s%s" % (rc, out, err)


def test_no_password_in_any_output(dovecot, tmp_path):
    dovecot.deliver("alice", b"Subject: secrets\n\nnone here\n")
    with SmtpSink(pipelining=False, auth=SMTP_USERS) as sink:
        log_in_every_way(dovecot, tmp_path, sink.port)
        conns = sink.used_connections()
        smtp_port = sink.port
    assert len(conns) == len(MASKED), sink.connections
    assert {c.auth_user for c in conns} == {"mfuser"}
    with open(TRACE_FILE, errors="replace") as f:
        trace = f.read()
    # This test's own logins are in the trace, each secret masked.
    pop3 = "127.0.0.1:%d " % dovecot.pop3_port
    for method, masked in MASKED.items():
        assert pop3 + masked in trace, "no %s login in %s" % (method,
                                                               TRACE_FILE)
    assert "127.0.0.1:%d > AUTH PLAIN ***" % smtp_port in trace, (
        "no SMTP AUTH in " + TRACE_FILE)
    leaks = []
    users = list(USERS.items()) + list(SMTP_USERS.items()) + [
        ("demo", "demo-password")]
    for user, secret in users:
        for form in forms(user, secret):
            if form in trace:
                line = next(l for l in trace.splitlines() if form in l)
                leaks.append("%r in: %s" % (form, line[:200]))
    assert not leaks, "credentials in mailferry's output:\n" + "\n".join(
        leaks)
