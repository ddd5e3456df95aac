//! Decode: from a link-layer frame to a [`Packet`] keyed for flow tracking.
//!
//! [`Decoder::decode`] walks a frame from its link layer (see [`linktype`])
//! through VLAN tags, MPLS, PPPoE, IPv4/IPv6 (with extension headers and
//! fragment reassembly) and tunnels (GRE, ERSPAN I/II/III, VXLAN, Geneve,
//! IP-in-IP, IPv6-in-IPv4, Teredo, AYIYA, GTP-U) down to the innermost IP packet
//! and its transport header. The flow key comes from that innermost packet;
//! [`Packet::tunnel`] says which tunnel it came out of (the outermost one),
//! and [`Packet::vlan`] carries the innermost VLAN id.
//!
//! Decoding is lax: a truncated or malformed frame is counted under its layer
//! and reason in [`DecodeStats`] and returns [`Decoded::Invalid`]; nothing
//! panics and nothing stops the run. A tunnel header that does not parse is
//! not an error of the packet that carries it: the outer packet is passed on
//! (as the UDP or GRE packet it is) and the tunnel problem is counted.
//!
//! The normal path allocates nothing and keeps no state; the only state is
//! the fragment table (bounded by [`DecodeConfig`]), whose timeouts run on
//! packet time.
//!
//! ```
//! use spanwatch::decode::{DecodeConfig, Decoded, Decoder, linktype};
//! // Ethernet / IPv4 / TCP SYN from 10.0.0.1:40000 to 10.0.0.2:502
//! let frame: [u8; 54] = [
//!     0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, // Ethernet, IPv4
//!     0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
//!     0x9c, 0x40, 0x01, 0xf6, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0, // TCP
//! ];
//! let mut dec = Decoder::new(&DecodeConfig::default());
//! let Decoded::Packet(p) = dec.decode(linktype::ETHERNET, 0, &frame, 54) else { panic!() };
//! assert_eq!((p.proto, p.sport, p.dport, p.tcp.flags), (6, 40000, 502, 0x02));
//! assert_eq!(p.src.to_ip(false).to_string(), "10.0.0.1");
//! ```

use crate::capture::Nanos;

/// An IP address as 128 bits; IPv4 is stored v4-mapped (`::ffff:a.b.c.d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Addr(pub u128);

impl Addr {
    /// From an IPv4 address in network byte order.
    #[inline]
    pub fn v4(b: [u8; 4]) -> Addr {
        Addr(0xffff_0000_0000u128 | u32::from_be_bytes(b) as u128)
    }
    /// From an IPv6 address in network byte order.
    #[inline]
    pub fn v6(b: [u8; 16]) -> Addr {
        Addr(u128::from_be_bytes(b))
    }
    /// The standard library form.
    pub fn to_ip(self, is_v6: bool) -> std::net::IpAddr {
        if is_v6 {
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(self.0))
        } else {
            std::net::IpAddr::V4(std::net::Ipv4Addr::from(self.0 as u32))
        }
    }
    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    pub fn octets(self, is_v6: bool) -> ([u8; 16], usize) {
        let b = self.0.to_be_bytes();
        if is_v6 {
            (b, 16)
        } else {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&b[12..]);
            (o, 4)
        }
    }
}

/// The kind of encapsulation a packet arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TunnelKind {
    /// Not tunnelled.
    #[default]
    None = 0,
    /// GRE (without ERSPAN).
    Gre = 1,
    /// ERSPAN type I, II or III inside GRE.
    Erspan = 2,
    /// VXLAN, udp/4789.
    Vxlan = 3,
    /// Geneve, udp/6081.
    Geneve = 4,
    /// IPv4-in-IPv4 or IPv6-in-IPv6 / IPv4-in-IPv6.
    IpInIp = 5,
    /// IPv6-in-IPv4 (protocol 41).
    Ip6In4 = 6,
    /// Teredo, AYIYA or other UDP-carried IP.
    Other = 7,
    /// GTP-U (udp/2152). The id is 0: TEIDs differ by direction.
    GtpU = 8,
}

impl TunnelKind {
    /// Name used in EVE output.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::None => "none",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::Ip6In4 => "ip6in4",
            TunnelKind::Other => "other",
            TunnelKind::GtpU => "gtpu",
        }
    }
}

/// The tunnel a packet came through. Part of the flow key, so it must be
/// the same for both directions (no outer addresses in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tunnel {
    /// Outermost encapsulation kind seen on the way in.
    pub kind: TunnelKind,
    /// VNI, GRE key, ERSPAN session id, or 0.
    pub id: u32,
}

/// TCP header fields that flow tracking and reassembly need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpHeader {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
    pub flags: u8,
    /// Receive window (unscaled).
    pub window: u16,
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
}

/// IP protocol numbers used by the engine.
pub mod ipproto {
    /// ICMP
    pub const ICMP: u8 = 1;
    /// TCP
    pub const TCP: u8 = 6;
    /// UDP
    pub const UDP: u8 = 17;
    /// ICMPv6
    pub const ICMPV6: u8 = 58;
    /// IPv4 encapsulated in IP
    pub const IPIP: u8 = 4;
    /// IPv6 encapsulated in IP
    pub const IPV6: u8 = 41;
    /// GRE
    pub const GRE: u8 = 47;
    /// ESP
    pub const ESP: u8 = 50;
    /// IPv6 hop-by-hop options
    pub const HOPOPT: u8 = 0;
    /// IPv6 routing header
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header
    pub const FRAGMENT: u8 = 44;
    /// Authentication header
    pub const AH: u8 = 51;
    /// IPv6 no next header
    pub const NONE: u8 = 59;
    /// IPv6 destination options
    pub const DSTOPTS: u8 = 60;
    /// Mobility header
    pub const MOBILITY: u8 = 135;
    /// Host Identity Protocol
    pub const HIP: u8 = 139;
    /// Shim6
    pub const SHIM6: u8 = 140;
}

