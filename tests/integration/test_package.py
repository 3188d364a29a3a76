"""The Debian packages: built, checked by lintian, installed on this
machine, used, and purged without a trace.

- `make deb` builds mailferry and mailferry-dev, of the Makefile's
  VERSION, into build/deb/; they hold their files at Debian's paths
  (plugins in the multiarch library directory, which the program names as
  its plugin directory), and nothing in them names /usr/local.
- lintian reports no error and no warning.
- Installed with dpkg -i: `mailferry --version` runs; the installed
  example passes --check-config; the package's autopkgtest
  (debian/tests/demo: the demo against the installed program, its
  compiled-in plugin directory and the installed rules) passes; the
  example plugin of the installed mailferry-plugin(3), built with only
  what `pkg-config mailferry-plugin` says, loads into the installed
  program; bash-completion and zsh find their files; the installed units
  pass `systemd-analyze verify`; the system user exists.
- dpkg --purge removes every file of both packages, /etc/mailferry and
  the (empty) /var/lib/mailferry. The system user stays, as Debian
  packages leave theirs.

Needs root. Skipped where dpkg-buildpackage is missing (not a Debian
system; tests/deps.sh installs it on Debian). It installs into this
machine's /usr, so it refuses to start when a mailferry package is
already installed.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import REPO, isolated_env, write_config
from manexamples import page_examples

DEB_DIR = REPO / "build" / "deb"
PACKAGES = ("mailferry", "mailferry-dev")
EXAMPLE = "/usr/share/doc/mailferry/examples/mailferry.conf"
PLUGINS = ("headers", "pipe", "dedup")

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-buildpackage") is None,
    reason="dpkg-buildpackage is missing: not a Debian system")


def run(cmd, env=None, cwd=None, timeout=120):
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def outcome(r):
    return "%s\nexit %s\n--- stdout ---\n%s--- stderr ---\n%s" % (
        " ".join(map(str, r.args)), r.returncode, r.stdout, r.stderr)


def makefile_version():
    m = re.search(r"^VERSION\s*=\s*(\S+)$", (REPO / "Makefile").read_text(),
                  re.M)
    assert m, "no VERSION in the Makefile"
    return m.group(1)


def multiarch():
    r = run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"])
    assert r.returncode == 0, outcome(r)
    return r.stdout.strip()


def installed_version(package):
    r = run(["dpkg-query", "-W", "-f=${Status} ${Version}", package])
    if r.returncode != 0 or not r.stdout.startswith("install ok installed"):
        return None
    return r.stdout.split()[-1]


def dpkg(*args, deadline=300):
    """dpkg ARGS, waiting (up to DEADLINE seconds) while another package
    operation on this machine holds dpkg's lock."""
    end = time.monotonic() + deadline
    while True:
        r = run(["dpkg", *args], env=dict(os.environ,
                                          DEBIAN_FRONTEND="noninteractive"),
                timeout=deadline)
        if r.returncode == 0 or "lock" not in r.stderr or \
                time.monotonic() > end:
            assert r.returncode == 0, outcome(r)
            return r
        time.sleep(1)           # polling the lock, not synchronisation


@pytest.fixture(scope="module")
def debs():
    """`make deb`; {package: path of its .deb}, and the .changes."""
    if os.geteuid() != 0:
        pytest.fail("test_package.py installs packages: run it as root",
                    pytrace=False)
    # The unit tests the package build would run are make check's too.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = run(["make", "-C", REPO, "deb"], timeout=900,
            env=dict(env, DEB_BUILD_OPTIONS="nocheck"))
    assert r.returncode == 0, outcome(r)
    version = makefile_version()
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    out = {p: DEB_DIR / ("%s_%s_%s.deb" % (p, version, arch))
           for p in PACKAGES}
    out["changes"] = DEB_DIR / ("mailferry_%s_%s.changes" % (version, arch))
    for p in out.values():
        assert p.is_file(), "make deb did not make %s: %s" % (
            p, sorted(x.name for x in DEB_DIR.iterdir()))
    return out


@pytest.fixture(scope="module")
def installed(debs):
    """Both packages installed with dpkg -i; {package: [its paths]}.
    Purged afterwards if the purge test did not."""
    for p in PACKAGES:
        if installed_version(p) is not None:
            pytest.fail("%s is already installed on this machine; this test "
                        "installs and purges its own build: dpkg --purge "
                        "mailferry-dev mailferry first" % p, pytrace=False)
    try:
        dpkg("-i", debs["mailferry"], debs["mailferry-dev"])
        files = {}
        for p in PACKAGES:
            assert installed_version(p) == makefile_version(), p
            files[p] = dpkg("-L", p).stdout.split("\n")
        yield files
    finally:
        if any(installed_version(p) for p in PACKAGES):
            dpkg("--purge", *PACKAGES)


