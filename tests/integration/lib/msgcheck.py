"""Comparing sets of messages in assertions: digests, a short description
of a message, and a multiset comparison that names what is missing."""

import collections
import hashlib
import re


def digest(m):
    return hashlib.sha256(m).hexdigest()


def describe(m):
    """A short identification of a message for assertion messages."""
    subj = re.search(rb"^Subject: ([^\n]{0,60})", m, re.M | re.I)
    return "%d bytes, %s" % (len(m), subj.group(1).decode(errors="replace")
                              if subj else "no Subject")


def assert_same_messages(got, expected, what):
    """GOT and EXPECTED (lists of bytes) are the same multiset."""
    g = collections.Counter(map(digest, got))
    e = collections.Counter(map(digest, expected))
    if g == e:
        return
    by_digest = {digest(m): m for m in list(got) + list(expected)}
    missing = list((e - g).elements())
    extra = list((g - e).elements())
    lines = ["%s: %d messages, expected %d; %d missing, %d unexpected"
             % (what, len(got), len(expected), len(missing), len(extra))]
    lines += ["  missing:    " + describe(by_digest[d]) for d in missing[:8]]
    lines += ["  unexpected: " + describe(by_digest[d]) for d in extra[:8]]
    raise AssertionError("\n".join(lines))