mod frag;
mod link;
mod stats;

pub use frag::{MAX_DATAGRAM, MAX_FRAGMENTS_PER_DATAGRAM};
pub use link::{ethertype, linktype, MAX_MPLS_LABELS, MAX_PW_DEPTH, MAX_VLAN_DEPTH};
pub use stats::DecodeStats;

use frag::{FragKey, FragResult, FragTable, Fragment};
use link::{L2Err, L2Info, Net};

/// Most tunnels opened inside one another. The packet at the limit is
/// passed on as it is (a GRE or UDP packet) and `encap_too_deep` counts it.
pub const MAX_ENCAP_DEPTH: u8 = 4;
/// Most IPv6 extension headers walked in one packet.
pub const MAX_IPV6_EXT_HEADERS: usize = 8;
/// Most GTP-U extension headers walked in one packet.
pub const MAX_GTPU_EXT_HEADERS: usize = 8;

/// UDP ports that announce a tunnel.
pub mod port {
    /// VXLAN (destination port).
    pub const VXLAN: u16 = 4789;
    /// Geneve (destination port).
    pub const GENEVE: u16 = 6081;
    /// Teredo (either port).
    pub const TEREDO: u16 = 3544;
    /// GTP-U (either port).
    pub const GTPU: u16 = 2152;
    /// AYIYA (either port).
    pub const AYIYA: u16 = 5072;
}

/// A decoded packet: the innermost IP packet of a frame, with its context.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Capture time.
    pub ts: Nanos,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// True for IPv6.
    pub is_v6: bool,
    /// IP protocol of the transport (after extension headers).
    pub proto: u8,
    /// Source port; ICMP type for ICMP/ICMPv6.
    pub sport: u16,
    /// Destination port; ICMP code for ICMP/ICMPv6.
    pub dport: u16,
    /// Innermost 802.1Q/802.1ad VLAN id, 0 when untagged.
    pub vlan: u16,
    /// Tunnel context.
    pub tunnel: Tunnel,
    /// TCP header fields (zero unless `proto` is TCP).
    pub tcp: TcpHeader,
    /// Transport payload: after the TCP or UDP header, after the 4-byte
    /// type/code/checksum of ICMP, or the whole IP payload for any other
    /// protocol. Ethernet padding is trimmed by the IP length.
    pub payload: &'a [u8],
    /// Frame length on the wire, used for flow byte counts. For a
    /// reassembled datagram: the sum over the frames of all its fragments.
    pub wire_len: u32,
    /// True if this packet was rebuilt from IP fragments (its payload then
    /// lives in the decoder, until the next call).
    pub reassembled: bool,
}

/// What [`Decoder::decode`] made of a frame.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// An IP packet ready for flow tracking.
    Packet(Packet<'a>),
    /// An IP fragment was stored; the datagram is not complete yet.
    FragmentHeld,
    /// A frame that is valid but carries nothing flow tracking uses (ARP, LLDP, ...).
    NotIp,
    /// A malformed or truncated frame, an unsupported link type, or a
    /// fragment that reassembly refused; already counted.
    Invalid,
}

/// Decoder settings.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// Most IP datagrams under reassembly at once.
    pub max_fragment_trackers: usize,
    /// Seconds of packet time after which an incomplete datagram is dropped.
    pub fragment_timeout_secs: u64,
    /// Most bytes of reassembly buffers held at once, across all datagrams.
    pub max_fragment_bytes: usize,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_fragment_trackers: 8192,
            fragment_timeout_secs: 60,
            max_fragment_bytes: 32 << 20,
        }
    }
}

/// Per-worker decoder: stateless apart from the fragment tracker and counters.
#[derive(Debug)]
pub struct Decoder {
    /// Counters by layer and reason.
    pub stats: DecodeStats,
    frags: FragTable,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(&DecodeConfig::default())
    }
}

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(cfg: &DecodeConfig) -> Decoder {
        Decoder {
            stats: DecodeStats::default(),
            frags: FragTable::new(
                cfg.max_fragment_trackers,
                cfg.max_fragment_bytes,
                cfg.fragment_timeout_secs,
            ),
        }
    }

    /// Decodes one frame of link type `linktype` captured at `ts`, whose
    /// length on the wire was `wire_len`.
    ///
    /// A [`Decoded::Packet`] borrows from `frame`, or, when it was
    /// reassembled, from a buffer inside the decoder, which is why the
    /// decoder stays borrowed until the packet is dropped.
    pub fn decode<'a>(
        &'a mut self,
        linktype: u16,
        ts: Nanos,
        frame: &'a [u8],
        wire_len: u32,
    ) -> Decoded<'a> {
        let Decoder { stats, frags } = self;
        stats.frames += 1;
        stats.bytes += wire_len as u64;
        let mut w = Walk {
            stats,
            frags: Some(frags),
            ts,
            wire_len,
            vlan: 0,
            tunnel: Tunnel::default(),
            depth: 0,
            reassembled: false,
        };
        let mut info = L2Info::default();
        let first = link::link(linktype, frame, &mut info);
        let mut step = w.l2(first, &info);
        // Every step goes one layer in: the link walk is bounded, IP steps
        // lead to a packet or into a tunnel, and tunnels are bounded by
        // MAX_ENCAP_DEPTH.
        let d = loop {
            step = match step {
                Step::Ip4(b) => w.ip4(b),
                Step::Ip6(b) => w.ip6(b),
                Step::Ether(b) => {
                    let mut info = L2Info::default();
                    let r = link::ethernet(b, &mut info);
                    w.l2(r, &info)
                }
                Step::EtherType(et, b) => {
                    let mut info = L2Info::default();
                    let r = link::walk(et, b, 0, &mut info);
                    w.l2(r, &info)
                }
                Step::Done(d) => break d,
            };
        };
        match &d {
            Decoded::Packet(p) => {
                w.stats.packets += 1;
                if p.tunnel.kind != TunnelKind::None {
                    w.stats.tunnelled += 1;
                }
            }
            Decoded::NotIp => w.stats.not_ip += 1,
            Decoded::Invalid => w.stats.invalid += 1,
            Decoded::FragmentHeld => {}
        }
        d
    }

    /// Drops fragment trackers idle since before `now` minus the timeout
    /// (packet time). Decoding also expires them lazily while fragments
    /// arrive; this call is for when they stop arriving.
    pub fn expire(&mut self, now: Nanos) {
        self.frags.expire(now, &mut self.stats);
    }

    /// IP datagrams under reassembly.
    pub fn fragments_in_use(&self) -> usize {
        self.frags.in_use()
    }

    /// Bytes of reassembly buffers held by datagrams under reassembly.
    pub fn fragment_bytes_in_use(&self) -> usize {
        self.frags.bytes_in_use()
    }
}

