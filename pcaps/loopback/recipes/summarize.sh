#!/usr/bin/env bash
# Prints the per-file facts the README records: packets, size, sha256, conversations, protocol
# hierarchy. Usage: summarize.sh [FILE.pcap...]  (default: every capture in pcaps/loopback/)
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -gt 0 ] || set -- "$dir"/*.pcap
for f in "$@"; do
    n=$(basename "$f")
    opts=()
    case "$n" in
        modbus_pymodbus.pcap) opts=(-o mbtcp.tcp.port:5020) ;;
    esac
    echo "### $n"
    echo "packets: $(capinfos -c -M "$f" | awk '/Number of packets/ {print $NF}')  bytes: $(stat -c %s "$f")"
    echo "sha256: $(sha256sum "$f" | cut -d' ' -f1)"
    tshark -r "$f" "${opts[@]}" -q -z conv,tcp -z conv,udp 2>/dev/null | grep -E "<->" | \
        awk '{print "conv: " $1 " <-> " $3 "  frames " $10 " (" $7 " from A, " $4 " to A)  " $11 " " $12}'
    tshark -r "$f" "${opts[@]}" -q -z io,phs 2>/dev/null | grep -E "frames:" | sed 's/^/phs: /'
    echo
done
