//! Mitsubishi MELSEC MC protocol / SLMP: 3E and 4E frames, binary and ASCII.
//!
//! References:
//! * Mitsubishi SH-080008 (MELSEC Communication Protocol reference) and
//!   SH-080956ENG / BAP-C2006ENG-001..003 (SLMP reference): frame layouts,
//!   commands, device codes, end codes.
//! * senrust/pymcprotocol `type3e.py` (answer offsets 9/11 binary, 18/22
//!   ASCII; ASCII numbers as upper-case hex text), fa-yoshinobu/plc-comm-slmp-rust
//!   `src/model.rs`, `src/error_codes.rs`; rtlabs-com/c-link
//!   `src/common/cl_types.h` (4E header, node search / set IP layouts).
//! * spanwatch `PROTOCOLS.md` section 2.3.
//!
//! There is no fixed port: this parser recognises frames by content (subheader
//! plus a consistent length). TCP uses [`SlmpStream`]; UDP datagrams go
//! through [`parse_frame`].
//!
//! The remote-password commands (0x1630 unlock, 0x1631 lock) carry the
//! password in clear; the decoded request keeps only its length, sets
//! [`Flags::CLEARTEXT_PASSWORD`], and hands out an empty `data` slice so that
//! no password byte can reach a log.
//!
//! ```
//! use spanwatch_parsers::slmp::{parse_frame, Frame};
//! // Binary 3E batch read, 3 words from D100 (SH-080008 style example).
//! let bytes = [
//!     0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x0C, 0x00, 0x10, 0x00,
//!     0x01, 0x04, 0x00, 0x00, 0x64, 0x00, 0x00, 0xA8, 0x03, 0x00,
//! ];
//! let Ok(Frame::Request(req)) = parse_frame(&bytes) else { panic!() };
//! assert_eq!(req.command_name(), "batch_read");
//! let access = req.device_access().unwrap();
//! assert_eq!(access.head.unwrap().name(), "D");
//! assert_eq!(access.head.unwrap().number, 100);
//! assert_eq!(access.points, 3);
//! ```

mod command;
mod device;

pub use command::{command_class, command_name, end_code_name, is_remote_password_end_code};
pub use device::{
    device_name, is_extension_subcommand, subcommand_form, AccessItem, AccessItems, AccessOp,
    AccessUnit, DeviceAccess, DeviceForm, DeviceRef, MAX_DEVICE_ITEMS, UNKNOWN_ASCII_DEVICE,
};

use crate::modbus::flag_set;
use crate::ot::OtClass;
use crate::stream::{drive, Direction, Parsed, Probe, StreamParser};
use device::{parse_hex, Cursor, Stop};

/// Largest frame accepted (header + declared data). SLMP requests top out
/// at a few kilobytes (960 words binary, 3840 characters ASCII for device
/// writes, ~2 KB file chunks); anything larger is treated as broken framing.
pub const MAX_FRAME_LEN: usize = 16 * 1024;

/// Longest header: ASCII 4E (26 characters up to and including the length).
pub const MAX_HEADER_LEN: usize = 26;

/// Frame family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// 3E: no serial number.
    E3,
    /// 4E: 3E plus a serial number that pairs pipelined requests/responses.
    E4,
}

/// Data code of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Binary: numbers little-endian.
    Binary,
    /// ASCII: numbers as upper-case hex text, most significant first.
    Ascii,
}

/// Request or response, from the subheader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Subheader 0x5000 / 0x5400.
    Request,
    /// Subheader 0xD000 / 0xD400.
    Response,
}

