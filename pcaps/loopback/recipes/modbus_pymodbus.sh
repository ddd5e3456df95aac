#!/usr/bin/env bash
# Records modbus_pymodbus.pcap (pymodbus client <-> pymodbus server on 127.0.0.1:5020) and
# modbus_pymodbus_502.pcap (the same session on the standard port 127.0.0.1:502; needs root).
# The session is in modbus_pymodbus.py. tshark only decodes 5020 as Modbus/TCP when told:
#   -o mbtcp.tcp.port:5020
source "$(dirname "$0")/lib.sh"
ensure_venv
PY="$VENV/bin/python"
exec 2> >(grep -v -e "^tcpdump: listening" -e "packets received by filter" -e "dropped by kernel" >&2)

# record PORT OUT_NAME
record() {
    local port="$1" out="$PCAP_DIR/$2.pcap"
    "$PY" "$RECIPES_DIR/modbus_pymodbus.py" server --port "$port" >"$WORK/server_$port.log" 2>&1 &
    local srv=$!; BG_PIDS+=("$srv")
    wait_listen "$port"
    start_capture "$out" "tcp port $port"
    "$PY" "$RECIPES_DIR/modbus_pymodbus.py" client --port "$port" | tee "$WORK/client_$port.log"
    stop_capture
    kill "$srv"; wait "$srv" 2>/dev/null || true

    echo "== $2: $(capinfos -c -M "$out" | awk '/Number of packets/ {print $NF}') packets"
    local t=(tshark -r "$out" -o "mbtcp.tcp.port:$port")
    echo "-- request function codes (count fc)"
    "${t[@]}" -Y "mbtcp && tcp.dstport==$port" -T fields -e modbus.func_code 2>/dev/null |
        sort -n | uniq -c | tee "$WORK/req_$port"
    echo "-- response function codes (count fc; tshark shows an exception's fc without bit 7)"
    "${t[@]}" -Y "mbtcp && tcp.srcport==$port" -T fields -e modbus.func_code 2>/dev/null | sort -n | uniq -c
    echo "-- diagnostics sub-functions in requests"
    "${t[@]}" -Y "modbus.diagnostic_code && tcp.dstport==$port" -T fields -e modbus.diagnostic_code 2>/dev/null |
        sort -n | uniq -c
    echo "-- exception responses (fc exception_code)"
    "${t[@]}" -Y "modbus.exception_code" -T fields -e modbus.func_code -e modbus.exception_code 2>/dev/null
    echo "-- device identification objects"
    "${t[@]}" -Y "modbus.mei && tcp.srcport==$port" -T fields -e modbus.read_device_id -e modbus.object_id \
        -e modbus.object_str_value 2>/dev/null
    local n
    n=$("${t[@]}" -Y "mbtcp && tcp.dstport==$port" 2>/dev/null | wc -l)
    [ "$n" -eq 45 ] || { echo "FAIL: $2: expected 45 Modbus requests, got $n" >&2; exit 1; }
}

record 5020 modbus_pymodbus
record 502 modbus_pymodbus_502
echo OK
