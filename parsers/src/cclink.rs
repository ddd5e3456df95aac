//! CC-Link IE Field Basic (CCIEFB): cyclic exchange over UDP 61450, plus the
//! SLMP node search / set IP address traffic on UDP 61451.
//!
//! References:
//! * rtlabs-com/c-link `src/common/cl_types.h` (frame structs, citing
//!   BAP-C2006ENG-001/003) and `docs/cciefb-primer.rst`.
//! * nttcom/zeek-parser-CCLinkFieldBasic (capture
//!   `testing/Traces/cclink_ief_basic_only.pcap`).
//! * spanwatch `PROTOCOLS.md` section 2.4.
//!
//! All multi-byte fields little-endian. The master broadcasts one cyclic
//! request per group to the subnet; each slave answers unicast.
//!
//! ```text
//! cyclic request (command 0x0E70)
//!  0      2    3    4       6    7        9       11       13       15
//!  +------+----+----+-------+----+--------+-------+--------+--------+
//!  |50 00 | 00 | FF | 03FF  | 00 | len    | 0000  | 0E70   | 0000   |   SLMP 3E header
//!  +------+----+----+-------+----+--------+-------+--------+--------+
//!  15: protocol ver(2) | reserved(2) | cyclic info offset(2) = 36 | reserved(14)
//!  35: master local unit info(2: 0 stop, 1 run, 2 stopped by user) | reserved(2) | clock ms(8)
//!  47: master id(4, IPv4) | group no(1) | 0 | frame seq(2) | timeout ms(2)
//!      | parallel-off timeout count(2) | parameter no(2) | occupied stations n(2)
//!      | cyclic transmission state(2, bit per slave) | reserved(2)
//!  67: slave ids (4 × n; 0xFFFFFFFF continues a multi-station slave)
//!      | RWw (64 × n) | RY (8 × n)
//!
//! cyclic response
//!  0: D0 00 | 00 | FF | 03FF | 00 | len(2) | 0000                 (11-byte header)
//! 11: protocol ver(2) | end code(2) | cyclic info offset(2) = 40 | reserved(14)
//! 31: vendor code(2) | 0 | model code(4) | equipment ver(2) | 0
//!     | slave local unit info(2: 0 stop, 1 run) | slave error code(2)
//!     | local management info(4)
//! 51: slave id(4, IPv4) | group no(1) | 0 | frame seq(2)
//! 59: RWr (64 × n) | RX (8 × n)       n = occupied stations, from the length
//! ```
//!
//! End code 0xCFE0 means the slave sees a second master on the subnet.

use crate::modbus::flag_set;
use crate::ot::OtClass;
use crate::slmp;

/// Cyclic command code.
pub const CMD_CYCLIC: u16 = 0x0E70;

/// Most occupied stations in one group.
pub const MAX_OCCUPIED_STATIONS: u16 = 16;

/// RWw / RWr bytes per occupied station (32 words).
pub const RW_BYTES_PER_STATION: usize = 64;

/// RY / RX bytes per occupied station (64 bits).
pub const RXY_BYTES_PER_STATION: usize = 8;

/// End code: master station duplication (a second master exists).
pub const END_MASTER_DUPLICATION: u16 = 0xCFE0;

/// Request bytes before the slave id list.
pub const REQUEST_FIXED_LEN: usize = 67;

/// Response bytes before RWr.
pub const RESPONSE_FIXED_LEN: usize = 59;

/// Cyclic info offset in version 1 and 2 requests.
pub const REQUEST_CYCLIC_OFFSET: u16 = 36;

/// Cyclic info offset in version 1 and 2 responses.
pub const RESPONSE_CYCLIC_OFFSET: u16 = 40;

/// The class of every cyclic frame.
pub const CLASS: OtClass = OtClass::Cyclic;