flag_set! {
    /// Violations and notable facts about a frame. A set bit never stops parsing.
    pub struct Flags {
        /// Datagram longer than the frame its length field declares.
        const TRAILING_BYTES = 0, "trailing_bytes";
        /// 4E reserved word after the serial is not zero.
        const RESERVED_NONZERO = 1, "reserved_nonzero";
        /// ASCII text that is not hexadecimal where a number belongs.
        const BAD_ASCII = 2, "bad_ascii";
        /// Subcommand not valid for the command.
        const BAD_SUBCOMMAND = 3, "bad_subcommand";
        /// Request data ends before the declared device list or fields.
        const DATA_TRUNCATED = 4, "data_truncated";
        /// Request data continues after everything the command declares.
        const TRAILING_DATA = 5, "trailing_data";
        /// A device code not in the device table.
        const UNKNOWN_DEVICE = 6, "unknown_device";
        /// Batch write values do not match the number of points.
        const WRITE_VALUES_MISMATCH = 7, "write_values_mismatch";
        /// A device access of zero points.
        const ZERO_POINTS = 8, "zero_points";
        /// A password crossed the wire in clear (0x1630 / 0x1631).
        const CLEARTEXT_PASSWORD = 9, "cleartext_password";
        /// The declared password length does not match the bytes sent, or is
        /// outside 4 (Q/L) and 6..=32 (iQ-R).
        const BAD_PASSWORD_LENGTH = 10, "bad_password_length";
        /// Remote RUN/PAUSE mode not 0x0001/0x0003, clear mode above 2, or
        /// STOP/RESET/LATCH CLEAR fixed word not 0x0001.
        const BAD_REMOTE_MODE = 11, "bad_remote_mode";
        /// Non-zero end code without the 9-byte error information block.
        const ERROR_INFO_MISSING = 12, "error_info_missing";
        /// A request seen server→client or a response client→server.
        const UNEXPECTED_DIRECTION = 13, "unexpected_direction";
        /// Bit units on a command that only takes word units (random read,
        /// monitor registration).
        const BIT_UNITS_NOT_ALLOWED = 14, "bit_units_not_allowed";
        /// Node search / set IP address field sizes are not 4 (IPv4).
        const BAD_ADDRESS_SIZE = 15, "bad_address_size";
    }
}

/// The routing header shared by requests and responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 3E or 4E.
    pub frame_type: FrameType,
    /// Binary or ASCII.
    pub encoding: Encoding,
    /// Request or response.
    pub kind: Kind,
    /// Serial number (4E only).
    pub serial: Option<u16>,
    /// Network number.
    pub network: u8,
    /// PC number / station (0xFF = own station).
    pub station: u8,
    /// Request destination module I/O number (0x03FF = own CPU,
    /// 0x03E0.. = multi-CPU No.1..).
    pub module_io: u16,
    /// Request destination multidrop station number.
    pub multidrop: u8,
    /// Declared data length (bytes for binary, characters for ASCII), counted
    /// from the monitoring timer (request) or end code (response).
    pub data_length: u16,
    /// Bytes up to and including the length field.
    pub header_len: usize,
    /// Total frame length: `header_len + data_length`.
    pub frame_len: usize,
}

/// Why bytes could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The frame needs `needed` more bytes.
    Incomplete {
        /// Additional bytes required (at least 1).
        needed: usize,
    },
    /// Not an MC/SLMP frame: the reason, usable as a counter name.
    Invalid(&'static str),
}

/// Minimum data length (timer + command + subcommand) of a request, in wire
/// bytes; a response needs at least its end code.
const MIN_REQUEST_WIRE: usize = 6;
const MIN_RESPONSE_WIRE: usize = 2;

/// Field offsets of the four header layouts.
mod field {
    /// Binary 3E: network at 2, length at 7, header 9.
    pub const BIN3E_ROUTE: usize = 2;
    /// Binary 4E: serial at 2..4, reserved 4..6, network at 6, length at 11, header 13.
    pub const BIN4E_ROUTE: usize = 6;
    /// ASCII 3E: network at 4..6, length at 14..18, header 18.
    pub const ASC3E_ROUTE: usize = 4;
    /// ASCII 4E: serial 4..8, reserved 8..12, network at 12..14, length at 22..26, header 26.
    pub const ASC4E_ROUTE: usize = 12;
}

