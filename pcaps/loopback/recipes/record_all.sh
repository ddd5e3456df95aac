#!/usr/bin/env bash
# Re-records every loopback capture, then prints the README facts for each file.
# Needs root (tcpdump, ports 25/502/587). Talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")"
./tls_openssl.sh
./smtp_aiosmtpd.sh
./modbus_pymodbus.sh
./mc_slmp.sh
./summarize.sh
