//! GE Ethernet Global Data (EGD): the producer's periodic UDP datagram on
//! port 18246, and the command port 7937.
//!
//! References:
//! * `/work/shared/PROTOCOLS.md` §2.2 (header layout, status table).
//! * Wireshark `epan/dissectors/packet-egd.c` (field names, port 18246 =
//!   0x4746 "GF", 7937 for configuration commands).
//! * ntop/nDPI `src/lib/protocols/egd.c` (detection heuristic: `0D 01`,
//!   status below 31, reserved zero).
//!
//! [`parse_pdu`] fails only when the datagram is shorter than the 32-byte
//! header. A type other than 13, a version other than 1, an unknown status,
//! a non-zero reserved word and so on are [`Flags`] on the PDU. The exchange
//! data is a slice: its layout is fixed per (producer, exchange) by
//! configuration, not on the wire.
//!
//! ```
//! use spanwatch_parsers::egd;
//!
//! // First datagram of nDPI's egd.pcapng (192.168.8.77 -> 192.168.8.169).
//! let mut dgram = vec![
//!     0x0D, 0x01, 0xD4, 0xF0, 192, 168, 8, 77, 0x7B, 0, 0, 0, 0xBE, 0x8A, 0x7E, 0x38,
//!     0x00, 0x81, 0x1B, 0x2C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
//! ];
//! dgram.extend_from_slice(&[0; 27]);
//! let pdu = egd::parse_pdu(&dgram).expect("a whole header");
//! assert_eq!(pdu.request_id, 61652);
//! assert_eq!(pdu.producer_id, [192, 168, 8, 77]);
//! assert_eq!(pdu.exchange_id, 0x7B);
//! assert_eq!(pdu.data.len(), 27);
//! assert!(pdu.flags.is_empty());
//! ```

use crate::modbus::flag_set;
use crate::stream::Probe;

/// The UDP port of produced exchanges ("GF").
pub const PORT: u16 = 18246;
/// The UDP port of EGD configuration commands.
pub const COMMAND_PORT: u16 = 7937;
/// Bytes of the data PDU header.
pub const HEADER_LEN: usize = 32;
/// PDU type of a produced data exchange.
pub const PDU_TYPE_DATA: u8 = 0x0D;
/// The protocol version carried by data PDUs.
pub const VERSION: u8 = 0x01;
/// The most exchange data one production may carry (GE: 1400 bytes per
/// exchange). Longer data is still returned, and flagged.
pub const MAX_EXCHANGE_DATA_LEN: usize = 1400;
/// Status values from 31 up are not EGD (nDPI's heuristic rejects them).
pub const STATUS_LIMIT: u32 = 31;

flag_set! {
    /// Oddities found in one EGD PDU. None of them stops parsing.
    pub struct Flags {
        /// PDU type other than 13 (data).
        const UNKNOWN_PDU_TYPE = 0, "unknown_pdu_type";
        /// Version other than 1.
        const UNKNOWN_VERSION = 1, "unknown_version";
        /// A status value not in the status table.
        const UNKNOWN_STATUS = 2, "unknown_status";
        /// The reserved word (bytes 28-31) is not zero.
        const RESERVED_NONZERO = 3, "reserved_nonzero";
        /// Nanoseconds of one billion or more.
        const INVALID_TIMESTAMP = 4, "invalid_timestamp";
        /// More than [`MAX_EXCHANGE_DATA_LEN`] bytes of exchange data.
        const DATA_EXCEEDS_MAX = 5, "data_exceeds_max";
    }
}

/// The EVE name of an exchange status value.
pub fn status_name(status: u32) -> &'static str {
    match status {
        0 => "no_new_status",
        1 => "no_error",
        2 => "consumed",
        3 => "sntp_error",
        4 => "specification_error",
        6 => "refresh_error",
        7 => "refresh_period_exceeded",
        10 => "ip_layer_error",
        12 => "resource_problem",
        16 => "name_resolution_error",
        18 => "ethernet_loss",
        22 => "not_supported",
        26 => "no_response",
        28 => "create_failed",
        30 => "exchange_deleted",
        _ => "unknown",
    }
}

