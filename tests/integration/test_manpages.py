"""The manual pages: clean mdoc, and examples that actually work.

- Each page in man/ passes `mandoc -T lint -W warning` and
  `groff -ww -mandoc` without a word.
- The example plugin in mailferry-plugin(3) compiles with -Wall -Wextra
  -Werror, and the configuration shown next to it loads it: running
  --test-message on the page's sample message prints what the page says.
- Every complete configuration in the pages, and README.md's, passes
  --check-config.
- Every command-line option and configuration key the code knows is
  documented.

Examples are found by marker comments in the page sources: a line
`.\\" mailferry-test: KIND NAME` right before a `.Bd -literal` block. Kinds:
`config` (a complete configuration), `example-plugin` (C source),
`plugin-config`, `plugin-message` and `plugin-output` (a configuration
using that plugin, a message, and what --test-message prints for it).

Runs without servers; needs mandoc, groff and cc (skipped when missing).
MAILFERRY_BIN names the binary (default: build/mailferry in the tree).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import isolated_env, with_stand_ins, write_config

REPO = Path(__file__).resolve().parents[2]
MAN = REPO / "man"
PAGES = ["mailferry.1", "mailferry.conf.5", "mailferry-plugin.3"]

# Where the pages' examples say things are installed, and where they are
# in this tree.
INSTALLED_PLUGIN_DIR = "/usr/local/lib/mailferry"
INSTALLED_RULES_DIR = "/usr/local/share/mailferry/rules"

MARKER = re.compile(r'^\.\\" mailferry-test: (\S+) (\S+)\s*$')
ROFF_ESCAPE = re.compile(r"\\(e|&|-|\(dq|\(aq)")
ROFF_TEXT = {"e": "\\", "&": "", "-": "-", "(dq": '"', "(aq": "'"}


def mailferry_bin():
    return Path(os.environ.get("MAILFERRY_BIN")
                or REPO / "build" / "mailferry")


def build_plugin_dir():
    return mailferry_bin().parent / "plugins"


def need(program):
    path = shutil.which(program)
    if path is None:
        pytest.skip("%s is not installed" % program)
    return path


@pytest.fixture
def binary():
    path = mailferry_bin()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail("mailferry binary not found at %s: run `make` first (or "
                    "set MAILFERRY_BIN)" % path, pytrace=False)
    return str(path)


def unroff(line):
    """A line of a literal display as the reader sees it: the few roff
    escapes examples use turned back into text; any other escape is a
    mistake in the page, not something to paper over."""
    parts = ROFF_ESCAPE.split(line)
    # split() alternates text and the captured escape names.
    for text in parts[0::2]:
        assert "\\" not in text, \
            "unexpected roff escape in example line %r" % line
    return "".join(part if i % 2 == 0 else ROFF_TEXT[part]
                   for i, part in enumerate(parts))


def examples(page):
    """{(kind, name): text} of the marked literal displays of PAGE."""
    lines = (MAN / page).read_text().split("\n")
    found = {}
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        start = i + 1
        assert lines[start:start + 1] and \
            lines[start].startswith(".Bd -literal"), \
            "%s:%d: a mailferry-test marker must be followed by .Bd " \
            "-literal" % (page, i + 1)
        end = lines.index(".Ed", start)
        body = [unroff(x) for x in lines[start + 1:end]]
        key = (m.group(1), m.group(2))
        assert key not in found, "%s: %s %s marked twice" % (page, *key)
        found[key] = "\n".join(body) + "\n"
    return found


def all_examples(kind):
    return [(page, name, text)
            for page in PAGES
            for (k, name), text in examples(page).items() if k == kind]


def run(cmd, env=None, cwd=None, timeout=60):
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


# ---- the pages are clean mdoc ----------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_mandoc_lint_is_silent(page):
    mandoc = need("mandoc")
    r = run([mandoc, "-T", "lint", "-W", "warning", MAN / page])
    assert r.stdout + r.stderr == "", r.stdout + r.stderr
    assert r.returncode == 0


@pytest.mark.parametrize("page", PAGES)
def test_groff_has_no_warnings(page):
    groff = need("groff")
    r = run([groff, "-ww", "-mandoc", "-Tutf8", MAN / page])
    assert r.stderr == "", r.stderr
    assert r.returncode == 0
    assert r.stdout.strip() != ""


# ---- the example plugin --------------------------------------------------

def plugin_examples():
    sources = all_examples("example-plugin")
    assert sources, "mailferry-plugin.3 has no marked example plugin"
    return sources


@pytest.mark.parametrize(
    "page,name,source", plugin_examples(),
    ids=["%s-%s" % (page, name) for page, name, _ in plugin_examples()])
def test_example_plugin_compiles_loads_and_works(page, name, source,
                                                 binary, tmp_path):
    cc = need("cc")
    ex = examples(page)
    config = ex.get(("plugin-config", name))
    message = ex.get(("plugin-message", name))
    expected = ex.get(("plugin-output", name))
    assert config and message and expected, \
        "%s: plugin %s needs plugin-config, plugin-message and " \
        "plugin-output examples" % (page, name)

    # The page's configuration is used as it is: it loads plugins from
    # ~/.local/lib/mailferry, so ~ is a directory of the test's.
    home = tmp_path / "home"
    m = re.search(r'^plugin_dir\s*=\s*"([^"]+)";', config, re.M)
    assert m, "the plugin's configuration sets no plugin_dir"
    plugin_dir = Path(m.group(1).replace("~", str(home), 1))
    assert str(plugin_dir).startswith(str(home)), \
        "the plugin's configuration should keep plugins under ~"
    plugin_dir.mkdir(parents=True)

    src = tmp_path / ("%s.c" % name)
    src.write_text(source)
    so = plugin_dir / ("%s.so" % name)
    r = run([cc, "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
             "-I%s" % (REPO / "plugins"), "-o", so, src])
    assert r.returncode == 0, "the example plugin does not compile " \
        "cleanly:\n" + r.stdout + r.stderr

    conf_dir = home / ".config" / "mailferry"
    conf_dir.mkdir(parents=True)
    conf = write_config(conf_dir / "mailferry.conf", config)
    env = with_stand_ins(isolated_env(home), tmp_path / "bin")

    r = run([binary, "-f", conf, "--check-config"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 plugin" in r.stdout

    # The page's message and what the page says --test-message prints.
    msg_name = re.search(r"--test-message (\S+)", expected).group(1)
    (tmp_path / msg_name).write_text(message)
    r = run([binary, "-f", conf, "--test-message", msg_name], env=env,
            cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    got = r.stdout.replace(str(home), "/home/alice")
    want = "".join(line + "\n" for line in expected.split("\n")
                   if line and not line.startswith("$ "))
    assert got == want, "--test-message prints:\n%s\nthe page says:\n%s" \
        % (got, want)
    assert "plugin %s: deliver" % name in got
    assert "header after the rules:" in got
    size = len(message.encode())
    assert re.search(r"^  X-[A-Za-z-]+: %d$" % size, got, re.M), \
        "the size field should hold the message's size, %d" % size

    # A message without the word goes on to the account's destination,
    # with the size field added all the same.
    other = tmp_path / "other.eml"
    other.write_text("From: carol@example.org\nSubject: Lunch?\n\nNoon.\n")
    r = run([binary, "-f", conf, "--test-message", other], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "plugin %s: continue" % name in r.stdout
    assert "no rule decided: the account's deliver" in r.stdout
    assert re.search(r"^  X-[A-Za-z-]+: %d$" % other.stat().st_size,
                     r.stdout, re.M), r.stdout


# ---- the example configurations ------------------------------------------

def config_examples():
    found = all_examples("config")
    assert len([1 for page, _, _ in found
                if page == "mailferry.conf.5"]) >= 3, \
        "mailferry.conf.5 should have several marked example configurations"
    return found


@pytest.mark.parametrize(
    "page,name,text", config_examples(),
    ids=["%s-%s" % (page, name) for page, name, _ in config_examples()])
def test_example_configuration_passes_check_config(page, name, text, binary,
                                                   tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    text = text.replace('"%s"' % INSTALLED_PLUGIN_DIR,
                        '"%s"' % build_plugin_dir())
    text = text.replace(INSTALLED_RULES_DIR, str(REPO / "rules"))
    conf = write_config(tmp_path / ("%s.conf" % name), text)
    r = run([binary, "-f", conf, "--check-config"],
            env=with_stand_ins(isolated_env(home), tmp_path / "bin"))
    assert r.returncode == 0, "%s example %s:\n%s%s" % (page, name, r.stdout,
                                                         r.stderr)
    assert ": OK: " in r.stdout
    assert "warning" not in r.stderr, r.stderr


def readme_configurations():
    """README.md's configuration: the first fenced block, and the same
    with the second block's destinations added to it."""
    blocks = re.findall(r"^```\n(.*?)^```", (REPO / "README.md").read_text(),
                        re.S | re.M)
    assert len(blocks) >= 2 and "destinations = {" in blocks[1], \
        "README.md: expected the configuration and the destinations blocks"
    main, more = blocks[0], blocks[1]
    extra = more.split("destinations = {\n", 1)[1].rsplit("};", 1)[0]
    imap = [b for b in blocks if 'protocol = "imap"' in b]
    assert imap, "README.md: expected an IMAP account's configuration"
    return {"consolidate": main,
            "destinations": main.replace("destinations = {\n",
                                         "destinations = {\n" + extra, 1),
            "imap": imap[0]}


