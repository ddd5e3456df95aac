#!/usr/bin/env python3
"""A small MELSEC MC protocol / SLMP responder for loopback captures (127.0.0.1 only).

It plays a Q-series CPU (default "Q03UDVCPU", model code 0x0366) behind a built-in Ethernet port
and answers 3E and 4E frames, binary and ASCII, over TCP or UDP. The frame kind is detected per
request from the subheader, and every answer uses the request's kind:

  binary 3E request   50 00 | NW | PC | I/O (LE16) | station | length (LE16) | timer (LE16)
                      | command (LE16) | subcommand (LE16) | data...          (length = timer..end)
  binary 3E response  D0 00 | NW | PC | I/O | station | length (LE16) | end code (LE16) | data
  binary 4E           54 00 | serial (LE16) | 00 00 | <3E fields from NW on>;  response D4 00 ...
  ASCII 3E/4E         the same fields as upper-case hex text, numbers written most significant
                      digit first: "5000" "00" "FF" "03FF" "00" "0018" "0010" "0401" "0000" ...
                      response "D000"... (4E: "5400" + serial(4) + "0000", response "D400"...)

On an error the response carries, after the end code, the error information block: NW, PC,
I/O, station, command, subcommand of the failed request (9 bytes binary, 18 characters ASCII).

Commands answered (request data after command/subcommand):
  0x0401 batch read (sub 0x0000 words / 0x0001 bits): head device, points
  0x1401 batch write (sub 0x0000 / 0x0001): head device, points, values
  0x0403 random read (sub 0x0000): word count u8, dword count u8, devices
  0x1402 random write (sub 0x0000 words: counts + device/value pairs; 0x0001 bits: count u8,
         device + u8 value pairs)
  0x0101 read CPU model: 16 characters (space padded) + model code u16
  0x1001 remote RUN, 0x1002 remote STOP, 0x1003 remote PAUSE, 0x1005 remote latch clear,
  0x1006 remote RESET, 0x1617 clear error
  0x1630 remote password unlock / 0x1631 lock: length u16 + password characters
  0x0619 loopback test: length u16 + data (echoed)
Device numbers: Q/L layout (3-byte number + 1-byte code; ASCII 2-character code + 6 digits, hex
digits for X, Y, B, W, SB, SW, DX, DY and decimal otherwise, as the manuals say).

End codes it sends:
  0x0000 OK
  0xC051 too many bit points in one batch request (more than 7168 binary / 3584 ASCII)
  0xC052 too many word points in one batch request (more than 960 binary / 480 ASCII)
  0xC054 too many points in one random request (more than 192)
  0xC056 device beyond the configured end (e.g. D12288 and up)
  0xC059 command or subcommand this CPU does not support (e.g. the iQ-R subcommands
         0x0002/0x0003, which a Q CPU rejects)
  0xC200 wrong remote password (0x1630 with a password other than --password)
  0xC05C request data malformed (too short)

Every request is also logged, one line each, to stderr.
"""

import argparse
import asyncio
import sys

HEX_DEVICES = {"X", "Y", "B", "W", "SB", "SW", "DX", "DY"}
# name: (binary code, ascii code, bit device?, points)
DEVICES = {
    "X": (0x9C, "X*", True, 8192),
    "Y": (0x9D, "Y*", True, 8192),
    "M": (0x90, "M*", True, 8192),
    "L": (0x92, "L*", True, 8192),
    "F": (0x93, "F*", True, 2048),
    "V": (0x94, "V*", True, 2048),
    "B": (0xA0, "B*", True, 8192),
    "SM": (0x91, "SM", True, 2048),
    "SB": (0xA1, "SB", True, 2048),
    "TS": (0xC1, "TS", True, 2048),
    "TC": (0xC0, "TC", True, 2048),
    "CS": (0xC4, "CS", True, 1024),
    "CC": (0xC3, "CC", True, 1024),
    "D": (0xA8, "D*", False, 12288),
    "W": (0xB4, "W*", False, 8192),
    "R": (0xAF, "R*", False, 32768),
    "ZR": (0xB0, "ZR", False, 65536),
    "SD": (0xA9, "SD", False, 2048),
    "SW": (0xB5, "SW", False, 2048),
    "TN": (0xC2, "TN", False, 2048),
    "CN": (0xC5, "CN", False, 1024),
    "Z": (0xCC, "Z*", False, 20),
}
BY_BIN = {v[0]: k for k, v in DEVICES.items()}
BY_ASCII = {v[1]: k for k, v in DEVICES.items()}

