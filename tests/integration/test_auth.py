"""Authentication and TLS verification (mailferry.conf(5), ACCOUNTS; mailferry(1), GUARANTEES): every
login method against the private Dovecot, what auth = "auto" picks,
XOAUTH2, STLS and plaintext refusals, password_command, certificate
checks and pins; the fake POP3 server (lib/fakepop3.py) shows what was
sent on the wire.

Every mailferry run in this file is made with -vv (the protocol trace)
and its output collected; the last test checks that no password, token,
or base64/APOP form of one appears in any of it.
"""

import base64
import hashlib
import os
import re
import stat
import threading
import time

import pytest

import certs
import mailgen
import mfconf
from fakepop3 import FakePOP3, Fault, Message
from harness import Result, isolated_env, run_mailferry, write_config

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 0, 69, 75, 77, 78

USER = "alice"
FAKE_PASSWORD = "fake-Secret-9z%wq"
DOVECOT_PASSWORD = "alice-secret"           # conftest.USERS
TOKEN = "ya29.Fake-Bearer-Token_0123456789abcdef"
WRONG_TOKEN = "ya29.Wrong-Bearer-Token_fedcba9876543210"
SPACE_PASSWORD = "my secret"
LITERAL_PASSWORD = "$(id -u)"
TIMEOUT = 2
OUTER = 60
CREDENTIAL_VERBS = ("USER", "PASS", "APOP", "AUTH")

# Every (stdout, stderr) of mailferry in this module, and the secrets and
# APOP timestamps that must not show up in any of them.
OUTPUTS = []
SECRETS = {}
STAMPS = set()


def register_secret(user, password):
    """Remember PASSWORD and its encoded forms as things never to print."""
    pw = password.encode()
    SECRETS["password %r" % password] = password
    SECRETS["base64 of password %r" % password] = base64.b64encode(
        pw).decode()
    SECRETS["SASL PLAIN of %r" % password] = base64.b64encode(
        b"\0" + user.encode() + b"\0" + pw).decode()


