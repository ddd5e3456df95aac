//! DNS messages over UDP and TCP.
//!
//! References: RFC 1035 §4 (message format, compression), RFC 3596 (AAAA),
//! RFC 2782 (SRV), RFC 6891 (OPT), RFC 7766 (DNS over TCP), RFC 6895
//! (opcodes, rcodes).
//!
//! [`parse_message`] validates a whole message once: header, every question
//! and resource record, every compressed name (with loop protection: at most
//! [`MAX_POINTER_JUMPS`] pointer hops, [`MAX_LABELS`] labels and
//! [`MAX_NAME_LEN`] octets per name). After that, the section iterators and
//! name readers cannot fail, and nothing is copied: names are
//! [`DnsName`] views that decompress on demand.
//!
//! A message cut short is not an error when at least the header is there: the
//! records that parsed are kept and [`DnsMessage::truncated`] is set. Only a
//! message shorter than the header, or a name that loops, is an `Err`.

use crate::stream::{Direction, Parsed, Probe, StreamParser};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// DNS header length.
pub const HEADER_LEN: usize = 12;
/// Most pointer hops followed while reading one name.
pub const MAX_POINTER_JUMPS: usize = 32;
/// Most labels in one name (255 octets allow at most 127).
pub const MAX_LABELS: usize = 128;
/// Most octets in one name, wire form (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Most records (all sections together) walked in one message.
pub const MAX_RECORDS: usize = 512;
/// Largest DNS-over-TCP message (the u16 length prefix allows 65535).
pub const MAX_TCP_MESSAGE_LEN: usize = 65535;

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// Fewer than 12 bytes.
    ShortHeader,
    /// A compression pointer loop, too many hops, labels or octets.
    NameLoop,
    /// A pointer outside the message or a reserved label type (0x40/0x80).
    BadLabel,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DnsError::ShortHeader => "short header",
            DnsError::NameLoop => "name too long or compression loop",
            DnsError::BadLabel => "bad label or pointer",
        })
    }
}

/// The fixed 12-byte header.
///
/// ```text
///                                 1  1  1  1  1  1
///   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// |                      ID                       |
/// |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
/// |                    QDCOUNT                    |
/// |                    ANCOUNT                    |
/// |                    NSCOUNT                    |
/// |                    ARCOUNT                    |
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsHeader {
    /// Transaction id.
    pub id: u16,
    /// The raw flags word.
    pub flags: u16,
    /// Question count as announced.
    pub qdcount: u16,
    /// Answer count as announced.
    pub ancount: u16,
    /// Authority count as announced.
    pub nscount: u16,
    /// Additional count as announced.
    pub arcount: u16,
}

impl DnsHeader {
    fn parse(b: &[u8]) -> Option<DnsHeader> {
        let h = b.get(..HEADER_LEN)?;
        let w = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Some(DnsHeader {
            id: w(0),
            flags: w(2),
            qdcount: w(4),
            ancount: w(6),
            nscount: w(8),
            arcount: w(10),
        })
    }
    /// True for a response.
    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// Opcode (0 query, 1 iquery, 2 status, 4 notify, 5 update, 6 dso).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }
    /// Authoritative answer.
    pub fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    /// Truncated (TC).
    pub fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    /// Recursion desired.
    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    /// Recursion available.
    pub fn ra(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    /// The reserved Z bit (must be zero).
    pub fn z(&self) -> bool {
        self.flags & 0x0040 != 0
    }
    /// Authentic data (DNSSEC).
    pub fn ad(&self) -> bool {
        self.flags & 0x0020 != 0
    }
    /// Checking disabled (DNSSEC).
    pub fn cd(&self) -> bool {
        self.flags & 0x0010 != 0
    }
    /// The 4-bit header rcode (extended rcodes live in OPT).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0x000f) as u8
    }
}

/// Name of an opcode, `None` when unassigned.
pub fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        0 => "QUERY",
        1 => "IQUERY",
        2 => "STATUS",
        4 => "NOTIFY",
        5 => "UPDATE",
        6 => "DSO",
        _ => return None,
    })
}