# ---- the packages ---------------------------------------------------------

def test_packages_hold_their_files_at_debian_paths(debs, tmp_path):
    ma = multiarch()
    contents = {}
    for p in PACKAGES:
        r = run(["dpkg-deb", "-f", debs[p], "Version"])
        assert r.stdout.strip() == makefile_version(), outcome(r)
        root = tmp_path / p
        r = run(["dpkg-deb", "-x", debs[p], root])
        assert r.returncode == 0, outcome(r)
        contents[p] = {str(Path("/") / f.relative_to(root))
                       for f in root.rglob("*") if not f.is_dir()}
    want = {
        "mailferry": {
            "/usr/bin/mailferry",
            *("/usr/lib/%s/mailferry/%s.so" % (ma, n) for n in PLUGINS),
            *("/usr/share/mailferry/rules/%s" % f.name
              for f in (REPO / "rules").glob("*.rules")),
            EXAMPLE,
            "/usr/share/man/man1/mailferry.1.gz",
            "/usr/share/man/man3/mailferry-plugin.3.gz",
            "/usr/share/man/man5/mailferry.conf.5.gz",
            "/usr/lib/systemd/user/mailferry.service",
            "/usr/lib/systemd/user/mailferry-oneshot.service",
            "/usr/lib/systemd/user/mailferry.timer",
            "/lib/systemd/system/mailferry@.service",
            "/usr/share/bash-completion/completions/mailferry",
            "/usr/share/zsh/vendor-completions/_mailferry",
            "/usr/share/doc/mailferry/copyright",
        },
        "mailferry-dev": {
            "/usr/include/mailferry/plugin.h",
            "/usr/lib/%s/pkgconfig/mailferry-plugin.pc" % ma,
            "/usr/share/doc/mailferry-dev/copyright",
        },
    }
    for p in PACKAGES:
        missing = sorted(want[p] - contents[p])
        assert not missing, "%s lacks %s" % (p, missing)
    r = run(["grep", "-rl", "/usr/local", tmp_path])
    assert r.returncode == 1, "files naming /usr/local:\n" + outcome(r)
    binary = (tmp_path / "mailferry/usr/bin/mailferry").read_bytes()
    assert ("/usr/lib/%s/mailferry\0" % ma).encode() in binary, \
        "the program does not name its packaged plugin directory"


def test_lintian_reports_no_error_or_warning(debs):
    r = run(["lintian", "--fail-on", "error,warning", debs["changes"]],
            timeout=600)
    tags = [x for x in r.stdout.split("\n") if re.match(r"[EW]: ", x)]
    assert not tags and r.returncode == 0, outcome(r)


# ---- installed ------------------------------------------------------------

def test_installed_program_and_example_configuration(installed, tmp_path):
    r = run(["/usr/bin/mailferry", "--version"])
    assert r.returncode == 0, outcome(r)
    assert r.stdout.startswith("mailferry %s" % makefile_version()), r.stdout
    home = tmp_path / "home"
    home.mkdir()
    r = run(["/usr/bin/mailferry", "--check-config", "-f", EXAMPLE],
            env=isolated_env(home))
    assert r.returncode == 0, outcome(r)
    assert re.search(r"^%s: OK: 3 accounts, 6 destinations, 2 plugins$"
                     % re.escape(EXAMPLE), r.stdout, re.M), r.stdout
    assert r.stderr == "", r.stderr