def register_token(user, token):
    SECRETS["token %r" % token] = token
    SECRETS["XOAUTH2 payload with %r" % token] = base64.b64encode(
        ("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode()
    ).decode()


for _pw in (FAKE_PASSWORD, DOVECOT_PASSWORD, SPACE_PASSWORD,
            LITERAL_PASSWORD):
    register_secret(USER, _pw)
for _tok in (TOKEN, WRONG_TOKEN):
    register_token(USER, _tok)


@pytest.fixture(autouse=True)
def _no_stray_threads():
    yield
    left = [t.name for t in threading.enumerate()
            if t.name.startswith("fakepop3")]
    assert not left, "fake POP3 server threads left running: %s" % left


# ---- helpers ----------------------------------------------------------------

class World:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.conf = tmp_path / "mailferry.conf"
        self.maildir = tmp_path / "Maildir"
        self.state = tmp_path / "state"

    def write(self, accounts, timeout=TIMEOUT):
        text = mfconf.config(self.state,
                             {"inbox": mfconf.maildir(self.maildir)},
                             accounts, timeout=timeout)
        write_config(self.conf, text)
        return text

    def fake_account(self, srv, **extra):
        extra.setdefault("password", FAKE_PASSWORD)
        if extra.get("password") is None:
            extra.pop("password")
        tls = extra.pop("tls", "none")
        return mfconf.account(USER, None, server="127.0.0.1", port=srv.port,
                              tls=tls, **extra)

    def run(self, *args):
        """mailferry -vv ARGS; the output is kept for the final check."""
        started = time.monotonic()
        rc, out, err = run_mailferry(self.conf, "-vv", *args, timeout=OUTER)
        OUTPUTS.append((out, err))
        for stamp in re.findall(r"< \+OK [^\n]*?(<[^<>\s]*>)", err):
            STAMPS.add(stamp)
        return Result(rc, out, err, time.monotonic() - started)

    def delivered(self):
        new = self.maildir / "new"
        if not new.is_dir():
            return []
        return sorted((new / n).read_bytes() for n in os.listdir(new))


def messages(n, tag):
    return [Message(mailgen.message(
        subject="[%s] %d" % (tag, i),
        body="auth test %s %d\n.\n..\n" % (tag, i)),
        "UID-%s-%d" % (tag, i)) for i in range(n)]


def explain(res, srv=None):
    s = str(res)
    if srv is not None:
        s += "\n--- server transcript ---\n" + srv.transcript()
    return s


def assert_no_credentials_sent(srv, res):
    for c in srv.connections:
        sent = [v for v in c.commands() if v in CREDENTIAL_VERBS]
        assert not sent, "credentials were sent (%s): %s" % (
            sent, explain(res, srv))
        assert not c.auth, "the server got credentials: %s" % (c.auth,)


def trace_commands(err):
    """The commands mailferry traced with -vv ("HOST:PORT > LINE")."""
    return re.findall(r"(?m)^mailferry: \S+ > (.*)$", err)


def dovecot_login_methods(dc):
    """method= of Dovecot's successful POP3 logins."""
    return re.findall(r"pop3-login: Info: Login: .*?method=(\w+)",
                      dc.log_text())


def fake_server(msgs=(), **kw):
    kw.setdefault("users", {USER: FAKE_PASSWORD})
    return FakePOP3(msgs, **kw)


# ---- (a) every method against Dovecot ---------------------------------------

@pytest.mark.parametrize("auth,method,first_command", [
    ("user", "PLAIN", "USER alice"),        # Dovecot logs USER/PASS as PLAIN
    ("apop", "APOP", "APOP alice ***"),
    ("plain", "PLAIN", "AUTH PLAIN"),
    ("login", "LOGIN", "AUTH LOGIN"),
])
def test_each_method_logs_in_to_dovecot(dovecot, tmp_path, auth, method,
                                        first_command):
    msgs = [mailgen.message(subject="%s %d" % (auth, i)) for i in range(2)]
    for m in msgs:
        dovecot.deliver(USER, m)
    w = World(tmp_path)
    # A plain connection with plaintext auth allowed (APOP needs a plain
    # or STLS connection to have its greeting timestamp used).
    w.write([mfconf.account(USER, dovecot, auth=auth)])
    res = w.run()
    assert res.rc == EX_OK, str(res) + "\n" + dovecot.log_text()[-2000:]
    assert w.delivered() == sorted(msgs)
    cmds = trace_commands(res.err)
    logins = [c for c in cmds if c.split(" ")[0] in CREDENTIAL_VERBS]
    assert logins and logins[0] == first_command, (
        "expected the login to start with %r, traced: %s" % (first_command,
                                                              logins))
    assert dovecot_login_methods(dovecot) == [method], dovecot.log_text()


def test_apop_over_starttls_with_dovecot(dovecot, ca, tmp_path):
    dovecot.deliver(USER, mailgen.message(subject="apop stls"))
    w = World(tmp_path)
    w.write([mfconf.account(USER, dovecot, tls="starttls", auth="apop",
                            tls_ca_file=ca.ca_file)])
    res = w.run()
    assert res.rc == EX_OK, str(res)
    assert "STLS" in trace_commands(res.err)
    assert dovecot_login_methods(dovecot) == ["APOP"], dovecot.log_text()
    assert len(w.delivered()) == 1


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_auto_picks_plain_over_tls(dovecot, ca, tmp_path, tls):
    dovecot.deliver(USER, mailgen.message(subject="auto " + tls))
    w = World(tmp_path)
    w.write([mfconf.account(USER, dovecot, tls=tls, auth="auto",
                            tls_ca_file=ca.ca_file)])
    res = w.run()
    assert res.rc == EX_OK, str(res)
    cmds = trace_commands(res.err)
    assert "AUTH PLAIN" in cmds, cmds
    assert not any(c.startswith(("USER", "APOP")) for c in cmds), cmds
    assert dovecot_login_methods(dovecot) == ["PLAIN"], dovecot.log_text()


def test_auto_picks_apop_first_on_a_plain_connection(dovecot, tmp_path):
    """Without TLS (allowed by allow_plaintext_auth), auto prefers APOP,
    which does not reveal the password itself (mailferry.conf(5))."""
    dovecot.deliver(USER, mailgen.message(subject="auto apop"))
    w = World(tmp_path)
    w.write([mfconf.account(USER, dovecot, tls="none", auth="auto",
                            allow_plaintext_auth=True)])
    res = w.run()
    assert res.rc == EX_OK, str(res)
    cmds = trace_commands(res.err)
    assert "APOP alice ***" in cmds, cmds
    assert not any(c.startswith(("USER", "PASS", "AUTH")) for c in cmds), cmds
    assert dovecot_login_methods(dovecot) == ["APOP"], dovecot.log_text()
    assert len(w.delivered()) == 1


def test_auto_apop_digest_on_fake_server(tmp_path):
    """The same with the fake server: the digest is RFC 1939's
    MD5(timestamp + password)."""
    msgs = messages(2, "fakeapop")
    with fake_server(msgs, apop=True) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, auth="auto", allow_plaintext_auth=True)])
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        c = srv.connections[0]
        stamp = re.search(rb"<[^>]+>", c.sent_lines()[0]).group(0).decode()
        digest = hashlib.md5((stamp + FAKE_PASSWORD).encode()).hexdigest()
        assert c.auth == [("APOP", USER, digest)], c.auth
        assert sorted(m.data for m in msgs) == w.delivered()


