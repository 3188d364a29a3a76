#!/bin/sh
# Install (as root, with apt-get) whatever the build and the tests need and
# is missing, then fail clearly if anything is still missing. (popa3d,
# which conflicts with dovecot-pop3d, is not installed: the tests fetch
# and unpack it themselves, see tests/integration/lib/otherpop3.py.)
#   tests/deps.sh check   build + unit + integration tests
#   tests/deps.sh bench   the above + the other fetchers for `make bench`
set -u

build="gcc make pkg-config libc6-dev libssl-dev libconfig-dev libpcre2-dev"
check="$build libcmocka-dev openssl ca-certificates python3 python3-pytest
  python3-aiosmtpd dovecot-core dovecot-pop3d dovecot-imapd dovecot-lmtpd
  postfix procps mandoc groff-base clang libclang-rt-14-dev procmail
  strace tmux time gcovr fetchmail mpop mailutils-pop3d socat pass
  dpkg-dev debhelper lintian adduser systemd bash-completion zsh"
bench="$check fdm getmail6 isync"

case "${1:-check}" in
build) want=$build ;;
check) want=$check ;;
bench) want=$bench ;;
*) echo "usage: $0 build|check|bench" >&2; exit 64 ;;
esac

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "mailferry: missing packages:$missing" >&2
	echo "mailferry: install them with: sudo apt-get install$missing" >&2
	exit 1
fi
echo "mailferry: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null &&
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
	{ echo "mailferry: apt-get install failed for:$missing" >&2; exit 1; }
