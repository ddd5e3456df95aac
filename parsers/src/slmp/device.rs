//! Device access decoding for SLMP / MC protocol device commands
//! (batch, random, block read/write and monitor registration).
//!
//! References: Mitsubishi SH-080008 (MC protocol) and BAP-C2006ENG-003
//! (SLMP) device access chapters; device codes as listed by
//! fa-yoshinobu/plc-comm-slmp-rust `src/model.rs` and senrust/pymcprotocol
//! `mcprotocolconst.py` (binary codes, ASCII names, hexadecimal-numbered
//! devices).
//!
//! Device specification on the wire:
//!
//! ```text
//! binary, Q/L form (subcommand 0x0000 word / 0x0001 bit):
//!   +-----------------------+-----------+
//!   | device number (3, LE) | code (1)  |
//!   +-----------------------+-----------+
//! binary, iQ-R form (subcommand 0x0002 word / 0x0003 bit):
//!   +-----------------------+-----------+
//!   | device number (4, LE) | code (2 LE)|
//!   +-----------------------+-----------+
//! ASCII, Q/L form:  code (2 chars, e.g. "D*", "ZR") | number (6 chars)
//! ASCII, iQ-R form: code (4 chars, e.g. "D***")     | number (8 chars)
//! ```
//!
//! ASCII numbers are hexadecimal for X, Y, B, W, SB, SW, DX, DY and ZR,
//! decimal otherwise. Every other numeric field is "wire bytes": little-endian
//! binary, or twice as many upper-case hex characters, most significant first.

use super::Encoding;

/// Longest device list walked per request (random/block counts are one byte
/// each, so 2 × 255 is the wire maximum).
pub const MAX_DEVICE_ITEMS: usize = 510;

/// Device code value used for an ASCII device name that is not in the table.
pub const UNKNOWN_ASCII_DEVICE: u16 = 0xFFFF;

/// (binary code, canonical name, alternate ASCII name, hex-numbered)
const DEVICES: &[(u16, &str, &str, bool)] = &[
    (0x002C, "RD", "RD", false),
    (0x002E, "HG", "HG", false),
    (0x0050, "LTC", "LTC", false),
    (0x0051, "LTS", "LTS", false),
    (0x0052, "LTN", "LTN", false),
    (0x0054, "LCC", "LCC", false),
    (0x0055, "LCS", "LCS", false),
    (0x0056, "LCN", "LCN", false),
    (0x0058, "LSTC", "LSTC", false),
    (0x0059, "LSTS", "LSTS", false),
    (0x005A, "LSTN", "LSTN", false),
    (0x0062, "LZ", "LZ", false),
    (0x0090, "M", "M", false),
    (0x0091, "SM", "SM", false),
    (0x0092, "L", "L", false),
    (0x0093, "F", "F", false),
    (0x0094, "V", "V", false),
    (0x0098, "S", "S", false),
    (0x009C, "X", "X", true),
    (0x009D, "Y", "Y", true),
    (0x00A0, "B", "B", true),
    (0x00A1, "SB", "SB", true),
    (0x00A2, "DX", "DX", true),
    (0x00A3, "DY", "DY", true),
    (0x00A8, "D", "D", false),
    (0x00A9, "SD", "SD", false),
    (0x00AB, "G", "G", false),
    (0x00AF, "R", "R", false),
    (0x00B0, "ZR", "ZR", true),
    (0x00B4, "W", "W", true),
    (0x00B5, "SW", "SW", true),
    (0x00C0, "TC", "TC", false),
    (0x00C1, "TS", "TS", false),
    (0x00C2, "TN", "TN", false),
    (0x00C3, "CC", "CC", false),
    (0x00C4, "CS", "CS", false),
    (0x00C5, "CN", "CN", false),
    (0x00C6, "SC", "STC", false),
    (0x00C7, "SS", "STS", false),
    (0x00C8, "SN", "STN", false),
    (0x00CC, "Z", "Z", false),
];

/// Index into [`DEVICES`] by binary code (all codes are below 0x100);
/// `u8::MAX` = not a device.
const CODE_INDEX: [u8; 256] = {
    let mut idx = [u8::MAX; 256];
    let mut i = 0;
    while i < DEVICES.len() {
        idx[DEVICES[i].0 as usize] = i as u8;
        i += 1;
    }
    idx
};