@pytest.mark.parametrize("auth", ["auto", "apop"])
def test_no_apop_digest_in_clear_without_permission(dovecot, tmp_path, auth):
    """mailferry.conf(5): without TLS and without allow_plaintext_auth
    nothing credential-derived is sent, not even an APOP digest (it can
    be attacked offline): exit 78, no login attempt, although the greeting
    offers APOP. (The brief for these tests expected auth = "auto" to
    fall back to APOP here; commit 7317de3 decided otherwise and
    documented it.)"""
    dovecot.deliver(USER, mailgen.message(subject="no apop in clear"))
    w = World(tmp_path)
    w.write([mfconf.account(USER, dovecot, tls="none", auth=auth,
                            allow_plaintext_auth=None)])
    res = w.run()
    assert res.rc == EX_CONFIG, str(res)
    assert re.search(r"\+OK .*<[^>]+>", res.err), (
        "the greeting should have offered APOP: " + res.err)
    cmds = trace_commands(res.err)
    assert not any(c.split(" ")[0] in CREDENTIAL_VERBS for c in cmds), cmds
    assert "allow_plaintext_auth" in res.err, res.err
    assert dovecot_login_methods(dovecot) == []
    assert w.delivered() == []


# ---- (b) XOAUTH2 ------------------------------------------------------------

def token_script(tmp_path, token, name="token.sh"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\nprintf '%%s\\n' '%s'\n" % token)
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("tls", ["implicit", "none"])
def test_xoauth2_sends_the_bearer_token(ca, tmp_path, tls):
    msgs = messages(2, "xoauth2")
    kw = {"tls": tls}
    if tls != "none":
        kw.update(cert=ca.server_cert, key=ca.server_key)
    with fake_server(msgs, tokens={USER: TOKEN}, **kw) as srv:
        w = World(tmp_path)
        extra = {"tls_ca_file": ca.ca_file} if tls != "none" else {}
        w.write([w.fake_account(srv, tls=tls, auth="xoauth2", password=None,
                                password_command=token_script(tmp_path,
                                                              TOKEN),
                                **extra)])
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        payload = ("user=%s\x01auth=Bearer %s\x01\x01" % (USER, TOKEN)
                   ).encode()
        c = srv.connections[0]
        assert c.auth == [("XOAUTH2", USER, payload)], c.auth
        lines = c.received()
        i = lines.index(b"AUTH XOAUTH2")
        assert lines[i + 1] == base64.b64encode(payload), (
            "the SASL response is not base64(user=...^Aauth=Bearer ...^A^A):"
            " %r" % lines[i + 1])
        assert sorted(m.data for m in msgs) == w.delivered()


def test_xoauth2_wrong_token_exits_77(ca, tmp_path):
    msgs = messages(2, "xoauth2bad")
    with fake_server(msgs, tokens={USER: TOKEN}, tls="implicit",
                     cert=ca.server_cert, key=ca.server_key) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, tls="implicit", auth="xoauth2",
                                password=None, tls_ca_file=ca.ca_file,
                                password_command=token_script(
                                    tmp_path, WRONG_TOKEN))])
        res = w.run()
        assert res.rc == EX_NOPERM, explain(res, srv)
        assert re.search(r"(?i)refused", res.err), res.err
        # RFC 7628: the error challenge is answered with an empty line.
        lines = srv.connections[0].received()
        i = lines.index(b"AUTH XOAUTH2")
        assert lines[i + 2] == b"", lines[i:i + 3]
        assert "RETR" not in srv.commands()
        assert w.delivered() == []
        assert srv.mailbox_data() == [m.data for m in msgs]


