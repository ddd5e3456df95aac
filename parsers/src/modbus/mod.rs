//! Modbus/TCP (port 502): MBAP framing, every public function code in both
//! directions, exceptions, FC 43 device identification and FC 90 Schneider
//! UMAS.
//!
//! References:
//! * MODBUS Messaging on TCP/IP Implementation Guide V1.0b (MBAP header).
//! * MODBUS Application Protocol Specification V1.1b3 (PDU layouts, ranges,
//!   exception, diagnostic and MEI tables).
//! * `/work/shared/PROTOCOLS.md` §2.5 (notes from Wireshark `packet-mbtcp`,
//!   Zeek, icsnpp-modbus, nDPI and the UMAS write-ups).
//!
//! [`ModbusTcp`] implements [`StreamParser`]: one call frames one ADU from a
//! reassembled TCP direction. Only broken framing (an MBAP length that cannot
//! frame a PDU) is [`Parsed::Invalid`]; every protocol violation is a
//! [`Flags`] bit on the [`ModbusMessage`]. [`probe`] decides whether a stream
//! is Modbus at all (HTTP, TLS, RPC or DCERPC sent to port 502 is not), and
//! [`resync`] finds the next plausible MBAP header after a gap.
//!
//! ```
//! use spanwatch_parsers::modbus::{ModbusTcp, Pdu};
//! use spanwatch_parsers::stream::{Direction, Parsed, StreamParser};
//!
//! // Read 3 holding registers from 0x006B, unit 0x11.
//! let req = [0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03];
//! let Parsed::Message { consumed, message } = ModbusTcp.parse(&req, Direction::ToServer) else {
//!     panic!("one ADU")
//! };
//! assert_eq!(consumed, 12);
//! assert_eq!(message.function_name(), "read_holding_registers");
//! assert_eq!(message.pdu, Pdu::ReadRequest { address: 0x6B, quantity: 3 });
//! assert!(message.flags.is_empty());
//! ```

mod codes;
mod flag_set;
mod pdu;

pub(crate) use flag_set::flag_set;

pub use codes::*;
pub use pdu::{
    parse_pdu, DeviceIdObject, DeviceIdObjects, DeviceIdentification, FileSubRequest,
    FileSubRequests, FileSubResponse, FileSubResponses, Pdu, FILE_REFERENCE_TYPE,
    FILE_SUB_REQUEST_LEN, MAX_COMM_EVENTS, MAX_FIFO_COUNT, MAX_READ_BITS, MAX_READ_REGISTERS,
    MAX_READ_WRITE_REGISTERS, MAX_WRITE_COILS, MAX_WRITE_REGISTERS,
};

use crate::ot::OtClass;
use crate::stream::{Direction, Parsed, Probe, StreamParser};

/// The IANA port for Modbus/TCP.
pub const PORT: u16 = 502;
/// Bytes of the MBAP header, unit id included.
pub const MBAP_LEN: usize = 7;
/// Bytes before the MBAP length field ends (the length counts from byte 6).
const LENGTH_END: usize = 6;
/// The smallest ADU: MBAP header and a function code.
pub const MIN_ADU_LEN: usize = MBAP_LEN + 1;
/// The smallest MBAP length: unit id and function code.
pub const MIN_MBAP_LENGTH: u16 = 2;
/// The largest MBAP length the specification allows (unit id + 253-byte PDU).
pub const MAX_MBAP_LENGTH: u16 = 254;
/// The largest MBAP length still taken as framing. Schneider UMAS devices send
/// 255 (the `repeat` exchanges in nDPI's umas.pcap); such ADUs are parsed and
/// flagged [`Flags::LENGTH_EXCEEDS_SPEC`]. Anything longer is broken framing.
pub const MAX_FRAMING_MBAP_LENGTH: u16 = 260;
/// The largest ADU this parser frames.
pub const MAX_ADU_LEN: usize = LENGTH_END + MAX_FRAMING_MBAP_LENGTH as usize;