/// Name of a header rcode (as Suricata/dig print them), `None` when unassigned.
pub fn rcode_name(rc: u8) -> Option<&'static str> {
    Some(match rc {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return None,
    })
}

/// Name of a record type, `None` when not named here.
pub fn rrtype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return None,
    })
}

/// Record type codes decoded by this module.
pub mod rrtype {
    /// IPv4 address
    pub const A: u16 = 1;
    /// name server
    pub const NS: u16 = 2;
    /// canonical name
    pub const CNAME: u16 = 5;
    /// start of authority
    pub const SOA: u16 = 6;
    /// pointer
    pub const PTR: u16 = 12;
    /// mail exchange
    pub const MX: u16 = 15;
    /// text
    pub const TXT: u16 = 16;
    /// IPv6 address
    pub const AAAA: u16 = 28;
    /// service locator
    pub const SRV: u16 = 33;
    /// EDNS0 pseudo-record
    pub const OPT: u16 = 41;
}

/// A validated domain name inside a message. Reading it cannot fail.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DnsName<'a> {
    msg: &'a [u8],
    offset: usize,
}

/// Follows one name from `offset`: returns where the name ends in the
/// original position (the byte after it) and validates every hop.
fn walk_name(msg: &[u8], offset: usize) -> Result<usize, DnsError> {
    let mut pos = offset;
    let mut end: Option<usize> = None;
    let mut jumps = 0usize;
    let mut labels = 0usize;
    let mut octets = 1usize; // the root label
    loop {
        let &len = msg.get(pos).ok_or(DnsError::BadLabel)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(end.unwrap_or(pos + 1));
                }
                labels += 1;
                octets += 1 + len as usize;
                if labels > MAX_LABELS || octets > MAX_NAME_LEN {
                    return Err(DnsError::NameLoop);
                }
                let next = pos + 1 + len as usize;
                if next > msg.len() {
                    return Err(DnsError::BadLabel);
                }
                pos = next;
            }
            0xc0 => {
                let &lo = msg.get(pos + 1).ok_or(DnsError::BadLabel)?;
                let target = (((len & 0x3f) as usize) << 8) | lo as usize;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return Err(DnsError::NameLoop);
                }
                if target >= msg.len() {
                    return Err(DnsError::BadLabel);
                }
                pos = target;
            }
            _ => return Err(DnsError::BadLabel),
        }
    }
}

impl<'a> DnsName<'a> {
    /// Labels from left to right (raw bytes, may hold any octet).
    pub fn labels(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let msg = self.msg;
        let mut pos = self.offset;
        let mut jumps = 0usize;
        let mut count = 0usize;
        std::iter::from_fn(move || loop {
            let &len = msg.get(pos)?;
            if len & 0xc0 == 0xc0 {
                let &lo = msg.get(pos + 1)?;
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return None;
                }
                pos = (((len & 0x3f) as usize) << 8) | lo as usize;
                continue;
            }
            if len == 0 || len & 0xc0 != 0 || count >= MAX_LABELS {
                return None;
            }
            let label = msg.get(pos + 1..pos + 1 + len as usize)?;
            pos += 1 + len as usize;
            count += 1;
            return Some(label);
        })
    }

    /// True for the root name.
    pub fn is_root(&self) -> bool {
        self.labels().next().is_none()
    }

    /// Presentation form without the trailing dot (`www.example.com`; the
    /// root is `""`, as Suricata logs it). Dots and non-printable bytes
    /// inside labels are escaped (`\.`, `\DDD`).
    pub fn to_dotted(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.labels().enumerate() {
            if i > 0 {
                s.push('.');
            }
            for &b in l {
                match b {
                    b'.' | b'\\' => {
                        s.push('\\');
                        s.push(b as char);
                    }
                    0x21..=0x7e => s.push(b as char),
                    _ => {
                        s.push('\\');
                        s.push_str(&format!("{b:03}"));
                    }
                }
            }
        }
        s
    }
}

impl fmt::Debug for DnsName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DnsName({:?})", self.to_dotted())
    }
}

impl fmt::Display for DnsName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_dotted())
    }
}

