//! Link layers: from a frame of some link type to the start of its IP packet.
//!
//! This walk is shared by the decoder and by [`super::dispatch_hash`], so both
//! agree on where the outermost IP header is. It keeps no counters itself: it
//! reports what it crossed in [`L2Info`] and why it stopped in [`L2Err`].
//!
//! References:
//! - link types: tcpdump.org `LINKTYPE_*` registry (and `DLT_*` values 12/14
//!   that some writers store for raw IP);
//! - Ethernet II / 802.3 + 802.2 LLC + SNAP (RFC 1042); IEEE 802.1Q / 802.1ad;
//! - Linux cooked capture v1 and v2 (tcpdump.org `LINKTYPE_LINUX_SLL(2)` pages);
//! - BSD loopback (`LINKTYPE_NULL`, host byte order) and OpenBSD loopback
//!   (`LINKTYPE_LOOP`, network byte order): `AF_INET` 2, `AF_INET6` 24/28/30;
//! - PPP (RFC 1661, 1662 HDLC-like framing), Cisco HDLC;
//! - MPLS label stack (RFC 3032), pseudowire control word (RFC 4385, 4448);
//! - PPPoE session stage (RFC 2516).

/// `LINKTYPE_*` values the decoder understands.
pub mod linktype {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    pub const NULL: u16 = 0;
    /// Ethernet II / 802.3.
    pub const ETHERNET: u16 = 1;
    /// PPP, possibly with HDLC address/control bytes.
    pub const PPP: u16 = 9;
    /// `DLT_RAW` as written on most systems: raw IPv4 or IPv6.
    pub const RAW_DLT12: u16 = 12;
    /// `DLT_RAW` as written on OpenBSD: raw IPv4 or IPv6.
    pub const RAW_DLT14: u16 = 14;
    /// PPP in HDLC-like framing (RFC 1662), or Cisco HDLC.
    pub const PPP_HDLC: u16 = 50;
    /// Raw IPv4 or IPv6.
    pub const RAW: u16 = 101;
    /// Cisco HDLC.
    pub const C_HDLC: u16 = 104;
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: u16 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u16 = 113;
    /// Raw IPv4.
    pub const IPV4: u16 = 228;
    /// Raw IPv6.
    pub const IPV6: u16 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u16 = 276;
}

/// Ethertypes (and GRE protocol types) the decoder understands.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// ERSPAN type III (GRE protocol type).
    pub const ERSPAN_III: u16 = 0x22EB;
    /// Transparent Ethernet bridging (GRE protocol type; Geneve).
    pub const TEB: u16 = 0x6558;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IPv6.
    pub const IPV6: u16 = 0x86DD;
    /// PPP (GRE version 1 / PPTP).
    pub const PPP: u16 = 0x880B;
    /// MPLS unicast.
    pub const MPLS_UC: u16 = 0x8847;
    /// MPLS multicast.
    pub const MPLS_MC: u16 = 0x8848;
    /// PPPoE session stage.
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// 802.1ad service VLAN tag (QinQ).
    pub const QINQ: u16 = 0x88A8;
    /// ERSPAN type I and II (GRE protocol type).
    pub const ERSPAN_II: u16 = 0x88BE;
    /// Pre-standard QinQ tags.
    pub const QINQ_9100: u16 = 0x9100;
    /// Pre-standard QinQ tags.
    pub const QINQ_9200: u16 = 0x9200;
    /// Pre-standard QinQ tags.
    pub const QINQ_9300: u16 = 0x9300;
}

/// Most VLAN tags walked in one Ethernet frame (including frames nested in
/// MPLS pseudowires).
pub const MAX_VLAN_DEPTH: u8 = 4;
/// Most MPLS labels in one stack.
pub const MAX_MPLS_LABELS: u8 = 8;
/// Most Ethernet pseudowires nested inside MPLS in one walk.
pub const MAX_PW_DEPTH: u8 = 2;

/// Where the link layers led.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Net<'a> {
    /// An IPv4 packet starts here.
    Ip4(&'a [u8]),
    /// An IPv6 packet starts here.
    Ip6(&'a [u8]),
    /// A valid frame of some other protocol.
    NotIp,
}

/// What the walk crossed on its way.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct L2Info {
    /// Innermost VLAN id seen (0 when untagged).
    pub vlan: u16,
    /// VLAN tags crossed.
    pub vlan_tags: u8,
    /// MPLS labels crossed.
    pub mpls_labels: u8,
    /// Ethernet pseudowires crossed.
    pub pw: u8,
    /// A PPPoE session header was crossed.
    pub pppoe: bool,
    /// A PPP header was crossed.
    pub ppp: bool,
    /// An 802.3 frame whose LLC header carries no SNAP ethertype.
    pub llc: bool,
}

/// Why the walk stopped short of a network layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L2Err {
    UnsupportedLinktype,
    EthTruncated,
    SllTruncated,
    Sll2Truncated,
    NullTruncated,
    NullUnknownFamily,
    PppTruncated,
    ChdlcTruncated,
    RawBadVersion,
    VlanTruncated,
    VlanTooDeep,
    MplsTruncated,
    MplsTooDeep,
    MplsUnknownPayload,
    PppoeTruncated,
}

