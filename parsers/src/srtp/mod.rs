//! GE SRTP (Service Request Transport Protocol, TCP 18245): the 56-byte
//! header, the mailbox message it carries, and the text buffer after it.
//!
//! References:
//! * `/work/shared/PROTOCOLS.md` §2.1 (layout, service table, status word).
//! * Denton et al., "Leveraging the SRTP protocol for over-the-network memory
//!   acquisition of a GE Fanuc Series 90-30", DFRWS 2017 (tables 1-4), as
//!   carried by parsitects/icsnpp-ge-srtp.
//! * GE GFK-0529 "Series 90 PLC SNP Communications" (mailbox types, status
//!   word, error codes).
//! * divergentdave/wireshark `plugins/ge_srtp` (text length at offset 4,
//!   per-mailbox-type field placement).
//! * jobeastwood/gesrtp-py `PROTOCOL_DISCOVERIES.md` (all-zero init, RX3i
//!   sending header and text buffer in separate TCP segments).
//!
//! [`Srtp`] implements [`StreamParser`]: a PDU is returned only once all of
//! its `56 + text length` bytes are present, so a reply whose header and text
//! arrive in separate segments yields [`Parsed::Incomplete`] first. The only
//! framing check is the PDU type (0-3): a header has no other magic. Every
//! other oddity is a [`Flags`] bit.
//!
//! ```
//! use spanwatch_parsers::srtp::{Body, Srtp};
//! use spanwatch_parsers::stream::{Direction, Parsed, StreamParser};
//!
//! // Kepware reading %AI11 (one word) from a FANUC controller.
//! let mut req = [0u8; 56];
//! req[0] = 0x02; // request
//! req[2] = 0xA8; // sequence number
//! req[30] = 0x06; // mailbox sequence number
//! req[31] = 0xC0; // initial request
//! req[36] = 0x10; // mailbox destination: slot 1
//! req[37] = 0x0E;
//! req[40] = 1; // packet 1 of 1
//! req[41] = 1;
//! req[42] = 0x04; // read system memory
//! req[43] = 0x0A; // %AI, words
//! req[44] = 0x0A; // offset 10
//! req[46] = 0x01; // one word
//! let Parsed::Message { consumed, message } = Srtp.parse(&req, Direction::ToServer) else {
//!     panic!("one PDU")
//! };
//! assert_eq!(consumed, 56);
//! assert_eq!(message.pairing_key(), (0xA8, 0x06));
//! let Body::Request(r) = message.body else { panic!("a request") };
//! assert_eq!((r.service_name(), r.segment_selector, r.memory_offset, r.data_length),
//!            ("read_system_memory", 0x0A, 10, 1));
//! ```

mod codes;

pub use codes::*;

use crate::modbus::flag_set;
use crate::ot::OtClass;
use crate::stream::{Direction, Parsed, Probe, StreamParser};

/// The TCP port SRTP servers listen on.
pub const PORT: u16 = 18245;
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 56;
/// The largest text buffer the 16-bit length field can announce.
pub const MAX_TEXT_LEN: usize = u16::MAX as usize;
/// The largest PDU this parser frames (and so the most the engine buffers).
pub const MAX_PDU_LEN: usize = HEADER_LEN + MAX_TEXT_LEN;

/// PDU type 0: session initialisation (56 zero bytes from the client).
pub const TYPE_INIT: u8 = 0x00;
/// PDU type 1: the server's answer to an initialisation.
pub const TYPE_INIT_ACK: u8 = 0x01;
/// PDU type 2: request.
pub const TYPE_REQUEST: u8 = 0x02;
/// PDU type 3: reply.
pub const TYPE_REPLY: u8 = 0x03;

/// Mailbox type: initial request (parameters in the header).
pub const MAILBOX_REQUEST: u8 = 0xC0;
/// Mailbox type: initial request with a text buffer.
pub const MAILBOX_REQUEST_WITH_TEXT: u8 = 0x80;
/// Mailbox type: completion ACK (data inline in the header).
pub const MAILBOX_ACK: u8 = 0xD4;
/// Mailbox type: completion ACK with a text buffer (data after the header).
pub const MAILBOX_ACK_WITH_TEXT: u8 = 0x94;
/// Mailbox type: error NACK.
pub const MAILBOX_NACK: u8 = 0xD1;

