"""Throwaway test PKI built with the openssl command line.

Everything is written into directories the caller owns; nothing touches the
system trust store. Keys are EC P-256 by default (fast to generate), RSA 2048
on request.

    ca = make_ca(d)                                   # trusted test CA
    crt, key = make_cert(ca, d, "server")             # 127.0.0.1 + localhost
    make_cert(ca, d, "other", sans=["DNS:other.example"])   # name mismatch
    make_cert(ca, d, "old", expired=True)             # notAfter in the past
    make_cert(None, d, "self", self_signed=True)      # self-signed leaf
    make_cert(make_ca(d2, "unknown CA"), d, "stray")  # untrusted issuer
"""

import hashlib
import os
import secrets
import shutil
import ssl
import subprocess
from collections import namedtuple

__all__ = ["CA", "make_ca", "make_cert", "cert_fingerprint",
           "spki_fingerprint", "is_expired"]

CA = namedtuple("CA", "cert key dir name")

DEFAULT_SANS = ("IP:127.0.0.1", "DNS:localhost")

# Validity window of an expired certificate: long past, so clock skew and
# faketime-shifted tests still see it as expired.
EXPIRED_START = "20200101000000Z"
EXPIRED_END = "20200201000000Z"


def _openssl(*args, stdin=None):
    proc = subprocess.run(["openssl", *args], input=stdin,
                          capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed (%d):\n%s" % (
            " ".join(args), proc.returncode,
            proc.stderr.decode(errors="replace")))
    return proc.stdout