OK = 0x0000
E_BIT_POINTS = 0xC051
E_WORD_POINTS = 0xC052
E_RANDOM_POINTS = 0xC054
E_ADDRESS = 0xC056
E_COMMAND = 0xC059
E_DATA = 0xC05C
E_PASSWORD = 0xC200


class McError(Exception):
    def __init__(self, end_code):
        super().__init__(hex(end_code))
        self.end_code = end_code


class Frame:
    """One parsed request."""

    def __init__(self, kind, ascii_mode, serial, nw, pc, io, station, timer, cmd, sub, data):
        self.kind, self.ascii, self.serial = kind, ascii_mode, serial
        self.nw, self.pc, self.io, self.station = nw, pc, io, station
        self.timer, self.cmd, self.sub, self.data = timer, cmd, sub, data


def parse_frame(buf):
    """Returns (Frame, consumed bytes), (None, 0) when more bytes are needed.
    Raises ValueError on bytes that are not a 3E/4E request."""
    if len(buf) < 2:
        return None, 0
    if buf[:2] in (b"\x50\x00", b"\x54\x00"):
        four = buf[:2] == b"\x54\x00"
        off = 6 if four else 2
        if len(buf) < off + 7:
            return None, 0
        serial = int.from_bytes(buf[2:4], "little") if four else None
        nw, pc = buf[off], buf[off + 1]
        io = int.from_bytes(buf[off + 2:off + 4], "little")
        st = buf[off + 4]
        ln = int.from_bytes(buf[off + 5:off + 7], "little")
        total = off + 7 + ln
        if len(buf) < total:
            return None, 0
        body = bytes(buf[off + 7:total])
        if ln < 6:
            raise ValueError("binary request shorter than timer+command+subcommand")
        timer = int.from_bytes(body[0:2], "little")
        cmd = int.from_bytes(body[2:4], "little")
        sub = int.from_bytes(body[4:6], "little")
        return Frame("4E" if four else "3E", False, serial, nw, pc, io, st, timer, cmd, sub, body[6:]), total
    if len(buf) < 4:
        return None, 0
    if buf[:4] in (b"5000", b"5400"):
        four = buf[:4] == b"5400"
        off = 12 if four else 4
        if len(buf) < off + 14:
            return None, 0
        h = lambda a, b: int(bytes(buf[a:b]).decode(), 16)  # noqa: E731
        serial = h(4, 8) if four else None
        nw, pc, io, st, ln = h(off, off + 2), h(off + 2, off + 4), h(off + 4, off + 8), h(off + 8, off + 10), h(off + 10, off + 14)
        total = off + 14 + ln
        if len(buf) < total:
            return None, 0
        body = bytes(buf[off + 14:total])
        if ln < 12:
            raise ValueError("ASCII request shorter than timer+command+subcommand")
        timer, cmd, sub = int(body[0:4], 16), int(body[4:8], 16), int(body[8:12], 16)
        return Frame("4E" if four else "3E", True, serial, nw, pc, io, st, timer, cmd, sub, body[12:]), total
    raise ValueError("not an MC 3E/4E request: %r" % bytes(buf[:8]))


class Reader:
    """Reads request data fields in the frame's code (binary LE or ASCII hex)."""

    def __init__(self, data, ascii_mode):
        self.d, self.a, self.p = data, ascii_mode, 0

    def _take(self, n):
        if self.p + n > len(self.d):
            raise McError(E_DATA)
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def uint(self, nbytes):
        if self.a:
            return int(self._take(2 * nbytes), 16)
        return int.from_bytes(self._take(nbytes), "little")

    def raw(self, n):
        return self._take(n)

    def device(self):
        if self.a:
            code = self._take(2).decode()
            name = BY_ASCII.get(code)
            digits = self._take(6).decode()
            if name is None:
                raise McError(E_COMMAND)
            return name, int(digits, 16 if name in HEX_DEVICES else 10)
        num = int.from_bytes(self._take(3), "little")
        name = BY_BIN.get(self._take(1)[0])
        if name is None:
            raise McError(E_COMMAND)
        return name, num


class Writer:
    def __init__(self, ascii_mode):
        self.a, self.out = ascii_mode, bytearray()

    def uint(self, v, nbytes):
        if self.a:
            self.out += ("%0*X" % (2 * nbytes, v)).encode()
        else:
            self.out += v.to_bytes(nbytes, "little")

    def raw(self, b):
        self.out += b


