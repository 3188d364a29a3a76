"""The examples marked in a manual page's source: a line
`.\\" mailferry-test: KIND NAME` right before a `.Bd -literal` display
(test_manpages.py describes the kinds). Used on installed pages, which
may be gzip-compressed."""

import gzip
import re
from pathlib import Path

__all__ = ["page_examples"]

MARKER = re.compile(r'^\.\\" mailferry-test: (\S+) (\S+)\s*$')
ROFF_TEXT = {"\\e": "\\", "\\&": "", "\\-": "-", "\\(dq": '"', "\\(aq": "'"}


def page_examples(page_path):
    """{(kind, name): text} of the marked literal displays of a page."""
    path = Path(page_path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    lines = raw.decode().split("\n")
    found = {}
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        assert lines[i + 1].startswith(".Bd -literal"), \
            "%s:%d: marker not followed by .Bd -literal" % (page_path, i + 1)
        end = lines.index(".Ed", i + 1)
        body = []
        for x in lines[i + 2:end]:
            for esc, text in ROFF_TEXT.items():
                x = x.replace(esc, text)
            body.append(x)
        found[(m.group(1), m.group(2))] = "\n".join(body) + "\n"
    return found
