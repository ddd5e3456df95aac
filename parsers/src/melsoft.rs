//! Mitsubishi MELSOFT engineering protocol (GX Works2/3 ↔ MELSEC CPU).
//!
//! Ports: TCP/UDP 5007 (built-in Ethernet), TCP 5562 / UDP 5560 (iQ-F),
//! UDP 5006, E71 5002 — but recognised by content, not by port.
//!
//! References:
//! * NozomiNetworks/blackhat23-melsoft `melsoft_bhmea2023.lua` (Wireshark
//!   dissector): Ethernet header of 0x15 bytes with the LE16 size at 0x13,
//!   command header (type, remaining size), command data (command BE16, packet
//!   reference, data size), Ethernet footer parameters (0x42 authorization
//!   token, 0x81/0x82 CRC32), login and user-registration layouts.
//! * nmap `melsecq-discover.nse` (CPU model read, response byte 0 = 0xD7).
//! * spanwatch `PROTOCOLS.md` section 2.3, and byte inspection of the public
//!   captures in `shared/pcaps/mitsubishi-melsec/` (GX Works3 ↔ FX5U on tcp/5562
//!   and udp/5560; iQ-R Safety CPU on tcp/5007). Where this module relies on
//!   the captures alone it says so.
//!
//! Frame layout (requests start 0x57, responses 0xD7; the second byte was
//! 0x00 or 0x01 in every capture and is kept raw in [`Frame::magic`]):
//!
//! ```text
//! Ethernet header (0x15 bytes)
//!  0      2          4    5  6  7     9    10     11         13 ..   19         21
//!  +------+----------+----+-----+----+----+------+----------+-----+----------+
//!  |57 01 | seq LE16 | 00 |11 11| ty | .. | NW   | unit     | I/O LE16 | .. | size LE16|
//!  +------+----------+----+-----+----+----+------+----------+-----+----------+
//!  request: NW @9, unit @10, I/O @11; response (captures): NW @13, unit @14, I/O @15.
//!  size = bytes after the Ethernet header (command header + data + footer).
//! Command header @0x15: type(1) | ?(1) | remaining(1) | ... ; length = 2 + remaining
//!  (0x18 in requests, 0x1A in responses); responses carry a status LE16 @0x19.
//! Command data: command BE16 | packet ref LE16 | data size LE16 | data[size]
//!  (iQ-F / FX5U leaves the size at 0 and the data runs to the end of the frame).
//! Ethernet footer (iQ-R): size LE16 | count(1) | count × (type(1), len(1)) | values
//! ```
//!
//! Before frames, a 4-byte hello `5A 00 00 tt` is answered by `DA 00 00 tt` and a
//! fixed body: 24 bytes for tt = 0xFF (starts with the CPU model code LE16 in
//! both captures), 10 bytes for tt = 0x01 (UDP discovery). Over UDP the hello
//! goes to 255.255.255.255.

use crate::modbus::flag_set;
use crate::ot::OtClass;
use crate::stream::{drive, Direction, Parsed, Probe, StreamParser};

/// Largest frame accepted. The public captures top out below 1 KiB; program
/// transfers move data in chunks of a few hundred bytes.
pub const MAX_FRAME_LEN: usize = 16 * 1024;

/// Ethernet header length.
pub const ETH_HEADER_LEN: usize = 0x15;

/// Most footer parameters decoded.
pub const MAX_FOOTER_PARAMS: usize = 16;

/// Length of the CPU model field in an open-initial (0x0121) response.
pub const CPU_MODEL_NAME_LEN: usize = 16;

/// Length of the UTF-16LE username field of a username login (0x0131).
pub const USERNAME_FIELD_LEN: usize = 0x28;