/// The EVE name of a PDU type.
pub fn pdu_type_name(pdu_type: u8) -> &'static str {
    match pdu_type {
        TYPE_INIT => "init",
        TYPE_INIT_ACK => "init_ack",
        TYPE_REQUEST => "request",
        TYPE_REPLY => "reply",
        _ => "unknown",
    }
}

/// The EVE name of a mailbox message type.
pub fn mailbox_type_name(mailbox_type: u8) -> &'static str {
    match mailbox_type {
        MAILBOX_REQUEST => "initial_request",
        MAILBOX_REQUEST_WITH_TEXT => "initial_request_with_text",
        MAILBOX_ACK => "completion_ack",
        MAILBOX_ACK_WITH_TEXT => "completion_ack_with_text",
        MAILBOX_NACK => "error_nack",
        _ => "unknown",
    }
}

flag_set! {
    /// Protocol oddities found in one PDU. None of them stops parsing.
    pub struct Flags {
        /// A request or init sent towards the client, or a reply or init-ack
        /// sent towards the server.
        const UNEXPECTED_DIRECTION = 0, "unexpected_direction";
        /// Mailbox type not in the known five.
        const UNKNOWN_MAILBOX_TYPE = 1, "unknown_mailbox_type";
        /// A request PDU with a reply mailbox type, or the reverse.
        const MAILBOX_TYPE_MISMATCH = 2, "mailbox_type_mismatch";
        /// A text buffer where the mailbox type has none (0xC0, 0xD4, 0xD1), or
        /// a 0x80 request whose announced data length differs from it.
        const TEXT_LENGTH_MISMATCH = 3, "text_length_mismatch";
        /// An initialisation PDU with a non-zero byte.
        const INIT_NOT_ZERO = 4, "init_not_zero";
        /// Reserved byte 1 is not zero.
        const RESERVED_NONZERO = 5, "reserved_nonzero";
    }
}

/// The PLC status word (reply bytes 54-55), sent on every ACK: free state
/// telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlcStatus(pub u16);

impl PlcStatus {
    fn bit(self, n: u16) -> bool {
        self.0 & (1 << n) != 0
    }
    /// b0: the last sweep overran.
    pub fn oversweep(self) -> bool {
        self.bit(0)
    }
    /// b1: constant sweep mode active.
    pub fn constant_sweep(self) -> bool {
        self.bit(1)
    }
    /// b2: a PLC fault entry appeared since the table was last read.
    pub fn new_plc_fault(self) -> bool {
        self.bit(2)
    }
    /// b3: an I/O fault entry appeared since the table was last read.
    pub fn new_io_fault(self) -> bool {
        self.bit(3)
    }
    /// b4: the PLC fault table has entries.
    pub fn plc_fault_present(self) -> bool {
        self.bit(4)
    }
    /// b5: the I/O fault table has entries.
    pub fn io_fault_present(self) -> bool {
        self.bit(5)
    }
    /// b6: a programmer (engineering station) is attached.
    pub fn programmer_attached(self) -> bool {
        self.bit(6)
    }
    /// b7: front-panel outputs-enable switch.
    pub fn outputs_enable_switch(self) -> bool {
        self.bit(7)
    }
    /// b8: front-panel RUN/STOP switch in RUN.
    pub fn run_switch(self) -> bool {
        self.bit(8)
    }
    /// b9: OEM protection active.
    pub fn oem_protected(self) -> bool {
        self.bit(9)
    }
    /// b12-15: the PLC state (see [`plc_state_name`]).
    pub fn state(self) -> u8 {
        (self.0 >> 12) as u8
    }
    /// The EVE name of [`Self::state`].
    pub fn state_name(self) -> &'static str {
        plc_state_name(self.state())
    }
    /// True in the two RUN states.
    pub fn is_running(self) -> bool {
        matches!(self.state(), 0 | 1)
    }
    /// True in the three STOP states.
    pub fn is_stopped(self) -> bool {
        matches!(self.state(), 2 | 3 | 6)
    }
}

/// The state a server piggybacks on every ACK (reply bytes 50-55).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Piggyback {
    /// Control program number (0xFF: none logged in).
    pub control_program_number: u8,
    /// Current privilege level of the connection.
    pub privilege_level: u8,
    /// Last sweep time.
    pub last_sweep_time: u16,
    /// The PLC status word.
    pub status: PlcStatus,
}

