#!/usr/bin/env python3
"""MC protocol session written by pymcprotocol (Type3E / Type4E, binary or ASCII) over TCP.

  mc_client_pymcprotocol.py --frame 3E --code binary --port 5010

Every request on the wire is encoded by pymcprotocol's public methods (the one exception is
switching the client object's PLC type to "iQ-R" for one read, which makes pymcprotocol itself
encode the iQ-R subcommand and device layout; the Q-series responder rejects it with 0xC059).
The session (one TCP connection) is the list STEPS below; the same order is used for every
frame kind, with 4E serial numbers 0x1000 + step index.
"""

import argparse
import sys

import pymcprotocol
from pymcprotocol.mcprotocolerror import MCProtocolError, UnsupportedComandError

HOST = "127.0.0.1"
PASSWORD = "SW42"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frame", choices=["3E", "4E"], required=True)
    ap.add_argument("--code", choices=["binary", "ascii"], required=True)
    ap.add_argument("--port", type=int, default=5010)
    a = ap.parse_args()

    mc = pymcprotocol.Type4E("Q") if a.frame == "4E" else pymcprotocol.Type3E("Q")
    mc.setaccessopt(commtype=a.code)
    mc.connect(HOST, a.port)

    def iqr_read():
        mc._set_plctype("iQ-R")  # pymcprotocol then encodes subcommand 0x0002 + 4-byte numbers
        try:
            return mc.batchread_wordunits("D100", 2)
        finally:
            mc._set_plctype("Q")

    steps = [
        # (label, callable, expected end code or None)
        ("read CPU model 0x0101", lambda: mc.read_cputype(), None),
        ("remote unlock 0x1630 wrong password", lambda: mc.remote_unlock("0000"), 0xC200),
        ("remote unlock 0x1630", lambda: mc.remote_unlock(PASSWORD), None),
        ("batch read words D100x10 0x0401/0000", lambda: mc.batchread_wordunits("D100", 10), None),
        ("batch write words D200x4 0x1401/0000", lambda: mc.batchwrite_wordunits("D200", [11, -2, 300, 4000]), None),
        ("batch read words D200x4 0x0401/0000", lambda: mc.batchread_wordunits("D200", 4), None),
        ("batch read bits M0x16 0x0401/0001", lambda: mc.batchread_bitunits("M0", 16), None),
        ("batch read bits X0x8 0x0401/0001", lambda: mc.batchread_bitunits("X0", 8), None),
        ("batch read words X0x2 0x0401/0000", lambda: mc.batchread_wordunits("X0", 2), None),
        ("batch write bits Y10x5 0x1401/0001", lambda: mc.batchwrite_bitunits("Y10", [1, 0, 1, 1, 0]), None),
        ("batch write bits M100x3 0x1401/0001", lambda: mc.batchwrite_bitunits("M100", [1, 1, 1]), None),
        ("random read 0x0403", lambda: mc.randomread(["D100", "D105", "M0"], ["D300"]), None),
        ("random write words 0x1402/0000", lambda: mc.randomwrite(["D110", "D111"], [1, 2], ["D300"], [70000]), None),
        ("random write bits 0x1402/0001", lambda: mc.randomwrite_bitunits(["M200", "Y20"], [1, 0]), None),
        ("remote STOP 0x1002", lambda: mc.remote_stop(), None),
        ("remote latch clear 0x1005", lambda: mc.remote_latchclear(), None),
        ("remote RUN 0x1001", lambda: mc.remote_run(clear_mode=0), None),
        ("remote PAUSE 0x1003", lambda: mc.remote_pause(), None),
        ("remote RUN forced, clear all 0x1001", lambda: mc.remote_run(clear_mode=2, force_exec=True), None),
        ("loopback test 0x0619", lambda: mc.echo_test("ABCDE12345"), None),
        ("batch read D20000 (beyond end) 0x0401", lambda: mc.batchread_wordunits("D20000", 1), 0xC056),
        ("batch read 961 words 0x0401", lambda: mc.batchread_wordunits("D0", 961), 0xC052),
        ("batch read 7200 bits 0x0401/0001", lambda: mc.batchread_bitunits("M0", 7200), 0xC051),
        ("batch read words, iQ-R subcommand 0x0401/0002", iqr_read, 0xC059),
        ("remote lock 0x1631", lambda: mc.remote_lock(PASSWORD), None),
        ("remote RESET 0x1006", lambda: mc.remote_reset(), None),
    ]
    for i, (label, fn, expect) in enumerate(steps):
        if a.frame == "4E":
            mc.set_subheaderserial(0x1000 + i)
        try:
            result = fn()
            got = 0
        except MCProtocolError as e:  # errorcode is a string such as "0xC200"
            result, got = None, int(e.errorcode, 16)
        except UnsupportedComandError:  # pymcprotocol's own class for 0xC059
            result, got = None, 0xC059
        status = "ok" if got == 0 else "end code 0x%04X" % got
        print("%-48s %s %s" % (label, status, "" if result is None else result))
        if got != (expect or 0):
            sys.exit("%s: expected end code 0x%04X, got 0x%04X" % (label, expect or 0, got))
    mc.close()
    print(len(steps), "requests")


if __name__ == "__main__":
    main()