mod field {
    pub const SEQ: usize = 2;
    pub const CONST: usize = 4;
    pub const REQ_NETWORK: usize = 9;
    pub const REQ_UNIT: usize = 10;
    pub const REQ_IO: usize = 11;
    pub const RESP_NETWORK: usize = 13;
    pub const RESP_UNIT: usize = 14;
    pub const RESP_IO: usize = 15;
    pub const SIZE: usize = 0x13;
    pub const CMD_HEADER: usize = 0x15;
    pub const CMD_HEADER_REMAINING: usize = 0x17;
    pub const RESP_STATUS: usize = 0x19;
}

/// Request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Engineering tool → CPU (0x57 / 0x5A).
    Request,
    /// CPU → engineering tool (0xD7 / 0xDA).
    Response,
}

flag_set! {
    /// Violations and notable facts. A set bit never stops parsing.
    pub struct Flags {
        /// Bytes 4..7 are not `00 11 11` (constant in every public capture).
        const HEADER_CONSTANT_MISMATCH = 0, "header_constant_mismatch";
        /// The frame is too short for the command header and command data header.
        const COMMAND_TRUNCATED = 1, "command_truncated";
        /// The Ethernet footer does not parse (size, parameter table).
        const FOOTER_MALFORMED = 3, "footer_malformed";
        /// The footer carries an authorization token (parameter type 0x42),
        /// reusable for CVE-2021-20599-style replay.
        const AUTH_TOKEN = 4, "auth_token";
        /// Datagram longer than the frame or hello it holds.
        const TRAILING_BYTES = 5, "trailing_bytes";
        /// A request seen server→client or a response client→server.
        const UNEXPECTED_DIRECTION = 6, "unexpected_direction";
        /// Hello body shorter or longer than its type's fixed size (datagrams).
        const HELLO_LENGTH_MISMATCH = 7, "hello_length_mismatch";
    }
}

struct CommandInfo {
    code: u16,
    name: &'static str,
    class: OtClass,
}

const fn c(code: u16, name: &'static str, class: OtClass) -> CommandInfo {
    CommandInfo { code, name, class }
}

/// Known MELSOFT command codes, sorted. Names from the Nozomi dissector and
/// PROTOCOLS.md; entries marked (capture) are inferred from what the public
/// captures carry: 0x0410/0x0411/0x0413 are polled continuously by GX Works3
/// monitoring with short requests and data-bearing responses (the Nozomi
/// dissector labels 0x0410 "Modify Value"); 0x185F/0x1867/0x186A carry
/// `$MELPRJ$\...` paths, file handles and close; 0x1730–0x1734 frame a
/// project write naming MAIN.PRG / CPU.PRM.
const COMMANDS: &[CommandInfo] = &[
    c(0x0121, "open_initial_cpu_model_read", OtClass::Recon),
    c(0x0131, "username_login", OtClass::Auth),
    c(0x0132, "password_login", OtClass::Auth),
    c(0x0133, "read_user_info_a", OtClass::Auth),
    c(0x0134, "read_user_info_b", OtClass::Auth),
    c(0x0150, "safety_run_mode_read", OtClass::Recon),
    c(0x0410, "memory_read", OtClass::Read),
    c(0x0411, "monitor_read", OtClass::Read),
    c(0x0413, "memory_read_multi", OtClass::Read),
    c(0x1001, "remote_run", OtClass::Control),
    c(0x1002, "remote_stop", OtClass::Control),
    c(0x1003, "remote_pause", OtClass::Control),
    c(0x1005, "remote_latch_clear", OtClass::Control),
    c(0x1006, "remote_reset", OtClass::Control),
    c(0x1120, "safety_run_mode_change", OtClass::Control),
    c(0x1133, "user_registration", OtClass::Auth),
    c(0x1730, "program_transfer_begin", OtClass::Program),
    c(0x1731, "program_transfer_end", OtClass::Program),
    c(0x1734, "program_transfer_check", OtClass::Program),
    c(0x1859, "file_list_read", OtClass::File),
    c(0x185F, "file_info_read", OtClass::File),
    c(0x1867, "file_open", OtClass::File),
    c(0x1868, "file_read", OtClass::File),
    c(0x1869, "file_write", OtClass::File),
    c(0x186A, "file_close", OtClass::File),
];