flag_set! {
    /// Protocol violations found in one ADU. None of them stops parsing.
    pub struct Flags {
        /// MBAP protocol identifier is not 0.
        const PROTOCOL_ID_NONZERO = 0, "protocol_id_nonzero";
        /// MBAP length above 254 (but still framed, see [`MAX_FRAMING_MBAP_LENGTH`]).
        const LENGTH_EXCEEDS_SPEC = 1, "length_exceeds_spec";
        /// The PDU is shorter than its function's fixed fields; the PDU is kept raw.
        const PDU_TOO_SHORT = 2, "pdu_too_short";
        /// Bytes left after the function's layout.
        const TRAILING_BYTES = 3, "trailing_bytes";
        /// A byte count disagrees with a quantity or with the bytes present.
        const BYTE_COUNT_MISMATCH = 4, "byte_count_mismatch";
        /// A quantity, count or byte count outside the range the specification allows.
        const QUANTITY_OUT_OF_RANGE = 5, "quantity_out_of_range";
        /// Starting address plus quantity runs past address 0xFFFF.
        const ADDRESS_OVERFLOW = 6, "address_overflow";
        /// FC 5 value other than 0xFF00 or 0x0000.
        const INVALID_COIL_VALUE = 7, "invalid_coil_value";
        /// Exception code not defined by the specification.
        const UNKNOWN_EXCEPTION_CODE = 8, "unknown_exception_code";
        /// Exception code not allowed for the function (or unknown).
        const EXCEPTION_CODE_NOT_ALLOWED = 9, "exception_code_not_allowed";
        /// A request whose function code has the exception bit set.
        const EXCEPTION_BIT_IN_REQUEST = 10, "exception_bit_in_request";
        /// Function code neither public, user-defined nor a known vendor code.
        const UNASSIGNED_FUNCTION = 11, "unassigned_function";
        /// Function code in a user-defined range (65-72, 100-110).
        const USER_DEFINED_FUNCTION = 12, "user_defined_function";
        /// FC 8 sub-function not in the specification's table.
        const UNKNOWN_SUB_FUNCTION = 13, "unknown_sub_function";
        /// FC 43 MEI type other than 13 and 14.
        const UNKNOWN_MEI_TYPE = 14, "unknown_mei_type";
        /// An enumerated field outside its defined values (read device id code,
        /// conformity level, more-follows, file reference type, UMAS status).
        const INVALID_FIELD_VALUE = 15, "invalid_field_value";
    }
}

/// The MBAP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mbap {
    /// Transaction identifier: pairs a response with its request.
    pub transaction_id: u16,
    /// Protocol identifier, 0 for Modbus.
    pub protocol_id: u16,
    /// Bytes that follow the length field (unit id + PDU).
    pub length: u16,
    /// Unit identifier (serial address behind a gateway, often 0xFF or 0).
    pub unit_id: u8,
}

/// Why bytes do not frame an ADU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AduError {
    /// The ADU at the front needs `needed` more bytes (a lower bound when the
    /// length field itself has not arrived).
    Truncated {
        /// Additional bytes required (at least 1).
        needed: usize,
    },
    /// The MBAP length is outside `MIN_MBAP_LENGTH..=MAX_FRAMING_MBAP_LENGTH`.
    LengthOutOfRange {
        /// The length field as sent.
        length: u16,
    },
}

impl AduError {
    /// A short static name, used as the `Parsed::Invalid` reason.
    pub fn reason(&self) -> &'static str {
        match self {
            AduError::Truncated { .. } => "truncated",
            AduError::LengthOutOfRange { .. } => "mbap_length_out_of_range",
        }
    }
}

/// One Modbus/TCP ADU, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModbusMessage<'a> {
    /// MBAP transaction identifier.
    pub transaction_id: u16,
    /// MBAP protocol identifier (0 for Modbus; otherwise flagged).
    pub protocol_id: u16,
    /// MBAP length field.
    pub length: u16,
    /// MBAP unit identifier.
    pub unit_id: u8,
    /// The direction the ADU was parsed as.
    pub direction: Direction,
    /// Function code as sent, exception bit included.
    pub function_code: u8,
    /// The PDU bytes after the function code.
    pub data: &'a [u8],
    /// The typed view of `data`.
    pub pdu: Pdu<'a>,
    /// Protocol violations.
    pub flags: Flags,
}

