#!/usr/bin/env bash
# The whole test suite. Installs the system packages the tests need when run
# as root (Debian/Ubuntu); otherwise says exactly what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# tshark: used by no test at run time (expected values are recorded), but by
#   scripts that regenerate them. libpcap-dev: the live capture source links
#   libpcap. tcpreplay + iproute2: the live-capture namespace test.
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)
command -v tcpreplay >/dev/null 2>&1 || need+=(tcpreplay)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test.sh: missing system packages; install them with:" >&2
    echo "  sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

if [ ! -d ../shared/pcaps ]; then
  echo "test.sh: NOTE: ../shared/pcaps is absent: the tests that replay the public captures will print SKIP" >&2
fi

# libpcap live capture is a cargo feature (it needs libpcap-dev); the tests cover it.
cargo test --workspace --all-targets --no-fail-fast --features spanwatch/libpcap "$@"
cargo test --workspace --doc --features spanwatch/libpcap