fn lookup(code: u16) -> Option<&'static CommandInfo> {
    COMMANDS
        .binary_search_by_key(&code, |i| i.code)
        .ok()
        .and_then(|i| COMMANDS.get(i))
}

/// Name of a MELSOFT command; `"file_command"` for other 0x18xx codes,
/// `"program_command"` for other 0x17xx codes, `"unknown"` otherwise.
pub fn command_name(code: u16) -> &'static str {
    match lookup(code) {
        Some(i) => i.name,
        None if code & 0xFF00 == 0x1800 => "file_command",
        None if code & 0xFF00 == 0x1700 => "program_command",
        None => "unknown",
    }
}

/// Class of a MELSOFT command (0x18xx file, 0x17xx program, unknown other).
pub fn command_class(code: u16) -> OtClass {
    match lookup(code) {
        Some(i) => i.class,
        None if code & 0xFF00 == 0x1800 => OtClass::File,
        None if code & 0xFF00 == 0x1700 => OtClass::Program,
        None => OtClass::Other,
    }
}

/// The Ethernet footer of an iQ-R frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer<'a> {
    /// Declared footer size (bytes after the size field).
    pub size: u16,
    /// Number of parameters.
    pub param_count: u8,
    /// True when a parameter of type 0x42 (authorization token) is present.
    pub has_auth_token: bool,
    /// The footer bytes, raw (from the size field on).
    pub raw: &'a [u8],
}

/// A CPU model string carried by an open-initial (0x0121) response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuModel<'a> {
    /// Model name without padding (`"FX5U-32MT/ES"`, `"R08SFCPU"`).
    pub name: &'a str,
    /// Model code (LE16 after the name), when present.
    pub code: Option<u16>,
}

/// One 0x57 / 0xD7 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Request or response.
    pub kind: Kind,
    /// First two bytes, big-endian (0x5700, 0x5701, 0xD700, 0xD701).
    pub magic: u16,
    /// Sequence number (LE16 at offset 2).
    pub sequence: u16,
    /// Network number.
    pub network: u8,
    /// Unit (station) number.
    pub unit: u8,
    /// Destination I/O number (0x03FF own CPU, 0x03E0 multi-CPU No.1).
    pub module_io: u16,
    /// Declared size after the Ethernet header.
    pub size: u16,
    /// Command header type byte (0x1C requests, 0x9C responses in captures).
    pub header_type: u8,
    /// Response status (LE16 at 0x19); `None` for requests.
    pub status: Option<u16>,
    /// Command code, when the frame is long enough to hold it.
    pub command: Option<u16>,
    /// Packet reference (LE16 after the command).
    pub packet_ref: u16,
    /// Data size field (0 on iQ-F, where the data runs to the frame end).
    pub data_size: u16,
    /// Command data after the command data header.
    pub data: &'a [u8],
    /// The Ethernet footer, when the data size field delimits one.
    pub footer: Option<Footer<'a>>,
    /// Violations and notes.
    pub flags: Flags,
    /// Total frame length.
    pub frame_len: usize,
}

impl<'a> Frame<'a> {
    /// Command name, or `"none"` when the frame holds no command.
    pub fn command_name(&self) -> &'static str {
        self.command.map_or("none", command_name)
    }

    /// Command class ([`OtClass::Other`] when there is no command).
    pub fn class(&self) -> OtClass {
        self.command.map_or(OtClass::Other, command_class)
    }

    /// The CPU model in a successful open-initial (0x0121) response: 16 bytes
    /// padded with spaces or NULs, then the model code LE16.
    pub fn cpu_model(&self) -> Option<CpuModel<'a>> {
        if self.kind != Kind::Response || self.command != Some(0x0121) || self.status != Some(0) {
            return None;
        }
        let raw = self.data.get(..CPU_MODEL_NAME_LEN)?;
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
        let code = self
            .data
            .get(CPU_MODEL_NAME_LEN..CPU_MODEL_NAME_LEN + 2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        Some(CpuModel { name, code })
    }

    /// The UTF-16LE username of a username-login (0x0131) request, trailing
    /// NUL code units removed.
    pub fn login_username_utf16(&self) -> Option<&'a [u8]> {
        if self.kind != Kind::Request || self.command != Some(0x0131) {
            return None;
        }
        let field = self.data.get(..USERNAME_FIELD_LEN)?;
        let mut end = field.len();
        while end >= 2 && field.get(end - 2..end) == Some(&[0, 0]) {
            end -= 2;
        }
        field.get(..end)
    }

    /// Number of users in a user-registration (0x1133) request.
    pub fn registered_users(&self) -> Option<u16> {
        if self.kind != Kind::Request || self.command != Some(0x1133) {
            return None;
        }
        let b = self.data.get(2..4)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
}