/// Recognises the subheader. `Ok(None)` = too few bytes to tell.
fn subheader(b: &[u8]) -> Result<Option<(FrameType, Encoding, Kind)>, &'static str> {
    let Some(&first) = b.first() else {
        return Ok(None);
    };
    match first {
        0x50 | 0xD0 | 0x54 | 0xD4 => {
            let Some(&second) = b.get(1) else {
                return Ok(None);
            };
            if second != 0 {
                return Err("slmp_bad_subheader");
            }
            let ft = if first & 0x04 != 0 {
                FrameType::E4
            } else {
                FrameType::E3
            };
            let kind = if first & 0x80 != 0 {
                Kind::Response
            } else {
                Kind::Request
            };
            Ok(Some((ft, Encoding::Binary, kind)))
        }
        b'5' | b'D' => {
            // "5000" / "5400" / "D000" / "D400", checked as far as present.
            let second = b.get(1).copied();
            let four = match second {
                None => return Ok(None),
                Some(b'0') => false,
                Some(b'4') => true,
                Some(_) => return Err("slmp_bad_subheader"),
            };
            for i in 2..4 {
                match b.get(i) {
                    None => return Ok(None),
                    Some(b'0') => {}
                    Some(_) => return Err("slmp_bad_subheader"),
                }
            }
            let ft = if four { FrameType::E4 } else { FrameType::E3 };
            let kind = if first == b'D' {
                Kind::Response
            } else {
                Kind::Request
            };
            Ok(Some((ft, Encoding::Ascii, kind)))
        }
        _ => Err("slmp_bad_subheader"),
    }
}

/// Reads a header number of `wire` bytes at `off`.
fn hnum(b: &[u8], enc: Encoding, off: usize, wire: usize) -> Option<u64> {
    match enc {
        Encoding::Binary => {
            let s = b.get(off..off.checked_add(wire)?)?;
            Some(s.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
        }
        Encoding::Ascii => parse_hex(b.get(off..off.checked_add(wire * 2)?)?),
    }
}

/// Parses the routing header and the length field.
///
/// Errors: [`Error::Incomplete`] when the header is cut short,
/// [`Error::Invalid`] for an unknown subheader, non-hex ASCII header fields,
/// a length below the minimum for the kind, or a frame above
/// [`MAX_FRAME_LEN`]. Reserved-word violations are reported by
/// [`parse_frame`] as flags.
pub fn parse_header(b: &[u8]) -> Result<Header, Error> {
    let Some((frame_type, encoding, kind)) = subheader(b).map_err(Error::Invalid)? else {
        return Err(Error::Incomplete {
            needed: 4usize.saturating_sub(b.len()).max(1),
        });
    };
    let (route, s) = match (frame_type, encoding) {
        (FrameType::E3, Encoding::Binary) => (field::BIN3E_ROUTE, 1),
        (FrameType::E4, Encoding::Binary) => (field::BIN4E_ROUTE, 1),
        (FrameType::E3, Encoding::Ascii) => (field::ASC3E_ROUTE, 2),
        (FrameType::E4, Encoding::Ascii) => (field::ASC4E_ROUTE, 2),
    };
    let header_len = route + 7 * s;
    if b.len() < header_len {
        // Reject non-hex ASCII early so resync does not wait on garbage.
        if encoding == Encoding::Ascii && b.iter().skip(4).any(|&c| device::hex_digit(c).is_none())
        {
            return Err(Error::Invalid("slmp_bad_ascii_header"));
        }
        return Err(Error::Incomplete {
            needed: header_len - b.len(),
        });
    }
    let bad = Error::Invalid("slmp_bad_ascii_header");
    let serial = match frame_type {
        FrameType::E3 => None,
        FrameType::E4 => Some(hnum(b, encoding, 2 * s, 2).ok_or(bad)? as u16),
    };
    if frame_type == FrameType::E4 && hnum(b, encoding, 4 * s, 2).is_none() {
        return Err(bad);
    }
    let network = hnum(b, encoding, route, 1).ok_or(bad)? as u8;
    let station = hnum(b, encoding, route + s, 1).ok_or(bad)? as u8;
    let module_io = hnum(b, encoding, route + 2 * s, 2).ok_or(bad)? as u16;
    let multidrop = hnum(b, encoding, route + 4 * s, 1).ok_or(bad)? as u8;
    let data_length = hnum(b, encoding, route + 5 * s, 2).ok_or(bad)? as u16;
    let min = match kind {
        Kind::Request => MIN_REQUEST_WIRE,
        Kind::Response => MIN_RESPONSE_WIRE,
    } * s;
    if usize::from(data_length) < min {
        return Err(Error::Invalid("slmp_length_too_short"));
    }
    let frame_len = header_len + usize::from(data_length);
    if frame_len > MAX_FRAME_LEN {
        return Err(Error::Invalid("slmp_frame_too_long"));
    }
    Ok(Header {
        frame_type,
        encoding,
        kind,
        serial,
        network,
        station,
        module_io,
        multidrop,
        data_length,
        header_len,
        frame_len,
    })
}

/// Command-specific decoding of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestDetail<'a> {
    /// Nothing beyond the raw data is decoded for this command.
    None,
    /// Device read/write/monitor registration.
    Device(DeviceAccess<'a>),
    /// Remote RUN (0x1001): mode (0x0001 normal, 0x0003 forced) and clear
    /// mode (0 none, 1 all but latch, 2 all). Remote PAUSE (0x1003): mode,
    /// no clear mode. STOP/LATCH CLEAR/RESET: the fixed word (0x0001).
    Remote {
        /// Mode word.
        mode: u16,
        /// Clear mode byte (RUN only).
        clear_mode: Option<u8>,
    },
    /// Remote password unlock/lock: only the length, never the bytes.
    Password {
        /// Declared password length in characters.
        len: u16,
    },
    /// Loopback test: declared length of the echoed data.
    Loopback {
        /// Declared loopback data length.
        len: u16,
    },
    /// Node search (0x0E30): the searching master.
    NodeSearch {
        /// Master MAC address (wire order reversed back to normal order).
        master_mac: [u8; 6],
        /// Master IPv4 address.
        master_ip: [u8; 4],
    },
    /// Set IP address (0x0E31): who asks and what the target becomes.
    SetIp {
        /// Master IPv4 address.
        master_ip: [u8; 4],
        /// MAC address of the slave being re-addressed.
        slave_mac: [u8; 6],
        /// New IPv4 address for the slave.
        new_ip: [u8; 4],
        /// New subnet mask.
        netmask: [u8; 4],
    },
}

/// A decoded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// Routing header.
    pub header: Header,
    /// Monitoring timer (×250 ms; 0 = wait forever).
    pub timer: u16,
    /// Command code, raw.
    pub command: u16,
    /// Subcommand, raw.
    pub subcommand: u16,
    /// Request data after the subcommand, raw (in the frame's encoding).
    /// Empty for the remote-password commands.
    pub data: &'a [u8],
    /// Command-specific decoding.
    pub detail: RequestDetail<'a>,
    /// Violations and notes.
    pub flags: Flags,
}