@pytest.mark.parametrize("name", ["consolidate", "destinations", "imap"])
def test_readme_configuration_passes_check_config(name, binary, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    text = readme_configurations()[name].replace(INSTALLED_RULES_DIR,
                                                 str(REPO / "rules"))
    conf = write_config(tmp_path / "readme.conf", text)
    r = run([binary, "-f", conf, "--check-config"],
            env=with_stand_ins(isolated_env(home), tmp_path / "bin"))
    assert r.returncode == 0, "README.md %s:\n%s%s" % (name, r.stdout,
                                                       r.stderr)
    assert (": OK: 1 account," if name == "imap" else ": OK: 2 accounts") \
        in r.stdout, r.stdout
    assert "warning" not in r.stderr, r.stderr


# ---- everything the code knows is documented ------------------------------

def source(path):
    return (REPO / path).read_text()


def long_options():
    text = source("core/options.c")
    block = re.search(r"longopts\[\] = \{(.*?)\n\t?\};", text, re.S).group(1)
    return re.findall(r'\{ "([a-z-]+)", \w+, NULL, ([^ ]+) \}', block)


def test_every_option_is_documented():
    page = (MAN / "mailferry.1").read_text()
    options = long_options()
    assert options, "no options found in core/options.c"
    for name, short in options:
        assert re.search(r"Fl -%s\b" % re.escape(name), page), \
            "--%s is not documented in mailferry.1" % name
        if short.startswith("'"):
            assert re.search(r"\.It Fl %s\b" % short.strip("'"), page), \
                "-%s is not documented in mailferry.1" % short.strip("'")


def key_lists():
    files = ["core/config.c", "core/config-rules.c"] + [
        str(p.relative_to(REPO)) for p in sorted(
            (REPO / "core").glob("deliver-*.c"))]
    keys = {}
    for f in files:
        for name, body in re.findall(
                r"static const char \*const (\w+_keys)\[\] = \{(.*?)\};",
                source(f), re.S):
            keys["%s:%s" % (f, name)] = re.findall(r'"([a-z_]+)"', body)
    return keys


def test_every_configuration_key_is_documented():
    page = (MAN / "mailferry.conf.5").read_text()
    lists = key_lists()
    assert len(lists) >= 6, "key lists not found in the sources: %s" % lists
    for where, keys in lists.items():
        for key in keys:
            assert re.search(r"^\.It .*\bIc %s\b" % re.escape(key), page,
                             re.M), \
                "key %s (%s) is not documented in mailferry.conf.5" % (
                    key, where)
