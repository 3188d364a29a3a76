"""Runs last: nothing mailferry printed or logged during the whole test
session (every line at -vv level, collected through MAILFERRY_TRACE_FILE,
see conftest.py) contains a test password, in clear or in the base64 forms
SASL PLAIN and LOGIN would send it."""

import base64
import os

from conftest import TRACE_FILE, USERS



def forms(user, secret):
    """The password as it could leak: itself, and its SASL encodings."""
    yield secret
    yield base64.b64encode(secret.encode()).decode()
    yield base64.b64encode(b"\0" + user.encode() + b"\0" +
                           secret.encode()).decode()


def test_no_password_in_any_output():
    if not os.path.exists(TRACE_FILE):
        return      # this file was run alone: nothing to check
    with open(TRACE_FILE, errors="replace") as f:
        trace = f.read()
    leaks = []
    for user, secret in list(USERS.items()) + [("demo", "demo-password")]:
        for form in forms(user, secret):
            if form in trace:
                line = next(l for l in trace.splitlines() if form in l)
                leaks.append("%r in: %s" % (form, line[:200]))
    assert not leaks, "credentials in mailferry's output:\n" + "\n".join(
        leaks)
    # The trace did see logins: this is not vacuous.
    assert "***" in trace, "no masked credential at all in the trace"
