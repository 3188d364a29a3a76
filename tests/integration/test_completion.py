"""Shell completion: completion/mailferry.bash (bash, with the
bash-completion package) and completion/_mailferry (zsh).

- bash: once bash-completion and the file are loaded, `complete -p
  mailferry` names _mailferry, and _mailferry, driven the way bash drives
  it (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT), completes options,
  account names (from the -f file or the default configuration; never the
  names of rules or plugins, nor commented-out ones), file names where a
  file is expected, and the formats of --import-uids and --convert.
- zsh: `_mailferry` loads under compinit without a word on stderr, and an
  interactive zsh on a pseudo-terminal completes the same things (the
  candidates are caught by wrapping compadd).
- Both offer every option of core/options.c's table and of `mailferry
  --help`, and both read account names with the same program.

Runs without servers or root; needs bash-completion and zsh.
"""

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import REPO, mailferry_path

BASH_FILE = REPO / "completion" / "mailferry.bash"
ZSH_FILE = REPO / "completion" / "_mailferry"
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")
AWK = re.compile(r"# mailferry-accounts-awk begin\n(.*?)"
                 r"# mailferry-accounts-awk end", re.S)

# Account names in odd places: only work, "home box" and colon are
# accounts; the rest are comments, strings, rules, plugins and a group
# that is not the top-level accounts list.
TRICKY = r"""# accounts = ( { name = "commented"; } );
plugins = ( { name = "dedup"; } );
/* accounts = ( { name = "block-comment"; } ); */
accounts = (
  { name = "work";   // name = "trailing"
    rules = ( { name = "rule-name";
                match = { header = "Subject";
                          regex = "name = \"x\" { ( # not a comment"; }; } );
  },
  { server = "pop.example"; name = "home box"; },
  { name : "colon"; deliver = [ "a", "b" ]; }
);
other = { accounts = ( { name = "nested"; } ); };
"""
TRICKY_ACCOUNTS = ["work", "home box", "colon"]


def run(cmd, env=None, cwd=None, timeout=60):
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def need(path):
    if not Path(path).exists():
        pytest.fail("%s is missing: run tests/deps.sh" % path, pytrace=False)
    return str(path)


def shell_env(home, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "ZDOTDIR", "BASH"))}
    env.update(HOME=str(home), LC_ALL="C.UTF-8", **extra)
    return env


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


def every_option():
    """The options core/options.c knows (long and short), and those --help
    shows."""
    text = (REPO / "core" / "options.c").read_text()
    block = re.search(r"longopts\[\] = \{(.*?)\n\t?\};", text, re.S).group(1)
    opts = set()
    for name, short in re.findall(r'\{ "([a-z-]+)", \w+, NULL, ([^ ]+) \}',
                                  block):
        opts.add("--" + name)
        if short.startswith("'"):
            opts.add("-" + short.strip("'"))
    r = run([mailferry_path(), "--help"])
    assert r.returncode == 0, r.stderr
    opts |= set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-zA-Z])\b",
                           r.stdout))
    assert {"--config", "-f", "--check-config", "--help"} <= opts, opts
    return opts


# Options being added alongside this completion; both files offer them.
PLANNED = {"-c", "--check", "--all", "-k", "--keep", "-K", "--no-keep",
           "--fetch-limit", "--json", "--import-uids", "--convert"}


# ---- bash -----------------------------------------------------------------

BASH_DRIVER = r"""
source "$1" || exit 90
source "$2" || exit 91
shift 2
complete -p mailferry >&3
COMP_LINE=$1
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
cur=${COMP_WORDS[COMP_CWORD]}
prev=${COMP_WORDS[COMP_CWORD - 1]}
_mailferry mailferry "$cur" "$prev"
printf '%s\n' "${COMPREPLY[@]}"
"""


def bash_complete(words, home, line=None, **env):
    """COMPREPLY for the command line WORDS (the last one being
    completed) as bash's programmable completion computes it; LINE is
    the line typed when it is not the words joined by spaces (bash also
    splits words at COMP_WORDBREAKS characters such as ":")."""
    words = ["mailferry", *words]
    r = subprocess.run(
        ["bash", "-c", "exec 3>&2; " + BASH_DRIVER, "bash",
         need(BASH_COMPLETION), str(BASH_FILE),
         line or " ".join(words), *words],
        env=shell_env(home, **env), cwd=home,
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60)
    assert r.returncode == 0, "exit %d\n%s" % (r.returncode, r.stderr)
    assert r.stderr == "complete -F _mailferry mailferry\n", r.stderr
    return [x for x in r.stdout.split("\n") if x]