impl<'a> Request<'a> {
    /// Command name (`"batch_write"`, `"remote_stop"`, `"unknown"`...).
    pub fn command_name(&self) -> &'static str {
        command_name(self.command)
    }

    /// The defender's class of the command.
    pub fn class(&self) -> OtClass {
        command_class(self.command)
    }

    /// The device access, when the command is a device command.
    pub fn device_access(&self) -> Option<&DeviceAccess<'a>> {
        match &self.detail {
            RequestDetail::Device(d) => Some(d),
            _ => None,
        }
    }
}

/// The error information block of a non-zero end code: the station that
/// answered and the command that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Responding network number.
    pub network: u8,
    /// Responding PC number.
    pub station: u8,
    /// Responding module I/O number.
    pub module_io: u16,
    /// Responding multidrop station.
    pub multidrop: u8,
    /// The failed command.
    pub command: u16,
    /// The failed subcommand.
    pub subcommand: u16,
}

/// A decoded response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// Routing header.
    pub header: Header,
    /// End code (0 = success).
    pub end_code: u16,
    /// Response data after the end code, raw. For non-zero end codes this is
    /// the error information block.
    pub data: &'a [u8],
    /// Decoded error information (non-zero end code).
    pub error_info: Option<ErrorInfo>,
    /// Violations and notes.
    pub flags: Flags,
}

impl Response<'_> {
    /// End code name (`"ok"`, `"command_not_supported"`...).
    pub fn end_code_name(&self) -> &'static str {
        end_code_name(self.end_code)
    }

    /// True for remote-password failures and lockout.
    pub fn is_remote_password_error(&self) -> bool {
        is_remote_password_end_code(self.end_code)
    }
}