fn entry(code: u16) -> Option<&'static (u16, &'static str, &'static str, bool)> {
    let i = *CODE_INDEX.get(usize::from(code))?;
    DEVICES.get(usize::from(i))
}

/// The name of a binary device code (`"D"`, `"ZR"`, `"TS"`...), `"unknown"`
/// for codes not in the table.
pub fn device_name(code: u16) -> &'static str {
    entry(code).map_or("unknown", |d| d.1)
}

fn hex_numbered(code: u16) -> bool {
    entry(code).is_some_and(|d| d.3)
}

/// Maps an ASCII device name (padding `*` already stripped) to its code.
fn code_from_ascii(name: &[u8]) -> Option<u16> {
    DEVICES
        .iter()
        .find(|d| d.1.as_bytes() == name || d.2.as_bytes() == name)
        .map(|d| d.0)
}

/// One device named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRef {
    /// Binary device code (for ASCII frames, the code the name maps to, or
    /// [`UNKNOWN_ASCII_DEVICE`]).
    pub code: u16,
    /// Device number (head device for ranges).
    pub number: u32,
    /// The ASCII device name as sent (padding `*` kept), zeros for binary.
    pub ascii_name: [u8; 4],
}

impl DeviceRef {
    /// Canonical device name (`"D"`, `"X"`, `"ZR"`...) or `"unknown"`.
    pub fn name(&self) -> &'static str {
        device_name(self.code)
    }

    /// True when the code is in the device table.
    pub fn is_known(&self) -> bool {
        self.name() != "unknown"
    }
}

/// Word or bit access, from the subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessUnit {
    /// Word units (subcommand 0x0000 / 0x0002).
    Word,
    /// Bit units (subcommand 0x0001 / 0x0003).
    Bit,
}

/// Device specification layout, from the subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceForm {
    /// MELSEC-Q/L: 3-byte number, 1-byte code (ASCII: 2 + 6 characters).
    QL,
    /// MELSEC iQ-R: 4-byte number, 2-byte code (ASCII: 4 + 8 characters).
    IqR,
}

/// Splits a device-access subcommand. `None` for subcommands this decoder
/// does not walk (0x008x device-extension forms, or invalid values).
pub fn subcommand_form(sub: u16) -> Option<(AccessUnit, DeviceForm)> {
    match sub {
        0x0000 => Some((AccessUnit::Word, DeviceForm::QL)),
        0x0001 => Some((AccessUnit::Bit, DeviceForm::QL)),
        0x0002 => Some((AccessUnit::Word, DeviceForm::IqR)),
        0x0003 => Some((AccessUnit::Bit, DeviceForm::IqR)),
        _ => None,
    }
}

/// True for the device-extension subcommands (0x0080–0x0083), which are valid
/// but not walked.
pub fn is_extension_subcommand(sub: u16) -> bool {
    matches!(sub, 0x0080..=0x0083)
}

/// Which device command the access belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessOp {
    /// 0x0401: head device + points.
    BatchRead,
    /// 0x1401: head device + points + values.
    BatchWrite,
    /// 0x0403: word count, dword count, device list.
    RandomRead,
    /// 0x1402: word/dword (or bit) count, device + value pairs.
    RandomWrite,
    /// 0x0406: word block count, bit block count, (device + points) blocks.
    BlockRead,
    /// 0x1406: block counts, (device + points + values) blocks.
    BlockWrite,
    /// 0x0801: same list layout as random read.
    MonitorRegister,
}

impl AccessOp {
    /// The access op for a device command code.
    pub fn from_command(cmd: u16) -> Option<AccessOp> {
        Some(match cmd {
            0x0401 => AccessOp::BatchRead,
            0x1401 => AccessOp::BatchWrite,
            0x0403 => AccessOp::RandomRead,
            0x1402 => AccessOp::RandomWrite,
            0x0406 => AccessOp::BlockRead,
            0x1406 => AccessOp::BlockWrite,
            0x0801 => AccessOp::MonitorRegister,
            _ => return None,
        })
    }
}