class Plc:
    def __init__(self, model, model_code, password):
        self.model, self.model_code, self.password = model, model_code, password
        self.bits = {}
        self.words = {}
        self.state = "RUN"
        self.locked = True
        # Some recognisable contents.
        for i in range(100):
            self.words[("D", 100 + i)] = (1000 + 7 * i) & 0xFFFF
        for i in range(0, 64, 3):
            self.bits[("M", i)] = 1
        for i in (0, 1, 4, 9):
            self.bits[("X", i)] = 1

    # ---- device memory -------------------------------------------------------
    def _check(self, name, start, count):
        if start + count > DEVICES[name][3]:
            raise McError(E_ADDRESS)

    def get_bit(self, name, n):
        return self.bits.get((name, n), 0)

    def get_word(self, name, n):
        if DEVICES[name][2]:  # word access to a bit device: bits n..n+15, n in bit 0
            return sum(self.get_bit(name, n + b) << b for b in range(16))
        return self.words.get((name, n), 0)

    def set_word(self, name, n, v):
        if DEVICES[name][2]:
            for b in range(16):
                self.bits[(name, n + b)] = (v >> b) & 1
        else:
            self.words[(name, n)] = v & 0xFFFF

    # ---- commands ---------------------------------------------------------------
    def handle(self, f):
        r = Reader(f.data, f.ascii)
        w = Writer(f.ascii)
        cmd, sub = f.cmd, f.sub
        device_cmds = (0x0401, 0x1401, 0x0403, 0x1402)
        if cmd in device_cmds and sub not in (0x0000, 0x0001):
            raise McError(E_COMMAND)  # iQ-R subcommands 0x0002/0x0003 and others
        if cmd == 0x0401:
            name, start = r.device()
            count = r.uint(2)
            if sub == 0x0001:
                if count > (3584 if f.ascii else 7168):
                    raise McError(E_BIT_POINTS)
                self._check(name, start, count)
                vals = [self.get_bit(name, start + i) for i in range(count)]
                w.raw(pack_bits(vals, f.ascii))
            else:
                if count > (480 if f.ascii else 960):
                    raise McError(E_WORD_POINTS)
                step = 16 if DEVICES[name][2] else 1
                self._check(name, start, count * step)
                for i in range(count):
                    w.uint(self.get_word(name, start + i * step), 2)
        elif cmd == 0x1401:
            name, start = r.device()
            count = r.uint(2)
            if sub == 0x0001:
                if count > (3584 if f.ascii else 7168):
                    raise McError(E_BIT_POINTS)
                self._check(name, start, count)
                vals = unpack_bits(r, count, f.ascii)
                for i, v in enumerate(vals):
                    self.bits[(name, start + i)] = v
            else:
                if count > (480 if f.ascii else 960):
                    raise McError(E_WORD_POINTS)
                step = 16 if DEVICES[name][2] else 1
                self._check(name, start, count * step)
                for i in range(count):
                    self.set_word(name, start + i * step, r.uint(2))
        elif cmd == 0x0403:
            if sub != 0x0000:
                raise McError(E_COMMAND)
            nword, ndword = r.uint(1), r.uint(1)
            if nword + ndword > 192:
                raise McError(E_RANDOM_POINTS)
            devs = [r.device() for _ in range(nword + ndword)]
            for i, (name, n) in enumerate(devs):
                self._check(name, n, 2 if i >= nword else 1)
            for name, n in devs[:nword]:
                w.uint(self.get_word(name, n), 2)
            for name, n in devs[nword:]:
                step = 16 if DEVICES[name][2] else 1
                w.uint(self.get_word(name, n) | (self.get_word(name, n + step) << 16), 4)
        elif cmd == 0x1402:
            if sub == 0x0001:
                count = r.uint(1)
                for _ in range(count):
                    name, n = r.device()
                    self._check(name, n, 1)
                    self.bits[(name, n)] = r.uint(1) & 1
            else:
                nword, ndword = r.uint(1), r.uint(1)
                for _ in range(nword):
                    name, n = r.device()
                    self._check(name, n, 1)
                    self.set_word(name, n, r.uint(2))
                for _ in range(ndword):
                    name, n = r.device()
                    step = 16 if DEVICES[name][2] else 1
                    self._check(name, n, 2 * step)
                    v = r.uint(4)
                    self.set_word(name, n, v & 0xFFFF)
                    self.set_word(name, n + step, v >> 16)
        elif cmd == 0x0101:
            w.raw(self.model.ljust(16)[:16].encode())
            w.uint(self.model_code, 2)
        elif cmd == 0x1001:
            mode, _clear, _pad = r.uint(2), r.uint(1), r.uint(1)
            if mode not in (0x0001, 0x0003):
                raise McError(E_DATA)
            self.state = "RUN"
        elif cmd == 0x1002:
            r.uint(2)
            self.state = "STOP"
        elif cmd == 0x1003:
            r.uint(2)
            self.state = "PAUSE"
        elif cmd in (0x1005, 0x1006, 0x1617):
            if cmd != 0x1617:
                r.uint(2)
        elif cmd in (0x1630, 0x1631):
            n = r.uint(2)
            pw = r.raw(n).decode(errors="replace")
            if pw != self.password:
                raise McError(E_PASSWORD)
            self.locked = cmd == 0x1631
        elif cmd == 0x0619:
            n = r.uint(2)
            data = r.raw(n)
            w.uint(n, 2)
            w.raw(data)
        else:
            raise McError(E_COMMAND)
        return bytes(w.out)


