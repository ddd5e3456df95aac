#!/usr/bin/env bash
# Records tls12_openssl.pcap, tls13_openssl.pcap (openssl s_server <-> openssl s_client on
# 127.0.0.1:4433) and tls_curl.pcap (curl <-> openssl s_server -WWW on 127.0.0.1:9443).
# A fresh self-signed RSA-2048 certificate is made for each run, so the bytes differ run to run
# while the packet/record structure stays the same. Key logs (NSS format) are written beside the
# captures so the application data can be decrypted by tshark.
source "$(dirname "$0")/lib.sh"

SNI=www.example.test
cd "$WORK"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 3650 \
    -subj "/CN=$SNI/O=spanwatch loopback test" -addext "subjectAltName=DNS:$SNI" 2>/dev/null

# s_tls VERSION_FLAG OUT_NAME
s_tls() {
    local ver="$1" name="$2"
    local out="$PCAP_DIR/$name.pcap" keylog="$PCAP_DIR/$name.keylog"
    rm -f "$keylog"
    start_capture "$out" "tcp port 4433"
    openssl s_server -accept 127.0.0.1:4433 -cert cert.pem -key key.pem -naccept 1 -rev \
        -alpn h2,http/1.1 "$ver" -quiet >"$WORK/s_server_$name.log" 2>&1 &
    local srv=$!; BG_PIDS+=("$srv")
    wait_listen 4433
    (printf 'hello over %s from openssl s_client\n' "$ver"; sleep 0.5) |
        timeout 10 openssl s_client -connect 127.0.0.1:4433 -servername "$SNI" -alpn h2,http/1.1 "$ver" \
            -keylogfile "$keylog" >"$WORK/s_client_$name.log" 2>&1 || true
    wait "$srv" || true
    stop_capture
    echo "== $name: s_client saw:"
    grep -E "^(New,|ALPN protocol|Server Temp Key|Peer signature type)|olleh" "$WORK/s_client_$name.log"
}

s_tls -tls1_2 tls12_openssl
s_tls -tls1_3 tls13_openssl

# curl against s_server -WWW (serves files from the current directory).
printf 'spanwatch loopback test page\n' >index.txt
start_capture "$PCAP_DIR/tls_curl.pcap" "tcp port 9443"
openssl s_server -accept 127.0.0.1:9443 -cert cert.pem -key key.pem -naccept 1 -WWW \
    -alpn http/1.1 -quiet >"$WORK/s_server_www.log" 2>&1 &
srv=$!; BG_PIDS+=("$srv")
wait_listen 9443
rm -f "$PCAP_DIR/tls_curl.keylog"
SSLKEYLOGFILE="$PCAP_DIR/tls_curl.keylog" curl -sS -k --http1.1 \
    --resolve "$SNI:9443:127.0.0.1" "https://$SNI:9443/index.txt" -o "$WORK/curl.out"
wait "$srv" || true
stop_capture
echo "== curl got:"; cat "$WORK/curl.out"

# Check with tshark: the ClientHello carries the SNI and the ServerHello picks the version asked for.
# check NAME EXPECTED_SERVER_VERSION(0x0303|0x0304)
check() {
    local n="$1" want="$2" f="$PCAP_DIR/$1.pcap"
    echo "== $n: $(capinfos -c -M "$f" | awk '/Number of packets/ {print $NF}') packets"
    tshark -r "$f" -Y tls.handshake.type -T fields -E separator='|' \
        -e frame.number -e tls.handshake.type -e tls.handshake.extensions_server_name \
        -e tls.handshake.version -e tls.handshake.extensions.supported_version \
        -e tls.handshake.ciphersuite -e tls.handshake.extensions_alpn_str \
        -e tls.handshake.ja3 -e tls.handshake.ja3s 2>/dev/null | tee "$WORK/$n.hs"
    grep -q "|1|$SNI|" "$WORK/$n.hs" || { echo "FAIL: $n: no ClientHello with SNI $SNI" >&2; exit 1; }
    if [ "$want" = 0x0304 ]; then
        grep -qE "^[0-9]+\|2\|\|0x0303\|0x0304\|" "$WORK/$n.hs" || { echo "FAIL: $n: no TLS 1.3 ServerHello" >&2; exit 1; }
    else
        grep -qE "^[0-9]+\|2,11,12,14\|\|0x0303\|\|" "$WORK/$n.hs" || { echo "FAIL: $n: no clear TLS 1.2 ServerHello+Certificate" >&2; exit 1; }
    fi
}
check tls12_openssl 0x0303
check tls13_openssl 0x0304
check tls_curl 0x0304
echo "OK"