/// One question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question<'a> {
    /// QNAME.
    pub name: DnsName<'a>,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS (the top bit is the mDNS unicast-response bit).
    pub qclass: u16,
}

/// Decoded RDATA for the common types; anything else stays raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RData<'a> {
    /// A
    A(Ipv4Addr),
    /// AAAA
    Aaaa(Ipv6Addr),
    /// CNAME
    Cname(DnsName<'a>),
    /// NS
    Ns(DnsName<'a>),
    /// PTR
    Ptr(DnsName<'a>),
    /// MX
    Mx {
        /// preference
        preference: u16,
        /// exchange
        exchange: DnsName<'a>,
    },
    /// TXT: the character-strings, iterate with [`RData::txt_strings`].
    Txt(&'a [u8]),
    /// SOA
    Soa {
        /// primary name server
        mname: DnsName<'a>,
        /// responsible mailbox
        rname: DnsName<'a>,
        /// zone serial
        serial: u32,
        /// refresh interval
        refresh: u32,
        /// retry interval
        retry: u32,
        /// expire limit
        expire: u32,
        /// negative-caching TTL
        minimum: u32,
    },
    /// SRV
    Srv {
        /// priority
        priority: u16,
        /// weight
        weight: u16,
        /// port
        port: u16,
        /// target
        target: DnsName<'a>,
    },
    /// Any other type, or a known type whose RDATA had the wrong shape.
    Raw(&'a [u8]),
}

impl<'a> RData<'a> {
    /// The character-strings of a TXT record (empty for other variants).
    pub fn txt_strings(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest: &'a [u8] = match self {
            RData::Txt(b) => b,
            _ => &[],
        };
        std::iter::from_fn(move || {
            let (&l, tail) = rest.split_first()?;
            let s = tail.get(..l as usize)?;
            rest = &tail[l as usize..];
            Some(s)
        })
    }
}

/// One resource record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Owner name.
    pub name: DnsName<'a>,
    /// TYPE.
    pub rtype: u16,
    /// CLASS (for OPT: the UDP payload size).
    pub class: u16,
    /// TTL (for OPT: extended rcode and flags).
    pub ttl: u32,
    /// The raw RDATA.
    pub rdata_raw: &'a [u8],
    /// The decoded RDATA.
    pub rdata: RData<'a>,
}

/// Which section a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Answer section.
    Answer,
    /// Authority section.
    Authority,
    /// Additional section.
    Additional,
}

/// A validated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsMessage<'a> {
    /// The whole message.
    pub raw: &'a [u8],
    /// The header.
    pub header: DnsHeader,
    /// Questions that parsed.
    pub qd: usize,
    /// Answers that parsed.
    pub an: usize,
    /// Authority records that parsed.
    pub ns: usize,
    /// Additional records that parsed.
    pub ar: usize,
    /// The message ended (or [`MAX_RECORDS`] was reached) before all
    /// announced records were read.
    pub truncated: bool,
    /// Bytes after the last announced record.
    pub trailing_bytes: usize,
    /// A name in a record failed validation; parsing stopped at that record.
    pub name_error: Option<DnsError>,
}

fn read_question(msg: &[u8], off: usize) -> Result<Option<(Question<'_>, usize)>, DnsError> {
    let end = walk_name(msg, off)?;
    let Some(f) = msg.get(end..end + 4) else {
        return Ok(None);
    };
    let q = Question {
        name: DnsName { msg, offset: off },
        qtype: u16::from_be_bytes([f[0], f[1]]),
        qclass: u16::from_be_bytes([f[2], f[3]]),
    };
    Ok(Some((q, end + 4)))
}

fn name_in_rdata<'a>(
    msg: &'a [u8],
    off: usize,
    rd_end: usize,
) -> Result<(DnsName<'a>, usize), DnsError> {
    let end = walk_name(msg, off)?;
    if end > rd_end {
        return Err(DnsError::BadLabel);
    }
    Ok((DnsName { msg, offset: off }, end))
}