/// A service request (mailbox types 0xC0 and 0x80).
///
/// ```text
///  0xC0: 42 service | 43 segment selector | 44-45 offset LE | 46-47 length LE | 48-55 reserved
///  0x80: 42 service | 43-46 text data length u32 LE | 47 reserved | 48 packet | 49 total
///        50 reserved | 51 segment selector | 52-53 offset LE | 54-55 length LE
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// Service request code (see [`service_name`]).
    pub service_code: u8,
    /// Memory type and access unit (see [`segment_selector_name`]).
    pub segment_selector: u8,
    /// 0-based offset into the segment (%R1 is 0).
    pub memory_offset: u16,
    /// Data length, in the selector's unit (words, bytes or bits).
    pub data_length: u16,
    /// 0x80 only: the text buffer length the request announces.
    pub text_data_length: Option<u32>,
    /// The service parameter bytes as sent (0xC0: 43-55, 0x80: 50-55).
    pub parameters: &'a [u8],
}

impl Request<'_> {
    /// The EVE name of the service.
    pub fn service_name(&self) -> &'static str {
        service_name(self.service_code)
    }
    /// The class of the service.
    pub fn class(&self) -> OtClass {
        service_class(self.service_code)
    }
    /// The EVE name of the segment selector.
    pub fn segment_name(&self) -> &'static str {
        segment_selector_name(self.segment_selector)
    }
}

/// A reply (mailbox types 0xD4, 0x94 and 0xD1).
///
/// ```text
///  0xD4: 42 major status | 43 minor status | 44-49 inline data
///        50 program no. | 51 privilege | 52-53 sweep LE | 54-55 status word LE
///  0x94: 42-43 response data length LE | 44-47 reserved | 48 packet | 49 total
///        50-55 as 0xD4 (the data is in the text buffer)
///  0xD1: 42 major status | 43 minor status | 44-55 reserved
/// ```
///
/// For 0x94 the bytes at 42-43 are not a status: in the Kepware/FANUC
/// capture they hold the text length for long-status answers and 0 for
/// memory reads (Wireshark's SRTP plugin names them a data length). Some
/// servers also return more than 6 bytes inline in 0xD4 (that capture has
/// ASCII data in bytes 50-51), so the piggyback of a 0xD4 is only as good as
/// the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The mailbox type (0xD4, 0x94 or 0xD1).
    pub mailbox_type: u8,
    /// Major status of 0xD4 and 0xD1 (0 success; see [`major_status_name`]).
    pub major_status: Option<u8>,
    /// Minor status of 0xD4 and 0xD1 (see [`minor_status_name`]).
    pub minor_status: Option<u8>,
    /// 0x94 only: the u16 LE at 42.
    pub response_data_length: Option<u16>,
    /// 0xD4 only: the 6 bytes of data returned inline.
    pub inline_data: &'a [u8],
    /// The piggybacked PLC state (0xD4 and 0x94).
    pub piggyback: Option<Piggyback>,
}

impl Reply<'_> {
    /// True for an error NACK.
    pub fn is_nack(&self) -> bool {
        self.mailbox_type == MAILBOX_NACK
    }
    /// The EVE name of the major status.
    pub fn major_status_name(&self) -> Option<&'static str> {
        self.major_status.map(major_status_name)
    }
    /// The EVE name of the minor status.
    pub fn minor_status_name(&self) -> Option<&'static str> {
        self.minor_status.map(minor_status_name)
    }
}