/// One MC/SLMP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Client → PLC.
    Request(Request<'a>),
    /// PLC → client.
    Response(Response<'a>),
}

impl<'a> Frame<'a> {
    /// The routing header.
    pub fn header(&self) -> &Header {
        match self {
            Frame::Request(r) => &r.header,
            Frame::Response(r) => &r.header,
        }
    }

    /// The flags.
    pub fn flags(&self) -> Flags {
        match self {
            Frame::Request(r) => r.flags,
            Frame::Response(r) => r.flags,
        }
    }

    fn flags_mut(&mut self) -> &mut Flags {
        match self {
            Frame::Request(r) => &mut r.flags,
            Frame::Response(r) => &mut r.flags,
        }
    }
}

/// Parses one frame from the front of `b` (a UDP payload, or a TCP buffer
/// cut by [`SlmpStream`]).
///
/// ```text
/// binary 3E request
///  0      2    3    4         6     7          9        11        13       15
///  +------+----+----+---------+-----+----------+--------+---------+--------+------...
///  |50 00 | NW | PC | I/O LE  | MD  | len LE   | timer  | command | subcmd | data
///  +------+----+----+---------+-----+----------+--------+---------+--------+------...
///                                    \___ len counts from the timer to the end ___/
/// binary 3E response: D0 00 | NW | PC | I/O | MD | len | end code | data
/// binary 4E: 54 00 / D4 00 | serial LE | 00 00 | then the 3E fields from NW on
/// ASCII: the same fields as upper-case hex text, two characters per byte,
///        most significant first ("5000" "00" "FF" "03FF" "00" "0018" ...)
/// error response data: NW | PC | I/O | MD | command | subcommand (9 bytes)
/// ```
///
/// Errors: see [`parse_header`]; [`Error::Incomplete`] when `b` is shorter than
/// the declared frame. Bytes after the frame set [`Flags::TRAILING_BYTES`].
pub fn parse_frame(b: &[u8]) -> Result<Frame<'_>, Error> {
    let h = parse_header(b)?;
    let Some(frame) = b.get(..h.frame_len) else {
        return Err(Error::Incomplete {
            needed: h.frame_len - b.len(),
        });
    };
    let mut f = parse_body(h, frame);
    f.flags_mut()
        .set_if(Flags::TRAILING_BYTES, b.len() > h.frame_len);
    Ok(f)
}

fn parse_body(h: Header, frame: &[u8]) -> Frame<'_> {
    let mut flags = Flags::default();
    let s = if h.encoding == Encoding::Ascii { 2 } else { 1 };
    if h.frame_type == FrameType::E4 {
        flags.set_if(
            Flags::RESERVED_NONZERO,
            hnum(frame, h.encoding, 4 * s, 2) != Some(0),
        );
    }
    let body = frame.get(h.header_len..).unwrap_or(&[]);
    let mut cur = Cursor::new(body, h.encoding);
    match h.kind {
        Kind::Request => {
            let mut num = |cur: &mut Cursor<'_>| match cur.u16() {
                Ok(v) => v,
                Err(_) => {
                    flags.set_if(Flags::BAD_ASCII, true);
                    let _ = cur.take(4);
                    0
                }
            };
            let timer = num(&mut cur);
            let command = num(&mut cur);
            let subcommand = num(&mut cur);
            let data = body.get(cur.pos()..).unwrap_or(&[]);
            let mut req = Request {
                header: h,
                timer,
                command,
                subcommand,
                data,
                detail: RequestDetail::None,
                flags,
            };
            decode_request(&mut req);
            Frame::Request(req)
        }
        Kind::Response => {
            let end_code = match cur.u16() {
                Ok(v) => v,
                Err(_) => {
                    flags.set_if(Flags::BAD_ASCII, true);
                    let _ = cur.take(4);
                    0xFFFF
                }
            };
            let data = body.get(cur.pos()..).unwrap_or(&[]);
            let mut error_info = None;
            if end_code != 0 {
                let mut c = Cursor::new(data, h.encoding);
                let info = (|| -> Result<ErrorInfo, Stop> {
                    Ok(ErrorInfo {
                        network: c.u8()?,
                        station: c.u8()?,
                        module_io: c.u16()?,
                        multidrop: c.u8()?,
                        command: c.u16()?,
                        subcommand: c.u16()?,
                    })
                })();
                match info {
                    Ok(i) => error_info = Some(i),
                    Err(Stop::BadText) => flags.set_if(Flags::BAD_ASCII, true),
                    Err(Stop::Short) => flags.set_if(Flags::ERROR_INFO_MISSING, true),
                }
            }
            Frame::Response(Response {
                header: h,
                end_code,
                data,
                error_info,
                flags,
            })
        }
    }
}