impl<'a> ModbusMessage<'a> {
    /// The MBAP header.
    pub fn mbap(&self) -> Mbap {
        Mbap {
            transaction_id: self.transaction_id,
            protocol_id: self.protocol_id,
            length: self.length,
            unit_id: self.unit_id,
        }
    }

    /// The function code without the exception bit.
    pub fn function(&self) -> u8 {
        self.function_code & !EXCEPTION_BIT
    }

    /// True for an exception response.
    pub fn is_exception(&self) -> bool {
        matches!(self.pdu, Pdu::Exception { .. })
    }

    /// The exception code of an exception response.
    pub fn exception_code(&self) -> Option<u8> {
        match self.pdu {
            Pdu::Exception { code } => Some(code),
            _ => None,
        }
    }

    /// The EVE name of the exception code of an exception response.
    pub fn exception_name(&self) -> Option<&'static str> {
        self.exception_code().map(exception_name)
    }

    /// The EVE name of the function code.
    pub fn function_name(&self) -> &'static str {
        function_name(self.function_code)
    }

    /// The name of the second-level code, where the function has one: the
    /// diagnostics sub-function (FC 8), the MEI type (FC 43), the UMAS
    /// function of a request or the UMAS status of a response (FC 90).
    pub fn sub_function_name(&self) -> Option<&'static str> {
        match self.pdu {
            Pdu::Diagnostics { sub_function, .. } => Some(diagnostic_name(sub_function)),
            Pdu::ReadDeviceIdRequest { .. } | Pdu::ReadDeviceIdResponse(_) => {
                Some(mei_name(MEI_READ_DEVICE_IDENTIFICATION))
            }
            Pdu::CanOpen { .. } => Some(mei_name(MEI_CANOPEN_GENERAL_REFERENCE)),
            Pdu::Mei { mei_type, .. } => Some(mei_name(mei_type)),
            Pdu::UmasRequest { function, .. } => Some(umas_function_name(function)),
            Pdu::UmasResponse { status, .. } => Some(umas_status_name(status)),
            _ => None,
        }
    }

    /// What the message does, refined by second-level codes: diagnostics
    /// restart and listen-only are `Control`; MEI 14 is `Recon`; a UMAS
    /// request takes its UMAS function's class. Responses (exceptions
    /// included) carry the class of their function.
    pub fn class(&self) -> OtClass {
        match self.pdu {
            Pdu::Diagnostics { sub_function, .. } => diagnostic_class(sub_function),
            Pdu::ReadDeviceIdRequest { .. } | Pdu::ReadDeviceIdResponse(_) => OtClass::Recon,
            Pdu::CanOpen { .. } | Pdu::Mei { .. } => OtClass::Other,
            Pdu::UmasRequest { function, .. } => umas_function_class(function),
            _ => function_class(self.function_code),
        }
    }
}

/// The Modbus/TCP stream parser. It keeps no state; `Default` gives the only
/// value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModbusTcp;

impl StreamParser for ModbusTcp {
    type Message<'a> = ModbusMessage<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], dir: Direction) -> Parsed<ModbusMessage<'a>> {
        match parse_adu(input, dir) {
            Ok((message, consumed)) => Parsed::Message { consumed, message },
            Err(AduError::Truncated { needed }) => Parsed::Incomplete { needed },
            Err(e @ AduError::LengthOutOfRange { .. }) => Parsed::Invalid { reason: e.reason() },
        }
    }

    fn resync(&mut self, input: &[u8], dir: Direction) -> Option<usize> {
        resync(input, dir)
    }
}

fn be16(input: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*input.get(at)?, *input.get(at + 1)?]))
}