fn decode_rdata<'a>(
    msg: &'a [u8],
    rtype: u16,
    start: usize,
    end: usize,
) -> Result<RData<'a>, DnsError> {
    let raw = &msg[start..end];
    let u32_at = |o: usize| -> Option<u32> {
        let s = msg.get(o..o + 4)?;
        if o + 4 > end {
            return None;
        }
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let u16_at = |o: usize| -> Option<u16> {
        if o + 2 > end {
            return None;
        }
        let s = msg.get(o..o + 2)?;
        Some(u16::from_be_bytes([s[0], s[1]]))
    };
    Ok(match rtype {
        rrtype::A => match <[u8; 4]>::try_from(raw) {
            Ok(a) => RData::A(Ipv4Addr::from(a)),
            Err(_) => RData::Raw(raw),
        },
        rrtype::AAAA => match <[u8; 16]>::try_from(raw) {
            Ok(a) => RData::Aaaa(Ipv6Addr::from(a)),
            Err(_) => RData::Raw(raw),
        },
        rrtype::CNAME | rrtype::NS | rrtype::PTR => {
            if raw.is_empty() {
                return Ok(RData::Raw(raw));
            }
            let (n, _) = name_in_rdata(msg, start, end)?;
            match rtype {
                rrtype::CNAME => RData::Cname(n),
                rrtype::NS => RData::Ns(n),
                _ => RData::Ptr(n),
            }
        }
        rrtype::MX => match u16_at(start) {
            Some(preference) if end > start + 2 => {
                let (exchange, _) = name_in_rdata(msg, start + 2, end)?;
                RData::Mx {
                    preference,
                    exchange,
                }
            }
            _ => RData::Raw(raw),
        },
        rrtype::TXT => RData::Txt(raw),
        rrtype::SOA => {
            if raw.is_empty() {
                return Ok(RData::Raw(raw));
            }
            let (mname, o) = name_in_rdata(msg, start, end)?;
            if o >= end {
                return Ok(RData::Raw(raw));
            }
            let (rname, o) = name_in_rdata(msg, o, end)?;
            match (
                u32_at(o),
                u32_at(o + 4),
                u32_at(o + 8),
                u32_at(o + 12),
                u32_at(o + 16),
            ) {
                (Some(serial), Some(refresh), Some(retry), Some(expire), Some(minimum)) => {
                    RData::Soa {
                        mname,
                        rname,
                        serial,
                        refresh,
                        retry,
                        expire,
                        minimum,
                    }
                }
                _ => RData::Raw(raw),
            }
        }
        rrtype::SRV => match (u16_at(start), u16_at(start + 2), u16_at(start + 4)) {
            (Some(priority), Some(weight), Some(port)) if end > start + 6 => {
                let (target, _) = name_in_rdata(msg, start + 6, end)?;
                RData::Srv {
                    priority,
                    weight,
                    port,
                    target,
                }
            }
            _ => RData::Raw(raw),
        },
        _ => RData::Raw(raw),
    })
}

/// Reads one record at `off`. `Ok(None)` when the message ends first.
fn read_record(msg: &[u8], off: usize) -> Result<Option<(Record<'_>, usize)>, DnsError> {
    let end = walk_name(msg, off)?;
    let Some(f) = msg.get(end..end + 10) else {
        return Ok(None);
    };
    let rtype = u16::from_be_bytes([f[0], f[1]]);
    let class = u16::from_be_bytes([f[2], f[3]]);
    let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
    let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
    let rd_start = end + 10;
    let rd_end = rd_start + rdlen;
    if rd_end > msg.len() {
        return Ok(None);
    }
    let rdata = decode_rdata(msg, rtype, rd_start, rd_end)?;
    let rec = Record {
        name: DnsName { msg, offset: off },
        rtype,
        class,
        ttl,
        rdata_raw: &msg[rd_start..rd_end],
        rdata,
    };
    Ok(Some((rec, rd_end)))
}

