#!/usr/bin/env bash
# Receive rate and CPU per packet of `spanwatch live` on a veth pair between
# two network namespaces, for each capture source, with 64-byte and IMIX
# frames, as fast as tcpreplay sends (--topspeed) and at a fixed rate.
#
#   sudo bash bench/live-rate.sh            # after cargo build --release -p spanwatch
#   PACKETS=1000000 RATES="100000 200000" sudo -E bash bench/live-rate.sh
#
# Traffic stays inside the two namespaces. Output: one Markdown table row per
# run on stdout. CPU is spanwatch's user+system time (all threads, from
# /proc/PID/stat, 10 ms ticks) between the start and the end of the replay
# plus the time to drain, divided by the frames delivered.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/spanwatch}
PACKETS=${PACKETS:-500000}
RATES=${RATES:-100000}
SOURCES=${SOURCES:-"pcap af-xdp"}
WORKERS=${WORKERS:-1}
DIR=$(mktemp -d)
A=swbA$$
B=swbB$$
cleanup() {
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "live-rate.sh: needs root" >&2; exit 1; }
[ -x "$BIN" ] || { echo "live-rate.sh: build first: cargo build --release -p spanwatch" >&2; exit 1; }

ip netns add "$A"; ip netns add "$B"
for n in "$A" "$B"; do
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add vethA netns "$A" type veth peer name vethB netns "$B"
ip -n "$A" link set vethA up
ip -n "$B" link set vethB up

# UDP frames between 1024 address pairs (RFC 5737 ranges): 64-byte (60 + FCS)
# and IMIX 7:4:1 of 64/594/1518-byte frames.
python3 - "$DIR" "$PACKETS" <<'PY'
import struct, sys
d, n = sys.argv[1], int(sys.argv[2])
def frame(i, size):
    src = bytes([192, 0, 2, i % 256]); dst = bytes([198, 51, 100, (i // 256) % 4])
    l4len = size - 14 - 20
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + l4len, i & 0xffff, 0, 64, 17, 0, src, dst)
    udp = struct.pack('!HHHH', 10000 + i % 1024, 9999, l4len, 0) + bytes(l4len - 8)
    return b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00' + ip + udp
def write(name, sizes):
    with open(f'{d}/{name}.pcap', 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        cache = {}
        for i in range(n):
            s = sizes[i % len(sizes)]
            key = (i % 1024, s)
            fr = cache.get(key) or cache.setdefault(key, frame(i % 1024, s))
            f.write(struct.pack('<IIII', 1700000000 + i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)
write('64', [60])
write('imix', [60] * 7 + [590] * 4 + [1514])
PY

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

run() { # source size rate
  local src=$1 size=$2 rate=$3 eve=$DIR/eve.json err=$DIR/err
  rm -f "$eve"
  ip netns exec "$B" "$BIN" live --iface vethB --capture "$src" --xdp-mode skb \
    --workers "$WORKERS" --stats-interval 0 --eve "$eve" 2>"$err" &
  local pid=$!
  for _ in $(seq 100); do grep -q "capturing on" "$err" && break; sleep 0.1; done
  local c0; c0=$(cpu_ticks "$pid")
  local speed=(--topspeed); [ "$rate" != top ] && speed=(--pps "$rate")
  local out; out=$(ip netns exec "$A" tcpreplay -q -K "${speed[@]}" -i vethA "$DIR/$size.pcap" 2>&1)
  sleep 1
  local c1; c1=$(cpu_ticks "$pid")
  kill -TERM "$pid"; wait "$pid" || true
  local sent secs
  sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' <<<"$out")
  secs=$(sed -n 's/.*packets ([0-9]* bytes) sent in \([0-9.]*\) seconds.*/\1/p' <<<"$out")
  local line; line=$(grep "packets delivered" "$err" || true)
  local got drop
  got=$(sed -n 's/.*: \([0-9]*\) packets delivered.*/\1/p' <<<"$line")
  drop=$(sed -n 's/.*delivered, \([0-9]*\) dropped.*/\1/p' <<<"$line")
  local used; used=$(grep -o "(af-xdp)\|(pcap)" <<<"$line" | tr -d '()')
  awk -v src="$used" -v size="$size" -v rate="$rate" -v sent="$sent" -v secs="$secs" \
      -v got="$got" -v drop="$drop" -v ticks=$((c1 - c0)) -v hz="$hz" 'BEGIN {
    lost = sent - got; if (lost < 0) lost = 0
    printf "| %s | %s | %s | %d | %.0f | %d | %d | %.2f %% | %.0f | %.2f |\n",
      src, size, rate == "top" ? "topspeed" : rate " pps", sent, sent / secs, got, drop,
      100 * lost / sent, got / secs, 1e6 * ticks / hz / (got > 0 ? got : 1)
  }'
}

echo "| source | frames | send rate | sent | sent pps | delivered | kernel drops | lost | received pps | spanwatch CPU µs/frame |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for src in $SOURCES; do
  for size in 64 imix; do
    run "$src" "$size" top
    for r in $RATES; do run "$src" "$size" "$r"; done
  done
done