# ---- (c) starttls without STLS ----------------------------------------------

@pytest.mark.parametrize("variant", ["not-offered", "refused", "injected"])
def test_starttls_never_falls_back_to_plain_text(ca, tmp_path, variant):
    msgs = messages(1, "nostls")
    if variant == "not-offered":
        kw = {"tls": "none"}
    elif variant == "refused":
        kw = {"tls": "starttls", "cert": ca.server_cert, "key": ca.server_key,
              "faults": [Fault("STLS", "err", text="not now")]}
    else:
        # Data after the STLS reply, before the handshake: an injection.
        kw = {"tls": "starttls", "cert": ca.server_cert, "key": ca.server_key,
              "faults": [Fault("STLS", "replace",
                               data=b"+OK go ahead\r\n+OK injected\r\n")]}
    with fake_server(msgs, **kw) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, tls="starttls", tls_ca_file=ca.ca_file,
                                allow_plaintext_auth=True)])
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        pattern = {"not-offered": r"does not offer STLS",
                   "refused": r"STLS refused",
                   "injected": r"after its STLS reply"}[variant]
        assert re.search(pattern, res.err), explain(res, srv)
        assert_no_credentials_sent(srv, res)
        assert w.delivered() == []


def test_sasl_server_that_keeps_asking(tmp_path):
    """A server answering every SASL response with another "+" challenge
    gets a bounded exchange and a clear error."""
    with fake_server(messages(1, "saslloop"),
                     faults=[Fault("AUTH", "replace",
                                   data=b"+ \r\n" * 50)]) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, auth="plain")])
        res = w.run()
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        assert "keeps asking" in res.err, res.err
        assert w.delivered() == []


# ---- (d) no credentials in clear text ---------------------------------------

@pytest.mark.parametrize("auth,apop", [
    (auth, apop) for auth in ("auto", "user", "plain", "login", "xoauth2",
                              "apop")
    for apop in (False, True) if apop or auth != "apop"])
def test_plaintext_credentials_refused_before_sending(tmp_path, auth, apop):
    """tls = "none" without allow_plaintext_auth: refused (78) before any
    credential (or APOP digest, see mailferry.conf(5)) is sent."""
    msgs = messages(1, "plaintext")
    with fake_server(msgs, apop=apop, tokens={USER: TOKEN}) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, tls="none", auth=auth,
                                allow_plaintext_auth=None)])
        res = w.run()
        assert res.rc == EX_CONFIG, explain(res, srv)
        assert re.search(r"(?i)unencrypted|plain ?text|allow_plaintext_auth",
                         res.err), res.err
        assert_no_credentials_sent(srv, res)


# ---- (e) password_command ---------------------------------------------------

@pytest.mark.parametrize("command", [
    "/bin/sh -c 'echo vault is locked >&2; exit 1'",
    "false",
    "/nonexistent/password-helper",
])
def test_failing_password_command(tmp_path, command):
    with fake_server(messages(1, "pwfail")) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, password=None,
                                password_command=command)])
        res = w.run()
        assert res.rc not in (EX_OK, EX_NOPERM), explain(res, srv)
        # Documented: a failing password_command is a temporary failure.
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        assert "password_command" in res.err, res.err
        assert srv.connections == [], (
            "mailferry connected although it had no password:\n"
            + srv.transcript())


def test_hanging_password_command_is_bounded(tmp_path):
    with fake_server(messages(1, "pwhang")) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, password=None,
                                password_command="sleep 300")])
        res = w.run()
        assert res.rc == EX_TEMPFAIL, explain(res, srv)
        assert "password_command" in res.err, res.err
        assert re.search(r"(?i)did not finish|timed out|timeout", res.err)
        assert srv.connections == [], srv.transcript()


