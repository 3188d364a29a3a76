"""Operations: `make install` and what it installs.

- `make install DESTDIR=... PREFIX=/usr/local` puts every file where the
  Makefile and the pages say, with sensible modes; the systemd units name
  the installed binary; the installed binary runs; `make uninstall` with
  the same DESTDIR removes every file install put there, and nothing else.
- With PREFIX=/usr, no installed file names /usr/local: the pages, the
  rules, the example's @include lines and plugin_dir, the units and the
  plugin directory compiled into the binary all name the prefix.
- A plugin built against the installed header, with only what
  `pkg-config --cflags mailferry-plugin` says, loads into the installed
  binary (the example plugin of mailferry-plugin(3)).
- The example configuration passes --check-config as it stands in the
  tree (its plugin_dir and @include are relative to it), from any
  directory; installed, it names the installed plugins and rules.
- The installed systemd user units pass `systemd-analyze verify --user`,
  the system unit template `systemd-analyze verify`, and
  `systemd-analyze security` rates the template's exposure as README.md
  says (skipped when systemd-analyze is missing).

Installs go to temporary DESTDIRs; nothing touches the real /usr/local.
`make install` builds first if the tree is out of date.
"""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from harness import REPO, isolated_env, mailferry_path, write_config
from manexamples import page_examples

PREFIX = "/usr/local"
UNITS = ("mailferry.service", "mailferry-oneshot.service", "mailferry.timer")
SYSTEM_UNITS = ("mailferry@.service",)
PLUGINS = ("headers", "pipe", "dedup")
INSTALLED_PLUGIN_DIR = "/usr/local/lib/mailferry"
INSTALLED_RULES_DIR = "/usr/local/share/mailferry/rules"


# ---- helpers --------------------------------------------------------------

def run(cmd, env=None, cwd=None, timeout=300):
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def outcome(r):
    return "%s\nexit %s\n--- stdout ---\n%s--- stderr ---\n%s" % (
        " ".join(map(str, r.args)), r.returncode, r.stdout, r.stderr)


def make(target, destdir):
    r = run(["make", "-C", REPO, target, "DESTDIR=%s" % destdir,
             "PREFIX=%s" % PREFIX])
    assert r.returncode == 0, "make %s failed:\n%s" % (target, outcome(r))
    return r


def plain_make_env():
    """The environment for a make of the plain build: without the flags
    of a `make check SANITIZE=1` this test may run under."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def files_under(root):
    """Paths (relative to ROOT, as strings) of every non-directory under
    ROOT."""
    out = set()
    for dirpath, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def installed_path(destdir, rel):
    return Path(destdir) / rel.lstrip("/")


EXPECTED_FILES = {
    "usr/local/bin/mailferry": 0o755,
    **{"usr/local/lib/mailferry/%s.so" % p: 0o755 for p in PLUGINS},
    "usr/local/include/mailferry/plugin.h": 0o644,
    "usr/local/lib/pkgconfig/mailferry-plugin.pc": 0o644,
    "usr/local/share/mailferry/examples/mailferry.conf": 0o644,
    "usr/local/share/man/man1/mailferry.1": 0o644,
    "usr/local/share/man/man3/mailferry-plugin.3": 0o644,
    "usr/local/share/man/man5/mailferry.conf.5": 0o644,
    **{"usr/local/share/mailferry/rules/%s" % p.name: 0o644
       for p in sorted((REPO / "rules").glob("*.rules"))},
    **{"usr/local/lib/systemd/user/%s" % u: 0o644 for u in UNITS},
    **{"usr/local/lib/systemd/system/%s" % u: 0o644 for u in SYSTEM_UNITS},
    "usr/local/share/bash-completion/completions/mailferry": 0o644,
    "usr/local/share/zsh/site-functions/_mailferry": 0o644,
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A `make install DESTDIR=... PREFIX=/usr/local` shared by the tests
    that only read it; returns the DESTDIR."""
    destdir = tmp_path_factory.mktemp("destdir")
    make("install", destdir)
    return destdir


# ---- 1. install and uninstall ---------------------------------------------

