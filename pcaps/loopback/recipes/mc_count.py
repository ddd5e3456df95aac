#!/usr/bin/env python3
"""Counts MC protocol / SLMP requests and responses in a capture (for the README's expected values).

  mc_count.py FILE.pcap PORT

tshark hands over the TCP/UDP payload bytes; the frames are split and parsed here (a separate,
deliberately plain parser, not the responder's code). TCP payloads are joined per direction in
capture order (loopback captures have no loss or reordering; tcpdump reported no drops).
Prints one summary in a stable text form.
"""

import collections
import subprocess
import sys


def payloads(path, port):
    out = subprocess.run(
        ["tshark", "-r", path, "-Y", "(tcp.len>0 or udp) and (tcp.port==%d or udp.port==%d)" % (port, port),
         "-T", "fields", "-e", "frame.number", "-e", "tcp.srcport", "-e", "udp.srcport",
         "-e", "tcp.payload", "-e", "udp.payload", "-e", "tcp.stream", "-e", "udp.stream"],
        check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        num, tsrc, usrc, tpay, upay, tstream, ustream = line.split("\t")
        src = int(tsrc or usrc)
        yield ("tcp" if tpay else "udp"), (tstream or ustream), src != port, bytes.fromhex(tpay or upay)


def split_frames(buf):
    """Yields (kind, ascii, frame bytes) from a byte stream, returns leftover."""
    frames = []
    while True:
        if len(buf) >= 2 and buf[:2] in (b"\x50\x00", b"\xd0\x00", b"\x54\x00", b"\xd4\x00"):
            four = buf[0] in (0x54, 0xD4)
            lo = 11 if four else 7
            if len(buf) < lo + 2:
                break
            total = lo + 2 + int.from_bytes(buf[lo:lo + 2], "little")
            ascii_mode = False
        elif len(buf) >= 4 and buf[:4] in (b"5000", b"D000", b"5400", b"D400"):
            four = buf[:1] in (b"5", b"D") and buf[1:2] == b"4"
            lo = 22 if four else 14
            if len(buf) < lo + 4:
                break
            total = lo + 4 + int(buf[lo:lo + 4], 16)
            ascii_mode = True
        elif buf:
            raise SystemExit("unrecognised bytes: %r" % buf[:16])
        else:
            break
        if len(buf) < total:
            break
        frames.append(("4E" if four else "3E", ascii_mode, buf[:total]))
        buf = buf[total:]
    return frames, buf


def fields(kind, ascii_mode, frame, request):
    """(serial or None, command, subcommand) for requests; (serial, end code) for responses."""
    if ascii_mode:
        h = lambda a, b: int(frame[a:b], 16)  # noqa: E731
        base = 26 if kind == "4E" else 18
        serial = h(4, 8) if kind == "4E" else None
        if request:  # timer(4) cmd(4) sub(4)
            return serial, h(base + 4, base + 8), h(base + 8, base + 12)
        return serial, h(base, base + 4)
    le = lambda a, b: int.from_bytes(frame[a:b], "little")  # noqa: E731
    base = 13 if kind == "4E" else 9
    serial = le(2, 4) if kind == "4E" else None
    if request:  # timer(2) cmd(2) sub(2)
        return serial, le(base + 2, base + 4), le(base + 4, base + 6)
    return serial, le(base, base + 2)


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    streams = collections.defaultdict(bytes)
    reqs, resps = [], []
    transports = set()
    for transport, stream, to_server, data in payloads(path, port):
        transports.add(transport)
        key = (transport, stream, to_server)
        if transport == "udp":
            frames, rest = split_frames(data)
            if rest:
                raise SystemExit("datagram with trailing bytes")
        else:
            frames, streams[key] = split_frames(streams[key] + data)
        for kind, ascii_mode, frame in frames:
            (reqs if to_server else resps).append((kind, ascii_mode, fields(kind, ascii_mode, frame, to_server), frame))
    leftovers = [k for k, v in streams.items() if v]
    if leftovers:
        raise SystemExit("incomplete frames left in %s" % leftovers)

    kinds = collections.Counter("%s %s" % (k, "ascii" if a else "binary") for k, a, _, _ in reqs)
    cmds = collections.Counter("0x%04X/0x%04X" % (f[1], f[2]) for _, _, f, _ in reqs)
    ends = collections.Counter("0x%04X" % f[1] for _, _, f, _ in resps)
    serials = [f[0] for _, _, f, _ in reqs if f[0] is not None]
    print("transport:", ",".join(sorted(transports)))
    print("requests:", len(reqs), " responses:", len(resps))
    print("frame kinds (requests):", dict(sorted(kinds.items())))
    print("command/subcommand counts (requests):")
    for k, n in sorted(cmds.items()):
        print("  %s %d" % (k, n))
    print("end codes (responses):", dict(sorted(ends.items())))
    if serials:
        print("4E serials (requests): first %d last %d, distinct %d" % (serials[0], serials[-1], len(set(serials))))
    # Request/response pairing: same count, and for 4E the same serial in the same order.
    if len(reqs) != len(resps):
        raise SystemExit("request/response count mismatch")
    for (k1, _, f1, _), (k2, _, f2, _) in zip(reqs, resps):
        if k1 == "4E" and f1[0] != f2[0]:
            raise SystemExit("4E serial mismatch")
    print("first request bytes:", reqs[0][3][:40].hex() if not reqs[0][1] else reqs[0][3][:60].decode())


if __name__ == "__main__":
    main()