/// The 4-byte hello (`5A 00 00 tt`) and its answer (`DA 00 00 tt` + body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello<'a> {
    /// Request (0x5A) or response (0xDA).
    pub kind: Kind,
    /// The type byte `tt` (0xFF session hello, 0x01 UDP discovery).
    pub hello_type: u8,
    /// Response body after the 4 bytes (empty for requests).
    pub body: &'a [u8],
    /// CPU model code at the start of a type-0xFF answer (capture-derived:
    /// it equals the code after the model name in the 0x0121 response).
    pub model_code: Option<u16>,
    /// Violations and notes.
    pub flags: Flags,
}

/// One MELSOFT message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A 0x57 / 0xD7 frame.
    Frame(Frame<'a>),
    /// A 0x5A / 0xDA hello.
    Hello(Hello<'a>),
}

impl Message<'_> {
    /// Request or response.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Frame(f) => f.kind,
            Message::Hello(h) => h.kind,
        }
    }

    /// Bytes the message occupies.
    pub fn len(&self) -> usize {
        match self {
            Message::Frame(f) => f.frame_len,
            Message::Hello(h) => 4 + h.body.len(),
        }
    }

    /// Never true: every message has at least its 4-byte magic.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn flags_mut(&mut self) -> &mut Flags {
        match self {
            Message::Frame(f) => &mut f.flags,
            Message::Hello(h) => &mut h.flags,
        }
    }
}

/// Why bytes could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The message needs `needed` more bytes.
    Incomplete {
        /// Additional bytes required (at least 1).
        needed: usize,
    },
    /// Not a MELSOFT message.
    Invalid(&'static str),
}

/// Fixed answer body length of a hello type, from the captures.
pub fn hello_body_len(hello_type: u8) -> Option<usize> {
    match hello_type {
        0xFF => Some(24),
        0x01 => Some(10),
        _ => None,
    }
}

fn le16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

/// Length of the message at the front of `b`, for stream framing.
fn message_len(b: &[u8]) -> Result<usize, Error> {
    let Some(&first) = b.first() else {
        return Err(Error::Incomplete { needed: 1 });
    };
    match first {
        0x57 | 0xD7 => {
            let Some(size) = le16(b, field::SIZE) else {
                return Err(Error::Incomplete {
                    needed: ETH_HEADER_LEN - b.len(),
                });
            };
            let total = ETH_HEADER_LEN + usize::from(size);
            if total > MAX_FRAME_LEN {
                return Err(Error::Invalid("melsoft_frame_too_long"));
            }
            Ok(total)
        }
        0x5A | 0xDA => {
            for (i, &want) in [0u8, 0u8].iter().enumerate() {
                match b.get(1 + i) {
                    None => {
                        return Err(Error::Incomplete {
                            needed: 4 - b.len(),
                        })
                    }
                    Some(&x) if x != want => return Err(Error::Invalid("melsoft_bad_hello")),
                    Some(_) => {}
                }
            }
            let Some(&ty) = b.get(3) else {
                return Err(Error::Incomplete { needed: 1 });
            };
            if first == 0x5A {
                return Ok(4);
            }
            match hello_body_len(ty) {
                Some(n) => Ok(4 + n),
                None => Err(Error::Invalid("melsoft_unknown_hello_type")),
            }
        }
        _ => Err(Error::Invalid("melsoft_bad_magic")),
    }
}