/// One EGD data PDU.
///
/// ```text
///  0 type (13) | 1 version (1) | 2-3 request id LE
///  4-7   producer id (the producer's IPv4 address)
///  8-11  exchange id LE
///  12-15 timestamp seconds LE | 16-19 timestamp nanoseconds LE (0: none)
///  20-23 status LE | 24-27 configuration signature LE | 28-31 reserved (0)
///  32..  exchange data
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgdPdu<'a> {
    /// PDU type (13 for data).
    pub pdu_type: u8,
    /// Version (1).
    pub version: u8,
    /// Production counter: a gap is loss, a reset is a producer restart.
    pub request_id: u16,
    /// The producer's IPv4 address as sent.
    pub producer_id: [u8; 4],
    /// The exchange within the producer.
    pub exchange_id: u32,
    /// Timestamp, seconds.
    pub timestamp_sec: u32,
    /// Timestamp, nanoseconds.
    pub timestamp_nsec: u32,
    /// Exchange status (see [`status_name`]).
    pub status: u32,
    /// Changes when the exchange configuration is rebuilt or downloaded.
    pub config_signature: u32,
    /// Reserved word (should be 0).
    pub reserved: u32,
    /// The exchange data.
    pub data: &'a [u8],
    /// Oddities.
    pub flags: Flags,
}

impl EgdPdu<'_> {
    /// The EVE name of the status.
    pub fn status_name(&self) -> &'static str {
        status_name(self.status)
    }

    /// False when both timestamp words are zero ("no timestamp").
    pub fn has_timestamp(&self) -> bool {
        self.timestamp_sec != 0 || self.timestamp_nsec != 0
    }

    /// True when the producer id is the datagram's source address; a
    /// mismatch is spoofing or NAT.
    pub fn producer_matches(&self, source: [u8; 4]) -> bool {
        self.producer_id == source
    }
}

/// Why a datagram is not an EGD PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgdError {
    /// Shorter than the 32-byte header.
    Truncated {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes the datagram has.
        actual: usize,
    },
}

fn le32(h: &[u8], at: usize) -> u32 {
    let b = |i: usize| h.get(at + i).copied().unwrap_or(0);
    u32::from_le_bytes([b(0), b(1), b(2), b(3)])
}

/// Decodes one EGD data PDU from a UDP payload. Fails only when the payload
/// is shorter than the header.
///
/// ```text
///  0      1       2          4            8            12         16          20       24         28        32
///  +------+-------+----------+------------+------------+----------+-----------+--------+----------+---------+------
///  | type | vers. | request  | producer   | exchange   | time sec | time nsec | status | config   | reserved| data
///  | 0x0D | 0x01  | id u16LE | id (IPv4)  | id u32 LE  | u32 LE   | u32 LE    | u32 LE | sig u32LE| 0       |
///  +------+-------+----------+------------+------------+----------+-----------+--------+----------+---------+------
/// ```
pub fn parse_pdu(datagram: &[u8]) -> Result<EgdPdu<'_>, EgdError> {
    let (Some(header), Some(data)) = (datagram.get(..HEADER_LEN), datagram.get(HEADER_LEN..))
    else {
        return Err(EgdError::Truncated {
            needed: HEADER_LEN,
            actual: datagram.len(),
        });
    };
    let at = |i: usize| header.get(i).copied().unwrap_or(0);
    let pdu = EgdPdu {
        pdu_type: at(0),
        version: at(1),
        request_id: u16::from_le_bytes([at(2), at(3)]),
        producer_id: [at(4), at(5), at(6), at(7)],
        exchange_id: le32(header, 8),
        timestamp_sec: le32(header, 12),
        timestamp_nsec: le32(header, 16),
        status: le32(header, 20),
        config_signature: le32(header, 24),
        reserved: le32(header, 28),
        data,
        flags: Flags::empty(),
    };
    let mut flags = Flags::empty();
    flags.set_if(Flags::UNKNOWN_PDU_TYPE, pdu.pdu_type != PDU_TYPE_DATA);
    flags.set_if(Flags::UNKNOWN_VERSION, pdu.version != VERSION);
    flags.set_if(Flags::UNKNOWN_STATUS, status_name(pdu.status) == "unknown");
    flags.set_if(Flags::RESERVED_NONZERO, pdu.reserved != 0);
    flags.set_if(
        Flags::INVALID_TIMESTAMP,
        pdu.timestamp_nsec >= 1_000_000_000,
    );
    flags.set_if(Flags::DATA_EXCEEDS_MAX, data.len() > MAX_EXCHANGE_DATA_LEN);
    Ok(EgdPdu { flags, ..pdu })
}

