#!/usr/bin/env python3
"""SLMP session written by plc-comm-slmp's SlmpClient (binary only) over UDP or TCP.

  mc_client_plccomm.py --profile melsec:qnudv --transport udp --port 5010         # 3E binary
  mc_client_plccomm.py --profile melsec:qnudv:qj71e71-100 --transport tcp ...     # 4E binary

The profile decides the frame: "melsec:qnudv" (QnUDV CPU built-in port) makes 3E frames,
"melsec:qnudv:qj71e71-100" (through a QJ71E71-100 module) makes 4E frames with serial numbers.
Every request is encoded by plc-comm-slmp's public methods.
"""

import argparse
import sys

from slmp.client import SlmpClient
from slmp.constants import RemoteClearMode
from slmp.core import SlmpTarget
from slmp.errors import SlmpError, SlmpProfileFeatureError

HOST = "127.0.0.1"
PASSWORD = "SW42"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", required=True)
    ap.add_argument("--transport", choices=["udp", "tcp"], required=True)
    ap.add_argument("--port", type=int, default=5010)
    a = ap.parse_args()

    target = SlmpTarget(network=0, station=0xFF, module_io=0x03FF, multidrop=0)
    c = SlmpClient(HOST, a.port, transport=a.transport, default_target=target,
                   plc_profile=a.profile, timeout=3.0)
    c.connect()
    steps = [
        ("read type name 0x0101", lambda: c.read_type_name(), None),
        ("password unlock 0x1630 (wrong)", lambda: c.remote_password_unlock("SW43"), 0xC200),
        ("password unlock 0x1630", lambda: c.remote_password_unlock(PASSWORD), None),
        ("read words D100x8 0x0401/0000", lambda: c.read_devices("D100", 8, bit_unit=False), None),
        ("write words D250x3 0x1401/0000", lambda: c.write_devices("D250", [5, 6, 7], bit_unit=False), None),
        ("read bits M0x10 0x0401/0001", lambda: c.read_devices("M0", 10, bit_unit=True), None),
        ("write bits Y0x4 0x1401/0001", lambda: c.write_devices("Y0", [True, False, False, True], bit_unit=True), None),
        ("read bits X0x6 0x0401/0001", lambda: c.read_devices("X0", 6, bit_unit=True), None),
        ("random read 0x0403", lambda: c.read_random(word_devices=["D100", "D101"], dword_devices=["D102"]), None),
        ("random write words 0x1402/0000", lambda: c.write_random_words(word_values=[("D120", 9)], dword_values=[("D122", 123456)]), None),
        ("random write bits 0x1402/0001", lambda: c.write_random_bits(bit_values=[("M300", True), ("Y5", True)]), None),
        ("remote STOP 0x1002", lambda: c.remote_stop(), None),
        ("clear error 0x1617", lambda: c.clear_error(), None),
        ("remote latch clear 0x1005", lambda: c.remote_latch_clear(), None),
        ("remote RUN 0x1001", lambda: c.remote_run(force=False, clear_mode=RemoteClearMode.NO_CLEAR), None),
        ("remote PAUSE 0x1003", lambda: c.remote_pause(force=True), None),
        ("self test loopback 0x0619", lambda: c.self_test_loopback("0123ABCD"), None),
        ("read D13000 (beyond end) 0x0401", lambda: c.read_devices("D13000", 1, bit_unit=False), 0xC056),
        ("password lock 0x1631", lambda: c.remote_password_lock(PASSWORD), None),
        ("remote RESET 0x1006", lambda: c.remote_reset(), None),
    ]
    sent = 0
    for label, fn, expect in steps:
        try:
            result = fn()
            got = 0
        except SlmpProfileFeatureError as e:
            # plc-comm-slmp refuses, before sending, what its profile says the CPU lacks (its
            # "melsec:qnudv" profile blocks Read Type Name); nothing goes on the wire.
            print("%-40s not sent: %s" % (label, str(e).split(".")[0]))
            continue
        except SlmpError as e:
            result, got = None, getattr(e, "end_code", None)
            if got is None:
                raise
        sent += 1
        status = "ok" if got == 0 else "end code 0x%04X" % got
        print("%-40s %s %s" % (label, status, "" if result is None else result))
        if got != (expect or 0):
            sys.exit("%s: expected end code 0x%04X, got 0x%04X" % (label, expect or 0, got))
    c.close()
    print(sent, "requests")


if __name__ == "__main__":
    main()