fn parse_footer(raw: &[u8]) -> Result<Footer<'_>, ()> {
    let size = le16(raw, 0).ok_or(())?;
    let count = *raw.get(2).ok_or(())?;
    if usize::from(size) != raw.len().saturating_sub(2) || usize::from(count) > MAX_FOOTER_PARAMS {
        return Err(());
    }
    let mut has_auth_token = false;
    let mut values = 0usize;
    for i in 0..usize::from(count) {
        let ty = *raw.get(3 + 2 * i).ok_or(())?;
        let len = *raw.get(4 + 2 * i).ok_or(())?;
        has_auth_token |= ty == 0x42;
        values += usize::from(len);
    }
    if 3 + 2 * usize::from(count) + values != raw.len() {
        return Err(());
    }
    Ok(Footer {
        size,
        param_count: count,
        has_auth_token,
        raw,
    })
}

/// Decodes one 0x57 / 0xD7 frame occupying exactly `b`.
///
/// The Ethernet header must be complete (the caller framed `b` with the size
/// field); a frame too short for the command header or the command data
/// header is returned with [`Flags::COMMAND_TRUNCATED`] and no command.
fn parse_frame_exact(b: &[u8]) -> Frame<'_> {
    let first = b.first().copied().unwrap_or(0);
    let kind = if first & 0x80 != 0 {
        Kind::Response
    } else {
        Kind::Request
    };
    let byte = |o: usize| b.get(o).copied().unwrap_or(0);
    let mut flags = Flags::default();
    flags.set_if(
        Flags::HEADER_CONSTANT_MISMATCH,
        b.get(field::CONST..field::CONST + 3) != Some(&[0x00, 0x11, 0x11]),
    );
    let (nw, unit, io) = match kind {
        Kind::Request => (field::REQ_NETWORK, field::REQ_UNIT, field::REQ_IO),
        Kind::Response => (field::RESP_NETWORK, field::RESP_UNIT, field::RESP_IO),
    };
    let mut f = Frame {
        kind,
        magic: u16::from_be_bytes([first, byte(1)]),
        sequence: le16(b, field::SEQ).unwrap_or(0),
        network: byte(nw),
        unit: byte(unit),
        module_io: le16(b, io).unwrap_or(0),
        size: le16(b, field::SIZE).unwrap_or(0),
        header_type: byte(field::CMD_HEADER),
        status: None,
        command: None,
        packet_ref: 0,
        data_size: 0,
        data: &[],
        footer: None,
        flags,
        frame_len: b.len(),
    };
    let cmd_at = field::CMD_HEADER + 2 + usize::from(byte(field::CMD_HEADER_REMAINING));
    if kind == Kind::Response && cmd_at >= field::RESP_STATUS + 2 {
        f.status = le16(b, field::RESP_STATUS);
    }
    let (Some(cmd), Some(packet_ref), Some(data_size)) = (
        b.get(cmd_at..cmd_at + 2),
        le16(b, cmd_at + 2),
        le16(b, cmd_at + 4),
    ) else {
        f.flags.set_if(Flags::COMMAND_TRUNCATED, true);
        return f;
    };
    f.command = Some(u16::from_be_bytes([cmd[0], cmd[1]]));
    f.packet_ref = packet_ref;
    f.data_size = data_size;
    let rest = b.get(cmd_at + 6..).unwrap_or(&[]);
    if data_size == 0 || usize::from(data_size) > rest.len() {
        // iQ-F leaves the word at 0, or uses it for something else on file
        // commands (0x1867 carries 0x32 / 0x38 with shorter data in the UDP
        // capture): the data runs to the end of the frame.
        f.data = rest;
    } else {
        let (data, footer) = rest.split_at(usize::from(data_size));
        f.data = data;
        if !footer.is_empty() {
            match parse_footer(footer) {
                Ok(ft) => {
                    f.flags.set_if(Flags::AUTH_TOKEN, ft.has_auth_token);
                    f.footer = Some(ft);
                }
                Err(()) => f.flags.set_if(Flags::FOOTER_MALFORMED, true),
            }
        }
    }
    f
}