/// What the header carries, by PDU and mailbox type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Type 0: session initialisation.
    Init,
    /// Type 1: the server's answer to it.
    InitAck,
    /// Type 2 with mailbox 0xC0 or 0x80 (or a reply mailbox type, flagged).
    Request(Request<'a>),
    /// Type 3 with mailbox 0xD4, 0x94 or 0xD1 (or a request type, flagged).
    Reply(Reply<'a>),
    /// An unknown mailbox type: header bytes 40-55 raw.
    Unknown {
        /// Header bytes 40-55.
        raw: &'a [u8],
    },
}

/// One SRTP PDU: header fields, decoded body and text buffer.
///
/// ```text
///  0 type | 1 reserved | 2-3 sequence LE | 4-5 text length LE | 6-25 reserved
///  26-28 time | 29 reserved | 30 mailbox sequence | 31 mailbox type
///  32-35 mailbox source | 36-39 mailbox destination (slot*0x10, 0x0E, 0, 0)
///  40 packet number | 41 total packets  (0x80/0x94: at 48/49)
///  42-55 mailbox body (see Request and Reply)
///  56.. text buffer (text length bytes)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrtpPdu<'a> {
    /// The 56 header bytes.
    pub header: &'a [u8],
    /// PDU type (see [`pdu_type_name`]).
    pub pdu_type: u8,
    /// Sequence number (u16 LE at 2).
    pub sequence: u16,
    /// Text buffer length (u16 LE at 4).
    pub text_length: u16,
    /// Bytes 26-28, a time stamp (BCD or binary by device; kept opaque).
    pub time: [u8; 3],
    /// Mailbox sequence number (byte 30).
    pub mailbox_sequence: u8,
    /// Mailbox message type (byte 31; see [`mailbox_type_name`]).
    pub mailbox_type: u8,
    /// Mailbox source (32-35).
    pub mailbox_source: [u8; 4],
    /// Mailbox destination (36-39): CPU slot times 0x10, then 0x0E.
    pub mailbox_destination: [u8; 4],
    /// Packet number of a multi-packet message.
    pub packet_number: u8,
    /// Packets in the message.
    pub total_packets: u8,
    /// The decoded mailbox body.
    pub body: Body<'a>,
    /// The text buffer.
    pub text: &'a [u8],
    /// Protocol oddities.
    pub flags: Flags,
}

impl SrtpPdu<'_> {
    /// The request/reply pairing key within a connection: (u16 at 2, u8 at 30).
    pub fn pairing_key(&self) -> (u16, u8) {
        (self.sequence, self.mailbox_sequence)
    }

    /// The service code of a request.
    pub fn service_code(&self) -> Option<u8> {
        match self.body {
            Body::Request(r) => Some(r.service_code),
            _ => None,
        }
    }

    /// The class of the PDU: a request's service class; `Recon` for the
    /// session handshake; `Other` for replies (pair them with their request).
    pub fn class(&self) -> OtClass {
        match self.body {
            Body::Request(r) => r.class(),
            Body::Init | Body::InitAck => OtClass::Recon,
            Body::Reply(_) | Body::Unknown { .. } => OtClass::Other,
        }
    }

    /// The PLC status word of an ACK.
    pub fn plc_status(&self) -> Option<PlcStatus> {
        match self.body {
            Body::Reply(Reply {
                piggyback: Some(p), ..
            }) => Some(p.status),
            _ => None,
        }
    }
}

/// Why bytes do not frame a PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduError {
    /// The PDU needs `needed` more bytes (a lower bound until the header is
    /// complete).
    Truncated {
        /// Additional bytes required (at least 1).
        needed: usize,
    },
    /// Byte 0 is not a PDU type (0-3): the stream is not at a header.
    UnknownPduType {
        /// Byte 0 as sent.
        pdu_type: u8,
    },
}