/// Whether a UDP payload is EGD: a whole header starting `0D 01`, a status
/// below 31 and a zero reserved word. A datagram does not grow, so a short
/// one is `NoMatch`, never `NeedMore`.
pub fn probe(datagram: &[u8]) -> Probe {
    match parse_pdu(datagram) {
        Ok(p)
            if p.pdu_type == PDU_TYPE_DATA
                && p.version == VERSION
                && p.status < STATUS_LIMIT
                && p.reserved == 0 =>
        {
            Probe::Match
        }
        _ => Probe::NoMatch,
    }
}

/// A datagram on the EGD command port (UDP 7937). PROTOCOLS.md names the
/// port but gives no layout, so the bytes are kept raw for the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandPdu<'a> {
    /// The whole UDP payload.
    pub bytes: &'a [u8],
}

/// Wraps a command-port datagram. Never fails.
pub fn parse_command_pdu(datagram: &[u8]) -> CommandPdu<'_> {
    CommandPdu { bytes: datagram }
}

/// Fuzz entry point: runs [`parse_pdu`], [`probe`] and
/// [`parse_command_pdu`] and asserts their invariants. Panics only on a
/// broken invariant.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    match parse_pdu(data) {
        Ok(p) => {
            assert!(data.len() >= HEADER_LEN);
            assert_eq!(p.data.len(), data.len() - HEADER_LEN);
            let start = data.as_ptr() as usize + HEADER_LEN;
            assert!(p.data.is_empty() || p.data.as_ptr() as usize == start);
            assert_eq!(
                p.flags.contains(Flags::DATA_EXCEEDS_MAX),
                p.data.len() > MAX_EXCHANGE_DATA_LEN
            );
            let _ = (
                p.status_name(),
                p.has_timestamp(),
                p.producer_matches([0; 4]),
            );
        }
        Err(EgdError::Truncated { needed, actual }) => {
            assert_eq!(needed, HEADER_LEN);
            assert_eq!(actual, data.len());
            assert!(actual < HEADER_LEN);
        }
    }
    if probe(data) == Probe::Match {
        let p = parse_pdu(data).expect("probe matched a short datagram");
        assert!(!p.flags.intersects(
            Flags::UNKNOWN_PDU_TYPE | Flags::UNKNOWN_VERSION | Flags::RESERVED_NONZERO
        ));
    }
    assert_eq!(parse_command_pdu(data).bytes.len(), data.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_datagram_is_the_only_error() {
        assert_eq!(
            parse_pdu(&[0x0D, 0x01]),
            Err(EgdError::Truncated {
                needed: 32,
                actual: 2
            })
        );
        assert_eq!(probe(&[0x0D, 0x01]), Probe::NoMatch);
        let p = parse_pdu(&[0xFF; 32]).expect("a header");
        assert!(p
            .flags
            .contains(Flags::UNKNOWN_PDU_TYPE | Flags::UNKNOWN_VERSION | Flags::UNKNOWN_STATUS));
        assert!(p
            .flags
            .contains(Flags::RESERVED_NONZERO | Flags::INVALID_TIMESTAMP));
        assert!(p.data.is_empty());
    }
}
