use crate::decode::{Addr, Packet, Tunnel};

/// Canonical bidirectional flow key: the 5-tuple plus VLAN and tunnel
/// context, with the lower (address, port) endpoint first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Lower endpoint address.
    pub lo: Addr,
    /// Higher endpoint address.
    pub hi: Addr,
    /// Port of `lo` (ICMP: see [`FlowKey::from_packet`]).
    pub lo_port: u16,
    /// Port of `hi`.
    pub hi_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// True for IPv6.
    pub is_v6: bool,
    /// Innermost VLAN id.
    pub vlan: u16,
    /// Tunnel context.
    pub tunnel: Tunnel,
}

impl FlowKey {
    /// The key of a packet, and whether the packet's source is the key's `lo`
    /// endpoint. ICMP flows are keyed on the addresses and the ICMP type only
    /// (echo request and reply share a key), so that a ping is one flow.
    #[inline]
    pub fn from_packet(p: &Packet<'_>) -> (FlowKey, bool) {
        let (sp, dp) = match p.proto {
            crate::decode::ipproto::ICMP | crate::decode::ipproto::ICMPV6 => (0, 0),
            _ => (p.sport, p.dport),
        };
        let src_is_lo = (p.src, sp) <= (p.dst, dp);
        let (lo, hi, lo_port, hi_port) = if src_is_lo {
            (p.src, p.dst, sp, dp)
        } else {
            (p.dst, p.src, dp, sp)
        };
        (
            FlowKey {
                lo,
                hi,
                lo_port,
                hi_port,
                proto: p.proto,
                is_v6: p.is_v6,
                vlan: p.vlan,
                tunnel: p.tunnel,
            },
            src_is_lo,
        )
    }
}
