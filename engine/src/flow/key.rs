use crate::decode::{Addr, Packet, Tunnel};

/// Canonical bidirectional flow key: the 5-tuple plus VLAN and tunnel
/// context, with the lower (address, port) endpoint first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl std::hash::Hash for FlowKey {
    /// Three words instead of one call per field: this runs for every packet.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.lo.0 ^ self.hi.0.rotate_left(64));
        state.write_u128(self.hi.0);
        state.write_u64(
            (self.lo_port as u64) << 48
                | (self.hi_port as u64) << 32
                | (self.proto as u64) << 24
                | (self.is_v6 as u64) << 20
                | (self.vlan as u64 & 0xfff) << 8
                | self.tunnel.kind as u64,
        );
        state.write_u32(self.tunnel.id);
    }
}