def test_autopkgtest_demo_passes_against_the_installed_package(installed):
    r = run([REPO / "debian/tests/demo"], cwd=REPO, timeout=300,
            env=dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin"))
    assert r.returncode == 0, outcome(r)
    out = r.stdout
    # The installed program with its compiled-in plugin directory: the
    # demo's configuration names none, and the headers plugin tagged
    # every delivered message.
    assert "$ /usr/bin/mailferry -f " in out, out
    assert not re.search(r"^\s*plugin_dir\s*=", out, re.M), out
    assert "plugin directory: /usr/lib/%s/mailferry (the default of " \
        "plugin_dir)" % multiarch() in out, out
    assert "/usr/share/mailferry/rules/drop-test-messages.rules" in out, out
    assert "Mail/INBOX/new: 2 message(s)" in out, out
    assert "Mail/lists/new: 2 message(s)" in out, out
    assert out.count("[X-Original-Account: demo]") == 4, out
    assert re.search(r"^%s: OK: 3 accounts" % re.escape(EXAMPLE), out,
                     re.M), out


def test_example_plugin_builds_with_pkg_config_from_the_dev_package(
        installed, tmp_path):
    cc = shutil.which("cc")
    assert cc, "cc is missing: run tests/deps.sh"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PKG_CONFIG")}
    r = run(["pkg-config", "--cflags", "mailferry-plugin"], env=env)
    assert r.returncode == 0, outcome(r)
    cflags = r.stdout.split()
    r = run(["pkg-config", "--variable=plugindir", "mailferry-plugin"],
            env=env)
    assert r.stdout.strip() == "/usr/lib/%s/mailferry" % multiarch(), \
        outcome(r)

    ex = page_examples("/usr/share/man/man3/mailferry-plugin.3.gz")
    (name, source), = [(n, t) for (k, n), t in ex.items()
                       if k == "example-plugin"]
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    src = tmp_path / ("%s.c" % name)
    src.write_text(source)
    # Only the .pc file's flags: the header comes from mailferry-dev.
    r = run([cc, "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", *cflags,
             "-o", plugin_dir / ("%s.so" % name), src], cwd=tmp_path)
    assert r.returncode == 0, outcome(r)

    config, n = re.subn(r'^plugin_dir\s*=\s*"[^"]*";',
                        'plugin_dir = "%s";' % plugin_dir,
                        ex[("plugin-config", name)], flags=re.M)
    assert n == 1, config
    conf = write_config(tmp_path / "mailferry.conf", config)
    msg = tmp_path / "message.eml"
    msg.write_text(ex[("plugin-message", name)])
    home = tmp_path / "home"
    home.mkdir()
    r = run(["/usr/bin/mailferry", "-f", conf, "--test-message", msg],
            env=isolated_env(home))
    assert r.returncode == 0, outcome(r)
    assert "plugin %s: deliver" % name in r.stdout, r.stdout


def test_completion_units_and_user_are_in_place(installed, tmp_path):
    r = run(["bash", "-c", "source /usr/share/bash-completion/"
             "bash_completion && { _completion_loader mailferry; "
             "complete -p mailferry; }"])
    assert r.stdout == "complete -F _mailferry mailferry\n", outcome(r)
    r = run(["zsh", "-f", "-c", "autoload -U compinit; compinit -u -D; "
             "print -r -- $_comps[mailferry]"])
    assert (r.stdout, r.stderr) == ("_mailferry\n", ""), outcome(r)

    template = Path("/lib/systemd/system/mailferry@.service")
    instance = tmp_path / "mailferry@alice.service"
    instance.write_text(template.read_text())
    r = run(["systemd-analyze", "verify", "--man=no", template, instance])
    assert (r.returncode, r.stderr) == (0, ""), outcome(r)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    r = run(["systemd-analyze", "verify", "--user", "--man=no",
             *sorted(Path("/usr/lib/systemd/user").glob("mailferry*"))],
            env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)))
    assert (r.returncode, r.stderr) == (0, ""), outcome(r)

    r = run(["getent", "passwd", "mailferry"])
    assert r.returncode == 0, outcome(r)
    fields = r.stdout.strip().split(":")
    assert fields[5] == "/var/lib/mailferry", fields
    assert int(fields[2]) < 1000, "not a system user: %s" % fields
    assert fields[6] in ("/usr/sbin/nologin", "/bin/false"), fields


# ---- purged (last: it removes the packages) -------------------------------

def test_purge_leaves_nothing_behind(installed):
    dpkg("--purge", *PACKAGES)
    for p in PACKAGES:
        assert installed_version(p) is None, p
    left = []
    for p, paths in installed.items():
        for path in paths:
            if path and os.path.lexists(path) and not os.path.isdir(path):
                left.append(path)
    ma = multiarch()
    for d in ("/etc/mailferry", "/var/lib/mailferry", "/usr/share/mailferry",
              "/usr/lib/%s/mailferry" % ma, "/usr/include/mailferry",
              "/usr/share/doc/mailferry", "/usr/share/doc/mailferry-dev"):
        if os.path.lexists(d):
            left.append(d)
    # Anything else named after it in the places packages write to.
    r = run(["find", "/etc", "/usr", "/lib", "/var", "-xdev",
             "(", "-path", "/usr/local", "-o", "-path", "/var/tmp", ")",
             "-prune", "-o", "-name", "*mailferry*", "-print"],
            timeout=300)
    left += [x for x in r.stdout.split("\n") if x]
    assert not left, "left behind by dpkg --purge: %s" % sorted(set(left))
