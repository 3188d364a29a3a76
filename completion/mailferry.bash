# bash completion for mailferry(1), for the bash-completion package: it
# uses its _init_completion and _filedir. Installed as
# share/bash-completion/completions/mailferry.
#
# Account names come from the configuration the command line names with
# -f, else the default one, read here without running mailferry.

# The names of the accounts of configuration $1, one a line: the `name`
# settings directly inside the groups of the top-level `accounts` list.
# Comments and strings are skipped and nesting is followed, so the names of
# rules and plugins never show up; @include is not followed. The same
# program is in _mailferry, zsh's completion.
_mailferry_accounts()
{
    [[ -f $1 && -r $1 ]] || return
    LC_ALL=C awk '
    # mailferry-accounts-awk begin
    { text = text $0 "\n" }
    END {
        n = length(text); depth = 0; list = -1; want = 0; prev = ""
        for (i = 1; i <= n; i++) {
            c = substr(text, i, 1)
            if (c == "#" || (c == "/" && substr(text, i + 1, 1) == "/")) {
                while (i <= n && substr(text, i, 1) != "\n")
                    i++
            } else if (c == "/" && substr(text, i + 1, 1) == "*") {
                for (i += 2; i <= n && substr(text, i, 2) != "*/"; i++)
                    ;
                i++
            } else if (c == "\"") {
                s = ""
                for (i++; i <= n && (d = substr(text, i, 1)) != "\""; i++) {
                    if (d == "\\") {
                        i++; d = substr(text, i, 1)
                    }
                    s = s d
                }
                if (want == 2 && depth == list + 1)
                    print s
                want = 0
            } else if (c == "(" || c == "{" || c == "[") {
                depth++
                if (prev == "accounts=" && depth == 1)
                    list = depth
                want = 0; prev = ""
            } else if (c == ")" || c == "}" || c == "]") {
                depth--
                if (depth < list)
                    list = -1
                want = 0; prev = ""
            } else if (c ~ /[A-Za-z_@]/) {
                w = c
                while (substr(text, i + 1, 1) ~ /[A-Za-z0-9_@*-]/)
                    w = w substr(text, ++i, 1)
                want = (list > 0 && depth == list + 1 && w == "name")
                prev = w
            } else if (c == "=" || c == ":") {
                if (want)
                    want = 2
                if (prev == "accounts")
                    prev = "accounts="
            } else if (c !~ /[ \t\r\n]/) {
                want = 0; prev = ""
            }
        }
    }
    # mailferry-accounts-awk end
    ' "$1" 2>/dev/null
}

# The configuration this command line uses: -f FILE, else the default.
_mailferry_config()
{
    local i f=
    for ((i = 1; i < ${#words[@]} - 1; i++)); do
        case ${words[i]} in
        -f | --config) f=${words[i + 1]} ;;
        --config=*) f=${words[i]#--config=} ;;
        -f?*) f=${words[i]#-f} ;;
        esac
    done
    if [[ -z $f ]]; then
        if [[ ${XDG_CONFIG_HOME-} == /* ]]; then
            f=$XDG_CONFIG_HOME/mailferry/mailferry.conf
        else
            f=$HOME/.config/mailferry/mailferry.conf
        fi
        [[ -e $f ]] || f=$HOME/.mailferry.conf
    fi
    # ~ as mailferry expands it; nothing else is expanded.
    [[ $f == '~' || $f == '~/'* ]] && f=$HOME${f:1}
    printf '%s\n' "$f"
}

# COMPREPLY: the account names that begin with $cur, quoted for the shell.
_mailferry_complete_accounts()
{
    local name
    while IFS= read -r name; do
        [[ $name == "$cur"* ]] && COMPREPLY+=("$(printf '%q' "$name")")
    done < <(_mailferry_accounts "$(_mailferry_config)")
}

_mailferry()
{
    local cur prev words cword split
    _init_completion -s -n : || return

    case $prev in
    -f | --config | --test-message)
        _filedir
        return
        ;;
    -a | --account)
        _mailferry_complete_accounts
        return
        ;;
    -d | --daemon | --fetch-limit | --release)
        return          # a number, or a UID
        ;;
    --import-uids)
        if [[ $cur == *:* ]]; then
            local format=${cur%%:*}
            cur=${cur#*:}
            _filedir
            COMPREPLY=("${COMPREPLY[@]/#/$format:}")
            __ltrim_colon_completions "$format:$cur"
        else
            COMPREPLY=($(compgen -W 'fetchmail: mpop:' -- "$cur"))
            compopt -o nospace 2>/dev/null
        fi
        return
        ;;
    --convert)
        COMPREPLY=($(compgen -W 'fetchmailrc mpoprc' -- "$cur"))
        return
        ;;
    esac
    [[ $cword -ge 3 && ${words[cword - 2]} == --convert ]] && {
        _filedir
        return
    }
    $split && return

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-f --config -a --account -n --dry-run
            -v --verbose -q --quiet -d --daemon --syslog --check-config
            --test-message -c --check --all -k --keep -K --no-keep
            --fetch-limit --json --import-uids --convert --release --version
            --help' \
            -- "$cur"))
        return
    fi
    # Account names as plain arguments, as with mpop.
    _mailferry_complete_accounts
} &&
    complete -F _mailferry mailferry
