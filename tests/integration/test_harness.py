"""The harness itself works: private Dovecot, certificates, message
generator, checked with Python's poplib/smtplib (no mailferry needed)."""

import hashlib
import os
import poplib
import smtplib
import ssl
import subprocess
import time

import pytest

import certs
import imapkit
import mailgen
from dovecot import Dovecot
from harness import lc_str, retr, write_config


def pop3(server, user="alice", cafile=None):
    """Logged-in poplib connection: implicit TLS trusting CAFILE if given,
    else plain text."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
        pop = poplib.POP3_SSL("127.0.0.1", server.pop3s_port, timeout=10,
                              context=ctx)
    else:
        pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    pop.user(user)
    pop.pass_(server.users[user])
    return pop


def test_plain_login_uidl_retr(dovecot):
    msg = mailgen.message(subject="plain",
                          body=".\n..\n. x\nFrom here\n>From there\n.\n")
    dovecot.deliver("alice", msg)
    pop = pop3(dovecot)
    _, uidls, _ = pop.uidl()
    assert len(uidls) == 1
    num, uid = uidls[0].split()
    assert num == b"1" and len(uid) == 16          # %08Xv%08Xu
    _, listing, _ = pop.list()
    # LIST counts the CRLF form of the message.
    assert listing == [b"1 %d" % (len(msg) + msg.count(b"\n"))]
    assert retr(pop, 1) == msg
    pop.quit()


def test_stls_verifies_with_test_ca(dovecot, ca):
    pop = poplib.POP3("127.0.0.1", dovecot.pop3_port, timeout=10)
    assert "STLS" in pop.capa()
    # poplib passes the host as server_hostname: the IP SAN is checked.
    pop.stls(ssl.create_default_context(cafile=ca.ca_file))
    assert pop.sock.version() in ("TLSv1.2", "TLSv1.3")
    pop.user("alice")
    pop.pass_(dovecot.users["alice"])
    assert pop.stat() == (0, 0)
    pop.quit()

    # The system trust store does not know the test CA.
    pop = poplib.POP3("127.0.0.1", dovecot.pop3_port, timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        pop.stls(ssl.create_default_context())
    # (the failed handshake already closed the socket)


def test_pop3s_implicit_tls_and_fingerprints(dovecot, ca):
    msg = mailgen.message(subject="over TLS")
    dovecot.deliver("bob", msg)
    pop = pop3(dovecot, "bob", cafile=ca.ca_file)
    assert retr(pop, 1) == msg
    # The fingerprint helpers describe the certificate Dovecot serves.
    der = pop.sock.getpeercert(binary_form=True)
    fp = "sha256:" + ":".join("%02X" % b for b in hashlib.sha256(der).digest())
    assert fp == certs.cert_fingerprint(ca.server_cert)
    pop.quit()
    out = subprocess.run(["openssl", "x509", "-in", ca.server_cert, "-noout",
                          "-fingerprint", "-sha256"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().split("=", 1)[1] == fp[len("sha256:"):]
    spki = certs.spki_fingerprint(ca.server_cert)
    assert spki.startswith("sha256:") and len(spki) == 7 + 32 * 3 - 1
    assert spki != fp


def test_apop(dovecot):
    pop = poplib.POP3("127.0.0.1", dovecot.pop3_port, timeout=10)
    assert b"<" in pop.getwelcome()                # APOP timestamp offered
    pop.apop("alice", dovecot.users["alice"])
    assert pop.stat() == (0, 0)
    pop.quit()
    pop = poplib.POP3("127.0.0.1", dovecot.pop3_port, timeout=10)
    with pytest.raises(poplib.error_proto):
        pop.apop("alice", "wrong")
    pop.close()


def test_wrong_password_fails_quickly(dovecot):
    # Repeated failures from 127.0.0.1 must not build up a penalty, or
    # negative tests would slow down every later test.
    for _ in range(3):
        start = time.monotonic()
        pop = poplib.POP3("127.0.0.1", dovecot.pop3_port, timeout=10)
        pop.user("alice")
        with pytest.raises(poplib.error_proto, match="AUTH"):
            pop.pass_("wrong")
        pop.close()
        assert time.monotonic() - start < 2
    start = time.monotonic()
    pop3(dovecot).quit()
    assert time.monotonic() - start < 2


def test_deliver_and_stored_messages(dovecot):
    msgs = [mailgen.message(subject="m%d" % i, body="body %d\n" % i)
            for i in range(3)]
    names = [dovecot.deliver("alice", m) for m in msgs]
    new = os.path.join(dovecot.maildir("alice"), "new")
    assert sorted(os.listdir(new)) == sorted(names)
    st = os.stat(os.path.join(new, names[0]))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (8, 8, 0o600)
    assert dovecot.stored_messages("alice") == msgs
    assert dovecot.count("alice") == 3 and dovecot.count("bob") == 0
    # A POP3 login moves the files to cur/; they are still counted, in order.
    pop = pop3(dovecot)
    assert pop.stat()[0] == 3
    pop.quit()
    assert os.listdir(new) == []
    assert dovecot.stored_messages("alice") == msgs


def test_add_user_while_running(dovecot):
    dovecot.add_user("carol", "carol pass with spaces")
    dovecot.deliver("carol", mailgen.message())
    assert pop3(dovecot, "carol").stat()[0] == 1


def test_lmtp_socket_and_port(dovecot):
    original = mailgen.generate(1, seed=7)[0]
    wire = original.replace(b"\n", b"\r\n")
    lmtp = smtplib.LMTP(dovecot.lmtp_socket)
    assert lmtp.sendmail("sender@example.org", ["alice@localhost"], wire) == {}
    lmtp.quit()
    lmtp = smtplib.LMTP("127.0.0.1", dovecot.lmtp_port, timeout=10)
    assert lmtp.sendmail("sender@example.org", ["bob"], wire) == {}
    lmtp.quit()
    for user in ("alice", "bob"):
        [stored] = dovecot.stored_messages(user)
        # Dovecot prepends Return-Path, Delivered-To and Received.
        assert stored.startswith(b"Return-Path: <sender@example.org>\n")
        assert stored.endswith(original)


@pytest.mark.parametrize("variant, verify_code", [
    ("good", None),
    ("other-host", 64),       # X509_V_ERR_IP_ADDRESS_MISMATCH
    ("expired", 10),          # X509_V_ERR_CERT_HAS_EXPIRED
    ("self-signed", 18),      # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    ("unknown-ca", 20),       # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
])
def test_certificate_variants(ca, tmp_path, variant, verify_code):
    d = str(tmp_path)
    if variant == "good":
        cert, key = certs.make_cert(ca.ca, d, "good")
    elif variant == "other-host":
        cert, key = certs.make_cert(ca.ca, d, "other",
                                    sans=["DNS:other.example"])
    elif variant == "expired":
        cert, key = certs.make_cert(ca.ca, d, "expired", expired=True)
        assert certs.is_expired(cert)
    elif variant == "self-signed":
        cert, key = certs.make_cert(None, d, "self", self_signed=True)
    else:
        stray = certs.make_ca(os.path.join(d, "stray"), name="unknown CA")
        cert, key = certs.make_cert(stray, d, "stray")
    with Dovecot(cert=cert, key=key, users={"alice": "pw"}) as srv:
        ctx = ssl.create_default_context(cafile=ca.ca_file)
        if verify_code is None:
            poplib.POP3_SSL("127.0.0.1", srv.pop3s_port, context=ctx,
                            timeout=10).quit()
        else:
            with pytest.raises(ssl.SSLCertVerificationError) as err:
                poplib.POP3_SSL("127.0.0.1", srv.pop3s_port, context=ctx,
                                timeout=10)
            assert err.value.verify_code == verify_code
        if variant == "self-signed":
            # ... but trusting the certificate itself (a pin) works.
            ctx = ssl.create_default_context(cafile=cert)
            poplib.POP3_SSL("127.0.0.1", srv.pop3s_port, context=ctx,
                            timeout=10).quit()


def test_second_address_is_a_host_name_mismatch(ca):
    with Dovecot(cert=ca.server_cert, key=ca.server_key,
                 listen="127.0.0.1, 127.0.0.2") as srv:
        ctx = ssl.create_default_context(cafile=ca.ca_file)
        with pytest.raises(ssl.SSLCertVerificationError) as err:
            poplib.POP3_SSL("127.0.0.2", srv.pop3s_port, context=ctx,
                            timeout=10)
        assert err.value.verify_code == 64


def test_no_tls_server():
    with Dovecot(users={"alice": "pw"}) as srv:
        assert srv.pop3s_port is None
        pop = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
        assert "STLS" not in pop.capa()
        pop.user("alice")
        pop.pass_("pw")                 # loopback counts as secure
        pop.quit()


def test_restart_keeps_ports_and_mail(ca):
    with Dovecot(cert=ca.server_cert, key=ca.server_key,
                 users={"alice": "pw"}) as srv:
        srv.deliver("alice", mailgen.message())
        port = srv.pop3_port
        srv.stop()
        assert not srv.running
        with pytest.raises(OSError):
            poplib.POP3("127.0.0.1", port, timeout=2)
        srv.start()
        assert srv.pop3_port == port and srv.count("alice") == 1


def test_write_config_mode_and_quoting(tmp_path):
    path = tmp_path / "mailferry.conf"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_config(path, "password = %s;\n" % lc_str('a"b\\c'))
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_text() == 'password = "a\\"b\\\\c";\n'


def test_500_generated_messages_round_trip(dovecot):
    msgs = mailgen.generate(500, seed=1, big=True)
    assert max(len(m) for m in msgs) > 5_000_000
    for m in msgs:
        dovecot.deliver("alice", m)
    assert dovecot.stored_messages("alice") == msgs
    pop = pop3(dovecot)
    assert pop.stat() == (500, sum(len(m) + m.count(b"\n") for m in msgs))
    _, uidls, _ = pop.uidl()
    assert len({line.split()[1] for line in uidls}) == 500
    for i, m in enumerate(msgs, 1):
        assert retr(pop, i) == m, "message %d differs after RETR" % i
    pop.quit()


def test_imap_mixed_folders_flags_and_recreate(dovecot):
    by_folder = imapkit.fill_folders(dovecot, n=40, seed="harness-imap",
                                     big=False)
    assert set(by_folder) == set(imapkit.FOLDERS)
    for folder, msgs in by_folder.items():
        assert len(msgs) == 20
        # Read back byte for byte, in delivery (= UID) order.
        assert dovecot.folder_bytes(folder) == msgs
        assert all(f == set() for f in dovecot.folder_flags(folder).values())
    # Another client's flags are seen, and survive a recreated folder.
    uids = sorted(dovecot.folder_flags("Lists/dev"))
    dovecot.add_flags(uids[:2], r"\Seen", "Lists/dev")
    for folder in imapkit.FOLDERS:
        old = dovecot.folder_info(folder)["UIDVALIDITY"]
        new = dovecot.recreate_folder(folder)
        assert new != old
        assert dovecot.folder_info(folder)["UIDVALIDITY"] == new
        assert dovecot.folder_bytes(folder) == by_folder[folder]
    flags = dovecot.folder_flags("Lists/dev")
    assert [r"\Seen" in flags[u] for u in sorted(flags)] == \
        [True, True] + [False] * 18
    acct = imapkit.account("alice", dovecot, tls="starttls",
                           folders=imapkit.FOLDERS)
    assert (acct["protocol"], acct["port"], acct["folders"]) == (
        "imap", dovecot.imap_port, list(imapkit.FOLDERS))
    assert imapkit.account("alice", dovecot)["port"] == dovecot.imaps_port