/// Parses a DNS message (a UDP payload, or a TCP message without its length
/// prefix). See the module docs for what is an error and what is a flag.
pub fn parse_message(msg: &[u8]) -> Result<DnsMessage<'_>, DnsError> {
    let header = DnsHeader::parse(msg).ok_or(DnsError::ShortHeader)?;
    let mut m = DnsMessage {
        raw: msg,
        header,
        qd: 0,
        an: 0,
        ns: 0,
        ar: 0,
        truncated: false,
        trailing_bytes: 0,
        name_error: None,
    };
    let mut off = HEADER_LEN;
    let mut total = 0usize;
    for _ in 0..header.qdcount {
        if total >= MAX_RECORDS {
            m.truncated = true;
            return Ok(m);
        }
        match read_question(msg, off) {
            Ok(Some((_, next))) => {
                off = next;
                m.qd += 1;
                total += 1;
            }
            Ok(None) => {
                m.truncated = true;
                return Ok(m);
            }
            Err(e) => {
                if m.qd == 0 {
                    return Err(e);
                }
                m.name_error = Some(e);
                return Ok(m);
            }
        }
    }
    for (count, slot) in [
        (header.ancount, 0usize),
        (header.nscount, 1),
        (header.arcount, 2),
    ] {
        for _ in 0..count {
            if total >= MAX_RECORDS {
                m.truncated = true;
                return Ok(m);
            }
            match read_record(msg, off) {
                Ok(Some((_, next))) => {
                    off = next;
                    total += 1;
                    match slot {
                        0 => m.an += 1,
                        1 => m.ns += 1,
                        _ => m.ar += 1,
                    }
                }
                Ok(None) => {
                    m.truncated = true;
                    return Ok(m);
                }
                Err(e) => {
                    m.name_error = Some(e);
                    return Ok(m);
                }
            }
        }
    }
    m.trailing_bytes = msg.len() - off;
    Ok(m)
}

impl<'a> DnsMessage<'a> {
    /// Questions that parsed, in order.
    pub fn questions(&self) -> impl Iterator<Item = Question<'a>> + 'a {
        let msg = self.raw;
        let mut off = HEADER_LEN;
        let mut left = self.qd;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let (q, next) = read_question(msg, off).ok()??;
            off = next;
            left -= 1;
            Some(q)
        })
    }

    /// All records that parsed with their section, in wire order.
    pub fn records(&self) -> impl Iterator<Item = (Section, Record<'a>)> + 'a {
        let msg = self.raw;
        let mut off = HEADER_LEN;
        for _ in 0..self.qd {
            match read_question(msg, off) {
                Ok(Some((_, next))) => off = next,
                _ => break,
            }
        }
        let (an, ns, ar) = (self.an, self.ns, self.ar);
        let mut i = 0usize;
        std::iter::from_fn(move || {
            if i >= an + ns + ar {
                return None;
            }
            let (r, next) = read_record(msg, off).ok()??;
            off = next;
            let s = if i < an {
                Section::Answer
            } else if i < an + ns {
                Section::Authority
            } else {
                Section::Additional
            };
            i += 1;
            Some((s, r))
        })
    }

    /// Answer records.
    pub fn answers(&self) -> impl Iterator<Item = Record<'a>> + 'a {
        self.records()
            .filter(|(s, _)| *s == Section::Answer)
            .map(|(_, r)| r)
    }

    /// Authority records.
    pub fn authorities(&self) -> impl Iterator<Item = Record<'a>> + 'a {
        self.records()
            .filter(|(s, _)| *s == Section::Authority)
            .map(|(_, r)| r)
    }

    /// Additional records.
    pub fn additionals(&self) -> impl Iterator<Item = Record<'a>> + 'a {
        self.records()
            .filter(|(s, _)| *s == Section::Additional)
            .map(|(_, r)| r)
    }
}

/// Does this UDP payload look like DNS? Header sanity: a known opcode, Z = 0,
/// at most 16 questions, a query with exactly one question and no answers
/// is the common case; a response needs a plausible rcode. The first question
/// must parse when there is one.
pub fn probe(payload: &[u8]) -> Probe {
    let Some(h) = DnsHeader::parse(payload) else {
        return Probe::NeedMore;
    };
    if opcode_name(h.opcode()).is_none() || h.z() || h.qdcount > 16 {
        return Probe::NoMatch;
    }
    if !h.qr() && (h.ancount > 16 || h.rcode() != 0) {
        return Probe::NoMatch;
    }
    if h.qdcount == 0 && h.opcode() == 0 && !h.tc() {
        return Probe::NoMatch;
    }
    if h.qdcount > 0 {
        match read_question(payload, HEADER_LEN) {
            Ok(Some(_)) => {}
            _ => return Probe::NoMatch,
        }
    }
    Probe::Match
}