@pytest.mark.parametrize("command,password", [
    ("printf '%s' 'my secret'", SPACE_PASSWORD),
    ('printf "%s" "my secret"', SPACE_PASSWORD),
    ("printf %s my\\ secret", SPACE_PASSWORD),
    ("printf %s '$(id -u)'", LITERAL_PASSWORD),
    ('printf %s "$(id -u)"', str(os.getuid())),
    ("printf %s '$HOME'", "$HOME"),
    ('printf %s "`id -u`;x"', "%d;x" % os.getuid()),
    ("printf 'first\\nsecond\\n' | tac", "second"),
])
def test_password_command_is_run_by_sh(tmp_path, command, password):
    msgs = messages(1, "pwsh")
    with fake_server(msgs, users={USER: password}) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, password=None,
                                password_command=command)])
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert srv.connections[0].auth[0][2] == password, (
            "the server got %r" % (srv.connections[0].auth,))
        assert w.delivered() == [msgs[0].data]


def test_password_command_with_tilde_and_pipe(tmp_path):
    """mpop's and isync's habit: files under ~ through a pipe."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".mail-pw").write_text(FAKE_PASSWORD.swapcase() + "\nspare\n")
    (home / ".old-pw").write_text("not this one\n")
    command = "cat ~/.mail-pw ~/.old-pw | tr 'a-zA-Z' 'A-Za-z'  # sh's ~, |"
    with fake_server(messages(1, "pwtilde")) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, password=None,
                                password_command=command)])
        rc, out, err = run_mailferry(w.conf, env=isolated_env(home),
                                     timeout=OUTER)
        assert rc == EX_OK, (rc, out, err, srv.transcript())
        assert srv.connections[0].auth[0][2] == FAKE_PASSWORD
        # What it says on standard error, when it fails, is one line.
        for name in (".mail-pw", ".old-pw"):
            (home / name).unlink()
        rc, out, err = run_mailferry(w.conf, env=isolated_env(home),
                                     timeout=OUTER)
        assert rc == EX_TEMPFAIL, (rc, out, err)
        assert err.splitlines()[0] == (
            'mailferry: alice: account "alice": password_command (cat) '
            'printed '
            'nothing: cat: {0}/.mail-pw: No such file or directory / '
            'cat: {0}/.old-pw: No such file or directory'.format(home)), err
        assert len(srv.connections) == 1


# ---- (f) certificates -------------------------------------------------------

@pytest.fixture(scope="module")
def bad_certs(ca, tmp_path_factory):
    d = str(tmp_path_factory.mktemp("badcerts"))
    other = certs.make_ca(os.path.join(d, "other"), "unknown test CA")
    return {
        "expired": certs.make_cert(ca.ca, d, "expired", expired=True),
        "self-signed": certs.make_cert(None, d, "selfsigned",
                                       self_signed=True),
        "unknown-ca": certs.make_cert(other, d, "stray"),
        "wrong-host": certs.make_cert(ca.ca, d, "otherhost",
                                      sans=["DNS:mail.other.example",
                                            "IP:192.0.2.7"]),
        "another": certs.make_cert(None, d, "another", self_signed=True),
    }


CERT_REASONS = {
    "expired": r"expired",
    "self-signed": r"self[- ]signed",
    "unknown-ca": r"unable to get local issuer",
    "wrong-host": r"mismatch",
}


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
@pytest.mark.parametrize("kind", list(CERT_REASONS))
def test_bad_certificate_is_refused(ca, bad_certs, tmp_path, kind, tls):
    cert, key = bad_certs[kind]
    msgs = messages(1, "badcert")
    with fake_server(msgs, tls=tls, cert=cert, key=key) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, tls=tls, tls_ca_file=ca.ca_file)])
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        assert re.search(CERT_REASONS[kind], res.err, re.I), (
            "the error should say why (/%s/): %s" % (CERT_REASONS[kind],
                                                     res.err))
        assert_no_credentials_sent(srv, res)
        assert w.delivered() == []


@pytest.mark.parametrize("pin", ["certificate", "spki"])
@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_pinned_self_signed_certificate_is_accepted(bad_certs, tmp_path, pin,
                                                    tls):
    cert, key = bad_certs["self-signed"]
    fp = (certs.cert_fingerprint(cert) if pin == "certificate"
          else certs.spki_fingerprint(cert))
    msgs = messages(2, "pinned")
    with fake_server(msgs, tls=tls, cert=cert, key=key) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, tls=tls, tls_fingerprint=fp)])
        res = w.run()
        assert res.rc == EX_OK, explain(res, srv)
        assert w.delivered() == sorted(m.data for m in msgs)
        # Nothing may follow STLS before the handshake (RFC 2595).
        assert not any(l.startswith(b"STLS") for l in
                       srv.connections[0].early), srv.connections[0].early


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_wrong_pin_is_refused(ca, bad_certs, tmp_path, tls):
    cert, key = bad_certs["self-signed"]
    wrong = certs.cert_fingerprint(bad_certs["another"][0])
    with fake_server(messages(1, "wrongpin"), tls=tls, cert=cert,
                     key=key) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, tls=tls, tls_fingerprint=wrong)])
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        assert "tls_fingerprint" in res.err, res.err
        assert certs.cert_fingerprint(cert) in res.err, (
            "the error should show the certificate's actual fingerprint")
        assert_no_credentials_sent(srv, res)


def test_pin_does_not_accept_a_valid_certificate_with_another_key(
        ca, bad_certs, tmp_path):
    """A pin replaces the CA check: a certificate the CA signed but that
    does not match the pin is refused too."""
    wrong = certs.cert_fingerprint(bad_certs["another"][0])
    with fake_server(messages(1, "pinca"), tls="implicit",
                     cert=ca.server_cert, key=ca.server_key) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv, tls="implicit", tls_ca_file=ca.ca_file,
                                tls_fingerprint=wrong)])
        res = w.run()
        assert res.rc == EX_UNAVAILABLE, explain(res, srv)
        assert "tls_fingerprint" in res.err, res.err
        assert_no_credentials_sent(srv, res)


# ---- configuration readable by others ---------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o604])
def test_config_with_password_readable_by_others_exits_78(tmp_path, mode):
    with fake_server(messages(1, "mode")) as srv:
        w = World(tmp_path)
        w.write([w.fake_account(srv)])
        os.chmod(w.conf, mode)
        assert stat.S_IMODE(os.stat(w.conf).st_mode) == mode
        res = w.run()
        assert res.rc == EX_CONFIG, explain(res, srv)
        assert str(w.conf) in res.err, res.err
        assert srv.connections == [], srv.transcript()


# ---- (g) no secret in any output --------------------------------------------

def test_zz_no_secret_in_any_output():
    """Runs last (file order): every output of every mailferry run above,
    all with -vv, is free of passwords, tokens and their encodings."""
    if not OUTPUTS:
        pytest.skip("no mailferry run in this session to check")
    secrets = dict(SECRETS)
    for stamp in STAMPS:
        for pw in (FAKE_PASSWORD, DOVECOT_PASSWORD, SPACE_PASSWORD):
            secrets["APOP digest for %s, %s" % (stamp, pw)] = hashlib.md5(
                (stamp + pw).encode()).hexdigest()
    # test_faults.py's password too, for the session trace below.
    secrets["password of test_faults.py"] = "fault-test-pw"
    leaks = []
    for n, (out, err) in enumerate(OUTPUTS):
        for what, s in secrets.items():
            if s in out or s in err:
                leaks.append("run %d shows the %s" % (n, what))
    # Every line any mailferry run of this session logged, at -vv level
    # whatever its options (conftest.py sets MAILFERRY_TRACE_FILE).
    trace_file = os.environ.get("MAILFERRY_TRACE_FILE")
    if trace_file and os.path.exists(trace_file):
        with open(trace_file, errors="replace") as f:
            trace = f.read()
        for what, s in secrets.items():
            if s in trace:
                line = next(l for l in trace.splitlines() if s in l)
                leaks.append("the session trace shows the %s: %s"
                             % (what, line[:200]))
    assert not leaks, "\n".join(leaks)
    # The trace was on: credentials appear only as ***.
    assert any("***" in err for _, err in OUTPUTS)