def test_install_puts_everything_in_place_and_uninstall_removes_it(
        tmp_path):
    destdir = tmp_path / "root"
    destdir.mkdir()
    make("install", destdir)

    got = files_under(destdir)
    missing = sorted(set(EXPECTED_FILES) - got)
    assert not missing, "not installed: %s" % missing
    extra = sorted(got - set(EXPECTED_FILES))
    assert not extra, "installed but not expected: %s" % extra
    assert len([f for f in got if f.endswith(".rules")]) >= 1
    for rel, mode in EXPECTED_FILES.items():
        st = (destdir / rel).stat()
        assert stat.S_ISREG(st.st_mode), rel
        assert stat.S_IMODE(st.st_mode) == mode, "%s: mode %o, expected " \
            "%o" % (rel, stat.S_IMODE(st.st_mode), mode)

    # Installed copies are the tree's files: with the default PREFIX, the
    # paths the pages and rules name are already right.
    for rel, src in (
            ("usr/local/include/mailferry/plugin.h",
             "plugins/mailferry/plugin.h"),
            ("usr/local/share/man/man1/mailferry.1", "man/mailferry.1"),
            ("usr/local/share/man/man5/mailferry.conf.5",
             "man/mailferry.conf.5"),
            ("usr/local/share/bash-completion/completions/mailferry",
             "completion/mailferry.bash"),
            ("usr/local/share/zsh/site-functions/_mailferry",
             "completion/_mailferry")):
        assert (destdir / rel).read_bytes() == (REPO / src).read_bytes(), rel
    # The example's paths relative to the tree become the installed ones.
    example = (destdir / "usr/local/share/mailferry/examples/mailferry.conf"
               ).read_text()
    assert example == (REPO / "etc/mailferry.conf").read_text().replace(
        'plugin_dir = "../build/plugins";',
        'plugin_dir = "%s";' % INSTALLED_PLUGIN_DIR).replace(
        '@include "../rules/', '@include "%s/' % INSTALLED_RULES_DIR)

    # The units name the installed binary, with no placeholder left.
    units = [("usr/local/lib/systemd/user", u) for u in UNITS] + \
        [("usr/local/lib/systemd/system", u) for u in SYSTEM_UNITS]
    for d, u in units:
        text = (destdir / d / u).read_text()
        assert not re.search(r"@[A-Z_]+@", text), \
            "%s: a placeholder is left:\n%s" % (u, text)
        src = (REPO / "etc" / u).read_text()
        assert text == src.replace("@BINDIR@", PREFIX + "/bin"), \
            "%s differs from etc/%s beyond @BINDIR@" % (u, u)
        execs = re.findall(r"^ExecStart=(\S+)", text, re.M)
        if u.endswith(".service"):
            assert execs == [PREFIX + "/bin/mailferry"], \
                "%s: ExecStart=%s" % (u, execs)
            assert os.access(installed_path(destdir, execs[0]), os.X_OK)
    timer = (destdir / "usr/local/lib/systemd/user/mailferry.timer"
             ).read_text()
    assert re.search(r"^Unit=mailferry-oneshot\.service$", timer, re.M), timer

    # The .pc file points at the installed header.
    pc = (destdir / "usr/local/lib/pkgconfig/mailferry-plugin.pc"
          ).read_text()
    assert re.search(r"^includedir=%s/include$" % PREFIX, pc, re.M), pc
    assert re.search(r"^plugindir=%s/lib/mailferry$" % PREFIX, pc, re.M), pc
    assert "@" not in pc, pc

    # The installed binary runs.
    r = run([destdir / "usr/local/bin/mailferry", "--version"])
    assert r.returncode == 0, outcome(r)
    assert re.match(r"mailferry \S+\n", r.stdout), r.stdout
    # Its plugin directory is the installed one.
    assert "\nplugin directory: %s/lib/mailferry (the default of " \
        "plugin_dir)\n" % PREFIX in r.stdout, r.stdout
    r = run([destdir / "usr/local/bin/mailferry", "--help"])
    assert r.returncode == 0 and "usage:" in r.stdout, outcome(r)

    # Files of others in the same directories: uninstall leaves them.
    foreign = ["usr/local/bin/other-tool",
               "usr/local/lib/mailferry/my-own-plugin.so",
               "usr/local/share/man/man1/other.1",
               "usr/local/share/bash-completion/completions/other"]
    for rel in foreign:
        (destdir / rel).write_text("not mailferry's\n")

    make("uninstall", destdir)
    left = sorted(files_under(destdir) - set(foreign))
    assert not left, "left behind by make uninstall: %s" % left
    for rel in foreign:
        assert (destdir / rel).exists(), "uninstall removed %s" % rel
    assert not (destdir / "usr/local/share/mailferry").exists()
    assert not (destdir / "usr/local/include/mailferry").exists()


