# Shared helpers for the loopback capture recipes. Source this file; do not run it.
# Everything here talks to 127.0.0.1 / ::1 only.
set -euo pipefail

RECIPES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PCAP_DIR="$(cd "$RECIPES_DIR/.." && pwd)"
VENV="${LOOPBACK_VENV:-/tmp/spanwatch-loopback-venv}"
WORK="$(mktemp -d /tmp/spanwatch-loopback.XXXXXX)"
TCPDUMP_PID=""
BG_PIDS=()   # servers started by a recipe; stopped (by pid) on exit

# Create (once) the venv with the pinned third-party packages the recipes use.
ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q -r "$RECIPES_DIR/requirements.txt"
}

# start_capture OUT.pcap 'bpf filter'
# Starts tcpdump on the loopback interface and waits until it is listening.
start_capture() {
    local out="$1" filter="$2"
    rm -f "$out"
    tcpdump -i lo -w "$out" -U --immediate-mode -B 32768 -n "$filter" 2>"$WORK/tcpdump.log" &
    TCPDUMP_PID=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "tcpdump did not start:" >&2
    cat "$WORK/tcpdump.log" >&2
    return 1
}

# stop_capture: lets the last packets land, then stops tcpdump with SIGINT.
# (--immediate-mode matters: with TPACKET_V3, packets of a not-yet-full ring block are otherwise
# only handed over on the block timeout, and a quick exchange can be lost entirely. In immediate
# mode each ring slot is as large as lo's 64 KiB MTU, so the default 2 MiB buffer holds only ~30
# packets and a fast exchange overflows it: hence -B 32768. Any kernel drop fails the recipe.)
stop_capture() {
    sleep 0.5
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=""
    cat "$WORK/tcpdump.log" >&2
    if ! grep -q "^0 packets dropped by kernel" "$WORK/tcpdump.log"; then
        echo "FAIL: tcpdump dropped packets" >&2
        exit 1
    fi
}

# wait_listen PORT [tcp|udp]: waits until `ss` shows a listener on PORT (without connecting
# to it, so the capture does not get an extra probe connection).
wait_listen() {
    local port="$1" proto="${2:-tcp}" flag=t
    [ "$proto" = udp ] && flag=u
    for _ in $(seq 1 200); do
        if ss -Hln$flag "sport = :$port" | grep -q .; then return 0; fi
        sleep 0.05
    done
    echo "nothing listening on port $port" >&2
    return 1
}

cleanup_lib() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "$TCPDUMP_PID" ]; then kill -INT "$TCPDUMP_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup_lib EXIT