/// Frames and decodes the ADU at the front of `input`; returns it with the
/// number of bytes it spans (`6 + length`).
///
/// ```text
///  0       2       4       6      7    8
///  +-------+-------+-------+------+----+------------------+
///  | trans | proto | length| unit | fc | data (length-2)  |
///  |  id   |  id=0 |  BE   |  id  |    |                  |
///  +-------+-------+-------+------+----+------------------+
///  length counts unit id + fc + data: 2..=254 (260 tolerated)
/// ```
///
/// Fails only on framing: fewer bytes than the ADU needs
/// ([`AduError::Truncated`]) or a length that cannot frame a PDU
/// ([`AduError::LengthOutOfRange`]). A non-zero protocol id is a flag.
pub fn parse_adu(input: &[u8], dir: Direction) -> Result<(ModbusMessage<'_>, usize), AduError> {
    let Some(length) = be16(input, 4) else {
        return Err(AduError::Truncated {
            needed: MIN_ADU_LEN - input.len(),
        });
    };
    if !(MIN_MBAP_LENGTH..=MAX_FRAMING_MBAP_LENGTH).contains(&length) {
        return Err(AduError::LengthOutOfRange { length });
    }
    let total = LENGTH_END + usize::from(length);
    let Some(adu) = input.get(..total) else {
        return Err(AduError::Truncated {
            needed: total - input.len(),
        });
    };
    // `adu` holds at least MIN_ADU_LEN bytes here (length >= 2).
    let (Some(transaction_id), Some(protocol_id), Some(&unit_id), Some(&function_code), Some(data)) = (
        be16(adu, 0),
        be16(adu, 2),
        adu.get(6),
        adu.get(7),
        adu.get(MIN_ADU_LEN..),
    ) else {
        return Err(AduError::Truncated {
            needed: MIN_ADU_LEN.saturating_sub(input.len()).max(1),
        });
    };
    let (pdu, mut flags) = parse_pdu(function_code, data, dir);
    flags.set_if(Flags::PROTOCOL_ID_NONZERO, protocol_id != 0);
    flags.set_if(Flags::LENGTH_EXCEEDS_SPEC, length > MAX_MBAP_LENGTH);
    let message = ModbusMessage {
        transaction_id,
        protocol_id,
        length,
        unit_id,
        direction: dir,
        function_code,
        data,
        pdu,
        flags,
    };
    Ok((message, total))
}

/// Checks the MBAP fields visible in `input` (which may be short): protocol
/// id 0 and a length in the framing range. The function code is not judged
/// here: scanners send FC 0 and servers answer with odd exception shapes
/// (arkime's modbus.pcap has both), and they are still Modbus. `Match` needs
/// the header and function code; `NeedMore` means no visible byte
/// contradicts.
fn header_plausibility(input: &[u8]) -> Probe {
    let pid = input.get(2..4).or_else(|| input.get(2..)).unwrap_or(&[]);
    if pid.iter().any(|&b| b != 0) {
        return Probe::NoMatch;
    }
    let Some(length) = be16(input, 4) else {
        return Probe::NeedMore;
    };
    if !(MIN_MBAP_LENGTH..=MAX_FRAMING_MBAP_LENGTH).contains(&length) {
        return Probe::NoMatch;
    }
    if input.len() < MIN_ADU_LEN {
        return Probe::NeedMore;
    }
    Probe::Match
}

/// Whether the first bytes of a TCP stream are Modbus/TCP.
///
/// `Match` needs one whole, consistent ADU: protocol id 0, length
/// 2..=260 and, if bytes follow that ADU, a plausible next header (protocol
/// id 0 and a framing length as far as visible). `NeedMore` while the
/// first ADU is incomplete and nothing contradicts; `NoMatch` otherwise.
/// HTTP (`GET /`), TLS (`16 03 01`), ONC RPC and DCERPC all fail the protocol
/// id or length test.
pub fn probe(input: &[u8]) -> Probe {
    match header_plausibility(input) {
        Probe::Match => {}
        other => return other,
    }
    let Some(length) = be16(input, 4) else {
        return Probe::NeedMore;
    };
    let total = LENGTH_END + usize::from(length);
    match input.get(total..) {
        None => Probe::NeedMore,
        Some([]) => Probe::Match,
        Some(next) => match header_plausibility(next) {
            Probe::NoMatch => Probe::NoMatch,
            _ => Probe::Match,
        },
    }
}