def _genkey(path, key_type):
    if key_type == "ec":
        _openssl("genpkey", "-algorithm", "EC",
                 "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    elif key_type == "rsa":
        _openssl("genpkey", "-algorithm", "RSA",
                 "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    else:
        raise ValueError("key_type must be 'ec' or 'rsa'")
    os.chmod(path, 0o600)


def _write_cnf(path, cn, sans):
    """A self-contained openssl config, so the system openssl.cnf (and its
    default extensions) never leaks into test certificates."""
    leaf_sans = "subjectAltName = %s\n" % ",".join(sans) if sans else ""
    with open(path, "w") as f:
        f.write(
            "[ req ]\n"
            "distinguished_name = dn\n"
            "prompt = no\n"
            "[ dn ]\n"
            "O = mailferry tests\n"
            "CN = %s\n"
            "[ v3_ca ]\n"
            "basicConstraints = critical,CA:TRUE\n"
            "keyUsage = critical,keyCertSign,cRLSign\n"
            "subjectKeyIdentifier = hash\n"
            "[ v3_leaf ]\n"
            "basicConstraints = critical,CA:FALSE\n"
            "keyUsage = critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage = serverAuth\n"
            "subjectKeyIdentifier = hash\n"
            "authorityKeyIdentifier = keyid\n"
            "%s"
            # A self-signed leaf has no keyUsage: OpenSSL only treats a
            # self-issued certificate as its own issuer when keyUsage is
            # absent or allows keyCertSign, and pinning it must work.
            "[ v3_self ]\n"
            "basicConstraints = critical,CA:FALSE\n"
            "extendedKeyUsage = serverAuth\n"
            "subjectKeyIdentifier = hash\n"
            "%s" % (cn, leaf_sans, leaf_sans))


def _serial():
    # Random positive serials: several CAs in one run never collide.
    return "0x%x" % (secrets.randbits(63) | 1)


def make_ca(dir, name="mailferry test CA", key_type="ec", days=3650):
    """Create a self-signed CA in DIR (created if missing); return CA."""
    dir = os.fspath(dir)
    os.makedirs(dir, exist_ok=True)
    stem = os.path.join(dir, name.replace(" ", "_").replace("/", "_"))
    cert, key, cnf = stem + ".ca.crt", stem + ".ca.key", stem + ".ca.cnf"
    _genkey(key, key_type)
    _write_cnf(cnf, name, ())
    _openssl("req", "-x509", "-new", "-config", cnf, "-extensions", "v3_ca",
             "-key", key, "-sha256", "-days", str(days),
             "-set_serial", _serial(), "-out", cert)
    return CA(cert=cert, key=key, dir=dir, name=name)


def _sign_expired(ca, csr, cnf, cert):
    """OpenSSL 3.0's `x509 -req` cannot set dates in the past (-not_before
    came in 3.4), so expired certificates go through `openssl ca`, which
    takes -startdate/-enddate. It needs a small database of its own."""
    db = os.path.join(os.path.dirname(cert),
                      ".ca-db-" + os.path.basename(cert))
    os.makedirs(db, exist_ok=True)
    index = os.path.join(db, "index.txt")
    open(index, "w").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write("%016X\n" % (secrets.randbits(63) | 1))
    cacnf = os.path.join(db, "ca.cnf")
    with open(cacnf, "w") as f:
        f.write(
            "[ ca ]\n"
            "default_ca = test_ca\n"
            "[ test_ca ]\n"
            "database = %s\n"
            "new_certs_dir = %s\n"
            "serial = %s\n"
            "default_md = sha256\n"
            "policy = policy_any\n"
            "unique_subject = no\n"
            "copy_extensions = none\n"
            "[ policy_any ]\n"
            "organizationName = optional\n"
            "commonName = supplied\n"
            % (index, db, os.path.join(db, "serial")))
    _openssl("ca", "-batch", "-config", cacnf, "-cert", ca.cert,
             "-keyfile", ca.key, "-in", csr, "-out", cert, "-notext",
             "-startdate", EXPIRED_START, "-enddate", EXPIRED_END,
             "-extfile", cnf, "-extensions", "v3_leaf")
    shutil.rmtree(db)


def make_cert(ca, dir, name, sans=DEFAULT_SANS, days=30, expired=False,
              self_signed=False, key_type="ec"):
    """Create DIR/NAME.crt and DIR/NAME.key; return (cert_path, key_path).

    NAME is also the subject CN. SANS are openssl subjectAltName entries
    ("IP:...", "DNS:..."). With self_signed=True, CA is ignored (may be
    None). With expired=True the certificate was valid only in early 2020.
    """
    dir = os.fspath(dir)
    os.makedirs(dir, exist_ok=True)
    stem = os.path.join(dir, name)
    cert, key, cnf, csr = (stem + ".crt", stem + ".key", stem + ".cnf",
                           stem + ".csr")
    _genkey(key, key_type)
    _write_cnf(cnf, name, list(sans))
    if self_signed:
        if expired:
            raise ValueError("expired self-signed certificates not supported")
        _openssl("req", "-x509", "-new", "-config", cnf,
                 "-extensions", "v3_self", "-key", key, "-sha256",
                 "-days", str(days), "-set_serial", _serial(), "-out", cert)
    else:
        if ca is None:
            raise ValueError("a CA is needed unless self_signed=True")
        _openssl("req", "-new", "-config", cnf, "-key", key, "-out", csr)
        if expired:
            _sign_expired(ca, csr, cnf, cert)
            if not is_expired(cert):
                raise RuntimeError("%s should be expired but is not" % cert)
        else:
            _openssl("x509", "-req", "-in", csr, "-CA", ca.cert,
                     "-CAkey", ca.key, "-set_serial", _serial(),
                     "-days", str(days), "-sha256",
                     "-extfile", cnf, "-extensions", "v3_leaf", "-out", cert)
        os.unlink(csr)
    return cert, key


def is_expired(cert_path):
    """True when the certificate's notAfter is in the past."""
    proc = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout",
                           "-checkend", "0"], capture_output=True)
    return proc.returncode != 0


def _format(digest):
    return "sha256:" + ":".join("%02X" % b for b in digest)


def cert_fingerprint(cert_path):
    """SHA-256 of the DER certificate, as "sha256:AB:CD:..."."""
    with open(cert_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return _format(hashlib.sha256(der).digest())


def spki_fingerprint(cert_path):
    """SHA-256 of the DER SubjectPublicKeyInfo, as "sha256:AB:CD:..."."""
    pem = _openssl("x509", "-in", cert_path, "-noout", "-pubkey")
    der = _openssl("pkey", "-pubin", "-outform", "DER", stdin=pem)
    return _format(hashlib.sha256(der).digest())