#[inline(always)]
fn be16(b: &[u8], o: usize) -> Option<u16> {
    let w = b.get(o..o.checked_add(2)?)?;
    Some(u16::from_be_bytes([w[0], w[1]]))
}

/// Walks the link layer of a frame of type `lt`.
#[inline]
pub(crate) fn link<'a>(lt: u16, f: &'a [u8], info: &mut L2Info) -> Result<Net<'a>, L2Err> {
    match lt {
        linktype::ETHERNET => ethernet(f, info),
        linktype::LINUX_SLL => sll(f, info),
        linktype::LINUX_SLL2 => sll2(f, info),
        linktype::RAW | linktype::RAW_DLT12 | linktype::RAW_DLT14 => raw(f),
        linktype::IPV4 => Ok(Net::Ip4(f)),
        linktype::IPV6 => Ok(Net::Ip6(f)),
        linktype::NULL | linktype::LOOP => null(f),
        linktype::PPP | linktype::PPP_HDLC => {
            if matches!(f.first(), Some(0x0f | 0x8f)) {
                chdlc(f, info)
            } else {
                info.ppp = true;
                ppp(f)
            }
        }
        linktype::C_HDLC => chdlc(f, info),
        _ => Err(L2Err::UnsupportedLinktype),
    }
}

/// Ethernet II or 802.3.
///
/// ```text
///  0 destination MAC(6)  6 source MAC(6)  12 ethertype or 802.3 length(2)  14 payload
/// ```
#[inline]
pub(crate) fn ethernet<'a>(f: &'a [u8], info: &mut L2Info) -> Result<Net<'a>, L2Err> {
    let Some(h) = f.first_chunk::<14>() else {
        return Err(L2Err::EthTruncated);
    };
    let et = u16::from_be_bytes([h[12], h[13]]);
    walk(et, f, 14, info)
}

/// Linux cooked capture v1.
///
/// ```text
///  0 packet type(2)  2 ARPHRD type(2)  4 address length(2)  6 address(8)  14 protocol(2)  16 payload
/// ```
fn sll<'a>(f: &'a [u8], info: &mut L2Info) -> Result<Net<'a>, L2Err> {
    let Some(h) = f.first_chunk::<16>() else {
        return Err(L2Err::SllTruncated);
    };
    walk(u16::from_be_bytes([h[14], h[15]]), f, 16, info)
}

/// Linux cooked capture v2.
///
/// ```text
///  0 protocol(2)  2 reserved(2)  4 interface index(4)  8 ARPHRD type(2)
/// 10 packet type(1)  11 address length(1)  12 address(8)  20 payload
/// ```
fn sll2<'a>(f: &'a [u8], info: &mut L2Info) -> Result<Net<'a>, L2Err> {
    let Some(h) = f.first_chunk::<20>() else {
        return Err(L2Err::Sll2Truncated);
    };
    walk(u16::from_be_bytes([h[0], h[1]]), f, 20, info)
}

/// Raw IP: the version nibble says which.
fn raw(f: &[u8]) -> Result<Net<'_>, L2Err> {
    match f.first().map(|b| b >> 4) {
        Some(4) => Ok(Net::Ip4(f)),
        Some(6) => Ok(Net::Ip6(f)),
        _ => Err(L2Err::RawBadVersion),
    }
}

/// BSD / OpenBSD loopback.
///
/// ```text
///  0 address family(4, host byte order for NULL, network order for LOOP)  4 payload
/// ```
/// The byte order is read from the value itself: families are small
/// numbers, so a big-endian value has its first two bytes zero.
fn null(f: &[u8]) -> Result<Net<'_>, L2Err> {
    let Some((h, rest)) = f.split_first_chunk::<4>() else {
        return Err(L2Err::NullTruncated);
    };
    let family = if h[0] == 0 && h[1] == 0 {
        u32::from_be_bytes(*h)
    } else {
        u32::from_le_bytes(*h)
    };
    match family {
        2 => Ok(Net::Ip4(rest)),
        24 | 28 | 30 => Ok(Net::Ip6(rest)),
        _ => Err(L2Err::NullUnknownFamily),
    }
}

/// PPP, with or without the RFC 1662 address/control bytes and with a 1- or
/// 2-byte protocol field (protocol field compression, RFC 1661 6.5).
///
/// ```text
/// [0 address 0xff  1 control 0x03]  protocol(1 or 2)  payload
/// ```
pub(crate) fn ppp(f: &[u8]) -> Result<Net<'_>, L2Err> {
    let f = match f {
        [0xff, 0x03, rest @ ..] => rest,
        _ => f,
    };
    let (proto, rest) = match f {
        [p, rest @ ..] if p & 1 == 1 => (*p as u16, rest),
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return Err(L2Err::PppTruncated),
    };
    match proto {
        0x0021 => Ok(Net::Ip4(rest)),
        0x0057 => Ok(Net::Ip6(rest)),
        _ => Ok(Net::NotIp),
    }
}