/// What to decode next.
enum Step<'a> {
    /// An Ethernet frame (inner, from a tunnel).
    Ether(&'a [u8]),
    /// A payload of the given ethertype / GRE protocol type.
    EtherType(u16, &'a [u8]),
    /// An IPv4 packet.
    Ip4(&'a [u8]),
    /// An IPv6 packet.
    Ip6(&'a [u8]),
    /// Finished.
    Done(Decoded<'a>),
}

/// The addresses of the IP packet being decoded.
#[derive(Clone, Copy)]
struct Ip {
    src: Addr,
    dst: Addr,
    v6: bool,
}

/// Selects one counter.
type Counter = fn(&mut DecodeStats) -> &mut u64;

/// One frame's walk: the context gathered on the way in.
struct Walk<'a, 's> {
    stats: &'s mut DecodeStats,
    /// The reassembly table, until a datagram completes (the packet then
    /// borrows from it, so a second reassembly in the same frame is refused).
    frags: Option<&'a mut FragTable>,
    ts: Nanos,
    wire_len: u32,
    vlan: u16,
    tunnel: Tunnel,
    depth: u8,
    reassembled: bool,
}

#[inline(always)]
fn be16(a: u8, b: u8) -> u16 {
    u16::from_be_bytes([a, b])
}

impl<'a> Walk<'a, '_> {
    /// Counts `c` and gives up on the frame.
    #[cold]
    fn bad(&mut self, c: Counter) -> Step<'a> {
        *c(self.stats) += 1;
        Step::Done(Decoded::Invalid)
    }

    #[cold]
    fn bad4(&mut self, c: Counter) -> Step<'a> {
        self.stats.ipv4_invalid += 1;
        self.bad(c)
    }

    #[cold]
    fn bad6(&mut self, c: Counter) -> Step<'a> {
        self.stats.ipv6_invalid += 1;
        self.bad(c)
    }

    #[inline]
    fn packet(
        &self,
        ip: Ip,
        proto: u8,
        sport: u16,
        dport: u16,
        tcp: TcpHeader,
        payload: &'a [u8],
    ) -> Step<'a> {
        Step::Done(Decoded::Packet(Packet {
            ts: self.ts,
            src: ip.src,
            dst: ip.dst,
            is_v6: ip.v6,
            proto,
            sport,
            dport,
            vlan: self.vlan,
            tunnel: self.tunnel,
            tcp,
            payload,
            wire_len: self.wire_len,
            reassembled: self.reassembled,
        }))
    }

    /// Enters a tunnel; false (and counted) when tunnels are nested too deep.
    fn enter(&mut self, kind: TunnelKind, id: u32) -> bool {
        if self.depth >= MAX_ENCAP_DEPTH {
            self.stats.encap_too_deep += 1;
            return false;
        }
        if self.depth == 0 {
            self.tunnel = Tunnel { kind, id };
        }
        self.depth += 1;
        true
    }

    /// Turns the result of a link-layer walk into the next step.
    #[inline]
    fn l2(&mut self, r: Result<Net<'a>, L2Err>, info: &L2Info) -> Step<'a> {
        if info.vlan_tags > 0 {
            self.stats.vlan += 1;
            if info.vlan_tags > 1 {
                self.stats.vlan_qinq += 1;
            }
            self.vlan = info.vlan;
        }
        if info.mpls_labels > 0 {
            self.stats.mpls += 1;
        }
        if info.pppoe {
            self.stats.pppoe += 1;
        }
        if info.ppp {
            self.stats.ppp += 1;
        }
        match r {
            Ok(Net::Ip4(b)) => Step::Ip4(b),
            Ok(Net::Ip6(b)) => Step::Ip6(b),
            Ok(Net::NotIp) => {
                if info.llc {
                    self.stats.eth_llc += 1;
                }
                Step::Done(Decoded::NotIp)
            }
            Err(e) => self.bad(match e {
                L2Err::UnsupportedLinktype => |s| &mut s.unsupported_linktype,
                L2Err::EthTruncated => |s| &mut s.eth_truncated,
                L2Err::SllTruncated => |s| &mut s.sll_truncated,
                L2Err::Sll2Truncated => |s| &mut s.sll2_truncated,
                L2Err::NullTruncated => |s| &mut s.null_truncated,
                L2Err::NullUnknownFamily => |s| &mut s.null_unknown_family,
                L2Err::PppTruncated => |s| &mut s.ppp_truncated,
                L2Err::ChdlcTruncated => |s| &mut s.chdlc_truncated,
                L2Err::RawBadVersion => |s| &mut s.raw_bad_version,
                L2Err::VlanTruncated => |s| &mut s.vlan_truncated,
                L2Err::VlanTooDeep => |s| &mut s.vlan_too_deep,
                L2Err::MplsTruncated => |s| &mut s.mpls_truncated,
                L2Err::MplsTooDeep => |s| &mut s.mpls_too_deep,
                L2Err::MplsUnknownPayload => |s| &mut s.mpls_unknown_payload,
                L2Err::PppoeTruncated => |s| &mut s.pppoe_truncated,
            }),
        }
    }

    /// IPv4 (RFC 791).
    ///
    /// ```text
    ///  0 version(4) IHL(4)  1 DSCP/ECN  2 total length(16)
    ///  4 identification(16)  6 flags(3: reserved DF MF) fragment offset(13, 8-byte units)
    ///  8 TTL  9 protocol  10 header checksum(16)
    /// 12 source address  16 destination address  20 options (IHL > 5)
    /// ```
    ///
    /// The header checksum is not verified (offload makes it unreliable in
    /// captures). Bytes past the total length (Ethernet padding) are cut off.
    #[inline]
    fn ip4(&mut self, b: &'a [u8]) -> Step<'a> {
        let Some(h) = b.first_chunk::<20>() else {
            return self.bad4(|s| &mut s.ipv4_truncated);
        };
        if h[0] >> 4 != 4 {
            return self.bad4(|s| &mut s.ipv4_bad_version);
        }
        let ihl = ((h[0] & 0x0f) as usize) * 4;
        if ihl < 20 {
            return self.bad4(|s| &mut s.ipv4_bad_ihl);
        }
        if ihl > b.len() {
            return self.bad4(|s| &mut s.ipv4_truncated);
        }
        let total = be16(h[2], h[3]) as usize;
        let complete = total != 0 && total <= b.len();
        let end = if total == 0 {
            self.stats.ipv4_zero_total_len += 1;
            b.len()
        } else if total < ihl {
            return self.bad4(|s| &mut s.ipv4_bad_total_len);
        } else if total > b.len() {
            self.stats.ipv4_total_len_beyond_capture += 1;
            b.len()
        } else {
            total
        };
        self.stats.ipv4 += 1;
        let ip = Ip {
            src: Addr::v4([h[12], h[13], h[14], h[15]]),
            dst: Addr::v4([h[16], h[17], h[18], h[19]]),
            v6: false,
        };
        let proto = h[9];
        let payload = b.get(ihl..end).unwrap_or(&[]);
        let frag = be16(h[6], h[7]);
        if frag & 0x3fff == 0 {
            return self.l4(ip, proto, payload);
        }
        // A fragment: MF set or a non-zero offset.
        self.stats.frag_ipv4 += 1;
        let more = frag & 0x2000 != 0;
        if more && payload.len() % 8 != 0 {
            return self.bad4(|s| &mut s.ipv4_frag_bad_len);
        }
        if !complete {
            return self.bad(|s| &mut s.frag_snapped);
        }
        let key = FragKey {
            src: ip.src,
            dst: ip.dst,
            id: be16(h[4], h[5]) as u32,
            proto,
            v6: false,
            vlan: self.vlan,
            tunnel: self.tunnel,
        };
        let frag = Fragment {
            offset: ((frag & 0x1fff) as u32) * 8,
            more,
            data: payload,
            next: proto,
            wire_len: self.wire_len,
        };
        match self.reassemble(key, frag) {
            Ok((next, data)) => self.l4(ip, next, data),
            Err(step) => step,
        }
    }

    /// Hands a fragment to the table; on completion, the datagram's payload.
    fn reassemble(&mut self, key: FragKey, frag: Fragment<'_>) -> Result<(u8, &'a [u8]), Step<'a>> {
        let Some(table) = self.frags.take() else {
            self.stats.frag_nested += 1;
            return Err(Step::Done(Decoded::Invalid));
        };
        match table.insert(self.stats, key, self.ts, frag) {
            FragResult::Held => {
                self.frags = Some(table);
                Err(Step::Done(Decoded::FragmentHeld))
            }
            FragResult::Dropped => {
                self.frags = Some(table);
                Err(Step::Done(Decoded::Invalid))
            }
            FragResult::Complete { next, wire_len } => {
                let table: &'a FragTable = table;
                self.reassembled = true;
                self.wire_len = wire_len;
                Ok((next, table.datagram()))
            }
        }
    }

    /// IPv6 (RFC 8200).
    ///
    /// ```text
    ///  0 version(4) traffic class(8) flow label(20)
    ///  4 payload length(16)  6 next header  7 hop limit
    ///  8 source address(16)  24 destination address(16)  40 extension headers, payload
    /// ```
    #[inline]
    fn ip6(&mut self, b: &'a [u8]) -> Step<'a> {
        let Some(h) = b.first_chunk::<40>() else {
            return self.bad6(|s| &mut s.ipv6_truncated);
        };
        if h[0] >> 4 != 6 {
            return self.bad6(|s| &mut s.ipv6_bad_version);
        }
        let plen = be16(h[4], h[5]) as usize;
        let avail = b.len() - 40;
        let complete = plen <= avail && !(plen == 0 && h[6] == ipproto::HOPOPT);
        let end = if plen == 0 && h[6] == ipproto::HOPOPT {
            // A jumbogram (RFC 2675) or an offloaded segment: the real
            // length is elsewhere; use what was captured.
            self.stats.ipv6_zero_payload_len += 1;
            b.len()
        } else if plen > avail {
            self.stats.ipv6_payload_len_beyond_capture += 1;
            b.len()
        } else {
            40 + plen
        };
        self.stats.ipv6 += 1;
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&h[8..24]);
        dst.copy_from_slice(&h[24..40]);
        let ip = Ip {
            src: Addr::v6(src),
            dst: Addr::v6(dst),
            v6: true,
        };
        self.ext_chain(ip, h[6], b.get(40..end).unwrap_or(&[]), complete)
    }

    /// IPv6 extension headers (RFC 8200 4.3-4.6; RFC 4302 AH; RFC 6275
    /// mobility; RFC 7401 HIP; RFC 5533 shim6).
    ///
    /// ```text
    /// hop-by-hop 0, routing 43, destination 60, mobility 135, HIP 139, shim6 140:
    ///   0 next header  1 length (8-octet units, not counting the first 8)  2 ...
    /// fragment 44:
    ///   0 next header  1 reserved  2 offset(13, 8-octet units) reserved(2) M(1)  4 identification(32)
    /// AH 51:
    ///   0 next header  1 length (4-octet units, minus 2)  2 ...
    /// ```
    fn ext_chain(&mut self, ip: Ip, mut nh: u8, mut p: &'a [u8], complete: bool) -> Step<'a> {
        let mut n = 0usize;
        loop {
            let len = match nh {
                ipproto::HOPOPT
                | ipproto::ROUTING
                | ipproto::DSTOPTS
                | ipproto::MOBILITY
                | ipproto::HIP
                | ipproto::SHIM6 => {
                    if nh == ipproto::HOPOPT && n > 0 {
                        self.stats.ipv6_hbh_not_first += 1;
                    }
                    let Some(&l) = p.get(1) else {
                        return self.bad6(|s| &mut s.ipv6_ext_truncated);
                    };
                    (l as usize + 1) * 8
                }
                ipproto::AH => {
                    let Some(&l) = p.get(1) else {
                        return self.bad6(|s| &mut s.ipv6_ext_truncated);
                    };
                    (l as usize + 2) * 4
                }
                ipproto::FRAGMENT => 8,
                _ => return self.l4(ip, nh, p),
            };
            n += 1;
            if n > MAX_IPV6_EXT_HEADERS {
                return self.bad6(|s| &mut s.ipv6_ext_chain_too_long);
            }
            let (Some(&next), Some(rest)) = (p.first(), p.get(len..)) else {
                return self.bad6(|s| &mut s.ipv6_ext_truncated);
            };
            if nh != ipproto::FRAGMENT {
                nh = next;
                p = rest;
                continue;
            }
            let Some(f) = p.first_chunk::<8>() else {
                return self.bad6(|s| &mut s.ipv6_ext_truncated);
            };
            let fo = be16(f[2], f[3]);
            let offset = (fo & 0xfff8) as u32;
            let more = fo & 1 != 0;
            if offset == 0 && !more {
                self.stats.ipv6_atomic_fragment += 1;
                nh = next;
                p = rest;
                continue;
            }
            self.stats.frag_ipv6 += 1;
            if more && rest.len() % 8 != 0 {
                return self.bad6(|s| &mut s.ipv6_frag_bad_len);
            }
            if !complete {
                return self.bad(|s| &mut s.frag_snapped);
            }
            let key = FragKey {
                src: ip.src,
                dst: ip.dst,
                id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
                proto: 0,
                v6: true,
                vlan: self.vlan,
                tunnel: self.tunnel,
            };
            let frag = Fragment {
                offset,
                more,
                data: rest,
                next,
                wire_len: self.wire_len,
            };
            match self.reassemble(key, frag) {
                Ok((next, data)) => {
                    nh = next;
                    p = data;
                }
                Err(step) => return step,
            }
        }
    }

    /// The transport layer, or a tunnel carried directly in IP.
    #[inline]
    fn l4(&mut self, ip: Ip, proto: u8, p: &'a [u8]) -> Step<'a> {
        match proto {
            ipproto::TCP => self.tcp(ip, p),
            ipproto::UDP => self.udp(ip, p),
            ipproto::ICMP | ipproto::ICMPV6 => {
                let Some((h, rest)) = p.split_first_chunk::<4>() else {
                    return self.bad(if proto == ipproto::ICMP {
                        |s| &mut s.icmpv4_truncated
                    } else {
                        |s| &mut s.icmpv6_truncated
                    });
                };
                if proto == ipproto::ICMP {
                    self.stats.icmpv4 += 1;
                } else {
                    self.stats.icmpv6 += 1;
                }
                self.packet(
                    ip,
                    proto,
                    h[0] as u16,
                    h[1] as u16,
                    TcpHeader::default(),
                    rest,
                )
            }
            ipproto::IPIP | ipproto::IPV6 => {
                // Only a payload that starts with the announced IP version
                // is opened; anything else stays the outer packet.
                let (want, kind, counter): (u8, TunnelKind, Counter) = match (proto, ip.v6) {
                    (ipproto::IPIP, _) => (4, TunnelKind::IpInIp, |s| &mut s.ipip),
                    (_, true) => (6, TunnelKind::IpInIp, |s| &mut s.ipip),
                    (_, false) => (6, TunnelKind::Ip6In4, |s| &mut s.ip6in4),
                };
                if p.first().map(|b| b >> 4) != Some(want) {
                    self.stats.ipip_bad_version += 1;
                    return self.packet(ip, proto, 0, 0, TcpHeader::default(), p);
                }
                if !self.enter(kind, 0) {
                    return self.packet(ip, proto, 0, 0, TcpHeader::default(), p);
                }
                *counter(self.stats) += 1;
                if want == 4 {
                    Step::Ip4(p)
                } else {
                    Step::Ip6(p)
                }
            }
            ipproto::GRE => match self.gre(p) {
                Some(step) => step,
                None => self.packet(ip, proto, 0, 0, TcpHeader::default(), p),
            },
            _ => {
                self.stats.other_proto += 1;
                self.packet(ip, proto, 0, 0, TcpHeader::default(), p)
            }
        }
    }

    /// TCP (RFC 9293).
    ///
    /// ```text
    ///  0 source port  2 destination port  4 sequence number  8 acknowledgment number
    /// 12 data offset(4) reserved(4)  13 flags  14 window  16 checksum  18 urgent pointer
    /// 20 options (data offset > 5)  payload
    /// ```
    #[inline]
    fn tcp(&mut self, ip: Ip, p: &'a [u8]) -> Step<'a> {
        let Some(h) = p.first_chunk::<20>() else {
            return self.bad(|s| &mut s.tcp_truncated);
        };
        let off = ((h[12] >> 4) as usize) * 4;
        if off < 20 {
            return self.bad(|s| &mut s.tcp_bad_offset);
        }
        let Some(payload) = p.get(off..) else {
            return self.bad(|s| &mut s.tcp_truncated);
        };
        self.stats.tcp += 1;
        let tcp = TcpHeader {
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            flags: h[13],
            window: be16(h[14], h[15]),
        };
        self.packet(
            ip,
            ipproto::TCP,
            be16(h[0], h[1]),
            be16(h[2], h[3]),
            tcp,
            payload,
        )
    }

    /// UDP (RFC 768).
    ///
    /// ```text
    ///  0 source port  2 destination port  4 length (header + data)  6 checksum  8 data
    /// ```
    #[inline]
    fn udp(&mut self, ip: Ip, p: &'a [u8]) -> Step<'a> {
        let Some(h) = p.first_chunk::<8>() else {
            return self.bad(|s| &mut s.udp_truncated);
        };
        let ulen = be16(h[4], h[5]) as usize;
        let end = if ulen == 0 && ip.v6 {
            // RFC 2675: a jumbogram's UDP length is 0.
            p.len()
        } else if ulen < 8 {
            return self.bad(|s| &mut s.udp_bad_len);
        } else if ulen > p.len() {
            self.stats.udp_len_beyond_capture += 1;
            p.len()
        } else {
            ulen
        };
        self.stats.udp += 1;
        let (sport, dport) = (be16(h[0], h[1]), be16(h[2], h[3]));
        let payload = p.get(8..end).unwrap_or(&[]);
        if let Some(step) = self.udp_tunnel(sport, dport, payload) {
            return step;
        }
        self.packet(
            ip,
            ipproto::UDP,
            sport,
            dport,
            TcpHeader::default(),
            payload,
        )
    }

    /// A tunnel announced by a UDP port, or `None` to keep the UDP packet.
    #[inline]
    fn udp_tunnel(&mut self, sport: u16, dport: u16, p: &'a [u8]) -> Option<Step<'a>> {
        match dport {
            port::VXLAN => return self.vxlan(p),
            port::GENEVE => return self.geneve(p),
            _ => {}
        }
        if sport == port::GTPU || dport == port::GTPU {
            return self.gtpu(p);
        }
        if sport == port::TEREDO || dport == port::TEREDO {
            return self.teredo(p);
        }
        if sport == port::AYIYA || dport == port::AYIYA {
            return self.ayiya(p);
        }
        None
    }

    /// AYIYA, "Anything In Anything" (draft-massar-v6ops-ayiya), as used by
    /// SixXS tunnel brokers. Only Forward messages (opcode 1) carrying IPv4
    /// or IPv6 are opened.
    ///
    /// ```text
    ///  0 identity length(4, log2 bytes) identity type(4)  1 signature length(4, 4-byte units) hash method(4)
    ///  2 authentication method(4) opcode(4)  3 next header  4 epoch time(32)
    ///  8 identity  signature  payload
    /// ```
    fn ayiya(&mut self, p: &'a [u8]) -> Option<Step<'a>> {
        let h = p.first_chunk::<8>()?;
        if h[2] & 0x0f != 1 {
            return None;
        }
        let hlen = 8 + (1usize << (h[0] >> 4)) + ((h[1] >> 4) as usize) * 4;
        let inner = p.get(hlen..)?;
        let step = match (h[3], inner.first().map(|b| b >> 4)) {
            (ipproto::IPV6, Some(6)) => Step::Ip6(inner),
            (ipproto::IPIP, Some(4)) => Step::Ip4(inner),
            _ => return None,
        };
        if !self.enter(TunnelKind::Other, 0) {
            return None;
        }
        self.stats.ayiya += 1;
        Some(step)
    }

    /// VXLAN (RFC 7348).
    ///
    /// ```text
    ///  0 flags (0x08 = I, the VNI is valid)  1 reserved(24)  4 VNI(24)  7 reserved  8 Ethernet frame
    /// ```
    fn vxlan(&mut self, p: &'a [u8]) -> Option<Step<'a>> {
        let Some((h, inner)) = p.split_first_chunk::<8>() else {
            self.stats.vxlan_truncated += 1;
            return None;
        };
        if h[0] & 0x08 == 0 {
            self.stats.vxlan_bad_flags += 1;
            return None;
        }
        let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
        if !self.enter(TunnelKind::Vxlan, vni) {
            return None;
        }
        self.stats.vxlan += 1;
        Some(Step::Ether(inner))
    }

    /// Geneve (RFC 8926).
    ///
    /// ```text
    ///  0 version(2) option length(6, 4-byte units)  1 O(1) C(1) reserved(6)  2 protocol type(16)
    ///  4 VNI(24)  7 reserved  8 options  8+4*optlen payload
    /// ```
    fn geneve(&mut self, p: &'a [u8]) -> Option<Step<'a>> {
        let Some(h) = p.first_chunk::<8>() else {
            self.stats.geneve_truncated += 1;
            return None;
        };
        if h[0] >> 6 != 0 {
            self.stats.geneve_bad_version += 1;
            return None;
        }
        let hlen = 8 + ((h[0] & 0x3f) as usize) * 4;
        let Some(inner) = p.get(hlen..) else {
            self.stats.geneve_truncated += 1;
            return None;
        };
        let step = match be16(h[2], h[3]) {
            ethertype::TEB => Step::Ether(inner),
            et @ (ethertype::IPV4 | ethertype::IPV6) => Step::EtherType(et, inner),
            _ => {
                self.stats.geneve_unsupported += 1;
                return None;
            }
        };
        let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
        if !self.enter(TunnelKind::Geneve, vni) {
            return None;
        }
        self.stats.geneve += 1;
        Some(step)
    }

    /// GTP-U version 1 (3GPP TS 29.281). Only T-PDUs (message type 0xff)
    /// carry user packets; signalling messages stay UDP packets.
    ///
    /// ```text
    ///  0 version(3)=1 PT(1)=1 reserved(1) E(1) S(1) PN(1)  1 message type  2 length(16)  4 TEID(32)
    ///  8 [sequence(16) N-PDU number(8) next extension type(8)]   when any of E, S, PN
    ///    [extension: length(8, 4-byte units) ... next extension type(8)] ...
    /// ```
    fn gtpu(&mut self, p: &'a [u8]) -> Option<Step<'a>> {
        let Some(h) = p.first_chunk::<8>() else {
            self.stats.gtpu_truncated += 1;
            return None;
        };
        if h[0] >> 5 != 1 || h[0] & 0x10 == 0 || h[1] != 0xff {
            return None;
        }
        let mut off = 8usize;
        if h[0] & 0x07 != 0 {
            let Some(opt) = p.get(8..12) else {
                self.stats.gtpu_truncated += 1;
                return None;
            };
            let mut next = opt[3];
            off = 12;
            let mut n = 0;
            while next != 0 {
                n += 1;
                let len = p.get(off).map_or(0, |&l| l as usize * 4);
                let ext = p
                    .get(off..off + len)
                    .filter(|_| len > 0 && n <= MAX_GTPU_EXT_HEADERS);
                let Some(&last) = ext.and_then(|e| e.last()) else {
                    self.stats.gtpu_truncated += 1;
                    return None;
                };
                next = last;
                off += len;
            }
        }
        let inner = p.get(off..).unwrap_or(&[]);
        let step = match inner.first().map(|b| b >> 4) {
            Some(4) => Step::Ip4(inner),
            Some(6) => Step::Ip6(inner),
            _ => {
                self.stats.gtpu_unsupported += 1;
                return None;
            }
        };
        if !self.enter(TunnelKind::GtpU, 0) {
            return None;
        }
        self.stats.gtpu += 1;
        Some(step)
    }

    /// Teredo (RFC 4380): an IPv6 packet in UDP, optionally after an
    /// authentication indicator and/or an origin indication. Only a payload
    /// that is exactly one IPv6 packet is opened; anything else stays UDP.
    ///
    /// ```text
    /// authentication: 0 0x0001  2 client id length  3 auth value length  4 id, value, nonce(8), confirmation(1)
    /// origin:         0 0x0000  2 obfuscated port(16)  4 obfuscated IPv4 address(32)
    /// ```
    fn teredo(&mut self, p: &'a [u8]) -> Option<Step<'a>> {
        let mut q = p;
        if let [0x00, 0x01, id, au, ..] = q {
            q = q.get(4 + *id as usize + *au as usize + 9..)?;
        }
        if let [0x00, 0x00, ..] = q {
            q = q.get(8..)?;
        }
        // An IPv6 header that fits, with a Teredo (2001:0::/32) or
        // link-local (bubbles) address on one side. Bytes after the IPv6
        // payload are ignored, as the IPv6 layer trims to its length.
        let h = q.first_chunk::<40>()?;
        let teredo_side = |a: &[u8]| matches!(a, [0x20, 0x01, 0x00, 0x00, ..] | [0xfe, 0x80, ..]);
        if h[0] >> 4 != 6
            || be16(h[4], h[5]) as usize + 40 > q.len()
            || !(teredo_side(&h[8..12]) || teredo_side(&h[24..28]))
        {
            return None;
        }
        if !self.enter(TunnelKind::Other, 0) {
            return None;
        }
        self.stats.teredo += 1;
        Some(Step::Ip6(q))
    }

    /// GRE (RFC 2784; RFC 2890 key and sequence number; RFC 2637 enhanced
    /// GRE, version 1, for PPTP). `None` keeps the GRE packet itself.
    ///
    /// ```text
    ///  0 C R K S s recur(3)  1 A flags(4) version(3)  2 protocol type(16)
    ///  4 [checksum(16) offset(16)]    when C or R
    ///    [key(32)]                    when K (version 1: payload length(16) call id(16))
    ///    [sequence number(32)]        when S
    ///    [acknowledgment number(32)]  when A (version 1 only)
    ///    [routing entries]            when R (RFC 1701; not opened)
    /// ```
    fn gre(&mut self, p: &'a [u8]) -> Option<Step<'a>> {
        let Some(h) = p.first_chunk::<4>() else {
            self.stats.gre_truncated += 1;
            return None;
        };
        let flags = be16(h[0], h[1]);
        let proto = be16(h[2], h[3]);
        let (c, r, k, s) = (
            flags & 0x8000 != 0,
            flags & 0x4000 != 0,
            flags & 0x2000 != 0,
            flags & 0x1000 != 0,
        );
        let mut off = 4usize;
        let mut key = 0u32;
        match flags & 0x0007 {
            0 => {
                if r {
                    self.stats.gre_unsupported += 1;
                    return None;
                }
                if c {
                    off += 4;
                }
                if k {
                    let Some(kb) = p.get(off..off + 4) else {
                        self.stats.gre_truncated += 1;
                        return None;
                    };
                    key = u32::from_be_bytes([kb[0], kb[1], kb[2], kb[3]]);
                    off += 4;
                }
                if s {
                    off += 4;
                }
            }
            1 => {
                if c || r || !k || proto != ethertype::PPP {
                    self.stats.gre_bad_version += 1;
                    return None;
                }
                off += 4 + if s { 4 } else { 0 } + if flags & 0x0080 != 0 { 4 } else { 0 };
            }
            _ => {
                self.stats.gre_bad_version += 1;
                return None;
            }
        }
        let Some(inner) = p.get(off..) else {
            self.stats.gre_truncated += 1;
            return None;
        };
        self.stats.gre += 1;
        let step = match proto {
            ethertype::IPV4
            | ethertype::IPV6
            | ethertype::MPLS_UC
            | ethertype::MPLS_MC
            | ethertype::VLAN => Step::EtherType(proto, inner),
            ethertype::TEB => Step::Ether(inner),
            ethertype::ERSPAN_II => return self.erspan2(s, inner),
            ethertype::ERSPAN_III => return self.erspan3(inner),
            ethertype::PPP => {
                // Enhanced GRE: an acknowledgment-only packet has no payload;
                // PPP control protocols are not IP. Both stay GRE packets.
                let step = match link::ppp(inner) {
                    Ok(Net::Ip4(b)) => Step::Ip4(b),
                    Ok(Net::Ip6(b)) => Step::Ip6(b),
                    _ => return None,
                };
                self.stats.ppp += 1;
                // The version-1 key holds the peer's call id, which differs
                // by direction: not usable as a flow key.
                key = 0;
                step
            }
            _ => {
                self.stats.gre_unsupported += 1;
                return None;
            }
        };
        if !self.enter(TunnelKind::Gre, key) {
            return None;
        }
        Some(step)
    }

    /// ERSPAN type II (GRE 0x88BE with the S bit) and type I (without it).
    ///
    /// ```text
    /// type II: 0 version(4)=1 VLAN(12)  2 COS(3) En(2) T(1) session id(10)  4 reserved(12) index(20)  8 Ethernet
    /// type I:  the Ethernet frame directly after the GRE header
    /// ```
    fn erspan2(&mut self, seq: bool, p: &'a [u8]) -> Option<Step<'a>> {
        if !seq {
            if !self.enter(TunnelKind::Erspan, 0) {
                return None;
            }
            self.stats.erspan += 1;
            return Some(Step::Ether(p));
        }
        let Some((h, inner)) = p.split_first_chunk::<8>() else {
            self.stats.erspan_truncated += 1;
            return None;
        };
        if h[0] >> 4 != 1 {
            self.stats.erspan_bad_version += 1;
            return None;
        }
        let session = (be16(h[2], h[3]) & 0x03ff) as u32;
        if !self.enter(TunnelKind::Erspan, session) {
            return None;
        }
        self.stats.erspan += 1;
        Some(Step::Ether(inner))
    }

    /// ERSPAN type III (GRE 0x22EB).
    ///
    /// ```text
    ///  0 version(4)=2 VLAN(12)  2 COS(3) BSO(2) T(1) session id(10)  4 timestamp(32)
    ///  8 SGT(16)  10 P(1) FT(5) hardware id(6) D(1) granularity(2) O(1)
    /// 12 [platform-specific sub-header(8) when O]  frame (FT 0 = Ethernet, 2 = IP)
    /// ```
    fn erspan3(&mut self, p: &'a [u8]) -> Option<Step<'a>> {
        let Some((h, rest)) = p.split_first_chunk::<12>() else {
            self.stats.erspan_truncated += 1;
            return None;
        };
        if h[0] >> 4 != 2 {
            self.stats.erspan_bad_version += 1;
            return None;
        }
        let inner = if h[11] & 0x01 != 0 {
            rest.get(8..)
        } else {
            Some(rest)
        };
        let Some(inner) = inner else {
            self.stats.erspan_truncated += 1;
            return None;
        };
        let step = match ((h[10] >> 2) & 0x1f, inner.first().map(|b| b >> 4)) {
            (0, _) => Step::Ether(inner),
            (2, Some(4)) => Step::Ip4(inner),
            (2, Some(6)) => Step::Ip6(inner),
            _ => {
                self.stats.erspan_unsupported += 1;
                return None;
            }
        };
        let session = (be16(h[2], h[3]) & 0x03ff) as u32;
        if !self.enter(TunnelKind::Erspan, session) {
            return None;
        }
        self.stats.erspan += 1;
        Some(step)
    }
}

/// A symmetric hash of the outermost IP address pair of a frame, used by the
/// reader to choose a worker: both directions of a flow, and every fragment
/// of a datagram, give the same value. Walks the link layer, VLAN tags, MPLS
/// and PPPoE, but no tunnel. Non-IP frames hash to 0.
#[inline]
pub fn dispatch_hash(linktype: u16, frame: &[u8]) -> u64 {
    let mut info = L2Info::default();
    match link::link(linktype, frame, &mut info) {
        Ok(Net::Ip4(b)) => match b.first_chunk::<20>() {
            Some(h) => {
                let a = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
                let b = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                mix(((lo as u64) << 32) | hi as u64)
            }
            None => 0,
        },
        Ok(Net::Ip6(b)) => match b.first_chunk::<40>() {
            Some(h) => {
                let fold = |o: usize| {
                    let mut x = [0u8; 16];
                    x.copy_from_slice(&h[o..o + 16]);
                    let v = u128::from_be_bytes(x);
                    (v as u64) ^ ((v >> 64) as u64).rotate_left(17)
                };
                let (a, b) = (fold(8), fold(24));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                mix(mix(lo) ^ hi)
            }
            None => 0,
        },
        _ => 0,
    }
}

#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod pcap_tests;
#[cfg(test)]
mod tests;