/// Why a cursor read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Not enough bytes.
    Short,
    /// ASCII text that is not a number.
    BadText,
}

/// Reads "wire bytes" fields in either encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    ascii: bool,
}

pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Parses up to 16 hex characters, most significant first.
pub(crate) fn parse_hex(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    text.iter()
        .try_fold(0u64, |acc, &b| Some((acc << 4) | u64::from(hex_digit(b)?)))
}

fn parse_dec(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], enc: Encoding) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            ascii: enc == Encoding::Ascii,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Bytes on the wire for `wire` binary bytes in this encoding.
    pub(crate) fn width(&self, wire: usize) -> usize {
        if self.ascii {
            wire.saturating_mul(2)
        } else {
            wire
        }
    }

    /// Takes `n` raw bytes (already scaled for the encoding).
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.pos.checked_add(n).ok_or(Stop::Short)?;
        let s = self.buf.get(self.pos..end).ok_or(Stop::Short)?;
        self.pos = end;
        Ok(s)
    }

    /// Takes the raw bytes of a `wire`-byte field.
    pub(crate) fn raw(&mut self, wire: usize) -> Result<&'a [u8], Stop> {
        let n = self.width(wire);
        self.take(n)
    }

    /// An unsigned number of `wire` bytes (at most 8): little-endian binary or
    /// hex text, most significant first.
    pub(crate) fn num(&mut self, wire: usize) -> Result<u64, Stop> {
        let start = self.pos;
        let s = self.raw(wire)?;
        if self.ascii {
            match parse_hex(s) {
                Some(v) => Ok(v),
                None => {
                    self.pos = start;
                    Err(Stop::BadText)
                }
            }
        } else {
            Ok(s.iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Stop> {
        self.num(1).map(|v| v as u8)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Stop> {
        self.num(2).map(|v| v as u16)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Stop> {
        self.num(4).map(|v| v as u32)
    }

    /// One device specification in `form`.
    pub(crate) fn device(&mut self, form: DeviceForm) -> Result<DeviceRef, Stop> {
        if self.ascii {
            let (code_len, num_len) = match form {
                DeviceForm::QL => (2, 6),
                DeviceForm::IqR => (4, 8),
            };
            let start = self.pos;
            let name_raw = self.take(code_len)?;
            let num_raw = match self.take(num_len) {
                Ok(n) => n,
                Err(e) => {
                    self.pos = start;
                    return Err(e);
                }
            };
            let mut ascii_name = [0u8; 4];
            for (dst, src) in ascii_name.iter_mut().zip(name_raw) {
                *dst = *src;
            }
            let trimmed_len = name_raw
                .iter()
                .rposition(|&b| b != b'*' && b != b' ')
                .map_or(0, |p| p + 1);
            let name = name_raw.get(..trimmed_len).unwrap_or(&[]);
            let code = code_from_ascii(name).unwrap_or(UNKNOWN_ASCII_DEVICE);
            let number = if code == UNKNOWN_ASCII_DEVICE || hex_numbered(code) {
                parse_hex(num_raw)
            } else {
                parse_dec(num_raw)
            };
            match number {
                Some(n) if n <= u64::from(u32::MAX) => Ok(DeviceRef {
                    code,
                    number: n as u32,
                    ascii_name,
                }),
                _ => {
                    self.pos = start;
                    Err(Stop::BadText)
                }
            }
        } else {
            let (num_len, code_len) = match form {
                DeviceForm::QL => (3, 1),
                DeviceForm::IqR => (4, 2),
            };
            let number = self.num(num_len)? as u32;
            let code = self.num(code_len)? as u16;
            Ok(DeviceRef {
                code,
                number,
                ascii_name: [0; 4],
            })
        }
    }
}

/// A decoded device access request.
///
/// The summary fields are filled while the list is walked once at parse time;
/// [`DeviceAccess::items`] walks it again lazily for callers that want every
/// device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAccess<'a> {
    /// Which device command.
    pub op: AccessOp,
    /// Word or bit units.
    pub unit: AccessUnit,
    /// Q/L or iQ-R device specification.
    pub form: DeviceForm,
    /// Encoding of `values` and of the walked list.
    pub encoding: Encoding,
    /// The first device named (the head device for batch access).
    pub head: Option<DeviceRef>,
    /// Batch: number of points. Random: number of devices. Block: points
    /// summed over all blocks.
    pub points: u32,
    /// Random: word access count (bit access count for random bit write).
    /// Block: word block count. Batch: 0.
    pub first_count: u8,
    /// Random: double-word access count. Block: bit block count. Batch: 0.
    pub second_count: u8,
    /// Devices actually walked before the data ended.
    pub items_walked: u16,
    /// Batch write: the raw write values (binary words LE, bits two per byte
    /// high nibble first; ASCII 4 characters per word, 1 per bit). Empty
    /// otherwise.
    pub values: &'a [u8],
    /// The device list after the counts (random/block), or after the head
    /// device (batch); raw.
    list: &'a [u8],
}

/// One device of a walked list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessItem<'a> {
    /// The device.
    pub device: DeviceRef,
    /// Points at this device (1 for random access).
    pub points: u16,
    /// True for a double-word entry of a random access.
    pub dword: bool,
    /// Raw value bytes written to this device (random/block write), empty
    /// for reads.
    pub value: &'a [u8],
}

/// What walking the list found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WalkReport {
    pub truncated: bool,
    pub bad_text: bool,
    pub trailing: bool,
    pub unknown_device: bool,
    pub values_mismatch: bool,
    pub zero_points: bool,
    pub bit_unit_not_allowed: bool,
}

impl<'a> DeviceAccess<'a> {
    /// Decodes the request data after the subcommand. Returns `None` when the
    /// subcommand is not a walkable device subcommand.
    pub(crate) fn decode(
        cmd: u16,
        sub: u16,
        data: &'a [u8],
        enc: Encoding,
    ) -> Option<(DeviceAccess<'a>, WalkReport)> {
        let op = AccessOp::from_command(cmd)?;
        let (unit, form) = subcommand_form(sub)?;
        let mut rep = WalkReport::default();
        let mut cur = Cursor::new(data, enc);
        let mut acc = DeviceAccess {
            op,
            unit,
            form,
            encoding: enc,
            head: None,
            points: 0,
            first_count: 0,
            second_count: 0,
            items_walked: 0,
            values: &[],
            list: &[],
        };
        match op {
            AccessOp::BatchRead | AccessOp::BatchWrite => {
                acc.list = data;
                let head = cur.device(form);
                let pts = head.and_then(|_| cur.u16());
                match (head, pts) {
                    (Ok(h), Ok(p)) => {
                        acc.head = Some(h);
                        acc.points = u32::from(p);
                        acc.items_walked = 1;
                        rep.unknown_device |= !h.is_known();
                        rep.zero_points |= p == 0;
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        rep.truncated |= e == Stop::Short;
                        rep.bad_text |= e == Stop::BadText;
                        return Some((acc, rep));
                    }
                }
                let rest = data.get(cur.pos()..).unwrap_or(&[]);
                if op == AccessOp::BatchWrite {
                    acc.values = rest;
                    let expected = match (unit, enc) {
                        (AccessUnit::Word, _) => cur.width(2).saturating_mul(acc.points as usize),
                        (AccessUnit::Bit, Encoding::Binary) => (acc.points as usize).div_ceil(2),
                        (AccessUnit::Bit, Encoding::Ascii) => acc.points as usize,
                    };
                    rep.values_mismatch |= rest.len() != expected;
                } else {
                    rep.trailing |= !rest.is_empty();
                }
            }
            _ => {
                if matches!(op, AccessOp::RandomRead | AccessOp::MonitorRegister)
                    && unit == AccessUnit::Bit
                {
                    rep.bit_unit_not_allowed = true;
                }
                let counts = if op == AccessOp::RandomWrite && unit == AccessUnit::Bit {
                    cur.u8().map(|n| (n, 0))
                } else {
                    cur.u8().and_then(|a| cur.u8().map(|b| (a, b)))
                };
                match counts {
                    Ok((a, b)) => {
                        acc.first_count = a;
                        acc.second_count = b;
                    }
                    Err(e) => {
                        rep.truncated |= e == Stop::Short;
                        rep.bad_text |= e == Stop::BadText;
                        return Some((acc, rep));
                    }
                }
                acc.list = data.get(cur.pos()..).unwrap_or(&[]);
                let expected = usize::from(acc.first_count) + usize::from(acc.second_count);
                let mut items = acc.items();
                let mut walked = 0usize;
                let mut points = 0u32;
                for item in items.by_ref() {
                    if walked == 0 {
                        acc.head = Some(item.device);
                    }
                    walked += 1;
                    points = points.saturating_add(u32::from(item.points));
                    rep.unknown_device |= !item.device.is_known();
                    rep.zero_points |= item.points == 0;
                }
                acc.items_walked = walked.min(usize::from(u16::MAX)) as u16;
                acc.points = points;
                if walked < expected {
                    match items.stop {
                        Some(Stop::BadText) => rep.bad_text = true,
                        _ => rep.truncated = true,
                    }
                } else {
                    rep.trailing |= items.cur.remaining() > 0;
                }
            }
        }
        Some((acc, rep))
    }

    /// Walks the device list again. Stops at the first field that does not
    /// fit; never yields more than [`MAX_DEVICE_ITEMS`].
    pub fn items(&self) -> AccessItems<'a> {
        let single = matches!(self.op, AccessOp::BatchRead | AccessOp::BatchWrite);
        AccessItems {
            op: self.op,
            unit: self.unit,
            form: self.form,
            cur: Cursor::new(self.list, self.encoding),
            first_left: if single {
                1
            } else {
                u16::from(self.first_count)
            },
            second_left: if single {
                0
            } else {
                u16::from(self.second_count)
            },
            yielded: 0,
            stop: None,
        }
    }
}