fn ip(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn stop_flag(flags: &mut Flags, e: Stop) {
    match e {
        Stop::Short => flags.set_if(Flags::DATA_TRUNCATED, true),
        Stop::BadText => flags.set_if(Flags::BAD_ASCII, true),
    }
}

fn decode_request(req: &mut Request<'_>) {
    let enc = req.header.encoding;
    let mut cur = Cursor::new(req.data, enc);
    let flags = &mut req.flags;
    match req.command {
        0x0401 | 0x1401 | 0x0403 | 0x1402 | 0x0406 | 0x1406 | 0x0801 => {
            match device::DeviceAccess::decode(req.command, req.subcommand, req.data, enc) {
                Some((acc, rep)) => {
                    flags.set_if(Flags::DATA_TRUNCATED, rep.truncated);
                    flags.set_if(Flags::BAD_ASCII, rep.bad_text);
                    flags.set_if(Flags::TRAILING_DATA, rep.trailing);
                    flags.set_if(Flags::UNKNOWN_DEVICE, rep.unknown_device);
                    flags.set_if(Flags::WRITE_VALUES_MISMATCH, rep.values_mismatch);
                    flags.set_if(Flags::ZERO_POINTS, rep.zero_points);
                    flags.set_if(Flags::BIT_UNITS_NOT_ALLOWED, rep.bit_unit_not_allowed);
                    req.detail = RequestDetail::Device(acc);
                }
                None => flags.set_if(
                    Flags::BAD_SUBCOMMAND,
                    !is_extension_subcommand(req.subcommand),
                ),
            }
        }
        0x1001 => {
            let r = (|| -> Result<(u16, u8), Stop> {
                let mode = cur.u16()?;
                let clear = cur.u8()?;
                let _reserved = cur.u8()?;
                Ok((mode, clear))
            })();
            match r {
                Ok((mode, clear)) => {
                    flags.set_if(Flags::BAD_REMOTE_MODE, !matches!(mode, 1 | 3) || clear > 2);
                    flags.set_if(Flags::TRAILING_DATA, cur.remaining() > 0);
                    req.detail = RequestDetail::Remote {
                        mode,
                        clear_mode: Some(clear),
                    };
                }
                Err(e) => stop_flag(flags, e),
            }
        }
        0x1002 | 0x1003 | 0x1005 | 0x1006 => match cur.u16() {
            Ok(mode) => {
                let ok = if req.command == 0x1003 {
                    matches!(mode, 1 | 3)
                } else {
                    mode == 1
                };
                flags.set_if(Flags::BAD_REMOTE_MODE, !ok);
                flags.set_if(Flags::TRAILING_DATA, cur.remaining() > 0);
                req.detail = RequestDetail::Remote {
                    mode,
                    clear_mode: None,
                };
            }
            Err(e) => stop_flag(flags, e),
        },
        0x1630 | 0x1631 => {
            flags.set_if(Flags::CLEARTEXT_PASSWORD, true);
            match cur.u16() {
                Ok(len) => {
                    // One byte per character in binary, one character per
                    // character in ASCII: the remaining length matches either way.
                    let sent = cur.remaining();
                    flags.set_if(
                        Flags::BAD_PASSWORD_LENGTH,
                        sent != usize::from(len) || !(len == 4 || (6..=32).contains(&len)),
                    );
                    req.detail = RequestDetail::Password { len };
                }
                Err(e) => stop_flag(flags, e),
            }
            // Never hand the password bytes out.
            req.data = &[];
        }
        0x0619 => match cur.u16() {
            Ok(len) => {
                let expected = usize::from(len);
                let sent = cur.remaining();
                flags.set_if(Flags::DATA_TRUNCATED, sent < expected);
                flags.set_if(Flags::TRAILING_DATA, sent > expected);
                req.detail = RequestDetail::Loopback { len };
            }
            Err(e) => stop_flag(flags, e),
        },
        0x0E30 => {
            let r = (|| -> Result<([u8; 6], u8, [u8; 4]), Stop> {
                let m = mac(cur.num(6)?);
                let size = cur.u8()?;
                let a = ip(cur.u32()?);
                Ok((m, size, a))
            })();
            match r {
                Ok((master_mac, size, master_ip)) => {
                    flags.set_if(Flags::BAD_ADDRESS_SIZE, size != 4);
                    req.detail = RequestDetail::NodeSearch {
                        master_mac,
                        master_ip,
                    };
                }
                Err(e) => stop_flag(flags, e),
            }
        }
        0x0E31 => {
            let r = (|| -> Result<Option<RequestDetail<'static>>, Stop> {
                let _master_mac = cur.num(6)?;
                let s1 = cur.u8()?;
                let master_ip = ip(cur.u32()?);
                let slave_mac = mac(cur.num(6)?);
                let s2 = cur.u8()?;
                let new_ip = ip(cur.u32()?);
                let netmask = ip(cur.u32()?);
                if s1 != 4 || s2 != 4 {
                    return Ok(None);
                }
                Ok(Some(RequestDetail::SetIp {
                    master_ip,
                    slave_mac,
                    new_ip,
                    netmask,
                }))
            })();
            match r {
                Ok(Some(d)) => req.detail = d,
                Ok(None) => flags.set_if(Flags::BAD_ADDRESS_SIZE, true),
                Err(e) => stop_flag(flags, e),
            }
        }
        _ => {}
    }
}