/// The offset of the first plausible ADU start in `input`, after a gap or an
/// invalid frame.
///
/// A candidate needs protocol id 0, a framing length, a function code that is
/// public, user-defined or UMAS (exception bit only towards the client), and, when the candidate ADU is complete, a plausible header (or
/// the end of input) right after it. A candidate cut short by the end of
/// `input` is accepted once its protocol id is visible (4 bytes), so that the
/// engine waits for the rest. `None` drops all of `input`.
pub fn resync(input: &[u8], dir: Direction) -> Option<usize> {
    (0..input.len()).find(|&i| {
        input
            .get(i..)
            .is_some_and(|rest| resync_candidate(rest, dir))
    })
}

fn resync_candidate(rest: &[u8], dir: Direction) -> bool {
    match header_plausibility(rest) {
        Probe::NoMatch => false,
        Probe::NeedMore => rest.len() >= 4,
        Probe::Match => {
            let (Some(length), Some(&fc)) = (be16(rest, 4), rest.get(7)) else {
                return false;
            };
            if fc & EXCEPTION_BIT != 0 && dir == Direction::ToServer {
                return false;
            }
            match rest.get(LENGTH_END + usize::from(length)..) {
                None | Some([]) => true,
                Some(next) => header_plausibility(next) != Probe::NoMatch,
            }
        }
    }
}

/// True when `inner` lies within `outer` (both borrowed from one buffer).
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

/// Checks the invariants of one parsed message against the bytes it came
/// from. Panics on a broken invariant (fuzzing only).
fn check_message(input: &[u8], consumed: usize, m: &ModbusMessage<'_>) {
    assert!(consumed <= input.len(), "consumed past the input");
    assert!((MIN_ADU_LEN..=MAX_ADU_LEN).contains(&consumed));
    assert_eq!(consumed, LENGTH_END + usize::from(m.length));
    assert!(within(input, m.data));
    assert_eq!(m.data.len() + 2, usize::from(m.length));
    let field: &[u8] = match m.pdu {
        Pdu::ReadResponse { data, .. }
        | Pdu::Diagnostics { data, .. }
        | Pdu::ServerId { data, .. }
        | Pdu::CanOpen { data }
        | Pdu::Mei { data, .. }
        | Pdu::UmasRequest { data, .. }
        | Pdu::UmasResponse { data, .. }
        | Pdu::Raw { data } => data,
        Pdu::WriteMultipleRequest { values, .. }
        | Pdu::ReadWriteMultipleRequest { values, .. }
        | Pdu::ReadFifoResponse { values, .. } => values,
        Pdu::CommEventLog { events, .. } => events,
        Pdu::ReadDeviceIdResponse(id) => id.object_bytes,
        _ => &[],
    };
    assert!(within(m.data, field), "a field slice outside the PDU");
    match m.pdu {
        Pdu::ReadFileRecordRequest { sub_requests, .. }
        | Pdu::WriteFileRecord { sub_requests, .. } => {
            for s in sub_requests {
                assert!(within(m.data, s.data));
            }
        }
        Pdu::ReadFileRecordResponse { sub_responses, .. } => {
            for s in sub_responses {
                assert!(within(m.data, s.data));
            }
        }
        Pdu::ReadDeviceIdResponse(id) => {
            assert!(id.objects().count() <= usize::from(id.object_count));
            for o in id.objects() {
                assert!(within(m.data, o.value));
            }
        }
        _ => {}
    }
    let _ = (
        m.class(),
        m.function_name(),
        m.sub_function_name(),
        m.exception_name(),
    );
    assert!(m.flags.names().count() <= Flags::ALL.len());
}

