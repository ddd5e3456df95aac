//! Decode: from a link-layer frame to a [`Packet`] keyed for flow tracking.
//!
//! Decoding is lax: a truncated or malformed frame is counted under its layer
//! and reason in [`DecodeStats`] and never stops the run.
//!
//! (Skeleton: Ethernet/IPv4/TCP/UDP only; the full decoder replaces it.)

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
    /// Teredo or other UDP-carried IP.
    Other = 7,
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
    /// Transport payload.
    pub payload: &'a [u8],
    /// Frame length on the wire, used for flow byte counts.
    pub wire_len: u32,
    /// True if this packet was rebuilt from IP fragments.
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
    /// A malformed or truncated frame; already counted.
    Invalid,
}

/// Decode counters, by layer and reason.
#[derive(Debug, Clone, Default)]
pub struct DecodeStats {
    /// Frames given to the decoder.
    pub frames: u64,
    /// Frames decoded to an IP packet.
    pub ipv4: u64,
    /// IPv6 packets decoded.
    pub ipv6: u64,
    /// TCP segments.
    pub tcp: u64,
    /// UDP datagrams.
    pub udp: u64,
    /// Non-IP frames.
    pub not_ip: u64,
    /// Unsupported link type.
    pub unsupported_linktype: u64,
    /// Truncated Ethernet header.
    pub eth_truncated: u64,
    /// Truncated or malformed IPv4 header.
    pub ipv4_invalid: u64,
    /// Truncated TCP header.
    pub tcp_truncated: u64,
    /// Truncated UDP header.
    pub udp_truncated: u64,
}

impl DecodeStats {
    /// Visits every counter with its EVE stats name.
    pub fn for_each(&self, mut f: impl FnMut(&'static str, u64)) {
        f("frames", self.frames);
        f("ipv4", self.ipv4);
        f("ipv6", self.ipv6);
        f("tcp", self.tcp);
        f("udp", self.udp);
        f("not_ip", self.not_ip);
        f("unsupported_linktype", self.unsupported_linktype);
        f("eth_truncated", self.eth_truncated);
        f("ipv4_invalid", self.ipv4_invalid);
        f("tcp_truncated", self.tcp_truncated);
        f("udp_truncated", self.udp_truncated);
    }
    /// Adds another worker's counters into this one.
    pub fn merge(&mut self, o: &DecodeStats) {
        self.frames += o.frames;
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.tcp += o.tcp;
        self.udp += o.udp;
        self.not_ip += o.not_ip;
        self.unsupported_linktype += o.unsupported_linktype;
        self.eth_truncated += o.eth_truncated;
        self.ipv4_invalid += o.ipv4_invalid;
        self.tcp_truncated += o.tcp_truncated;
        self.udp_truncated += o.udp_truncated;
    }
}

/// Decoder settings.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// Most IP datagrams under reassembly at once.
    pub max_fragment_trackers: usize,
    /// Seconds of packet time after which an incomplete datagram is dropped.
    pub fragment_timeout_secs: u64,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_fragment_trackers: 8192,
            fragment_timeout_secs: 60,
        }
    }
}

/// Per-worker decoder: stateless apart from the fragment tracker and counters.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Counters by layer and reason.
    pub stats: DecodeStats,
}

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(_cfg: &DecodeConfig) -> Decoder {
        Decoder::default()
    }

    /// Decodes one frame of link type `linktype`.
    pub fn decode<'a>(
        &'a mut self,
        linktype: u16,
        ts: Nanos,
        frame: &'a [u8],
        wire_len: u32,
    ) -> Decoded<'a> {
        self.stats.frames += 1;
        if linktype != 1 {
            self.stats.unsupported_linktype += 1;
            return Decoded::Invalid;
        }
        if frame.len() < 14 {
            self.stats.eth_truncated += 1;
            return Decoded::Invalid;
        }
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        if ethertype != 0x0800 {
            self.stats.not_ip += 1;
            return Decoded::NotIp;
        }
        let ip = &frame[14..];
        if ip.len() < 20 || ip[0] >> 4 != 4 {
            self.stats.ipv4_invalid += 1;
            return Decoded::Invalid;
        }
        let ihl = ((ip[0] & 0x0f) as usize) * 4;
        let total = (u16::from_be_bytes([ip[2], ip[3]]) as usize).min(ip.len());
        if ihl < 20 || total < ihl {
            self.stats.ipv4_invalid += 1;
            return Decoded::Invalid;
        }
        self.stats.ipv4 += 1;
        let proto = ip[9];
        let src = Addr::v4([ip[12], ip[13], ip[14], ip[15]]);
        let dst = Addr::v4([ip[16], ip[17], ip[18], ip[19]]);
        let l4 = &ip[ihl..total];
        let mut p = Packet {
            ts,
            src,
            dst,
            is_v6: false,
            proto,
            sport: 0,
            dport: 0,
            vlan: 0,
            tunnel: Tunnel::default(),
            tcp: TcpHeader::default(),
            payload: &[],
            wire_len,
            reassembled: false,
        };
        match proto {
            ipproto::TCP => {
                if l4.len() < 20 {
                    self.stats.tcp_truncated += 1;
                    return Decoded::Invalid;
                }
                let off = ((l4[12] >> 4) as usize) * 4;
                if off < 20 || off > l4.len() {
                    self.stats.tcp_truncated += 1;
                    return Decoded::Invalid;
                }
                self.stats.tcp += 1;
                p.sport = u16::from_be_bytes([l4[0], l4[1]]);
                p.dport = u16::from_be_bytes([l4[2], l4[3]]);
                p.tcp = TcpHeader {
                    seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
                    ack: u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]]),
                    flags: l4[13],
                    window: u16::from_be_bytes([l4[14], l4[15]]),
                };
                p.payload = &l4[off..];
            }
            ipproto::UDP => {
                if l4.len() < 8 {
                    self.stats.udp_truncated += 1;
                    return Decoded::Invalid;
                }
                self.stats.udp += 1;
                p.sport = u16::from_be_bytes([l4[0], l4[1]]);
                p.dport = u16::from_be_bytes([l4[2], l4[3]]);
                p.payload = &l4[8..];
            }
            _ => p.payload = l4,
        }
        Decoded::Packet(p)
    }

    /// Drops fragment trackers idle since before `now` minus the timeout.
    pub fn expire(&mut self, _now: Nanos) {}
}

/// A symmetric hash of the outermost IP address pair of a frame, used by the
/// reader to choose a worker: both directions of a flow, and every fragment
/// of a datagram, give the same value. Non-IP frames hash to 0.
pub fn dispatch_hash(linktype: u16, frame: &[u8]) -> u64 {
    if linktype != 1 || frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return 0;
    }
    let a = u32::from_be_bytes([frame[26], frame[27], frame[28], frame[29]]) as u64;
    let b = u32::from_be_bytes([frame[30], frame[31], frame[32], frame[33]]) as u64;
    mix(a ^ b) ^ mix(a.wrapping_add(b))
}

#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}
