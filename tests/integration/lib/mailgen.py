"""Deterministic test messages, as bytes with LF line endings (Maildir form).

    generate(n, seed)          n varied messages; the same (seed, index)
                               always gives the same message, whatever n
    generate(n, seed, big=True)  ... one of them (index n // 2) over 5 MB
    message(subject=..., body=..., headers={...})   one simple message
    encode_word(text, "UTF-8", "B")                 an RFC 2047 encoded-word

Generated messages carry what breaks naive mail code: dot lines (".", "..",
". ", "..."), "From " and ">From " lines, 8-bit UTF-8 and Latin-1 bytes,
lines over 1000 bytes, trailing blanks, folded headers, encoded-word
subjects, multipart/mixed with base64 attachments. They never contain "\\r"
or NUL: nothing is built from arbitrary bytes except through base64.
"""

import base64
import datetime
import email.utils
import random
import uuid

__all__ = ["generate", "message", "encode_word", "SMALL", "LARGE", "BIG"]

SMALL = (1_000, 50_000)          # most messages
LARGE = (100_000, 1_000_000)     # about one in twelve
BIG = 5_500_000                  # the one big=True message
LARGE_SHARE = 1 / 12

_WORDS = ("the of and to in is for on that with mail server message fetch "
          "deliver rule filter header body account mailbox queue retry "
          "spool lock quota uid list size octets transfer encoding charset "
          "boundary plain text report weekly status meeting agenda invoice "
          "release notes patch review build test upstream downstream").split()

_UTF8_TEXT = ("Grüße aus Köln", "naïve café", "Ünïcödé — ☕ ✓",
              "日本語のメール", "Ελληνικά", "Привет, мир", "emoji 📬 📨")
_LATIN1_TEXT = ("café crème", "Größe", "señor niño", "déjà vu", "Ærø")

# Lines that trip dot-stuffing, mbox quoting and line handling.
_EDGE_LINES = (
    b".", b"..", b"...", b". ", b".\t", b". leading dot",
    b"..double dot", b".From dot then From",
    b"From the beginning of a line", b"From: not a header",
    b">From already quoted", b">>From quoted twice", b"From",
    b"-- ", b"   ", b"\t", b"trailing blanks   ", b"trailing tab\t",
    b"=?UTF-8?B?bm90IGRlY29kZWQgaW4gYm9keQ==?=",
    b"UTF-8: " + "Grüße, naïve café — ☕ 日本語".encode(),
    b"Latin-1: " + "caf\xe9 na\xefve \xfcber \xc6r\xf8".encode("latin-1"),
)

_pool_cache = []


def _pool():
    """Filler lines shared by all messages (built once, fixed seed), so
    large bodies cost one rng.choices() call instead of one per word."""
    if not _pool_cache:
        rng = random.Random("mailgen-pool")
        for _ in range(1024):
            words, n = [], 0
            limit = rng.randint(10, 78)
            while n < limit:
                w = rng.choice(_WORDS)
                words.append(w)
                n += len(w) + 1
            line = " ".join(words)
            _pool_cache.append(line[:1].upper().encode() + line[1:].encode())
    return _pool_cache


def encode_word(text, charset="UTF-8", encoding="B"):
    """TEXT as one RFC 2047 encoded-word ("=?UTF-8?B?...?=")."""
    raw = text.encode(charset)
    if encoding.upper() == "B":
        payload = base64.b64encode(raw).decode()
    else:
        payload = "".join(
            "_" if b == 0x20 else
            chr(b) if 0x21 <= b <= 0x7e and chr(b) not in "=?_" else
            "=%02X" % b for b in raw)
    return "=?%s?%s?%s?=" % (charset, encoding.upper(), payload)


def _subject(rng, seed, i):
    tag = "[mailgen %s/%d]" % (seed, i)
    kind = i % 5
    if kind == 1:
        return "%s %s" % (tag, encode_word(rng.choice(_UTF8_TEXT)))
    if kind == 2:
        return "%s %s" % (tag, encode_word(rng.choice(_LATIN1_TEXT),
                                           "ISO-8859-1", "Q"))
    if kind == 3:
        # Long and folded, with an encoded-word across the fold.
        words = " ".join(rng.choice(_WORDS) for _ in range(12))
        return "%s %s\n %s\n\t%s end" % (
            tag, words, encode_word(rng.choice(_UTF8_TEXT)), words)
    return "%s %s" % (tag, " ".join(rng.choice(_WORDS) for _ in range(5)))


def _headers(rng, seed, i, content_type):
    date = (datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
            + datetime.timedelta(hours=i, minutes=rng.randrange(60),
                                 seconds=rng.randrange(60)))
    tz = datetime.timezone(datetime.timedelta(hours=rng.choice((-5, 0, 1, 9))))
    name = rng.choice(("Ann Example", encode_word("Jörg Müller", "UTF-8", "Q"),
                       '"Smith, John"', "noreply"))
    h = [
        ("Date", email.utils.format_datetime(date.astimezone(tz))),
        ("From", "%s <sender%d@example.org>" % (name, rng.randrange(100))),
        ("To", "alice@example.com"),
        ("Subject", _subject(rng, seed, i)),
        ("Message-ID", "<mailgen.%s.%d.%08x@example.test>"
         % (seed, i, rng.getrandbits(32))),
        ("MIME-Version", "1.0"),
    ]
    if i % 4 == 0:
        # A folded recipient list and a long folded References header.
        h[2] = ("To", "alice@example.com,\n\tBob <bob@example.com>,\n"
                      " carol@example.net")
        h.append(("References", "\n ".join(
            "<ref%d.%d@example.test>" % (i, k) for k in range(8))))
    h += content_type
    h.append(("X-Mailgen", "seed=%s index=%d" % (seed, i)))
    return b"".join(("%s: %s\n" % kv).encode() for kv in h)