def test_install_with_prefix_usr_names_no_usr_local(tmp_path):
    """What a package does: PREFIX=/usr. Built in a directory of its own,
    so the tree's build/ keeps the paths of the default PREFIX."""
    destdir = tmp_path / "root"
    build = REPO / "build" / "test-prefix-usr"
    r = run(["make", "-C", REPO, "install", "BUILD=%s" % build,
             "PREFIX=/usr", "DESTDIR=%s" % destdir], timeout=600,
            env=plain_make_env())
    assert r.returncode == 0, outcome(r)
    # Text and binaries alike (grep -r reads both).
    r = run(["grep", "-rl", "/usr/local", destdir])
    assert r.returncode == 1 and r.stdout == "", \
        "files naming /usr/local:\n" + outcome(r)
    binary = destdir / "usr/bin/mailferry"
    assert b"/usr/lib/mailferry\0" in binary.read_bytes(), \
        "the binary does not name the plugin directory /usr/lib/mailferry"
    example = (destdir / "usr/share/mailferry/examples/mailferry.conf"
               ).read_text()
    assert 'plugin_dir = "/usr/lib/mailferry";' in example, example
    includes = re.findall(r'@include "([^"]+)"', example)
    assert includes and all(i.startswith("/usr/share/mailferry/rules/")
                            and installed_path(destdir, i).is_file()
                            for i in includes), includes
    page = (destdir / "usr/share/man/man5/mailferry.conf.5").read_text()
    assert "/usr/lib/mailferry" in page and \
        "/usr/share/mailferry/rules" in page
    unit = (destdir / "usr/lib/systemd/system/mailferry@.service"
            ).read_text()
    assert re.search(r"^ExecStart=/usr/bin/mailferry ", unit, re.M), unit


# ---- 2. a plugin built against the installed header ---------------------