fn hello(b: &[u8]) -> Hello<'_> {
    let kind = if b.first() == Some(&0xDA) {
        Kind::Response
    } else {
        Kind::Request
    };
    let hello_type = b.get(3).copied().unwrap_or(0);
    let body = b.get(4..).unwrap_or(&[]);
    let model_code = if kind == Kind::Response && hello_type == 0xFF {
        le16(body, 0)
    } else {
        None
    };
    Hello {
        kind,
        hello_type,
        body,
        model_code,
        flags: Flags::default(),
    }
}

/// Parses one UDP datagram (or any buffer holding one whole message).
///
/// Errors: [`Error::Invalid`] for an unknown first byte, a hello whose bytes
/// 1..3 are not zero, or a frame above [`MAX_FRAME_LEN`];
/// [`Error::Incomplete`] when a frame is shorter than its size field says.
/// A hello answer of unknown type takes the rest of the datagram as its
/// body; bytes after a frame set [`Flags::TRAILING_BYTES`].
pub fn parse_datagram(b: &[u8]) -> Result<Message<'_>, Error> {
    match b.first() {
        Some(0x5A | 0xDA) => {
            match message_len(b) {
                Ok(_) | Err(Error::Invalid("melsoft_unknown_hello_type")) => {}
                Err(e) => return Err(e),
            }
            let mut h = hello(b);
            let expected = if h.kind == Kind::Request {
                Some(0)
            } else {
                hello_body_len(h.hello_type)
            };
            h.flags.set_if(
                Flags::HELLO_LENGTH_MISMATCH,
                expected.is_some_and(|n| n != h.body.len()),
            );
            Ok(Message::Hello(h))
        }
        _ => {
            let len = message_len(b)?;
            let Some(frame) = b.get(..len) else {
                return Err(Error::Incomplete {
                    needed: len - b.len(),
                });
            };
            let mut f = parse_frame_exact(frame);
            f.flags.set_if(Flags::TRAILING_BYTES, b.len() > len);
            Ok(Message::Frame(f))
        }
    }
}

/// Does `b` start like a MELSOFT message? Frames need `00 11 11` at bytes
/// 4..7, a second byte of 0 or 1 and a size within bounds; hellos need
/// `00 00` and a known type. When `b` holds more than the message, the next
/// byte must start another message (length consistency).
pub fn probe(b: &[u8]) -> Probe {
    let Some(&first) = b.first() else {
        return Probe::NeedMore;
    };
    match first {
        0x57 | 0xD7 => {
            let expect: [Option<u8>; 6] = [None, None, None, Some(0x00), Some(0x11), Some(0x11)];
            for (i, want) in expect.iter().enumerate() {
                match (b.get(1 + i), want) {
                    (None, _) => return Probe::NeedMore,
                    (Some(&x), _) if i == 0 && x > 1 => return Probe::NoMatch,
                    (Some(&x), Some(w)) if x != *w => return Probe::NoMatch,
                    _ => {}
                }
            }
            match le16(b, field::SIZE) {
                None => Probe::NeedMore,
                Some(size)
                    if usize::from(size) < 8
                        || ETH_HEADER_LEN + usize::from(size) > MAX_FRAME_LEN =>
                {
                    Probe::NoMatch
                }
                Some(size) => next_consistent(b, ETH_HEADER_LEN + usize::from(size)),
            }
        }
        0x5A | 0xDA => match (b.get(1), b.get(2), b.get(3)) {
            (Some(&x), _, _) if x != 0 => Probe::NoMatch,
            (_, Some(&x), _) if x != 0 => Probe::NoMatch,
            (_, _, Some(&t)) => match hello_body_len(t) {
                Some(body) if first == 0xDA => next_consistent(b, 4 + body),
                Some(_) => next_consistent(b, 4),
                None => Probe::NoMatch,
            },
            _ => Probe::NeedMore,
        },
        _ => Probe::NoMatch,
    }
}