/// The CPU model in a read-CPU-model (0x0101) response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuModel<'a> {
    /// Model name, trailing spaces and NULs removed (e.g. `"Q03UDECPU"`).
    pub name: &'a str,
    /// Model code.
    pub code: u16,
}

/// Maximum length of the model name field.
pub const CPU_MODEL_NAME_LEN: usize = 16;

/// Decodes the data of a successful response to read CPU model (0x0101):
/// 16 characters of model name, space padded, then the model code (2 bytes
/// LE, or 4 hex characters in ASCII frames).
///
/// Responses do not repeat the command, so the caller pairs the response
/// with its request (4E serial, or request order on a 3E connection) and
/// calls this only for 0x0101. `None` when the data is too short or the name
/// is not printable ASCII.
pub fn parse_cpu_model<'a>(resp: &Response<'a>) -> Option<CpuModel<'a>> {
    if resp.end_code != 0 {
        return None;
    }
    let raw = resp.data.get(..CPU_MODEL_NAME_LEN)?;
    let len = raw
        .iter()
        .rposition(|&b| b != b' ' && b != 0)
        .map_or(0, |p| p + 1);
    let name_bytes = raw.get(..len)?;
    if name_bytes.is_empty()
        || !name_bytes
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ')
    {
        return None;
    }
    let name = core::str::from_utf8(name_bytes).ok()?;
    let code = match resp.header.encoding {
        Encoding::Binary => {
            let c = resp.data.get(CPU_MODEL_NAME_LEN..CPU_MODEL_NAME_LEN + 2)?;
            u16::from_le_bytes([c[0], c[1]])
        }
        Encoding::Ascii => {
            parse_hex(resp.data.get(CPU_MODEL_NAME_LEN..CPU_MODEL_NAME_LEN + 4)?)? as u16
        }
    };
    Some(CpuModel { name, code })
}

/// Does `b` start like an MC/SLMP frame? Checks the subheader, the 4E
/// reserved word, hex text in ASCII headers, that the length field is
/// within [minimum, [`MAX_FRAME_LEN`]], and, when `b` holds more than the
/// declared frame, that the next bytes start another subheader. A UDP
/// payload therefore matches only when the length field equals its size
/// (or it holds whole pipelined frames).
pub fn probe(b: &[u8]) -> Probe {
    match parse_header(b) {
        Ok(h) => {
            let s = if h.encoding == Encoding::Ascii { 2 } else { 1 };
            let reserved_bad =
                h.frame_type == FrameType::E4 && hnum(b, h.encoding, 4 * s, 2) != Some(0);
            // Length consistency: whatever follows the declared frame must
            // start like another frame (pipelining), not like garbage.
            let next_bad = b
                .get(h.frame_len..)
                .is_some_and(|next| !next.is_empty() && subheader(next).is_err());
            if reserved_bad || next_bad {
                Probe::NoMatch
            } else {
                Probe::Match
            }
        }
        Err(Error::Incomplete { .. }) => Probe::NeedMore,
        Err(Error::Invalid(_)) => Probe::NoMatch,
    }
}