def _text_lines(rng, size):
    """About SIZE bytes of text lines, with every edge line somewhere."""
    pool = _pool()
    # Filler lines average 49 bytes; the edge lines add about 5 KB.
    lines = rng.choices(pool, k=max(1, (size - 5_000) // 49))
    edges = list(_EDGE_LINES)
    edges.append(b"x" * rng.randint(1001, 4000))            # long line
    edges.append(" ".join(rng.choice(_WORDS)                # long words line
                          for _ in range(300)).encode())
    for e in edges:
        lines.insert(rng.randrange(len(lines) + 1), e)
    return lines


def _attachment(rng, nbytes):
    return base64.encodebytes(rng.randbytes(nbytes))        # 76-column lines


def _one(seed, i, size):
    rng = random.Random("mailgen:%s:%d" % (seed, i))
    if size is None:
        lo, hi = LARGE if rng.random() < LARGE_SHARE else SMALL
        size = rng.randint(lo, hi)
    text_ct = [("Content-Type", "text/plain; charset=utf-8"),
               ("Content-Transfer-Encoding", "8bit")]
    if i % 3 != 2:
        body = _text_lines(rng, size)
        if rng.random() < 0.3:
            body.insert(0, b"From the first body line")
        if rng.random() < 0.3:
            body.append(b".")                # message ends in "\n.\n"
        return (_headers(rng, seed, i, text_ct) + b"\n"
                + b"\n".join(body) + b"\n")

    # multipart/mixed: a text part and a base64 attachment carrying most of
    # the size; the boundary cannot occur in the parts.
    boundary = "=_mailgen_%s_%d_%08x" % (seed, i, rng.getrandbits(32))
    text_size = min(size // 4, 20_000)
    attach = max(1, (size - text_size) * 3 // 4)
    ct = [("Content-Type",
           'multipart/mixed;\n boundary="%s"' % boundary)]
    b = boundary.encode()
    parts = [
        b"This is a multi-part message in MIME format.",
        b"--" + b,
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        b"\n".join(_text_lines(rng, text_size)),
        b"--" + b,
        b"Content-Type: application/octet-stream; name=\"data%d.bin\"" % i,
        b"Content-Transfer-Encoding: base64",
        b"Content-Disposition: attachment;\n filename=\"data%d.bin\"" % i,
        b"",
        _attachment(rng, attach).rstrip(b"\n"),
        b"--" + b + b"--",
        b"epilogue",
    ]
    return _headers(rng, seed, i, ct) + b"\n" + b"\n".join(parts) + b"\n"


def generate(n, seed=0, big=False):
    """N messages (list of bytes). Message i depends only on (seed, i) and
    on big=True making message n // 2 larger than 5 MB."""
    out = []
    for i in range(n):
        msg = _one(seed, i, BIG if big and i == n // 2 else None)
        assert b"\r" not in msg and b"\0" not in msg and msg.endswith(b"\n")
        out.append(msg)
    return out


def message(subject="Test message", body="This is a test.\n", headers=None,
            sender="Sender <sender@example.org>", to="alice@example.com"):
    """One plain-text message as bytes (LF line endings, ends with "\\n").

    BODY: str (written as UTF-8) or bytes. HEADERS: {name: value} added
    after the defaults, replacing a default of the same name (case-
    insensitive); a value of None removes it. Values may hold folds
    ("\\n " continuations); str values are written as UTF-8 unencoded, so
    use encode_word() for RFC 2047 headers.
    """
    msgid = "<%s@mailgen.example.test>" % uuid.uuid4().hex
    fields = [
        ["Date", email.utils.format_datetime(
            datetime.datetime.now(datetime.timezone.utc))],
        ["From", sender], ["To", to], ["Subject", subject],
        ["Message-ID", msgid], ["MIME-Version", "1.0"],
        ["Content-Type", "text/plain; charset=utf-8"],
        ["Content-Transfer-Encoding", "8bit"],
    ]
    for name, value in (headers or {}).items():
        same = [f for f in fields if f[0].lower() == name.lower()]
        if same and value is not None:
            same[0][:] = [name, value]          # keep the default's place
        elif value is not None:
            fields.append([name, value])
        else:
            fields = [f for f in fields if f not in same]

    def b(v):
        return v if isinstance(v, bytes) else v.encode()

    out = b"".join(b(k) + b": " + b(v) + b"\n" for k, v in fields)
    out += b"\n" + b(body)
    if not out.endswith(b"\n"):
        out += b"\n"
    if b"\r" in out or b"\0" in out:
        raise ValueError("messages must not contain CR or NUL bytes")
    return out