impl PduError {
    /// A short static name, used as the `Parsed::Invalid` reason.
    pub fn reason(&self) -> &'static str {
        match self {
            PduError::Truncated { .. } => "truncated",
            PduError::UnknownPduType { .. } => "unknown_pdu_type",
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([byte(b, at), byte(b, at + 1)])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([
        byte(b, at),
        byte(b, at + 1),
        byte(b, at + 2),
        byte(b, at + 3),
    ])
}

/// Byte `at` of a header slice that has been checked to hold `HEADER_LEN`
/// bytes; 0 if it somehow does not (never panics).
fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

fn bytes4(b: &[u8], at: usize) -> [u8; 4] {
    [
        byte(b, at),
        byte(b, at + 1),
        byte(b, at + 2),
        byte(b, at + 3),
    ]
}

/// Frames and decodes the PDU at the front of `input`; returns it with the
/// number of bytes it spans (`56 + text length`).
///
/// ```text
///  0        2          4           6            26     30     31      32       36      40     42         56
///  +----+---+----------+-----------+------------+------+------+-------+--------+-------+----------+------------+
///  |type|res| sequence | text len  | reserved   | time | mbox | mbox  | mbox   | mbox  | pkt no / | mailbox    |
///  |0-3 | 0 |  u16 LE  |  u16 LE   |            |      | seq  | type  | source | dest  | total    | body 42-55 |
///  +----+---+----------+-----------+------------+------+------+-------+--------+-------+----------+------------+
///  then `text len` bytes of text buffer
/// ```
///
/// Fails only on framing: fewer bytes than the whole PDU
/// ([`PduError::Truncated`]; a split header/text pair waits here) or a byte 0
/// that is not a PDU type ([`PduError::UnknownPduType`]). `dir` only feeds
/// the [`Flags::UNEXPECTED_DIRECTION`] check: the bytes say whether they are a
/// request or a reply.
pub fn parse_pdu(input: &[u8], dir: Direction) -> Result<(SrtpPdu<'_>, usize), PduError> {
    let Some(&pdu_type) = input.first() else {
        return Err(PduError::Truncated { needed: HEADER_LEN });
    };
    if pdu_type > TYPE_REPLY {
        return Err(PduError::UnknownPduType { pdu_type });
    }
    let Some(header) = input.get(..HEADER_LEN) else {
        return Err(PduError::Truncated {
            needed: HEADER_LEN - input.len(),
        });
    };
    let text_length = le16(header, 4);
    let total = HEADER_LEN + usize::from(text_length);
    let Some(text) = input.get(HEADER_LEN..total) else {
        return Err(PduError::Truncated {
            needed: total - input.len(),
        });
    };
    let mailbox_type = byte(header, 31);
    let mut flags = Flags::empty();
    flags.set_if(Flags::RESERVED_NONZERO, byte(header, 1) != 0);
    let expected_dir = match pdu_type {
        TYPE_INIT | TYPE_REQUEST => Direction::ToServer,
        _ => Direction::ToClient,
    };
    flags.set_if(Flags::UNEXPECTED_DIRECTION, dir != expected_dir);
    let with_text = matches!(
        mailbox_type,
        MAILBOX_REQUEST_WITH_TEXT | MAILBOX_ACK_WITH_TEXT
    );
    let (packet_number, total_packets) = if with_text {
        (byte(header, 48), byte(header, 49))
    } else {
        (byte(header, 40), byte(header, 41))
    };
    let mailbox_body = header.get(40..).unwrap_or(&[]);
    let body = match pdu_type {
        TYPE_INIT => {
            flags.set_if(
                Flags::INIT_NOT_ZERO,
                header.iter().chain(text).any(|&b| b != 0),
            );
            Body::Init
        }
        TYPE_INIT_ACK => Body::InitAck,
        _ => match mailbox_type {
            MAILBOX_REQUEST | MAILBOX_REQUEST_WITH_TEXT => {
                flags.set_if(Flags::MAILBOX_TYPE_MISMATCH, pdu_type != TYPE_REQUEST);
                Body::Request(request(header, mailbox_type, text_length, &mut flags))
            }
            MAILBOX_ACK | MAILBOX_ACK_WITH_TEXT | MAILBOX_NACK => {
                flags.set_if(Flags::MAILBOX_TYPE_MISMATCH, pdu_type != TYPE_REPLY);
                flags.set_if(
                    Flags::TEXT_LENGTH_MISMATCH,
                    mailbox_type != MAILBOX_ACK_WITH_TEXT && text_length != 0,
                );
                Body::Reply(reply(header, mailbox_type))
            }
            _ => {
                flags.insert(Flags::UNKNOWN_MAILBOX_TYPE);
                Body::Unknown { raw: mailbox_body }
            }
        },
    };
    let pdu = SrtpPdu {
        header,
        pdu_type,
        sequence: le16(header, 2),
        text_length,
        time: [byte(header, 26), byte(header, 27), byte(header, 28)],
        mailbox_sequence: byte(header, 30),
        mailbox_type,
        mailbox_source: bytes4(header, 32),
        mailbox_destination: bytes4(header, 36),
        packet_number,
        total_packets,
        body,
        text,
        flags,
    };
    Ok((pdu, total))
}

fn request<'a>(
    header: &'a [u8],
    mailbox_type: u8,
    text_length: u16,
    flags: &mut Flags,
) -> Request<'a> {
    let service_code = byte(header, 42);
    if mailbox_type == MAILBOX_REQUEST_WITH_TEXT {
        let announced = le32(header, 43);
        flags.set_if(
            Flags::TEXT_LENGTH_MISMATCH,
            announced != u32::from(text_length),
        );
        Request {
            service_code,
            segment_selector: byte(header, 51),
            memory_offset: le16(header, 52),
            data_length: le16(header, 54),
            text_data_length: Some(announced),
            parameters: header.get(50..).unwrap_or(&[]),
        }
    } else {
        flags.set_if(Flags::TEXT_LENGTH_MISMATCH, text_length != 0);
        Request {
            service_code,
            segment_selector: byte(header, 43),
            memory_offset: le16(header, 44),
            data_length: le16(header, 46),
            text_data_length: None,
            parameters: header.get(43..).unwrap_or(&[]),
        }
    }
}