def test_plugin_builds_with_pkg_config_and_loads(installed, tmp_path):
    cc = shutil.which("cc")
    pkg_config = shutil.which("pkg-config")
    if cc is None or pkg_config is None:
        pytest.skip("cc and pkg-config are needed")
    assert not Path("/usr/local/include/mailferry").exists(), \
        "a system-wide mailferry header would hide a broken .pc file"
    binary = installed / "usr/local/bin/mailferry"
    ex = page_examples(installed / "usr/local/share/man/man3/"
                       "mailferry-plugin.3")
    sources = [(name, text) for (kind, name), text in ex.items()
               if kind == "example-plugin"]
    assert len(sources) == 1, "expected one example plugin in the page"
    name, source = sources[0]

    env = dict(os.environ,
               PKG_CONFIG_PATH=str(installed / "usr/local/lib/pkgconfig"),
               PKG_CONFIG_SYSROOT_DIR=str(installed))
    env.pop("PKG_CONFIG_LIBDIR", None)
    r = run([pkg_config, "--cflags", "mailferry-plugin"], env=env)
    assert r.returncode == 0, outcome(r)
    cflags = r.stdout.split()
    assert cflags == ["-I%s" % (installed / "usr/local/include")], cflags
    r = run([pkg_config, "--variable=plugindir", "mailferry-plugin"],
            env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith(
        INSTALLED_PLUGIN_DIR), outcome(r)

    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    src = tmp_path / ("%s.c" % name)
    src.write_text(source)
    so = plugin_dir / ("%s.so" % name)
    # Only the .pc file's flags: not the tree's plugins/ directory.
    r = run([cc, "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", *cflags,
             "-o", so, src], cwd=tmp_path)
    assert r.returncode == 0, "the example plugin does not build against " \
        "the installed header:\n" + outcome(r)

    home = tmp_path / "home"
    home.mkdir()
    config = ex[("plugin-config", name)]
    config, n = re.subn(r'^plugin_dir\s*=\s*"[^"]*";',
                        'plugin_dir = "%s";' % plugin_dir, config,
                        flags=re.M)
    assert n == 1, config
    conf = write_config(tmp_path / "mailferry.conf", config)
    env = isolated_env(home)

    r = run([binary, "-f", conf, "--check-config"], env=env)
    assert r.returncode == 0, outcome(r)
    assert "1 plugin" in r.stdout, r.stdout

    msg = tmp_path / "bill.eml"
    msg.write_text(ex[("plugin-message", name)])
    r = run([binary, "-f", conf, "--test-message", msg], env=env)
    assert r.returncode == 0, outcome(r)
    assert "plugin %s: deliver" % name in r.stdout, r.stdout
    assert re.search(r"^result: deliver to invoices", r.stdout, re.M), \
        r.stdout
    assert re.search(r"^  X-Size: %d$" % msg.stat().st_size, r.stdout,
                     re.M), r.stdout

    other = tmp_path / "other.eml"
    other.write_text("From: carol@example.org\nSubject: Lunch?\n\nNoon.\n")
    r = run([binary, "-f", conf, "--test-message", other], env=env)
    assert r.returncode == 0, outcome(r)
    assert "plugin %s: continue" % name in r.stdout, r.stdout
    assert re.search(r"^  X-Size: %d$" % other.stat().st_size, r.stdout,
                     re.M), r.stdout


# ---- 3. the example configuration -----------------------------------------

def adapt_example(text, plugin_dir, rules_dir):
    for old, new in ((INSTALLED_PLUGIN_DIR, str(plugin_dir)),
                     (INSTALLED_RULES_DIR, str(rules_dir)),
                     ("/usr/bin/procmail", "/bin/cat")):
        assert old in text, "%s is no longer in the example" % old
        text = text.replace(old, new)
    return text


def check_example(binary, text, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    conf = write_config(tmp_path / "mailferry.conf", text)
    r = run([binary, "-f", conf, "--check-config"], env=isolated_env(home))
    assert r.returncode == 0, outcome(r)
    assert re.search(r"^%s: OK: 3 accounts, 6 destinations, [12] plugins?$"
                     % re.escape(str(conf)), r.stdout, re.M), r.stdout
    assert "warning" not in r.stderr, r.stderr
    # ~ is the HOME given; destinations are checked, not created
    # (state_dir and a plugin's own files may be).
    assert "destination inbox: maildir %s/Mail/INBOX" % home in r.stdout, \
        r.stdout
    assert not (home / "Mail").exists(), \
        "--check-config created destinations: %s" % list(
            (home / "Mail").iterdir())
    return r


def test_example_in_the_tree_passes_check_config_as_it_stands(tmp_path):
    """`build/mailferry --check-config -f etc/mailferry.conf` in the
    tree, and the same from another directory: the example's plugin_dir
    and @include are relative to the file, not to where mailferry runs."""
    r = run(["make", "-C", REPO, "all"], env=plain_make_env(), timeout=600)
    assert r.returncode == 0, outcome(r)
    home = tmp_path / "home"
    home.mkdir()
    binary = REPO / "build" / "mailferry"
    for cwd, conf in ((REPO, "etc/mailferry.conf"),
                      (tmp_path, REPO / "etc/mailferry.conf")):
        r = run([binary, "--check-config", "-f", conf],
                env=isolated_env(home), cwd=cwd)
        assert r.returncode == 0, outcome(r)
        assert re.search(r"^%s: OK: 3 accounts, 6 destinations, 2 plugins$"
                         % re.escape(str(conf)), r.stdout, re.M), r.stdout
        assert r.stderr == "", r.stderr
    assert not (home / "Mail").exists()


def test_relative_plugin_dir_is_relative_to_the_file_that_sets_it(
        tmp_path):
    """Set in an included file, it is relative to that file."""
    home = tmp_path / "home"
    home.mkdir()
    sub = tmp_path / "conf.d"
    sub.mkdir()
    plugins = Path(mailferry_path()).parent / "plugins"
    (tmp_path / "lib").symlink_to(plugins)
    write_config(sub / "plugins.conf", 'plugin_dir = "../lib";\n')
    conf = write_config(tmp_path / "mailferry.conf", """\
@include "conf.d/plugins.conf"
plugins = ( { name = "dedup"; } );
destinations = { inbox = { type = "maildir"; path = "~/Mail"; }; };
accounts = ( { name = "a"; server = "pop.example"; user = "u";
               password_command = "true"; deliver = "inbox"; } );
""")
    r = run([mailferry_path(), "--check-config", "-f", conf],
            env=isolated_env(home), cwd=home)
    assert r.returncode == 0, outcome(r)
    assert "1 plugin" in r.stdout, r.stdout
    write_config(sub / "plugins.conf", 'plugin_dir = "lib";\n')
    r = run([mailferry_path(), "--check-config", "-f", conf],
            env=isolated_env(home), cwd=tmp_path)
    assert r.returncode == 78, outcome(r)
    # Refused naming the directory as resolved from the including file.
    assert "plugin_dir %s/lib" % sub in r.stderr, r.stderr


def test_installed_example_passes_check_config_with_installed_files(
        installed, tmp_path):
    """The installed example, checked by the installed binary with the
    installed plugins and rules (their paths under DESTDIR)."""
    text = (installed / "usr/local/share/mailferry/examples/mailferry.conf"
            ).read_text()
    text = adapt_example(text,
                         installed_path(installed, INSTALLED_PLUGIN_DIR),
                         installed_path(installed, INSTALLED_RULES_DIR))
    check_example(installed / "usr/local/bin/mailferry", text, tmp_path)


def test_first_run_without_configuration_says_where_it_goes(installed,
                                                            tmp_path):
    """No -f and no configuration file: exit 78 with a message naming
    both places one is looked for and the installed example, which
    exists there."""
    home = tmp_path / "home"
    home.mkdir()
    r = run([installed / "usr/local/bin/mailferry"],
            env=isolated_env(home))
    assert r.returncode == 78, outcome(r)
    assert r.stdout == "", outcome(r)
    err = r.stderr
    assert err.count("\n") == 1, "not one line:\n" + err
    assert "no configuration" in err, err
    assert str(home / ".config/mailferry/mailferry.conf") in err, err
    assert str(home / ".mailferry.conf") in err, err
    example = PREFIX + "/share/mailferry/examples/mailferry.conf"
    assert example in err, err
    assert installed_path(installed, example).is_file()


# ---- 4. systemd units -----------------------------------------------------

def analyze():
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed")
    return path


def unit_copies(installed, tmp_path, names, subdir):
    """Copies of installed units naming the binary under DESTDIR instead
    of /usr/local/bin/mailferry, otherwise unchanged."""
    binary = installed / "usr/local/bin/mailferry"
    copies = tmp_path / "units"
    copies.mkdir(exist_ok=True)
    for u in names:
        text = (installed / "usr/local/lib/systemd" / subdir / u).read_text()
        (copies / u).write_text(text.replace(PREFIX + "/bin/mailferry",
                                             str(binary)))
    return [copies / u for u in names]


def verify(args, units, installed, tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    args = [analyze(), "verify", *args]
    if shutil.which("man"):
        # Documentation=man:... pages are looked up where they were
        # installed.
        env["MANPATH"] = str(installed / "usr/local/share/man")
    else:
        args.append("--man=no")
    r = run([*args, *units], env=env)
    if r.returncode != 0 and re.search(
            r"Failed to (initialize manager|lookup RuntimeDirectory)",
            r.stderr):
        pytest.skip("systemd-analyze cannot run a user manager here: "
                    + r.stderr.strip())
    assert r.returncode == 0, outcome(r)
    # Warnings (an unknown key, a bad value) do not change the status.
    assert r.stderr.strip() == "", outcome(r)


def test_systemd_user_units_verify(installed, tmp_path):
    verify(["--user"], unit_copies(installed, tmp_path, UNITS, "user"),
           installed, tmp_path)


def test_systemd_system_unit_template_verifies(installed, tmp_path):
    """The template, and an instance of it (%i filled in)."""
    (template,) = unit_copies(installed, tmp_path, SYSTEM_UNITS, "system")
    instance = template.with_name("mailferry@alice.service")
    instance.write_text(template.read_text())
    verify([], [template, instance], installed, tmp_path)


def exposure(unit):
    r = run([analyze(), "security", "--offline=true", "--no-pager", unit])
    assert r.returncode == 0, outcome(r)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d) (\w+)",
                  r.stdout)
    assert m, outcome(r)
    return float(m.group(1)), m.group(2)


def test_system_unit_is_hardened_as_readme_says(installed, tmp_path):
    """`systemd-analyze security` rates an instance of the template "OK"
    (under 2.0), and README.md gives that figure."""
    (template,) = unit_copies(installed, tmp_path, SYSTEM_UNITS, "system")
    instance = template.with_name("mailferry@alice.service")
    instance.write_text(template.read_text())
    level, word = exposure(instance)
    assert level < 2.0 and word == "OK", (level, word)
    readme = (REPO / "README.md").read_text()
    m = re.search(r"exposure level (\d+\.\d) \((\w+)\)", readme)
    assert m, "README.md does not give the template's exposure level"
    assert (float(m.group(1)), m.group(2)) == (level, word), \
        "README.md says %s, systemd-analyze %s %s" % (m.group(0), level,
                                                        word)
    text = instance.read_text()
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict",
                    "PrivateTmp=yes", "ProtectHome=yes",
                    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                    "SystemCallFilter=@system-service",
                    "CapabilityBoundingSet=\n",
                    "StateDirectory=mailferry/%i\n",
                    "ExecReload=/bin/kill -HUP $MAINPID"):
        assert setting in text, "%s is not in mailferry@.service" % setting