flag_set! {
    /// Violations and notable facts. A set bit never stops parsing.
    pub struct Flags {
        /// Network/station/I/O/multidrop/timer/reserved fields differ from
        /// 00/FF/03FF/00/0000.
        const RESERVED_NONZERO = 0, "reserved_nonzero";
        /// Protocol version is not 1 or 2.
        const UNSUPPORTED_VERSION = 1, "unsupported_version";
        /// Cyclic info offset is not 36 (request) / 40 (response).
        const UNEXPECTED_OFFSET = 2, "unexpected_offset";
        /// Occupied station count is 0 or above 16.
        const OCCUPIED_OUT_OF_RANGE = 3, "occupied_out_of_range";
        /// The datagram is shorter than the occupied stations require.
        const CYCLIC_DATA_TRUNCATED = 4, "cyclic_data_truncated";
        /// Bytes after the cyclic data, or a response size that is not a whole
        /// number of stations.
        const TRAILING_BYTES = 5, "trailing_bytes";
        /// The SLMP length field disagrees with the datagram length.
        const LENGTH_MISMATCH = 6, "length_mismatch";
        /// Subcommand of the cyclic request is not 0.
        const BAD_SUBCOMMAND = 7, "bad_subcommand";
    }
}

/// Name of a CCIEFB end code.
pub fn end_code_name(code: u16) -> &'static str {
    match code {
        0x0000 => "ok",
        0xCFE0 => "master_duplication",
        0xCFE1 => "wrong_number_of_occupied_stations",
        0xCFF0 => "slave_error",
        0xCFFF => "slave_disconnect_request",
        other => slmp::end_code_name(other),
    }
}

/// Name of a master or slave local unit info value.
pub fn unit_info_name(v: u16) -> &'static str {
    match v {
        0x0000 => "stopped",
        0x0001 => "running",
        0x0002 => "stopped_by_user",
        _ => "unknown",
    }
}

fn le16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(s) => u16::from_le_bytes([s[0], s[1]]),
        None => 0,
    }
}

fn le32(b: &[u8], off: usize) -> u32 {
    match b.get(off..off + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

fn le64(b: &[u8], off: usize) -> u64 {
    (u64::from(le32(b, off + 4)) << 32) | u64::from(le32(b, off))
}

/// An IPv4 address sent as a little-endian u32.
fn ipv4(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// A cyclic request from the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CyclicRequest<'a> {
    /// SLMP monitoring timer field (0).
    pub timer: u16,
    /// SLMP subcommand (0).
    pub subcommand: u16,
    /// Protocol version (1 or 2).
    pub protocol_version: u16,
    /// Cyclic info offset (36).
    pub cyclic_info_offset: u16,
    /// Master local unit info (0 stopped, 1 running, 2 stopped by user).
    pub master_unit_info: u16,
    /// Master clock, Unix time in milliseconds.
    pub clock_ms: u64,
    /// Master id: the master's IPv4 address.
    pub master_ip: [u8; 4],
    /// Group number (1..=64).
    pub group: u8,
    /// Frame sequence number.
    pub frame_sequence: u16,
    /// Response timeout in ms.
    pub timeout_ms: u16,
    /// Parallel-off timeout count.
    pub timeout_count: u16,
    /// Parameter number: changes whenever the master's parameters change.
    pub parameter_no: u16,
    /// Total occupied stations in the group (the number of slave station
    /// slots that follow).
    pub occupied_stations: u16,
    /// Cyclic transmission state, one bit per station.
    pub cyclic_state: u16,
    /// Slave ids (4 bytes each, LE IPv4; 0xFFFFFFFF continues a
    /// multi-station slave).
    pub slave_ids: &'a [u8],
    /// RWw: 64 bytes per station.
    pub rww: &'a [u8],
    /// RY: 8 bytes per station.
    pub ry: &'a [u8],
    /// Violations and notes.
    pub flags: Flags,
}

impl CyclicRequest<'_> {
    /// The slave IPv4 addresses, in station order (multi-station
    /// continuation entries skipped).
    pub fn slave_ips(&self) -> impl Iterator<Item = [u8; 4]> + '_ {
        self.slave_ids
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .filter(|&v| v != u32::MAX)
            .map(ipv4)
    }

    /// Name of the master unit state.
    pub fn master_state(&self) -> &'static str {
        unit_info_name(self.master_unit_info)
    }
}