fn reply(header: &[u8], mailbox_type: u8) -> Reply<'_> {
    let piggyback = (mailbox_type != MAILBOX_NACK).then(|| Piggyback {
        control_program_number: byte(header, 50),
        privilege_level: byte(header, 51),
        last_sweep_time: le16(header, 52),
        status: PlcStatus(le16(header, 54)),
    });
    let with_text = mailbox_type == MAILBOX_ACK_WITH_TEXT;
    let status = |at| (!with_text).then(|| byte(header, at));
    Reply {
        mailbox_type,
        major_status: status(42),
        minor_status: status(43),
        response_data_length: with_text.then(|| le16(header, 42)),
        inline_data: if mailbox_type == MAILBOX_ACK {
            header.get(44..50).unwrap_or(&[])
        } else {
            &[]
        },
        piggyback,
    }
}

/// The GE SRTP stream parser. It keeps no state; `Default` gives the only
/// value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Srtp;

impl StreamParser for Srtp {
    type Message<'a> = SrtpPdu<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], dir: Direction) -> Parsed<SrtpPdu<'a>> {
        match parse_pdu(input, dir) {
            Ok((message, consumed)) => Parsed::Message { consumed, message },
            Err(PduError::Truncated { needed }) => Parsed::Incomplete { needed },
            Err(e @ PduError::UnknownPduType { .. }) => Parsed::Invalid { reason: e.reason() },
        }
    }

    fn resync(&mut self, input: &[u8], dir: Direction) -> Option<usize> {
        resync(input, dir)
    }
}

/// Checks the header fields visible in `input`: a PDU type 0-3, reserved
/// byte 1 zero, an all-zero init, and a mailbox type that belongs to the PDU
/// type. `Match` needs the whole header.
fn header_plausibility(input: &[u8]) -> Probe {
    let Some(&pdu_type) = input.first() else {
        return Probe::NeedMore;
    };
    if pdu_type > TYPE_REPLY || input.get(1).is_some_and(|&b| b != 0) {
        return Probe::NoMatch;
    }
    let visible = input.get(..HEADER_LEN).unwrap_or(input);
    let consistent = match pdu_type {
        TYPE_INIT => visible.iter().all(|&b| b == 0),
        TYPE_INIT_ACK => true,
        TYPE_REQUEST => visible
            .get(31)
            .is_none_or(|&m| matches!(m, MAILBOX_REQUEST | MAILBOX_REQUEST_WITH_TEXT)),
        _ => visible
            .get(31)
            .is_none_or(|&m| matches!(m, MAILBOX_ACK | MAILBOX_ACK_WITH_TEXT | MAILBOX_NACK)),
    };
    match (consistent, input.len() >= HEADER_LEN) {
        (false, _) => Probe::NoMatch,
        (true, false) => Probe::NeedMore,
        (true, true) => Probe::Match,
    }
}

/// Whether the first bytes of a TCP stream are GE SRTP.
///
/// `Match` needs a whole, consistent header: PDU type 0-3 with byte 1 zero;
/// an init must be all zero; a request must carry mailbox type 0xC0 or 0x80,
/// a reply 0xD4, 0x94 or 0xD1. `NeedMore` while fewer than 56 bytes are
/// visible and none contradicts.
pub fn probe(input: &[u8]) -> Probe {
    header_plausibility(input)
}