/// Length consistency: bytes after a message of `len` must start another
/// MELSOFT message.
fn next_consistent(b: &[u8], len: usize) -> Probe {
    match b.get(len) {
        None | Some(0x57 | 0xD7 | 0x5A | 0xDA) => Probe::Match,
        Some(_) => Probe::NoMatch,
    }
}

/// Offset of the first plausible message start in `b`.
pub fn resync(b: &[u8]) -> Option<usize> {
    (0..b.len()).find(|&i| probe(b.get(i..).unwrap_or(&[])) != Probe::NoMatch)
}

/// Streaming parser for MELSOFT over TCP (one per direction). Stateless.
#[derive(Debug, Clone, Copy, Default)]
pub struct MelsoftStream;

impl StreamParser for MelsoftStream {
    type Message<'a> = Message<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], dir: Direction) -> Parsed<Message<'a>> {
        let len = match message_len(input) {
            Ok(n) => n,
            Err(Error::Incomplete { needed }) => {
                return Parsed::Incomplete {
                    needed: needed.max(1),
                }
            }
            Err(Error::Invalid(reason)) => return Parsed::Invalid { reason },
        };
        let Some(bytes) = input.get(..len) else {
            return Parsed::Incomplete {
                needed: (len - input.len()).max(1),
            };
        };
        let mut message = match input.first() {
            Some(0x57 | 0xD7) => Message::Frame(parse_frame_exact(bytes)),
            _ => Message::Hello(hello(bytes)),
        };
        let unexpected = matches!(
            (message.kind(), dir),
            (Kind::Request, Direction::ToClient) | (Kind::Response, Direction::ToServer)
        );
        message
            .flags_mut()
            .set_if(Flags::UNEXPECTED_DIRECTION, unexpected);
        Parsed::Message {
            consumed: len,
            message,
        }
    }

    fn resync(&mut self, input: &[u8], _dir: Direction) -> Option<usize> {
        resync(input)
    }
}

fn check_message(m: &Message<'_>, input_len: usize) {
    assert!(m.len() <= input_len, "message longer than input");
    match m {
        Message::Frame(f) => {
            assert!(f.data.len() <= f.frame_len, "data longer than frame");
            if let Some(ft) = f.footer {
                assert!(
                    ft.raw.len() + f.data.len() <= f.frame_len,
                    "footer out of frame"
                );
                assert!(usize::from(ft.param_count) <= MAX_FOOTER_PARAMS);
            }
            if let Some(cm) = f.cpu_model() {
                assert!(cm.name.len() <= CPU_MODEL_NAME_LEN);
            }
            if let Some(u) = f.login_username_utf16() {
                assert!(u.len() <= USERNAME_FIELD_LEN);
            }
        }
        Message::Hello(h) => assert!(h.body.len() < input_len.max(1)),
    }
}

/// Fuzz entry: runs every entry point over `data` and asserts invariants.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    if let Ok(m) = parse_datagram(data) {
        check_message(&m, data.len());
    }
    let _ = probe(data);
    if let Some(off) = resync(data) {
        assert!(off < data.len(), "resync offset out of range");
    }
    for dir in [Direction::ToServer, Direction::ToClient] {
        let mut p = MelsoftStream;
        let mut total = 0usize;
        let out = drive(&mut p, data, dir, |m| {
            total += m.len();
            check_message(&m, data.len());
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
    fn command_table_is_sorted() {
        assert!(COMMANDS.windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn families_fall_back_by_high_byte() {
        assert_eq!(command_name(0x187E), "file_command");
        assert_eq!(command_class(0x1732), OtClass::Program);
        assert_eq!(command_name(0x0B2A), "unknown");
    }
}