/// Fuzz entry point: runs [`ModbusTcp`] (both directions, single parse and
/// [`crate::stream::drive`] over all of `data`), [`probe`] and [`resync`], and
/// asserts their invariants. Panics only on a broken invariant.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    use crate::stream::drive;
    for dir in [Direction::ToServer, Direction::ToClient] {
        match ModbusTcp.parse(data, dir) {
            Parsed::Message { consumed, message } => check_message(data, consumed, &message),
            Parsed::Skip { .. } => panic!("Modbus never skips"),
            Parsed::Incomplete { needed } => {
                assert!(needed >= 1);
                assert!(data.len() + needed <= MAX_ADU_LEN);
            }
            Parsed::Invalid { reason } => assert_eq!(reason, "mbap_length_out_of_range"),
        }
        let mut offset = 0usize;
        let outcome = drive(&mut ModbusTcp, data, dir, |m| {
            // Messages arrive in order; each must lie inside the input.
            assert!(within(data, m.data));
            offset += 1;
        });
        assert!(!outcome.stalled, "Modbus drive stalled");
        assert!(outcome.consumed <= data.len());
        assert_eq!(outcome.messages, offset);
        if let Some(off) = resync(data, dir) {
            assert!(off < data.len());
            assert_ne!(
                header_plausibility(data.get(off..).unwrap_or(&[])),
                Probe::NoMatch
            );
        }
    }
    match probe(data) {
        Probe::Match => {
            for dir in [Direction::ToServer, Direction::ToClient] {
                assert!(
                    matches!(ModbusTcp.parse(data, dir), Parsed::Message { .. }),
                    "probe matched, parse did not"
                );
            }
        }
        Probe::NeedMore => assert!(!matches!(
            ModbusTcp.parse(data, Direction::ToServer),
            Parsed::Invalid { .. }
        )),
        Probe::NoMatch => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_response_names_code_and_function() {
        // tid 0x0001, pid 0, len 3, unit 0x0A, fc 0x88 (diagnostics | exception), code 0x0B.
        let adu = [0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x0A, 0x88, 0x0B];
        let (m, n) = parse_adu(&adu, Direction::ToClient).expect("frames");
        assert_eq!(n, 9);
        assert_eq!(m.function(), FC_DIAGNOSTICS);
        assert!(m.is_exception());
        assert_eq!(m.exception_name(), Some("gateway_target_failed_to_respond"));
        assert!(m.flags.is_empty());
        assert_eq!(m.class(), OtClass::Diagnostic);
    }

    #[test]
    fn short_input_asks_for_the_minimum_adu() {
        assert_eq!(
            parse_adu(&[0x00, 0x01], Direction::ToServer),
            Err(AduError::Truncated { needed: 6 })
        );
        assert_eq!(
            parse_adu(&[], Direction::ToServer),
            Err(AduError::Truncated { needed: 8 })
        );
    }

    #[test]
    fn length_one_and_huge_lengths_are_framing_errors() {
        let one = [0, 0, 0, 0, 0x00, 0x01, 0x11];
        assert_eq!(
            parse_adu(&one, Direction::ToServer),
            Err(AduError::LengthOutOfRange { length: 1 })
        );
        let big = [0, 0, 0, 0, 0x01, 0x05, 0x11, 0x03];
        assert_eq!(
            parse_adu(&big, Direction::ToServer),
            Err(AduError::LengthOutOfRange { length: 261 })
        );
    }

    #[test]
    fn flags_name_themselves_in_bit_order() {
        let f = Flags::PROTOCOL_ID_NONZERO | Flags::TRAILING_BYTES;
        assert_eq!(
            f.names().collect::<Vec<_>>(),
            vec!["protocol_id_nonzero", "trailing_bytes"]
        );
        assert_eq!(
            format!("{f:?}"),
            "Flags(protocol_id_nonzero | trailing_bytes)"
        );
    }
}
