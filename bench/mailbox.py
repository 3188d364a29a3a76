"""Deterministic benchmark mailboxes, built on tests/integration/lib/mailgen.

    message(i)            message i of the main sequence (bytes, LF line
                          ends, as a Maildir stores it); the same i always
                          gives the same bytes, whatever the mailbox size
    size_of(i)            the size message(i) is built to (about)
    small(i, size)        message i of the "many small messages" sequence
    huge_message(size)    one text message of about SIZE bytes

Sizes run from 1 KB to 3.7 MB with a mean of about 28 KB, so 10,000 messages
are about 286 MB: most are a few KB, one in ten tens of KB, a few hundred
KB, and one in 400 is 1 to 3.7 MB. A third are multipart/mixed with
a base64 attachment; the rest are 8-bit UTF-8 text/plain with lines that
trip naive code (dot lines, "From " lines, Latin-1 bytes, long lines).
Headers come from mailgen: folded To and References fields, RFC 2047
encoded subjects (UTF-8 B and ISO-8859-1 Q), encoded display names.
"""

import hashlib
import os
import random
import sys

_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                    "tests", "integration", "lib")
sys.path.insert(0, os.path.abspath(_LIB))

import mailgen  # noqa: E402  (tests/integration/lib)

SEED = "mfbench-1"
SMALL_SEED = "mfbench-small-1"

__all__ = ["message", "size_of", "small", "huge_message", "digest",
           "SEED"]


def size_of(i):
    """The target size of message I of the main sequence."""
    rng = random.Random("%s:size:%d" % (SEED, i))
    if i % 400 == 199:                      # 25 in 10,000
        return rng.randint(1_000_000, 3_700_000)
    r = rng.random()
    if r < 0.600:
        return rng.randint(1_000, 8_000)
    if r < 0.885:
        return rng.randint(8_000, 32_000)
    if r < 0.988:
        return rng.randint(32_000, 128_000)
    return rng.randint(128_000, 800_000)


def _text(rng, size, edges=True):
    """About SIZE bytes of text lines (LF-joined, no final LF)."""
    pool = mailgen._pool()
    n = max(1, size // 49)                   # pool lines average 49 bytes
    lines = rng.choices(pool, k=n)
    if edges:
        # A few of mailgen's edge lines: dot lines, From lines, 8-bit.
        for e in rng.sample(mailgen._EDGE_LINES, k=min(
                len(mailgen._EDGE_LINES), 2 + size // 4000)):
            lines.insert(rng.randrange(len(lines) + 1), e)
        if rng.random() < 0.1:
            lines.insert(rng.randrange(len(lines) + 1),
                         b"y" * rng.randint(1001, 3000))
    return b"\n".join(lines)


def _build(seed, i, size, subject_prefix=""):
    rng = random.Random("%s:%d" % (seed, i))
    multipart = i % 3 == 2 and size >= 6_000
    if not multipart:
        ct = [("Content-Type", "text/plain; charset=utf-8"),
              ("Content-Transfer-Encoding", "8bit")]
        head = mailgen._headers(rng, seed, i, ct)
        body = _text(rng, max(200, size - len(head)))
        msg = head + b"\n" + body + b"\n"
    else:
        boundary = "=_mfbench_%s_%d_%08x" % (seed, i, rng.getrandbits(32))
        ct = [("Content-Type",
               'multipart/mixed;\n boundary="%s"' % boundary)]
        head = mailgen._headers(rng, seed, i, ct)
        b = boundary.encode()
        text_size = min(size // 4, 20_000)
        attach = max(1, (size - len(head) - text_size - 400) * 3 // 4)
        parts = [
            b"This is a multi-part message in MIME format.",
            b"--" + b,
            b"Content-Type: text/plain; charset=utf-8",
            b"Content-Transfer-Encoding: 8bit",
            b"",
            _text(rng, text_size),
            b"--" + b,
            b"Content-Type: application/octet-stream; name=\"data%d.bin\"" % i,
            b"Content-Transfer-Encoding: base64",
            b"Content-Disposition: attachment;\n filename=\"data%d.bin\"" % i,
            b"",
            mailgen._attachment(rng, attach).rstrip(b"\n"),
            b"--" + b + b"--",
            b"",
        ]
        msg = head + b"\n" + b"\n".join(parts)
    if subject_prefix:
        msg = msg.replace(b"\nSubject: ",
                          b"\nSubject: " + subject_prefix.encode(), 1)
    assert b"\r" not in msg and b"\0" not in msg and msg.endswith(b"\n")
    return msg


def message(i, drop=False):
    """Message I of the main sequence. DROP: every other message (odd I)
    gets a Subject starting with "[DROP] ", for the rule that deletes."""
    return _build(SEED, i, size_of(i),
                  "[DROP] " if drop and i % 2 == 1 else "")


def small(i, size=2_000):
    """Message I of the many-small-messages sequence (about SIZE bytes)."""
    return _build(SMALL_SEED, i, size)


def huge_message(size):
    """One text message of about SIZE bytes (bytes)."""
    rng = random.Random("%s:huge:%d" % (SEED, size))
    ct = [("Content-Type", "text/plain; charset=utf-8"),
          ("Content-Transfer-Encoding", "8bit")]
    head = mailgen._headers(rng, SEED + "-huge", 0, ct)
    chunks = [head, b"\n"]
    left = size - len(head) - 1
    while left > 0:
        part = _text(rng, min(left, 8_000_000), edges=False) + b"\n"
        part = part[:left] if len(part) > left else part
        if not part.endswith(b"\n"):
            part = part[:-1] + b"\n"
        chunks.append(part)
        left -= len(part)
    return b"".join(chunks)


def digest(data):
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    # Statistics of the main sequence: python3 bench/mailbox.py [N]
    import time
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    t = time.time()
    sizes = [len(message(i)) for i in range(n)]
    print("%d messages, %.1f MB, mean %.1f KB, min %d, max %d, %.1f s"
          % (n, sum(sizes) / 1e6, sum(sizes) / n / 1e3, min(sizes),
             max(sizes), time.time() - t))