def pack_bits(vals, ascii_mode):
    if ascii_mode:
        return "".join("1" if v else "0" for v in vals).encode()
    out = bytearray()
    for i in range(0, len(vals), 2):
        hi = vals[i]
        lo = vals[i + 1] if i + 1 < len(vals) else 0
        out.append((hi << 4) | lo)
    return bytes(out)


def unpack_bits(r, count, ascii_mode):
    if ascii_mode:
        return [1 if c == ord("1") else 0 for c in r.raw(count)]
    raw = r.raw((count + 1) // 2)
    vals = []
    for i in range(count):
        b = raw[i // 2]
        vals.append((b >> 4) & 1 if i % 2 == 0 else b & 1)
    return vals


def build_response(f, end_code, data):
    """Response in the request's frame kind and code."""
    w = Writer(f.ascii)
    body = Writer(f.ascii)
    body.uint(end_code, 2)
    if end_code == OK:
        body.raw(data)
    else:
        body.uint(f.nw, 1)
        body.uint(f.pc, 1)
        body.uint(f.io, 2)
        body.uint(f.station, 1)
        body.uint(f.cmd, 2)
        body.uint(f.sub, 2)
    if f.ascii:
        w.raw(b"D400" if f.kind == "4E" else b"D000")
        if f.kind == "4E":
            w.uint(f.serial, 2)
            w.raw(b"0000")
    else:
        w.raw(b"\xd4\x00" if f.kind == "4E" else b"\xd0\x00")
        if f.kind == "4E":
            w.uint(f.serial, 2)
            w.raw(b"\x00\x00")
    w.uint(f.nw, 1)
    w.uint(f.pc, 1)
    w.uint(f.io, 2)
    w.uint(f.station, 1)
    w.uint(len(body.out), 2)
    w.raw(bytes(body.out))
    return bytes(w.out)


def answer(plc, f):
    try:
        data = plc.handle(f)
        end = OK
    except McError as e:
        data, end = b"", e.end_code
    print(
        "%s %s%s cmd=0x%04X sub=0x%04X end=0x%04X"
        % (f.kind, "ascii" if f.ascii else "binary",
           "" if f.serial is None else " serial=%d" % f.serial, f.cmd, f.sub, end),
        file=sys.stderr, flush=True,
    )
    return build_response(f, end, data)


class TcpConn(asyncio.Protocol):
    def __init__(self, plc):
        self.plc, self.buf = plc, bytearray()

    def connection_made(self, transport):
        self.t = transport

    def data_received(self, data):
        self.buf += data
        while True:
            try:
                f, used = parse_frame(self.buf)
            except ValueError as e:
                print("dropping connection:", e, file=sys.stderr)
                self.t.close()
                return
            if f is None:
                return
            del self.buf[:used]
            self.t.write(answer(self.plc, f))  # one write per response


class UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, plc):
        self.plc = plc

    def connection_made(self, transport):
        self.t = transport

    def datagram_received(self, data, addr):
        try:
            f, used = parse_frame(bytearray(data))
        except ValueError as e:
            print("ignoring datagram:", e, file=sys.stderr)
            return
        if f is not None:
            self.t.sendto(answer(self.plc, f), addr)


async def serve(a):
    plc = Plc(a.model, a.model_code, a.password)
    loop = asyncio.get_running_loop()
    if a.udp:
        await loop.create_datagram_endpoint(lambda: UdpEndpoint(plc), local_addr=("127.0.0.1", a.port))
    else:
        server = await loop.create_server(lambda: TcpConn(plc), "127.0.0.1", a.port)
        await server.start_serving()
    print("listening on 127.0.0.1:%d/%s" % (a.port, "udp" if a.udp else "tcp"), file=sys.stderr, flush=True)
    await asyncio.Event().wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5010)
    ap.add_argument("--udp", action="store_true")
    ap.add_argument("--model", default="Q03UDVCPU")
    ap.add_argument("--model-code", type=lambda s: int(s, 0), default=0x0366)
    ap.add_argument("--password", default="SW42")
    a = ap.parse_args()
    try:
        asyncio.run(serve(a))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