def test_bash_completes_options(home):
    assert sorted(bash_complete(["--che"], home)) == ["--check",
                                                      "--check-config"]
    offered = set(bash_complete(["-"], home))
    missing = (every_option() | PLANNED) - offered
    assert not missing, "bash does not offer %s" % sorted(missing)
    assert bash_complete(["--conf"], home) == ["--config"]


def test_bash_completes_account_names_from_the_named_file(home, tmp_path):
    conf = tmp_path / "tricky.conf"
    conf.write_text(TRICKY)
    # What the shell inserts: names quoted as words.
    quoted = ["work", "home\\ box", "colon"]
    assert bash_complete(["-f", str(conf), "-a", ""], home) == quoted
    assert bash_complete(["--config=%s" % conf, "--account", "h"],
                         home) == ["home\\ box"]
    # As plain arguments (mpop's habit), after other options.
    assert bash_complete(["-v", "-f", str(conf), "w"], home) == ["work"]
    # ~ in the file name is the home directory.
    (home / "my.conf").write_text(TRICKY)
    assert bash_complete(["-f", "~/my.conf", "-a", "c"], home) == ["colon"]


def test_bash_reads_the_default_configuration(home, tmp_path):
    (home / ".mailferry.conf").write_text(
        'accounts = ( { name = "dotfile"; } );\n')
    assert bash_complete(["-a", ""], home) == ["dotfile"]
    xdg = home / ".config" / "mailferry"
    xdg.mkdir(parents=True)
    (xdg / "mailferry.conf").write_text(
        'accounts = ( { name = "xdg-default"; } );\n')
    assert bash_complete(["-a", ""], home) == ["xdg-default"]
    other = tmp_path / "xdg"
    (other / "mailferry").mkdir(parents=True)
    (other / "mailferry" / "mailferry.conf").write_text(
        'accounts = ( { name = "xdg-set"; } );\n')
    assert bash_complete(["-a", ""], home,
                         XDG_CONFIG_HOME=str(other)) == ["xdg-set"]
    # No configuration: nothing, and no error.
    (home / ".mailferry.conf").unlink()
    (xdg / "mailferry.conf").unlink()
    assert bash_complete(["-a", ""], home) == []