/// Iterator over the devices of a [`DeviceAccess`].
#[derive(Debug, Clone)]
pub struct AccessItems<'a> {
    op: AccessOp,
    unit: AccessUnit,
    form: DeviceForm,
    cur: Cursor<'a>,
    first_left: u16,
    second_left: u16,
    yielded: usize,
    stop: Option<Stop>,
}

impl<'a> AccessItems<'a> {
    fn step(&mut self, second: bool) -> Result<AccessItem<'a>, Stop> {
        let device = self.cur.device(self.form)?;
        let mut item = AccessItem {
            device,
            points: 1,
            dword: false,
            value: &[],
        };
        match self.op {
            AccessOp::BatchRead | AccessOp::BatchWrite | AccessOp::BlockRead => {
                item.points = self.cur.u16()?;
            }
            AccessOp::BlockWrite => {
                item.points = self.cur.u16()?;
                // Word and bit blocks both carry one word per point.
                let n = self.cur.width(2).saturating_mul(usize::from(item.points));
                item.value = self.cur.take(n)?;
            }
            AccessOp::RandomRead | AccessOp::MonitorRegister => {
                item.dword = second;
            }
            AccessOp::RandomWrite => {
                let wire = match (self.unit, self.form) {
                    (AccessUnit::Bit, DeviceForm::QL) => 1,
                    (AccessUnit::Bit, DeviceForm::IqR) => 2,
                    (AccessUnit::Word, _) if second => 4,
                    (AccessUnit::Word, _) => 2,
                };
                item.dword = second;
                item.value = self.cur.raw(wire)?;
            }
        }
        Ok(item)
    }
}

impl<'a> Iterator for AccessItems<'a> {
    type Item = AccessItem<'a>;

    fn next(&mut self) -> Option<AccessItem<'a>> {
        if self.stop.is_some() || self.yielded >= MAX_DEVICE_ITEMS {
            return None;
        }
        let second = if self.first_left > 0 {
            false
        } else if self.second_left > 0 {
            true
        } else {
            return None;
        };
        match self.step(second) {
            Ok(item) => {
                if second {
                    self.second_left -= 1;
                } else {
                    self.first_left -= 1;
                }
                self.yielded += 1;
                Some(item)
            }
            Err(e) => {
                self.stop = Some(e);
                None
            }
        }
    }
}