/// A cyclic response from one slave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CyclicResponse<'a> {
    /// The SLMP header's end code word (reserved, 0).
    pub slmp_end_code: u16,
    /// Protocol version.
    pub protocol_version: u16,
    /// CCIEFB end code (0 ok; 0xCFE0 master duplication...).
    pub end_code: u16,
    /// Cyclic info offset (40).
    pub cyclic_info_offset: u16,
    /// Vendor code.
    pub vendor_code: u16,
    /// Model code.
    pub model_code: u32,
    /// Equipment version.
    pub equipment_version: u16,
    /// Slave local unit info (0 stopped, 1 running).
    pub slave_unit_info: u16,
    /// Slave error code.
    pub slave_error_code: u16,
    /// Local management info.
    pub local_management_info: u32,
    /// Slave id: the slave's IPv4 address.
    pub slave_ip: [u8; 4],
    /// Group number.
    pub group: u8,
    /// Frame sequence number echoed from the request.
    pub frame_sequence: u16,
    /// Occupied stations, derived from the cyclic data size.
    pub occupied_stations: u16,
    /// RWr: 64 bytes per station.
    pub rwr: &'a [u8],
    /// RX: 8 bytes per station.
    pub rx: &'a [u8],
    /// Violations and notes.
    pub flags: Flags,
}

impl CyclicResponse<'_> {
    /// End code name (`"ok"`, `"master_duplication"`...).
    pub fn end_code_name(&self) -> &'static str {
        end_code_name(self.end_code)
    }

    /// Name of the slave unit state.
    pub fn slave_state(&self) -> &'static str {
        unit_info_name(self.slave_unit_info)
    }

    /// True when the slave reports a second master on the subnet.
    pub fn master_duplication(&self) -> bool {
        self.end_code == END_MASTER_DUPLICATION
    }
}

