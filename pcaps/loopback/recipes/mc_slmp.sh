#!/usr/bin/env bash
# Records the MC protocol / SLMP captures: third-party client libraries (pymcprotocol over TCP,
# plc-comm-slmp over UDP) talking to mc_responder.py on 127.0.0.1:5010, then counts the frames
# with mc_count.py.
source "$(dirname "$0")/lib.sh"
ensure_venv
PY="$VENV/bin/python"
PORT=5010
exec 2> >(grep -v -e "^tcpdump: listening" -e "packets received by filter" -e "dropped by kernel" >&2)

# record NAME tcp|udp CLIENT_ARGS...
record() {
    local name="$1" proto="$2"; shift 2
    local out="$PCAP_DIR/$name.pcap" udp_flag=()
    [ "$proto" = udp ] && udp_flag=(--udp)
    "$PY" "$RECIPES_DIR/mc_responder.py" --port "$PORT" "${udp_flag[@]}" 2>"$WORK/responder_$name.log" &
    local srv=$!; BG_PIDS+=("$srv")
    wait_listen "$PORT" "$proto"
    start_capture "$out" "$proto port $PORT"
    "$PY" "$@" --port "$PORT" >"$WORK/client_$name.log"
    stop_capture
    kill "$srv"; wait "$srv" 2>/dev/null || true
    echo "== $name: $(capinfos -c -M "$out" | awk '/Number of packets/ {print $NF}') packets, client: $(tail -1 "$WORK/client_$name.log")"
    "$PY" "$RECIPES_DIR/mc_count.py" "$out" "$PORT"
}

record slmp_3e_binary tcp "$RECIPES_DIR/mc_client_pymcprotocol.py" --frame 3E --code binary
record slmp_3e_ascii tcp "$RECIPES_DIR/mc_client_pymcprotocol.py" --frame 3E --code ascii
record slmp_4e_binary tcp "$RECIPES_DIR/mc_client_pymcprotocol.py" --frame 4E --code binary
record slmp_4e_ascii tcp "$RECIPES_DIR/mc_client_pymcprotocol.py" --frame 4E --code ascii
record slmp_3e_binary_udp_plccomm udp "$RECIPES_DIR/mc_client_plccomm.py" --profile melsec:qnudv --transport udp
record slmp_4e_binary_udp_plccomm udp "$RECIPES_DIR/mc_client_plccomm.py" --profile melsec:qnudv:qj71e71-100 --transport udp
echo OK
