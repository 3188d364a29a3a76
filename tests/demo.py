#!/usr/bin/python3
"""`make demo`: a real fetch with rules, start to finish, on this machine.

Starts a throwaway Dovecot on loopback (STLS with a test CA made here),
puts sample mail in its mailbox, writes a configuration that drops test
messages, sorts mailing lists and tags every message with a plugin, runs
mailferry twice, and shows what happened. Everything lives in one
directory under /tmp, kept afterwards so you can look around; the server
is stopped at the end.

MAILFERRY_BIN names the program (default: build/mailferry),
MAILFERRY_PLUGIN_DIR its plugins (default: plugins/ beside the program if
it is there, else the program's compiled-in directory) and
MAILFERRY_RULES_DIR the rule sets (default: rules/ in this tree); the
Debian package's test runs the demo against the installed files with
them.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "integration" / "lib"))

import certs                                    # noqa: E402
from dovecot import Dovecot                     # noqa: E402
from harness import lc_str, write_config        # noqa: E402
import mailgen                                  # noqa: E402

SAMPLES = [
    ("Lunch on Friday?", {}, "Shall we try the new place on the corner?\n"),
    ("[TEST] nightly build 1234", {}, "Automated test, please ignore.\n"),
    ("[dev] Patch: faster UIDL lookups",
     {"List-Id": "Developers <dev.lists.example.org>"}, "Patch attached.\n"),
    ("Quarterly numbers", {}, "Revenue is up.\n.\n..leading dots survive\n"
     "From here on, mbox-style lines too.\n"),
    (mailgen.encode_word("[TEST] h\u00e9llo w\u00f6rld"), {},
     "An encoded test subject, dropped too.\n"),
    ("Re: [dev] Patch: faster UIDL lookups",
     {"List-Id": "Developers <dev.lists.example.org>"}, "Looks good.\n"),
]

CONFIG = """\
# Written by `make demo`. The same keys work for a real mailbox.
state_dir  = {state};
{plugin_dir}timeout    = 20;

destinations = {{
  inbox = {{ type = "maildir"; path = {inbox}; }};
  lists = {{ type = "maildir"; path = {lists}; }};
}};

accounts = (
  {{ name = "demo";
    server = "127.0.0.1"; port = {port};
    tls = "starttls"; tls_ca_file = {ca};
    user = "demo"; password = "demo-password";
    keep = true;                  # leave mail on the server
    deliver = "inbox";
    rules = ( {{ name = "tag"; plugin = "headers";
                args = {{ add = {{ X-Original-Account = "%a"; }}; }}; }},
              @include {drop}, @include {sort} );
  }}
);
"""


def sh(cmd, **kw):
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, **kw)


def subjects(maildir):
    """The Subject of each message in MAILDIR, marked when the headers
    plugin tagged it."""
    out = []
    for name in sorted(os.listdir(maildir)):
        subject, tag = "", ""
        with open(os.path.join(maildir, name), "rb") as f:
            for line in f:
                if line in (b"\n", b"\r\n"):
                    break
                if line.lower().startswith(b"subject:"):
                    subject = line[8:].strip().decode(errors="replace")
                elif line.lower().startswith(b"x-original-account:"):
                    tag = "  [X-Original-Account: %s]" % line[19:].strip(
                        ).decode(errors="replace")
        out.append(subject + tag)
    return out


def plugin_dir_setting(binary):
    """The plugin_dir line of the demo's configuration: none when the
    program's compiled-in directory is the one to use."""
    plugins = os.environ.get("MAILFERRY_PLUGIN_DIR")
    if plugins is None and (Path(binary).parent / "plugins").is_dir():
        plugins = str(Path(binary).parent / "plugins")
    return "plugin_dir = %s;\n" % lc_str(plugins) if plugins else ""


def main():
    if os.geteuid() != 0:
        sys.exit("make demo runs a private Dovecot, which needs root "
                 "(it switches to the mail user); run it as root.")
    binary = os.environ.get("MAILFERRY_BIN", str(REPO / "build/mailferry"))
    rules = Path(os.environ.get("MAILFERRY_RULES_DIR") or REPO / "rules")
    work = Path(tempfile.mkdtemp(prefix="mailferry-demo-"))
    (work / "pki").mkdir()
    ca = certs.make_ca(str(work / "pki"), name="mailferry demo CA")
    cert, key = certs.make_cert(ca, str(work / "pki"), "server")

    print("mailferry demo, in %s\n" % work)
    with Dovecot(cert=cert, key=key, users={"demo": "demo-password"}) as dc:
        dc.start()
        for subject, headers, body in SAMPLES:
            dc.deliver("demo", mailgen.message(subject=subject, body=body,
                                               headers=headers))
        print("A private Dovecot serves POP3 on 127.0.0.1:%d (STLS, "
              "certificate from a test CA)," % dc.pop3_port)
        print("with %d messages for user \"demo\":" % dc.count("demo"))
        for subject, _, _ in SAMPLES:
            print("   ", subject)
        conf = work / "mailferry.conf"
        write_config(conf, CONFIG.format(
            state=lc_str(work / "state"),
            plugin_dir=plugin_dir_setting(binary),
            inbox=lc_str(work / "Mail/INBOX"),
            lists=lc_str(work / "Mail/lists"), port=dc.pop3_port,
            ca=lc_str(ca.cert),
            drop=lc_str(rules / "drop-test-messages.rules"),
            sort=lc_str(rules / "mailing-lists.rules")))
        print("\nThe configuration (%s) drops test messages, sorts "
              "mailing lists and tags what it delivers:\n" % conf)
        print(conf.read_text())

        print("First run, one line per message (-v):")
        r1 = sh([binary, "-f", conf, "-v"])
        print("\nSecond run: everything is known, nothing is fetched again:")
        r2 = sh([binary, "-f", conf])

        print("\nWhat landed:")
        for folder in ("INBOX", "lists"):
            new = work / "Mail" / folder / "new"
            subs = subjects(new) if new.exists() else []
            print("  Mail/%s/new: %d message(s)" % (folder, len(subs)))
            for s in subs:
                print("      %s" % s)
        print("  On the server: %d message(s) left (keep = true; the "
              "test messages were deleted by the rule)" % dc.count("demo"))
        print("  UID store: %s" % next((work / "state").glob("*.uids")))
    print("\nDone. Look around in %s; the server is stopped." % work)
    return 0 if r1.returncode == 0 and r2.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