/// One CCIEFB-port datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// Master → slaves (command 0x0E70).
    CyclicRequest(CyclicRequest<'a>),
    /// Slave → master.
    CyclicResponse(CyclicResponse<'a>),
    /// Any other SLMP frame (node search 0x0E30, set IP 0x0E31 on 61451).
    Slmp(slmp::Frame<'a>),
}

impl Datagram<'_> {
    /// The defender's class: [`OtClass::Cyclic`] for cyclic frames, the SLMP
    /// command class for requests (node search is recon, set IP is control),
    /// [`OtClass::Other`] for SLMP responses.
    pub fn class(&self) -> OtClass {
        match self {
            Datagram::CyclicRequest(_) | Datagram::CyclicResponse(_) => CLASS,
            Datagram::Slmp(slmp::Frame::Request(r)) => r.class(),
            Datagram::Slmp(slmp::Frame::Response(_)) => OtClass::Other,
        }
    }
}

/// Why a datagram is not CCIEFB/SLMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the fixed part (`needed` more bytes).
    Truncated {
        /// Additional bytes the fixed part requires.
        needed: usize,
    },
    /// Not an SLMP-framed datagram.
    Invalid(&'static str),
}

fn check_route(b: &[u8], flags: &mut Flags) {
    let route_ok = b.get(2..7) == Some(&[0x00, 0xFF, 0xFF, 0x03, 0x00]);
    let reserved_ok = le16(b, 9) == 0;
    flags.set_if(Flags::RESERVED_NONZERO, !route_ok || !reserved_ok);
    let declared = 9 + usize::from(le16(b, 7));
    flags.set_if(Flags::LENGTH_MISMATCH, declared != b.len());
}

/// Parses a cyclic request (subheader 0x5000, command 0x0E70).
///
/// Errors: [`Error::Invalid`] when the subheader or command differ,
/// [`Error::Truncated`] when the datagram ends inside the fixed
/// [`REQUEST_FIXED_LEN`] bytes. Short cyclic data is a flag.
pub fn parse_cyclic_request(b: &[u8]) -> Result<CyclicRequest<'_>, Error> {
    if b.get(..2) != Some(&[0x50, 0x00][..]) {
        return Err(Error::Invalid("cciefb_not_request"));
    }
    if b.len() >= 13 && le16(b, 11) != CMD_CYCLIC {
        return Err(Error::Invalid("cciefb_not_cyclic"));
    }
    if b.len() < REQUEST_FIXED_LEN {
        return Err(Error::Truncated {
            needed: REQUEST_FIXED_LEN - b.len(),
        });
    }
    let mut flags = Flags::default();
    check_route(b, &mut flags);
    let subcommand = le16(b, 13);
    flags.set_if(Flags::BAD_SUBCOMMAND, subcommand != 0);
    let protocol_version = le16(b, 15);
    let cyclic_info_offset = le16(b, 19);
    flags.set_if(
        Flags::UNSUPPORTED_VERSION,
        !matches!(protocol_version, 1 | 2),
    );
    flags.set_if(
        Flags::UNEXPECTED_OFFSET,
        cyclic_info_offset != REQUEST_CYCLIC_OFFSET,
    );
    flags.set_if(
        Flags::RESERVED_NONZERO,
        le16(b, 17) != 0
            || b.get(21..35).is_some_and(|r| r.iter().any(|&x| x != 0))
            || le16(b, 37) != 0
            || b.get(52) != Some(&0)
            || le16(b, 65) != 0,
    );
    let occupied = le16(b, 61);
    flags.set_if(
        Flags::OCCUPIED_OUT_OF_RANGE,
        occupied == 0 || occupied > MAX_OCCUPIED_STATIONS,
    );
    // Slice with the bounded count so a bogus count cannot overflow.
    let n = usize::from(occupied.min(MAX_OCCUPIED_STATIONS));
    let rest = b.get(REQUEST_FIXED_LEN..).unwrap_or(&[]);
    let take = |from: usize, len: usize| -> &[u8] {
        let start = from.min(rest.len());
        let end = from.saturating_add(len).min(rest.len());
        rest.get(start..end).unwrap_or(&[])
    };
    let ids_len = 4 * n;
    let rww_len = RW_BYTES_PER_STATION * n;
    let ry_len = RXY_BYTES_PER_STATION * n;
    let slave_ids = take(0, ids_len);
    let rww = take(ids_len, rww_len);
    let ry = take(ids_len + rww_len, ry_len);
    let needed = ids_len + rww_len + ry_len;
    flags.set_if(Flags::CYCLIC_DATA_TRUNCATED, rest.len() < needed);
    flags.set_if(Flags::TRAILING_BYTES, rest.len() > needed);
    Ok(CyclicRequest {
        timer: le16(b, 9),
        subcommand,
        protocol_version,
        cyclic_info_offset,
        master_unit_info: le16(b, 35),
        clock_ms: le64(b, 39),
        master_ip: ipv4(le32(b, 47)),
        group: b.get(51).copied().unwrap_or(0),
        frame_sequence: le16(b, 53),
        timeout_ms: le16(b, 55),
        timeout_count: le16(b, 57),
        parameter_no: le16(b, 59),
        occupied_stations: occupied,
        cyclic_state: le16(b, 63),
        slave_ids,
        rww,
        ry,
        flags,
    })
}