/// Cisco HDLC.
///
/// ```text
///  0 address (0x0f unicast, 0x8f broadcast)  1 control 0x00  2 protocol (ethertype)  4 payload
/// ```
fn chdlc<'a>(f: &'a [u8], info: &mut L2Info) -> Result<Net<'a>, L2Err> {
    let Some(h) = f.first_chunk::<4>() else {
        return Err(L2Err::ChdlcTruncated);
    };
    walk(u16::from_be_bytes([h[2], h[3]]), f, 4, info)
}

/// Follows ethertypes from `f[off..]`, whose type is `et`, through VLAN
/// tags, MPLS stacks, Ethernet pseudowires, PPPoE and LLC/SNAP until a
/// network layer.
///
/// ```text
/// VLAN tag:     0 PCP(3) DEI(1) VID(12)  2 ethertype
/// MPLS entry:   0 label(20) TC(3) S(1) TTL(8)   (S = bottom of stack)
/// after S=1:    first nibble 4 = IPv4, 6 = IPv6,
///               0 = control word 0000 flags(4) frag(2) len(6) seq(16), then Ethernet
/// PPPoE:        0 ver/type 0x11  1 code 0x00  2 session(2)  4 length(2)  6 PPP protocol(2)  8 payload
/// LLC/SNAP:     0 0xaa 0xaa 0x03  3 OUI 00-00-00  6 ethertype  8 payload
/// ```
#[inline]
pub(crate) fn walk<'a>(
    mut et: u16,
    f: &'a [u8],
    mut off: usize,
    info: &mut L2Info,
) -> Result<Net<'a>, L2Err> {
    // Each round consumes at least 4 bytes or returns, and the VLAN, MPLS
    // and pseudowire bounds stop hostile stacks early.
    loop {
        match et {
            ethertype::IPV4 => return Ok(Net::Ip4(f.get(off..).unwrap_or(&[]))),
            ethertype::IPV6 => return Ok(Net::Ip6(f.get(off..).unwrap_or(&[]))),
            ethertype::VLAN
            | ethertype::QINQ
            | ethertype::QINQ_9100
            | ethertype::QINQ_9200
            | ethertype::QINQ_9300 => {
                if info.vlan_tags >= MAX_VLAN_DEPTH {
                    return Err(L2Err::VlanTooDeep);
                }
                let (Some(tci), Some(next)) = (be16(f, off), be16(f, off + 2)) else {
                    return Err(L2Err::VlanTruncated);
                };
                info.vlan = tci & 0x0fff;
                info.vlan_tags += 1;
                et = next;
                off += 4;
            }
            ethertype::MPLS_UC | ethertype::MPLS_MC => {
                loop {
                    if info.mpls_labels >= MAX_MPLS_LABELS {
                        return Err(L2Err::MplsTooDeep);
                    }
                    let Some(e) = f.get(off..off + 4) else {
                        return Err(L2Err::MplsTruncated);
                    };
                    info.mpls_labels += 1;
                    off += 4;
                    if e[2] & 0x01 != 0 {
                        break;
                    }
                }
                let Some(&first) = f.get(off) else {
                    return Err(L2Err::MplsTruncated);
                };
                match first >> 4 {
                    4 => return Ok(Net::Ip4(f.get(off..).unwrap_or(&[]))),
                    6 => return Ok(Net::Ip6(f.get(off..).unwrap_or(&[]))),
                    0 => {
                        if info.pw >= MAX_PW_DEPTH {
                            return Err(L2Err::MplsTooDeep);
                        }
                        // Control word, then a whole Ethernet frame.
                        let eth = off + 4;
                        let Some(t) = be16(f, eth + 12) else {
                            return Err(L2Err::MplsTruncated);
                        };
                        info.pw += 1;
                        et = t;
                        off = eth + 14;
                    }
                    _ => return Err(L2Err::MplsUnknownPayload),
                }
            }
            ethertype::PPPOE_SESSION => {
                let Some(h) = f.get(off..off + 8) else {
                    return Err(L2Err::PppoeTruncated);
                };
                info.pppoe = true;
                let rest = f.get(off + 8..).unwrap_or(&[]);
                return match u16::from_be_bytes([h[6], h[7]]) {
                    0x0021 => Ok(Net::Ip4(rest)),
                    0x0057 => Ok(Net::Ip6(rest)),
                    _ => Ok(Net::NotIp),
                };
            }
            len if len < 0x0600 => {
                // 802.3 length field: LLC follows. Only SNAP with the
                // ethertype OUI leads anywhere.
                match f.get(off..off + 8) {
                    Some([0xaa, 0xaa, 0x03, 0, 0, 0, a, b]) => {
                        et = u16::from_be_bytes([*a, *b]);
                        off += 8;
                        if et < 0x0600 {
                            info.llc = true;
                            return Ok(Net::NotIp);
                        }
                    }
                    _ => {
                        info.llc = true;
                        return Ok(Net::NotIp);
                    }
                }
            }
            _ => return Ok(Net::NotIp),
        }
    }
}