/// Probe for DNS over TCP: the 2-byte length prefix, then [`probe`].
pub fn probe_tcp(input: &[u8]) -> Probe {
    let Some(len) = input
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    else {
        return Probe::NeedMore;
    };
    if len < HEADER_LEN {
        return Probe::NoMatch;
    }
    let body = &input[2..];
    match probe(&body[..len.min(body.len())]) {
        Probe::NeedMore => Probe::NeedMore,
        // A question cut by the segment end is not a mismatch.
        Probe::NoMatch if body.len() < len => match DnsHeader::parse(body) {
            Some(h) if opcode_name(h.opcode()).is_some() && !h.z() => Probe::NeedMore,
            _ => Probe::NoMatch,
        },
        p => p,
    }
}

/// One DNS-over-TCP message: framing is the length prefix, so a body that
/// does not parse is still a message, with the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsTcpMessage<'a> {
    /// The message bytes (without the prefix).
    pub raw: &'a [u8],
    /// The parsed message or why it did not parse.
    pub parsed: Result<DnsMessage<'a>, DnsError>,
}

/// DNS over TCP (RFC 7766): a big-endian u16 length, then the message.
///
/// ```text
/// +--------+--------+---------------------+
/// | length (u16 BE) | DNS message (length) |
/// +--------+--------+---------------------+
/// ```
///
/// Invalid when the length is below the 12-byte header.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsTcpParser;

impl StreamParser for DnsTcpParser {
    type Message<'a> = DnsTcpMessage<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], _dir: Direction) -> Parsed<DnsTcpMessage<'a>> {
        let Some(len) = input
            .get(..2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        else {
            return Parsed::Incomplete {
                needed: 2 - input.len(),
            };
        };
        if len < HEADER_LEN {
            return Parsed::Invalid {
                reason: "dns_tcp_short_length",
            };
        }
        let total = 2 + len;
        if input.len() < total {
            return Parsed::Incomplete {
                needed: total - input.len(),
            };
        }
        let raw = &input[2..total];
        Parsed::Message {
            consumed: total,
            message: DnsTcpMessage {
                raw,
                parsed: parse_message(raw),
            },
        }
    }

    fn resync(&mut self, input: &[u8], _dir: Direction) -> Option<usize> {
        (0..input.len()).find(|&i| probe_tcp(&input[i..]) == Probe::Match)
    }
}

/// Fuzz entry: every entry point, with invariants asserted.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    use crate::stream::drive;
    let _ = probe(data);
    let _ = probe_tcp(data);
    if let Ok(m) = parse_message(data) {
        check_message(&m);
    }
    for dir in [Direction::ToServer, Direction::ToClient] {
        let out = drive(&mut DnsTcpParser, data, dir, |m| {
            assert!(m.raw.len() <= MAX_TCP_MESSAGE_LEN);
            if let Ok(p) = m.parsed {
                check_message(&p);
            }
        });
        assert!(out.consumed <= data.len());
        assert!(!out.stalled);
        if out.consumed < data.len() {
            assert!(out.needed.is_some());
        }
    }
}

fn check_message(m: &DnsMessage<'_>) {
    assert!(m.qd + m.an + m.ns + m.ar <= MAX_RECORDS);
    assert_eq!(m.questions().count(), m.qd);
    assert_eq!(m.records().count(), m.an + m.ns + m.ar);
    for q in m.questions() {
        let s = q.name.to_dotted();
        assert!(q.name.labels().count() <= MAX_LABELS);
        let _ = s;
    }
    for (_, r) in m.records() {
        assert!(r.name.labels().count() <= MAX_LABELS);
        let _ = r.rdata.txt_strings().count();
        if let RData::Soa { mname, rname, .. } = r.rdata {
            let _ = (mname.to_dotted(), rname.to_dotted());
        }
    }
}