/// Parses a cyclic response (subheader 0xD000, header followed by the CCIEFB
/// response header rather than an SLMP end code + data).
///
/// Errors: [`Error::Invalid`] for another subheader, [`Error::Truncated`]
/// inside the fixed [`RESPONSE_FIXED_LEN`] bytes.
pub fn parse_cyclic_response(b: &[u8]) -> Result<CyclicResponse<'_>, Error> {
    if b.get(..2) != Some(&[0xD0, 0x00][..]) {
        return Err(Error::Invalid("cciefb_not_response"));
    }
    if b.len() < RESPONSE_FIXED_LEN {
        return Err(Error::Truncated {
            needed: RESPONSE_FIXED_LEN - b.len(),
        });
    }
    let mut flags = Flags::default();
    check_route(b, &mut flags);
    let protocol_version = le16(b, 11);
    let cyclic_info_offset = le16(b, 15);
    flags.set_if(
        Flags::UNSUPPORTED_VERSION,
        !matches!(protocol_version, 1 | 2),
    );
    flags.set_if(
        Flags::UNEXPECTED_OFFSET,
        cyclic_info_offset != RESPONSE_CYCLIC_OFFSET,
    );
    let rest = b.get(RESPONSE_FIXED_LEN..).unwrap_or(&[]);
    let per_station = RW_BYTES_PER_STATION + RXY_BYTES_PER_STATION;
    let n = rest.len() / per_station;
    flags.set_if(Flags::TRAILING_BYTES, rest.len() % per_station != 0);
    let n_bounded = n.min(usize::from(MAX_OCCUPIED_STATIONS));
    flags.set_if(
        Flags::OCCUPIED_OUT_OF_RANGE,
        n == 0 || n > usize::from(MAX_OCCUPIED_STATIONS),
    );
    let rw_len = RW_BYTES_PER_STATION * n_bounded;
    let rwr = rest.get(..rw_len).unwrap_or(&[]);
    let rx = rest
        .get(rw_len..rw_len + RXY_BYTES_PER_STATION * n_bounded)
        .unwrap_or(&[]);
    Ok(CyclicResponse {
        slmp_end_code: le16(b, 9),
        protocol_version,
        end_code: le16(b, 13),
        cyclic_info_offset,
        vendor_code: le16(b, 31),
        model_code: le32(b, 35),
        equipment_version: le16(b, 39),
        slave_unit_info: le16(b, 43),
        slave_error_code: le16(b, 45),
        local_management_info: le32(b, 47),
        slave_ip: ipv4(le32(b, 51)),
        group: b.get(55).copied().unwrap_or(0),
        frame_sequence: le16(b, 57),
        occupied_stations: n_bounded as u16,
        rwr,
        rx,
        flags,
    })
}

/// True when a 0xD000 datagram carries the CCIEFB response header (version
/// 1..=2 at offset 11 and cyclic info offset 40 at offset 15) rather than an
/// SLMP end code.
fn looks_like_cyclic_response(b: &[u8]) -> bool {
    b.len() >= RESPONSE_FIXED_LEN
        && b.get(..2) == Some(&[0xD0, 0x00][..])
        && matches!(le16(b, 11), 1 | 2)
        && le16(b, 15) == RESPONSE_CYCLIC_OFFSET
}

/// Parses a datagram seen on the CCIEFB ports (61450 cyclic, 61451 SLMP).
///
/// Cyclic requests are recognised by command 0x0E70, cyclic responses by
/// their CCIEFB header; any other SLMP frame (node search 0x0E30, set IP
/// 0x0E31, 4E frames) is handed to [`slmp::parse_frame`].
pub fn parse_datagram(b: &[u8]) -> Result<Datagram<'_>, Error> {
    if b.get(..2) == Some(&[0x50, 0x00][..]) && le16(b, 11) == CMD_CYCLIC && b.len() >= 13 {
        return parse_cyclic_request(b).map(Datagram::CyclicRequest);
    }
    if looks_like_cyclic_response(b) {
        return parse_cyclic_response(b).map(Datagram::CyclicResponse);
    }
    match slmp::parse_frame(b) {
        Ok(f) => Ok(Datagram::Slmp(f)),
        Err(slmp::Error::Incomplete { needed }) => Err(Error::Truncated { needed }),
        Err(slmp::Error::Invalid(r)) => Err(Error::Invalid(r)),
    }
}

/// Fuzz entry: runs every entry point over `data` and asserts invariants.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    let n = data.len();
    match parse_datagram(data) {
        Ok(Datagram::CyclicRequest(r)) => {
            assert!(r.slave_ids.len() + r.rww.len() + r.ry.len() <= n);
            assert!(r.slave_ips().count() <= usize::from(MAX_OCCUPIED_STATIONS));
        }
        Ok(Datagram::CyclicResponse(r)) => {
            assert!(r.rwr.len() + r.rx.len() <= n);
            assert!(r.occupied_stations <= MAX_OCCUPIED_STATIONS);
        }
        Ok(Datagram::Slmp(f)) => assert!(f.header().frame_len <= n),
        Err(_) => {}
    }
    let _ = parse_cyclic_request(data);
    let _ = parse_cyclic_response(data);
    slmp::fuzz(data);
}