/// The offset of the first plausible request (towards the server) or reply
/// (towards the client) header in `input`, after a gap or an invalid frame.
///
/// Init and init-ack are not candidates (they only open a session, and runs
/// of zero bytes inside text buffers would look like one). A whole candidate
/// PDU must be followed by the end of input or another plausible header; a
/// candidate cut short by the end of input needs its mailbox type visible
/// (32 bytes). `None` drops all of `input`.
pub fn resync(input: &[u8], dir: Direction) -> Option<usize> {
    let want = match dir {
        Direction::ToServer => TYPE_REQUEST,
        Direction::ToClient => TYPE_REPLY,
    };
    (0..input.len()).find(|&i| {
        let Some(rest) = input.get(i..) else {
            return false;
        };
        if rest.first() != Some(&want) {
            return false;
        }
        match header_plausibility(rest) {
            Probe::NoMatch => false,
            Probe::NeedMore => rest.len() >= 32,
            Probe::Match => {
                let total = HEADER_LEN + usize::from(le16(rest, 4));
                match rest.get(total..) {
                    None | Some([]) => true,
                    Some(next) => header_plausibility(next) != Probe::NoMatch,
                }
            }
        }
    })
}

/// True when `inner` lies within `outer` (both borrowed from one buffer).
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fn check_pdu(input: &[u8], consumed: usize, p: &SrtpPdu<'_>) {
    assert!(consumed <= input.len() && consumed <= MAX_PDU_LEN);
    assert_eq!(consumed, HEADER_LEN + usize::from(p.text_length));
    assert_eq!(p.header.len(), HEADER_LEN);
    assert_eq!(p.text.len(), usize::from(p.text_length));
    assert!(within(input, p.header) && within(input, p.text));
    match p.body {
        Body::Request(r) => assert!(within(p.header, r.parameters)),
        Body::Reply(r) => assert!(within(p.header, r.inline_data) && r.inline_data.len() <= 6),
        Body::Unknown { raw } => assert!(within(p.header, raw)),
        Body::Init | Body::InitAck => {}
    }
    let _ = (
        p.class(),
        p.plc_status().map(PlcStatus::state_name),
        p.pairing_key(),
    );
}

/// Fuzz entry point: runs [`Srtp`] (both directions, single parse and
/// [`crate::stream::drive`] over all of `data`), [`probe`] and [`resync`], and
/// asserts their invariants. Panics only on a broken invariant.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    use crate::stream::drive;
    for dir in [Direction::ToServer, Direction::ToClient] {
        match Srtp.parse(data, dir) {
            Parsed::Message { consumed, message } => check_pdu(data, consumed, &message),
            Parsed::Skip { .. } => panic!("SRTP never skips"),
            Parsed::Incomplete { needed } => {
                assert!(needed >= 1);
                assert!(data.len() + needed <= MAX_PDU_LEN);
            }
            Parsed::Invalid { reason } => assert_eq!(reason, "unknown_pdu_type"),
        }
        let mut seen = 0usize;
        let outcome = drive(&mut Srtp, data, dir, |p| {
            assert!(within(data, p.header) && within(data, p.text));
            seen += 1;
        });
        assert!(!outcome.stalled, "SRTP drive stalled");
        assert!(outcome.consumed <= data.len());
        assert_eq!(outcome.messages, seen);
        if let Some(off) = resync(data, dir) {
            assert!(off < data.len());
            assert_ne!(
                header_plausibility(data.get(off..).unwrap_or(&[])),
                Probe::NoMatch
            );
        }
    }
    if probe(data) == Probe::Match {
        assert!(!matches!(
            Srtp.parse(data, Direction::ToServer),
            Parsed::Invalid { .. }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_word_of_the_kepware_fanuc_capture() {
        // 0x217C: b2-b6 set, b8 set, state 2.
        let s = PlcStatus(0x217C);
        assert!(s.programmer_attached());
        assert!(s.run_switch());
        assert!(
            s.new_plc_fault() && s.new_io_fault() && s.plc_fault_present() && s.io_fault_present()
        );
        assert!(
            !s.oversweep()
                && !s.constant_sweep()
                && !s.outputs_enable_switch()
                && !s.oem_protected()
        );
        assert_eq!(s.state(), 2);
        assert_eq!(s.state_name(), "stop_io_disabled");
        assert!(s.is_stopped() && !s.is_running());
    }

    #[test]
    fn byte_0_above_3_is_invalid_framing() {
        assert_eq!(
            parse_pdu(&[0x04; 56], Direction::ToServer),
            Err(PduError::UnknownPduType { pdu_type: 4 })
        );
        assert_eq!(
            parse_pdu(&[], Direction::ToServer),
            Err(PduError::Truncated { needed: 56 })
        );
        assert_eq!(
            parse_pdu(&[0x02; 10], Direction::ToServer),
            Err(PduError::Truncated { needed: 46 })
        );
    }
}
