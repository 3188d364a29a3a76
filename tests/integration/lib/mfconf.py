"""Render mailferry configurations (libconfig syntax) for tests.

    acct = mfconf.account("alice", dovecot, "alice")            # plain POP3
    acct = mfconf.account("alice", dovecot, "alice", tls="implicit",
                          tls_ca_file=ca.ca_file, keep=False)
    text = mfconf.config(state_dir, {"inbox": mfconf.maildir(md)}, [acct],
                         timeout=10)
    harness.write_config(path, text)

Values are rendered by type: str as a quoted libconfig string (harness.
lc_str), bool as true/false, int as a number, list/tuple as a list
`( ... )` of values, dict as a group `{ key = value; ... }`. Every setting
of an account or destination goes on its own line, so a test can find the
line of a setting with line_of().
"""

from harness import lc_str

__all__ = ["account", "maildir", "config", "render_value", "line_of"]

_TLS_MODES = ("none", "starttls", "implicit")


def account(name, dovecot=None, user=None, password=None, tls="none",
            **extra):
    """An account as an (ordered) dict of settings.

    NAME: the account name. DOVECOT: a lib.dovecot.Dovecot whose address
    and port for TLS mode TLS are used (plain POP3 port for "none" and
    "starttls", the POP3S port for "implicit"); None when `server` and
    `port` are given in EXTRA. USER defaults to NAME; PASSWORD defaults to
    the user's password in DOVECOT. With tls = "none",
    allow_plaintext_auth = true is added unless EXTRA says otherwise.
    EXTRA: further settings (keep=False, max_size=..., tls_ca_file=...,
    deliver=..., or server/port to override); a value of None removes
    the setting. `deliver` defaults to "inbox".
    """
    if tls not in _TLS_MODES:
        raise ValueError("tls must be one of %s" % (_TLS_MODES,))
    user = name if user is None else user
    if password is None and dovecot is not None:
        password = dovecot.users.get(user)
    a = {"name": name}
    if dovecot is not None:
        a["server"] = "127.0.0.1"
        a["port"] = (dovecot.pop3s_port if tls == "implicit"
                     else dovecot.pop3_port)
    a["tls"] = tls
    if tls == "none":
        a["allow_plaintext_auth"] = True
    a["user"] = user
    if password is not None:
        a["password"] = password
    a["deliver"] = "inbox"
    for key, value in extra.items():
        if value is None:
            a.pop(key, None)
        else:
            a[key] = value
    return a


def maildir(path):
    """A Maildir destination."""
    return {"type": "maildir", "path": str(path)}


def render_value(value, indent=""):
    """VALUE in libconfig syntax (groups and lists over several lines,
    indented by INDENT)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # libconfig wants the L of a 64-bit integer from 12 digits on.
        return str(value) + ("L" if abs(value) >= 2**31 else "")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return lc_str(value)
    if hasattr(value, "__fspath__"):
        return lc_str(value.__fspath__())
    if isinstance(value, dict):
        inner = indent + "  "
        lines = ["{"]
        for k, v in value.items():
            lines.append("%s%s = %s;" % (inner, k, render_value(v, inner)))
        lines.append(indent + "}")
        return "\n".join(lines)
    if isinstance(value, (list, tuple)):
        if not value:
            return "( )"
        inner = indent + "  "
        items = [inner + render_value(v, inner) for v in value]
        return "(\n" + ",\n".join(items) + "\n" + indent + ")"
    raise TypeError("cannot render %r as a libconfig value" % (value,))


def config(state_dir, destinations, accounts, **globals):
    """A whole configuration: state_dir, GLOBALS (timeout=10 unless given;
    parallel, plugin_dir, ...), DESTINATIONS {name: settings} and ACCOUNTS
    (a list of account() dicts). A global of None is left out."""
    settings = {"state_dir": str(state_dir), "timeout": 10}
    settings.update(globals)
    out = []
    for key, value in settings.items():
        if value is not None:
            out.append("%s = %s;" % (key, render_value(value)))
    out.append("destinations = %s;" % render_value(dict(destinations)))
    out.append("accounts = %s;" % render_value(list(accounts)))
    return "\n".join(out) + "\n"


def line_of(text, needle, start=1):
    """The 1-based number of the first line of TEXT, from line START on,
    that contains NEEDLE (ValueError if none)."""
    for n, line in enumerate(text.split("\n"), 1):
        if n >= start and needle in line:
            return n
    raise ValueError("%r not found in the configuration" % (needle,))