def test_bash_completes_file_names(home, tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    for name in ("a.conf", "msg.eml", "uids"):
        (d / name).write_text("x\n")
    (d / "sub").mkdir()
    everything = ["%s/%s" % (d, n) for n in ("a.conf", "msg.eml", "sub",
                                             "uids")]
    for words in (["-f", "%s/" % d], ["--config", "%s/" % d],
                  ["--test-message", "%s/" % d],
                  ["--convert", "fetchmailrc", "%s/" % d]):
        assert sorted(bash_complete(words, home)) == everything, words
    assert bash_complete(["-f", "%s/ms" % d], home) == ["%s/msg.eml" % d]


def test_bash_completes_import_and_convert_formats(home, tmp_path):
    assert bash_complete(["--import-uids", ""], home) == ["fetchmail:",
                                                          "mpop:"]
    assert bash_complete(["--import-uids", "m"], home) == ["mpop:"]
    assert bash_complete(["--convert", ""], home) == ["fetchmailrc",
                                                      "mpoprc"]
    # After the colon, file names; bash splits the word at ":", so what
    # it inserts is the part after it.
    (tmp_path / ".fetchids").write_text("x\n")
    got = bash_complete(["--import-uids", "fetchmail", ":",
                         "%s/.fe" % tmp_path], home,
                        line="mailferry --import-uids fetchmail:%s/.fe"
                        % tmp_path)
    assert got == ["%s/.fetchids" % tmp_path], got


# ---- zsh ------------------------------------------------------------------

def test_zsh_completion_loads_under_compinit(home):
    zsh = shutil.which("zsh") or pytest.fail("zsh is missing: run "
                                             "tests/deps.sh", pytrace=False)
    r = run([zsh, "-f", "-c",
             "fpath=(%s $fpath); autoload -U compinit; compinit -u -D; "
             "autoload -Uz +X _mailferry && print -r -- $_comps[mailferry]"
             % ZSH_FILE.parent], env=shell_env(home))
    assert (r.returncode, r.stdout, r.stderr) == (0, "_mailferry\n", ""), \
        r.stdout + r.stderr


ZSHRC = r"""
fpath=(%(dir)s $fpath)
autoload -U compinit && compinit -u -D
# Candidates are caught below, never listed (no prompt to answer).
unsetopt AUTO_LIST LIST_AMBIGUOUS BEEP
# TAB: complete, then mark the end of the candidates.
_mf_complete() {
  zle complete-word
  print -r -- '<done>' >> $MF_HITS
}
zle -N _mf_complete
bindkey '^I' _mf_complete
bindkey '^U' kill-whole-line
# Every candidate the completion adds goes to $MF_HITS, one a line.
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a __hits
  builtin compadd -A __hits "$@"
  local ret=$?
  (( $#__hits )) && print -rl -- "${__hits[@]}" >> $MF_HITS
  return ret
}
PS1='<ready> '
"""


class Zsh:
    """An interactive zsh on a pseudo-terminal, with _mailferry in its
    fpath; complete(LINE) is what it offers when TAB is pressed after
    LINE."""

    def __init__(self, home, tmp_path, deadline=60):
        zsh = shutil.which("zsh") or pytest.fail(
            "zsh is missing: run tests/deps.sh", pytrace=False)
        zdot = tmp_path / "zdot"
        zdot.mkdir()
        (zdot / ".zshrc").write_text(ZSHRC % {"dir": ZSH_FILE.parent})
        self.hits = tmp_path / "hits"
        env = shell_env(home, ZDOTDIR=str(zdot), MF_HITS=str(self.hits),
                        TERM="dumb")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(zsh, [zsh, "-i"], env)
            finally:
                os._exit(127)
        self.out = b""
        self.deadline = deadline
        self.wait_for(lambda: b"<ready> " in self.out, "prompt")

    def wait_for(self, cond, what):
        end = time.monotonic() + self.deadline
        while not cond():
            left = end - time.monotonic()
            assert left > 0, "zsh: no %s within %d s; the terminal shows:" \
                "\n%s" % (what, self.deadline, self.out.decode(
                    errors="replace"))
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if ready:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:         # the shell went away
                    assert cond(), "zsh exited:\n%s" % self.out.decode(
                        errors="replace")

    def complete(self, line):
        self.hits.write_text("")
        os.write(self.fd, b"\x15" + line.encode() + b"\t")
        self.wait_for(lambda: "<done>\n" in self.hits.read_text(),
                      "completion of %r" % line)
        got = self.hits.read_text().split("\n")
        return got[:got.index("<done>")]

    def close(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def zsh(home, tmp_path):
    shell = Zsh(home, tmp_path)
    yield shell
    shell.close()


def test_zsh_completes_options_accounts_and_files(zsh, tmp_path):
    conf = tmp_path / "tricky.conf"
    conf.write_text(TRICKY)
    got = zsh.complete("mailferry -f %s -a " % conf)
    assert [x.replace("\\", "") for x in got] == TRICKY_ACCOUNTS, got
    got = zsh.complete("mailferry -f %s ho" % conf)
    assert [x.replace("\\", "") for x in got] == ["home box"], got

    assert sorted(zsh.complete("mailferry --che")) == ["--check",
                                                      "--check-config"]
    offered = set(zsh.complete("mailferry -"))
    missing = (every_option() | PLANNED) - offered
    assert not missing, "zsh does not offer %s" % sorted(missing)

    d = tmp_path / "files"
    d.mkdir()
    (d / "msg.eml").write_text("x\n")
    assert zsh.complete("mailferry --test-message %s/" % d) == ["msg.eml"]
    assert zsh.complete("mailferry -f %s/" % d) == ["msg.eml"]
    assert zsh.complete("mailferry --import-uids=") == ["fetchmail", "mpop"]
    assert zsh.complete("mailferry --import-uids=mpop:%s/" % d) == [
        "msg.eml"]
    assert zsh.complete("mailferry --convert ") == ["fetchmailrc",
                                                    "mpoprc"]
    assert zsh.complete("mailferry --convert mpoprc %s/" % d) == [
        "msg.eml"]


def test_zsh_reads_the_default_configuration(zsh, home):
    xdg = home / ".config" / "mailferry"
    xdg.mkdir(parents=True)
    (xdg / "mailferry.conf").write_text(TRICKY)
    assert zsh.complete("mailferry -a w") == ["work"]
    assert zsh.complete("mailferry co") == ["colon"]


# ---- both -----------------------------------------------------------------

def test_both_shells_read_accounts_with_the_same_program():
    bash = AWK.search(BASH_FILE.read_text())
    zsh = AWK.search(ZSH_FILE.read_text())
    assert bash and zsh, "the account-list program is not marked in both"
    assert bash.group(1) == zsh.group(1), \
        "the bash and zsh files read account names differently"