/// Offset of the first plausible frame start in `b` (a [`probe`] match, or
/// a consistent partial header at the tail).
pub fn resync(b: &[u8]) -> Option<usize> {
    (0..b.len()).find(|&i| {
        let rest = b.get(i..).unwrap_or(&[]);
        matches!(rest.first(), Some(0x50 | 0xD0 | 0x54 | 0xD4 | b'5' | b'D'))
            && probe(rest) != Probe::NoMatch
    })
}

/// Streaming parser for MC/SLMP over TCP (one per direction). Stateless.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlmpStream;

impl StreamParser for SlmpStream {
    type Message<'a> = Frame<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], dir: Direction) -> Parsed<Frame<'a>> {
        let h = match parse_header(input) {
            Ok(h) => h,
            Err(Error::Incomplete { needed }) => {
                return Parsed::Incomplete {
                    needed: needed.max(1),
                }
            }
            Err(Error::Invalid(reason)) => return Parsed::Invalid { reason },
        };
        let Some(frame) = input.get(..h.frame_len) else {
            return Parsed::Incomplete {
                needed: (h.frame_len - input.len()).max(1),
            };
        };
        let mut message = parse_body(h, frame);
        let unexpected = matches!(
            (h.kind, dir),
            (Kind::Request, Direction::ToClient) | (Kind::Response, Direction::ToServer)
        );
        message
            .flags_mut()
            .set_if(Flags::UNEXPECTED_DIRECTION, unexpected);
        Parsed::Message {
            consumed: h.frame_len,
            message,
        }
    }

    fn resync(&mut self, input: &[u8], _dir: Direction) -> Option<usize> {
        resync(input)
    }
}

fn check_frame(f: &Frame<'_>, input_len: usize) {
    let h = f.header();
    assert!(h.frame_len <= input_len, "frame longer than input");
    assert!(h.header_len <= h.frame_len, "header longer than frame");
    match f {
        Frame::Request(r) => {
            assert!(
                r.data.len() <= h.frame_len,
                "request data longer than frame"
            );
            if r.command == 0x1630 || r.command == 0x1631 {
                assert!(r.data.is_empty(), "password bytes exposed");
            }
            if let Some(acc) = r.device_access() {
                assert!(acc.values.len() <= r.data.len(), "values longer than data");
                let n = acc
                    .items()
                    .map(|i| assert!(i.value.len() <= r.data.len()))
                    .count();
                assert!(n <= MAX_DEVICE_ITEMS, "device walk over bound");
            }
        }
        Frame::Response(r) => {
            assert!(
                r.data.len() <= h.frame_len,
                "response data longer than frame"
            );
            if let Some(m) = parse_cpu_model(r) {
                assert!(m.name.len() <= CPU_MODEL_NAME_LEN);
            }
        }
    }
}

/// Fuzz entry: runs every entry point over `data` and asserts invariants.
/// Panics only when an invariant breaks.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    if let Ok(f) = parse_frame(data) {
        check_frame(&f, data.len());
    }
    let _ = probe(data);
    if let Some(off) = resync(data) {
        assert!(off < data.len(), "resync offset out of range");
    }
    for dir in [Direction::ToServer, Direction::ToClient] {
        let mut p = SlmpStream;
        let mut total = 0usize;
        let out = drive(&mut p, data, dir, |m| {
            total += m.header().frame_len;
            check_frame(&m, data.len());
        });
        assert!(out.consumed <= data.len(), "drive consumed past input");
        assert!(!out.stalled, "drive stalled");
        assert!(total <= out.consumed, "messages longer than consumed");
        assert!(
            out.consumed == data.len() || out.needed.is_some(),
            "drive stopped early"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_names_follow_bits() {
        let f = Flags(Flags::CLEARTEXT_PASSWORD.0 | Flags::TRAILING_BYTES.0);
        assert_eq!(
            f.names().collect::<Vec<_>>(),
            vec!["trailing_bytes", "cleartext_password"]
        );
    }

    #[test]
    fn ascii_header_garbage_is_invalid_not_incomplete() {
        assert_eq!(
            parse_header(b"5000ZZ"),
            Err(Error::Invalid("slmp_bad_ascii_header"))
        );
        assert_eq!(parse_header(b"50"), Err(Error::Incomplete { needed: 2 }));
    }
}
