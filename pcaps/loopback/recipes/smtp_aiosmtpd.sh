#!/usr/bin/env bash
# Records smtp_plain_aiosmtpd.pcap (127.0.0.1:25) and smtp_starttls_aiosmtpd.pcap (127.0.0.1:587):
# Python's smtplib talking to an aiosmtpd server; the session itself is in smtp_session.py.
# The STARTTLS one uses a fresh self-signed certificate made with openssl for each run; the
# client's TLS key log is written to smtp_starttls_aiosmtpd.keylog so tshark can decrypt it.
# Needs root (ports 25/587 and tcpdump).
source "$(dirname "$0")/lib.sh"
ensure_venv
PY="$VENV/bin/python"
exec 2> >(grep -v -e "^tcpdump: listening" -e "packets received by filter" -e "dropped by kernel" >&2)
PLAIN_PORT=25
TLS_PORT=587

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 3650 \
    -subj "/CN=mail.example.test" -addext "subjectAltName=DNS:mail.example.test" 2>/dev/null

start_capture "$PCAP_DIR/smtp_plain_aiosmtpd.pcap" "tcp port $PLAIN_PORT"
"$PY" "$RECIPES_DIR/smtp_session.py" --mode plain --port "$PLAIN_PORT"
stop_capture

rm -f "$PCAP_DIR/smtp_starttls_aiosmtpd.keylog"
start_capture "$PCAP_DIR/smtp_starttls_aiosmtpd.pcap" "tcp port $TLS_PORT"
"$PY" "$RECIPES_DIR/smtp_session.py" --mode starttls --port "$TLS_PORT" \
    --cert "$WORK/cert.pem" --key "$WORK/key.pem" --keylog "$PCAP_DIR/smtp_starttls_aiosmtpd.keylog"
stop_capture

# Checks with tshark. Port 587 is decoded as SMTP by tshark's defaults (tcp.port 25,587).
cmds() { # FILE [tshark options...]: SMTP request commands, one "count COMMAND" per line
    local f="$1"; shift
    tshark -r "$f" "$@" -Y smtp.req.command -T fields -e smtp.req.command 2>/dev/null |
        tr ',' '\n' | tr 'a-z' 'A-Z' | sort | uniq -c
}
codes() {
    local f="$1"; shift
    tshark -r "$f" "$@" -Y smtp.response.code -T fields -e smtp.response.code 2>/dev/null |
        tr ',' '\n' | sort | uniq -c
}
plain="$PCAP_DIR/smtp_plain_aiosmtpd.pcap"
tls="$PCAP_DIR/smtp_starttls_aiosmtpd.pcap"
for f in "$plain" "$tls"; do
    echo "== $(basename "$f"): $(capinfos -c -M "$f" | awk '/Number of packets/ {print $NF}') packets"
done
echo "== plain: commands"; cmds "$plain" | tee "$WORK/plain.cmds"
echo "== plain: reply codes"; codes "$plain"
echo "== plain: IMF"
tshark -r "$plain" -Y imf -T fields -E separator='|' -e imf.from -e imf.subject -e imf.message_id \
    -e imf.reply_to -e imf.ext.mailer 2>/dev/null
echo "== plain: MIME parts (Content-Disposition)"
tshark -r "$plain" -Y imf -T fields -e mime_multipart.header.content-disposition 2>/dev/null | tr "," "\n"
echo "== plain: AUTH credentials seen by tshark"
tshark -r "$plain" -Y "smtp.auth.username or smtp.auth.password or smtp.auth.username_password" -T fields -e smtp.auth.username -e smtp.auth.password -e smtp.auth.username_password 2>/dev/null
echo "== starttls: commands in clear"; cmds "$tls" | tee "$WORK/tls.cmds"
echo "== starttls: TLS handshake"
tshark -r "$tls" -Y tls.handshake.type==1 -T fields -e tls.handshake.extensions_server_name \
    -e tls.handshake.ja3 2>/dev/null
echo "== starttls: commands with the key log"
cmds "$tls" -o "tls.keylog_file:$PCAP_DIR/smtp_starttls_aiosmtpd.keylog" | tee "$WORK/tls_dec.cmds"

# 28 RCPT = 25 in transaction 1 + 1 in the RSET one + 2 in transaction 3.
# (tshark's smtp.req.command keeps only the first 4 letters: STARTTLS shows as STAR.)
grep -qE "^ +28 RCPT$" "$WORK/plain.cmds" || { echo "FAIL: plain: expected 28 RCPT" >&2; exit 1; }
grep -qE "^ +1 STAR$" "$WORK/tls.cmds" || { echo "FAIL: starttls: no STARTTLS" >&2; exit 1; }
grep -qE "^ +28 RCPT$" "$WORK/tls_dec.cmds" || { echo "FAIL: starttls: decrypted: expected 28 RCPT" >&2; exit 1; }
echo OK
