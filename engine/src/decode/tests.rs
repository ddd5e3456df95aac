//! Decoder scenarios over hand-built frames. Each builder writes the header
//! fields in wire order; the tests assert the values that come out.

use super::*;

// ---------------------------------------------------------------- builders

const MAC_A: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const MAC_B: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];
const A4: [u8; 4] = [10, 0, 0, 1];
const B4: [u8; 4] = [10, 0, 0, 2];
const A6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Ethernet II: dst, src, ethertype, payload.
fn eth(et: u16, payload: &[u8]) -> Vec<u8> {
    cat(&[&MAC_B, &MAC_A, &et.to_be_bytes(), payload])
}

/// An 802.1Q tag (TCI with the VLAN id, then the next ethertype).
fn tag(vid: u16, next: u16) -> Vec<u8> {
    cat(&[&(0x2000 | vid).to_be_bytes(), &next.to_be_bytes()])
}

/// IPv4 with IHL 5 (or more with `options`), DF clear, TTL 64; `frag` is the
/// flags+offset field.
fn ipv4_full(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    frag: u16,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload.len()) as u16;
    cat(&[
        &[0x40 | ihl as u8, 0x00],
        &total.to_be_bytes(),
        &id.to_be_bytes(),
        &frag.to_be_bytes(),
        &[64, proto, 0, 0],
        &src,
        &dst,
        options,
        payload,
    ])
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_full(A4, B4, proto, 1, 0, &[], payload)
}

fn ipv6_full(src: [u8; 16], dst: [u8; 16], nh: u8, payload: &[u8]) -> Vec<u8> {
    cat(&[
        &[0x60, 0, 0, 0],
        &(payload.len() as u16).to_be_bytes(),
        &[nh, 64],
        &src,
        &dst,
        payload,
    ])
}

fn ipv6(nh: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_full(A6, B6, nh, payload)
}

/// TCP with data offset 5 (or more with `options`).
fn tcp_full(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let off = (5 + options.len() / 4) as u8;
    cat(&[
        &sport.to_be_bytes(),
        &dport.to_be_bytes(),
        &seq.to_be_bytes(),
        &ack.to_be_bytes(),
        &[off << 4, flags],
        &8192u16.to_be_bytes(),
        &[0, 0, 0, 0],
        options,
        payload,
    ])
}

fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    tcp_full(
        sport,
        dport,
        1000,
        2000,
        tcp_flags::ACK | tcp_flags::PSH,
        &[],
        payload,
    )
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    cat(&[
        &sport.to_be_bytes(),
        &dport.to_be_bytes(),
        &((8 + payload.len()) as u16).to_be_bytes(),
        &[0, 0],
        payload,
    ])
}

fn dec() -> Decoder {
    Decoder::new(&DecodeConfig::default())
}

/// Decodes and returns an owned copy of the packet's key facts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    vlan: u16,
    tunnel: Tunnel,
    payload: Vec<u8>,
    reassembled: bool,
    wire_len: u32,
    tcp: TcpHeader,
}

fn got(p: &Packet<'_>) -> Got {
    Got {
        src: p.src.to_ip(p.is_v6),
        dst: p.dst.to_ip(p.is_v6),
        proto: p.proto,
        sport: p.sport,
        dport: p.dport,
        vlan: p.vlan,
        tunnel: p.tunnel,
        payload: p.payload.to_vec(),
        reassembled: p.reassembled,
        wire_len: p.wire_len,
        tcp: p.tcp,
    }
}

fn packet(d: &mut Decoder, lt: u16, frame: &[u8]) -> Got {
    let r = match d.decode(lt, 0, frame, frame.len() as u32) {
        Decoded::Packet(p) => Ok(got(&p)),
        other => Err(format!("{other:?}")),
    };
    r.unwrap_or_else(|e| panic!("expected a packet, got {e}; stats {:?}", d.stats))
}

fn one(lt: u16, frame: &[u8]) -> Got {
    packet(&mut dec(), lt, frame)
}

/// Decodes a frame that must not produce a packet; returns the decoder for
/// its counters.
fn rejected(lt: u16, frame: &[u8]) -> (Decoder, &'static str) {
    let mut d = dec();
    let what = match d.decode(lt, 0, frame, frame.len() as u32) {
        Decoded::Packet(p) => panic!("unexpected packet {p:?}"),
        Decoded::FragmentHeld => "held",
        Decoded::NotIp => "not_ip",
        Decoded::Invalid => "invalid",
    };
    (d, what)
}

fn ip4(a: [u8; 4]) -> std::net::IpAddr {
    std::net::IpAddr::from(a)
}

fn ip6(a: [u8; 16]) -> std::net::IpAddr {
    std::net::IpAddr::from(a)
}

// ---------------------------------------------------------------- link layers

#[test]
fn ethernet_ipv4_tcp_gives_ports_flags_and_payload() {
    let f = eth(
        0x0800,
        &ipv4(
            6,
            &tcp_full(
                40000,
                502,
                0x0102_0304,
                0x0a0b_0c0d,
                0x18,
                &[],
                b"\x00\x01modbus",
            ),
        ),
    );
    let g = one(linktype::ETHERNET, &f);
    assert_eq!((g.src, g.dst), (ip4(A4), ip4(B4)));
    assert_eq!((g.proto, g.sport, g.dport, g.vlan), (6, 40000, 502, 0));
    assert_eq!(
        g.tcp,
        TcpHeader {
            seq: 0x0102_0304,
            ack: 0x0a0b_0c0d,
            flags: 0x18,
            window: 8192
        }
    );
    assert_eq!(g.payload, b"\x00\x01modbus");
    assert_eq!(g.tunnel, Tunnel::default());
    assert_eq!(g.wire_len, f.len() as u32);
}

#[test]
fn ethernet_padding_is_cut_by_ipv4_total_length() {
    // 20 + 20 + 2 = 42 bytes of IP, padded to the 46-byte Ethernet minimum.
    let mut f = eth(0x0800, &ipv4(6, &tcp(1, 2, b"hi")));
    f.extend_from_slice(&[0u8; 4]);
    assert_eq!(one(linktype::ETHERNET, &f).payload, b"hi");
}

#[test]
fn ipv4_options_and_tcp_options_are_skipped() {
    // IPv4 router alert option (4 bytes); TCP MSS option (4 bytes).
    let t = tcp_full(
        80,
        1234,
        1,
        2,
        tcp_flags::SYN | tcp_flags::ACK,
        &[2, 4, 0x05, 0xb4],
        b"",
    );
    let f = eth(
        0x0800,
        &ipv4_full(A4, B4, 6, 7, 0x4000, &[0x94, 0x04, 0, 0], &t),
    );
    let g = one(linktype::ETHERNET, &f);
    assert_eq!((g.sport, g.dport, g.tcp.flags), (80, 1234, 0x12));
    assert!(g.payload.is_empty());
}

#[test]
fn qinq_keeps_innermost_vlan_and_counts_tags() {
    let inner = ipv4(17, &udp(53, 53, b"q"));
    let f = eth(
        0x88a8,
        &cat(&[&tag(100, 0x8100), &tag(200, 0x0800), &inner]),
    );
    let mut d = dec();
    let g = packet(&mut d, linktype::ETHERNET, &f);
    assert_eq!(g.vlan, 200);
    assert_eq!((g.sport, g.payload.as_slice()), (53, &b"q"[..]));
    assert_eq!((d.stats.vlan, d.stats.vlan_qinq), (1, 1));
}

#[test]
fn vlan_stack_deeper_than_limit_is_invalid() {
    let mut body = Vec::new();
    for i in 0..MAX_VLAN_DEPTH as u16 + 1 {
        body.extend(tag(i + 1, 0x8100));
    }
    body.extend(ipv4(17, &udp(1, 2, b"")));
    let (d, what) = rejected(linktype::ETHERNET, &eth(0x8100, &body));
    assert_eq!(
        (what, d.stats.vlan_too_deep, d.stats.invalid),
        ("invalid", 1, 1)
    );
}

#[test]
fn vlan_tag_cut_short_is_counted() {
    let (d, what) = rejected(linktype::ETHERNET, &eth(0x8100, &[0x00, 0x64]));
    assert_eq!((what, d.stats.vlan_truncated), ("invalid", 1));
}

#[test]
fn short_ethernet_header_is_truncated() {
    let (d, what) = rejected(linktype::ETHERNET, &[0u8; 13]);
    assert_eq!((what, d.stats.eth_truncated), ("invalid", 1));
}

#[test]
fn arp_and_llc_frames_are_not_ip() {
    let (d, what) = rejected(linktype::ETHERNET, &eth(0x0806, &[0u8; 28]));
    assert_eq!((what, d.stats.not_ip), ("not_ip", 1));
    // 802.3 length 38 with an STP LLC header (42 42 03).
    let (d, what) = rejected(
        linktype::ETHERNET,
        &eth(38, &[0x42, 0x42, 0x03, 0, 0, 0, 0, 0]),
    );
    assert_eq!((what, d.stats.eth_llc), ("not_ip", 1));
}

#[test]
fn llc_snap_carrying_ipv4_is_decoded() {
    let ip = ipv4(17, &udp(161, 162, b"snmp"));
    let f = eth(
        (8 + ip.len()) as u16,
        &cat(&[&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], &ip]),
    );
    assert_eq!(one(linktype::ETHERNET, &f).dport, 162);
}

#[test]
fn mpls_two_labels_then_ipv4_by_first_nibble() {
    // label 16 (S=0), label 17 (S=1), TTL 64
    let stack = [0x00, 0x01, 0x00, 0x40, 0x00, 0x01, 0x11, 0x40];
    let f = eth(0x8847, &cat(&[&stack, &ipv4(6, &tcp(1, 2, b""))]));
    let mut d = dec();
    assert_eq!(packet(&mut d, linktype::ETHERNET, &f).dport, 2);
    assert_eq!(d.stats.mpls, 1);
}

#[test]
fn mpls_ipv6_payload() {
    let stack = [0x00, 0x00, 0x21, 0x40]; // label 2 (IPv6 explicit null), S=1
    let f = eth(0x8847, &cat(&[&stack, &ipv6(17, &udp(5, 6, b""))]));
    let g = one(linktype::ETHERNET, &f);
    assert_eq!((g.src, g.sport), (ip6(A6), 5));
}

#[test]
fn mpls_pseudowire_with_control_word_carries_ethernet() {
    let stack = [0x00, 0x10, 0x01, 0x40]; // label 256, S=1
    let cw = [0u8; 4];
    let inner = eth(
        0x8100,
        &cat(&[&tag(42, 0x0800), &ipv4(17, &udp(7, 8, b"pw"))]),
    );
    let f = eth(0x8847, &cat(&[&stack, &cw, &inner]));
    let g = one(linktype::ETHERNET, &f);
    assert_eq!((g.vlan, g.sport, g.payload.as_slice()), (42, 7, &b"pw"[..]));
}

#[test]
fn mpls_stack_without_bottom_is_bounded() {
    let mut stack = Vec::new();
    for _ in 0..MAX_MPLS_LABELS + 1 {
        stack.extend_from_slice(&[0x00, 0x01, 0x00, 0x40]);
    }
    stack.extend(ipv4(17, &udp(1, 2, b"")));
    let (d, _) = rejected(linktype::ETHERNET, &eth(0x8847, &stack));
    assert_eq!(d.stats.mpls_too_deep, 1);
}

#[test]
fn mpls_unknown_payload_nibble_is_counted() {
    let f = eth(0x8847, &[0x00, 0x01, 0x01, 0x40, 0x95, 0, 0, 0]);
    let (d, what) = rejected(linktype::ETHERNET, &f);
    assert_eq!((what, d.stats.mpls_unknown_payload), ("invalid", 1));
}

#[test]
fn pppoe_session_ipv4() {
    // ver/type 0x11, code 0, session 0x1234, length, PPP protocol 0x0021
    let ip = ipv4(6, &tcp(3333, 80, b""));
    let hdr = cat(&[
        &[0x11, 0x00, 0x12, 0x34],
        &((ip.len() + 2) as u16).to_be_bytes(),
        &[0x00, 0x21],
    ]);
    let mut d = dec();
    assert_eq!(
        packet(&mut d, linktype::ETHERNET, &eth(0x8864, &cat(&[&hdr, &ip]))).dport,
        80
    );
    assert_eq!(d.stats.pppoe, 1);
}

#[test]
fn linux_cooked_v1_ipv4_udp() {
    // packet type 0 (to us), ARPHRD_ETHER 1, address length 6, address (8), protocol 0x0800
    let hdr = cat(&[&[0, 0, 0, 1, 0, 6], &MAC_A, &[0, 0], &[0x08, 0x00]]);
    let g = one(
        linktype::LINUX_SLL,
        &cat(&[&hdr, &ipv4(17, &udp(123, 123, b"ntp"))]),
    );
    assert_eq!((g.sport, g.payload.as_slice()), (123, &b"ntp"[..]));
}

#[test]
fn linux_cooked_v2_ipv6_tcp() {
    // protocol 0x86dd, reserved, ifindex 3, ARPHRD_ETHER 1, packet type 4 (outgoing), addr len 6, address (8)
    let hdr = cat(&[
        &[0x86, 0xdd, 0, 0],
        &3u32.to_be_bytes(),
        &[0, 1, 4, 6],
        &MAC_A,
        &[0, 0],
    ]);
    let g = one(
        linktype::LINUX_SLL2,
        &cat(&[&hdr, &ipv6(6, &tcp(443, 50000, b""))]),
    );
    assert_eq!((g.src, g.sport, g.dport), (ip6(A6), 443, 50000));
}

#[test]
fn linux_cooked_headers_cut_short() {
    let (d, _) = rejected(linktype::LINUX_SLL, &[0u8; 15]);
    assert_eq!(d.stats.sll_truncated, 1);
    let (d, _) = rejected(linktype::LINUX_SLL2, &[0u8; 19]);
    assert_eq!(d.stats.sll2_truncated, 1);
}

#[test]
fn bsd_loopback_families_in_both_byte_orders() {
    let v4 = ipv4(6, &tcp(1, 18245, b""));
    let v6 = ipv6(6, &tcp(2, 18245, b""));
    for lt in [linktype::NULL, linktype::LOOP] {
        for be in [false, true] {
            let fam = |x: u32| if be { x.to_be_bytes() } else { x.to_le_bytes() };
            assert_eq!(one(lt, &cat(&[&fam(2), &v4])).sport, 1);
            for af6 in [24, 28, 30] {
                let g = one(lt, &cat(&[&fam(af6), &v6]));
                assert_eq!((g.src, g.sport), (ip6(A6), 2), "AF {af6} be {be}");
            }
        }
    }
    let (d, what) = rejected(linktype::NULL, &cat(&[&7u32.to_le_bytes(), &v4]));
    assert_eq!((what, d.stats.null_unknown_family), ("invalid", 1));
    let (d, _) = rejected(linktype::NULL, &[2, 0]);
    assert_eq!(d.stats.null_truncated, 1);
}

#[test]
fn raw_ip_link_types() {
    let v4 = ipv4(17, &udp(1, 2, b""));
    let v6 = ipv6(17, &udp(3, 4, b""));
    for lt in [linktype::RAW, linktype::RAW_DLT12, linktype::RAW_DLT14] {
        assert_eq!(one(lt, &v4).sport, 1);
        assert_eq!(one(lt, &v6).sport, 3);
    }
    assert_eq!(one(linktype::IPV4, &v4).sport, 1);
    assert_eq!(one(linktype::IPV6, &v6).sport, 3);
    let (d, _) = rejected(linktype::RAW, &[0x50, 0, 0, 0]);
    assert_eq!(d.stats.raw_bad_version, 1);
}

#[test]
fn ppp_and_ppp_in_hdlc_framing() {
    let v4 = ipv4(17, &udp(1, 2, b""));
    let v6 = ipv6(17, &udp(3, 4, b""));
    assert_eq!(one(linktype::PPP, &cat(&[&[0x00, 0x21], &v4])).sport, 1);
    assert_eq!(one(linktype::PPP, &cat(&[&[0x21], &v4])).sport, 1); // compressed protocol field
    assert_eq!(
        one(linktype::PPP_HDLC, &cat(&[&[0xff, 0x03, 0x00, 0x21], &v4])).sport,
        1
    );
    assert_eq!(
        one(linktype::PPP_HDLC, &cat(&[&[0xff, 0x03, 0x00, 0x57], &v6])).sport,
        3
    );
    // LCP is valid PPP but not IP.
    let (_, what) = rejected(linktype::PPP, &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4]);
    assert_eq!(what, "not_ip");
}

#[test]
fn cisco_hdlc() {
    let f = cat(&[&[0x0f, 0x00, 0x08, 0x00], &ipv4(6, &tcp(5, 6, b""))]);
    assert_eq!(one(linktype::C_HDLC, &f).sport, 5);
}

#[test]
fn unknown_link_type_is_counted() {
    let (d, what) = rejected(147, &[1, 2, 3]);
    assert_eq!(
        (what, d.stats.unsupported_linktype, d.stats.invalid),
        ("invalid", 1, 1)
    );
}

// ---------------------------------------------------------------- IP and transport

#[test]
fn ipv4_header_problems_each_have_their_counter() {
    let good = ipv4(6, &tcp(1, 2, b""));
    let cases: [(Vec<u8>, &str); 4] = [
        (good[..19].to_vec(), "ipv4_truncated"),
        (
            {
                let mut v = good.clone();
                v[0] = 0x55;
                v
            },
            "ipv4_bad_version",
        ),
        (
            {
                let mut v = good.clone();
                v[0] = 0x44;
                v
            },
            "ipv4_bad_ihl",
        ),
        (
            {
                let mut v = good.clone();
                v[2] = 0;
                v[3] = 12;
                v
            },
            "ipv4_bad_total_len",
        ),
    ];
    for (ip, counter) in cases {
        let (d, what) = rejected(linktype::ETHERNET, &eth(0x0800, &ip));
        assert_eq!(what, "invalid", "{counter}");
        let mut seen = 0;
        d.stats.for_each(|k, v| {
            if k == counter {
                seen = v
            }
        });
        assert_eq!((seen, d.stats.ipv4_invalid), (1, 1), "{counter}");
    }
    // IHL says 24 bytes but only 20 are there.
    let mut v = good[..20].to_vec();
    v[0] = 0x46;
    let (d, _) = rejected(linktype::ETHERNET, &eth(0x0800, &v));
    assert_eq!(d.stats.ipv4_truncated, 1);
}

#[test]
fn ipv4_total_length_beyond_capture_is_decoded_with_what_is_there() {
    let mut ip = ipv4(6, &tcp(1, 2, b"abcdef"));
    ip.truncate(ip.len() - 2); // snapped
    let mut d = dec();
    assert_eq!(packet(&mut d, linktype::RAW, &ip).payload, b"abcd");
    assert_eq!(d.stats.ipv4_total_len_beyond_capture, 1);
}

#[test]
fn ipv4_zero_total_length_from_offload_uses_captured_length() {
    let mut ip = ipv4(6, &tcp(1, 2, b"tso"));
    ip[2] = 0;
    ip[3] = 0;
    let mut d = dec();
    assert_eq!(packet(&mut d, linktype::RAW, &ip).payload, b"tso");
    assert_eq!(d.stats.ipv4_zero_total_len, 1);
}

#[test]
fn ipv6_extension_chain_hop_by_hop_routing_destination_then_tcp() {
    let hbh = [43, 0, 1, 4, 0, 0, 0, 0]; // next routing, PadN
    let rt = [60, 0, 4, 0, 0, 0, 0, 0]; // next dest opts, type 4 (SRH), segments left 0
    let dst = [6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // 16 bytes, next TCP
    let f = ipv6(0, &cat(&[&hbh, &rt, &dst, &tcp(9, 10, b"x")]));
    let g = one(linktype::RAW, &f);
    assert_eq!(
        (g.proto, g.sport, g.dport, g.payload.as_slice()),
        (6, 9, 10, &b"x"[..])
    );
}

#[test]
fn ipv6_authentication_header_is_skipped() {
    // AH: next UDP, length 4 (=(4+2)*4 = 24 bytes)
    let ah = cat(&[&[17, 4, 0, 0], &[0u8; 20]]);
    assert_eq!(
        one(
            linktype::RAW,
            &ipv6(51, &cat(&[&ah, &udp(500, 500, b"ike")]))
        )
        .payload,
        b"ike"
    );
}

#[test]
fn ipv6_extension_chain_longer_than_limit_is_invalid() {
    let mut body = Vec::new();
    for _ in 0..MAX_IPV6_EXT_HEADERS + 1 {
        body.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    body.extend(udp(1, 2, b""));
    let (d, _) = rejected(linktype::RAW, &ipv6(60, &body));
    assert_eq!(
        (d.stats.ipv6_ext_chain_too_long, d.stats.ipv6_invalid),
        (1, 1)
    );
}

#[test]
fn ipv6_extension_header_cut_short() {
    let (d, _) = rejected(linktype::RAW, &ipv6(60, &[6, 2, 0, 0, 0, 0, 0, 0]));
    assert_eq!(d.stats.ipv6_ext_truncated, 1);
}

#[test]
fn ipv6_problems_each_have_their_counter() {
    let (d, _) = rejected(linktype::IPV6, &[0x60; 39]);
    assert_eq!(d.stats.ipv6_truncated, 1);
    let mut v = ipv6(17, &udp(1, 2, b""));
    v[0] = 0x40;
    let (d, _) = rejected(linktype::IPV6, &v);
    assert_eq!(d.stats.ipv6_bad_version, 1);
}

#[test]
fn ipv6_hop_by_hop_after_another_header_is_counted_but_decoded() {
    let f = ipv6(
        60,
        &cat(&[
            &[0, 0, 1, 4, 0, 0, 0, 0],
            &[17, 0, 1, 4, 0, 0, 0, 0],
            &udp(1, 2, b""),
        ]),
    );
    let mut d = dec();
    assert_eq!(packet(&mut d, linktype::RAW, &f).sport, 1);
    assert_eq!(d.stats.ipv6_hbh_not_first, 1);
}

#[test]
fn ipv6_atomic_fragment_is_a_whole_packet() {
    let frag = [17, 0, 0, 0, 0, 0, 0, 9]; // offset 0, M=0
    let mut d = dec();
    let g = packet(
        &mut d,
        linktype::RAW,
        &ipv6(44, &cat(&[&frag, &udp(1, 2, b"a")])),
    );
    assert_eq!((g.payload.as_slice(), g.reassembled), (&b"a"[..], false));
    assert_eq!(d.stats.ipv6_atomic_fragment, 1);
}

#[test]
fn tcp_offset_and_length_problems() {
    let mut t = tcp(1, 2, b"");
    t[12] = 0x40; // offset 4 words
    let (d, _) = rejected(linktype::RAW, &ipv4(6, &t));
    assert_eq!(d.stats.tcp_bad_offset, 1);
    let mut t = tcp(1, 2, b"");
    t[12] = 0xf0; // 60-byte header in a 20-byte segment
    let (d, _) = rejected(linktype::RAW, &ipv4(6, &t));
    assert_eq!(d.stats.tcp_truncated, 1);
    let (d, _) = rejected(linktype::RAW, &ipv4(6, &[0u8; 19]));
    assert_eq!(d.stats.tcp_truncated, 1);
}

#[test]
fn udp_length_problems() {
    let mut u = udp(1, 2, b"abc");
    u[5] = 7;
    let (d, _) = rejected(linktype::RAW, &ipv4(17, &u));
    assert_eq!(d.stats.udp_bad_len, 1);
    let (d, _) = rejected(linktype::RAW, &ipv4(17, &[0u8; 7]));
    assert_eq!(d.stats.udp_truncated, 1);
    // Length 11 but 13 bytes present: the extra 2 are not payload.
    let u = cat(&[&udp(1, 2, b"abc"), b"zz"]);
    assert_eq!(one(linktype::RAW, &ipv4(17, &u)).payload, b"abc");
}

#[test]
fn icmp_type_and_code_become_ports() {
    // echo request: type 8, code 0, checksum, id 1, seq 2
    let g = one(linktype::RAW, &ipv4(1, &[8, 0, 0xf7, 0xfc, 0, 1, 0, 2]));
    assert_eq!(
        (g.proto, g.sport, g.dport, g.payload.as_slice()),
        (1, 8, 0, &[0, 1, 0, 2][..])
    );
    // ICMPv6 destination unreachable, code 4 (port unreachable)
    let g = one(linktype::RAW, &ipv6(58, &[1, 4, 0, 0, 0, 0, 0, 0]));
    assert_eq!((g.proto, g.sport, g.dport), (58, 1, 4));
    let (d, _) = rejected(linktype::RAW, &ipv4(1, &[8, 0, 0]));
    assert_eq!(d.stats.icmpv4_truncated, 1);
}

#[test]
fn other_protocols_pass_with_their_payload() {
    let g = one(linktype::RAW, &ipv4(132, b"sctp-bytes"));
    assert_eq!(
        (g.proto, g.sport, g.dport, g.payload.as_slice()),
        (132, 0, 0, &b"sctp-bytes"[..])
    );
}

// ---------------------------------------------------------------- tunnels

#[test]
fn gre_with_checksum_key_and_sequence_keys_on_inner_packet() {
    // C, K, S set; protocol IPv4; checksum+reserved; key 0xdeadbeef; sequence 5
    let gre = cat(&[
        &[0xb0, 0x00, 0x08, 0x00],
        &[0, 0, 0, 0],
        &0xdead_beefu32.to_be_bytes(),
        &5u32.to_be_bytes(),
    ]);
    let inner = ipv4_full(
        [192, 168, 0, 1],
        [192, 168, 0, 2],
        6,
        9,
        0,
        &[],
        &tcp(22, 60000, b"ssh"),
    );
    let mut d = dec();
    let g = packet(
        &mut d,
        linktype::ETHERNET,
        &eth(0x0800, &ipv4(47, &cat(&[&gre, &inner]))),
    );
    assert_eq!(
        (g.src, g.dst, g.sport, g.dport),
        (ip4([192, 168, 0, 1]), ip4([192, 168, 0, 2]), 22, 60000)
    );
    assert_eq!(
        g.tunnel,
        Tunnel {
            kind: TunnelKind::Gre,
            id: 0xdead_beef
        }
    );
    assert_eq!((d.stats.gre, d.stats.ipv4, d.stats.tunnelled), (1, 2, 1));
}

#[test]
fn gre_transparent_ethernet_bridging() {
    let gre = [0x00, 0x00, 0x65, 0x58];
    let inner = eth(0x0800, &ipv4(17, &udp(67, 68, b"")));
    let g = one(linktype::RAW, &ipv4(47, &cat(&[&gre, &inner])));
    assert_eq!((g.sport, g.tunnel.kind), (67, TunnelKind::Gre));
}

#[test]
fn gre_with_routing_or_unknown_protocol_stays_a_gre_packet() {
    let mut d = dec();
    let f = ipv4(47, &[0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0]);
    let g = packet(&mut d, linktype::RAW, &f);
    assert_eq!((g.proto, g.tunnel.kind), (47, TunnelKind::None));
    let g = packet(
        &mut d,
        linktype::RAW,
        &ipv4(47, &[0x00, 0x00, 0x88, 0x3e, 1, 2, 3, 4]),
    );
    assert_eq!(g.proto, 47);
    assert_eq!(d.stats.gre_unsupported, 2);
    let g = packet(&mut d, linktype::RAW, &ipv4(47, &[0x00, 0x02, 0x08, 0x00]));
    assert_eq!(g.proto, 47);
    assert_eq!(d.stats.gre_bad_version, 1);
}

#[test]
fn pptp_enhanced_gre_carries_ppp_ipv4() {
    // K, S, version 1, protocol 0x880b; payload length, call id 0x4000; sequence 1
    let inner = ipv4(17, &udp(53, 1053, b"dns"));
    let gre = cat(&[
        &[0x30, 0x01, 0x88, 0x0b],
        &((inner.len() + 4) as u16).to_be_bytes(),
        &[0x40, 0x00],
        &1u32.to_be_bytes(),
    ]);
    let g = one(
        linktype::RAW,
        &ipv4(47, &cat(&[&gre, &[0xff, 0x03, 0x00, 0x21], &inner])),
    );
    assert_eq!(
        (g.sport, g.tunnel),
        (
            53,
            Tunnel {
                kind: TunnelKind::Gre,
                id: 0
            }
        )
    );
}

#[test]
fn erspan_type_one_two_and_three() {
    let inner = eth(0x8100, &cat(&[&tag(10, 0x0800), &ipv4(1, &[0, 0, 0, 0])]));
    // Type I: GRE 0x88be without the S bit, Ethernet right after.
    let g = one(
        linktype::RAW,
        &ipv4(47, &cat(&[&[0x00, 0x00, 0x88, 0xbe], &inner])),
    );
    assert_eq!(
        (g.tunnel, g.vlan, g.proto),
        (
            Tunnel {
                kind: TunnelKind::Erspan,
                id: 0
            },
            10,
            1
        )
    );
    // Type II: S bit, sequence, then version 1, VLAN 0, session 0x123.
    let gre = cat(&[&[0x10, 0x00, 0x88, 0xbe], &7u32.to_be_bytes()]);
    let hdr = [0x10, 0x00, 0x01, 0x23, 0, 0, 0, 0];
    let g = one(linktype::RAW, &ipv4(47, &cat(&[&gre, &hdr, &inner])));
    assert_eq!(
        g.tunnel,
        Tunnel {
            kind: TunnelKind::Erspan,
            id: 0x123
        }
    );
    // Type III: version 2, session 0x3ff, timestamp, SGT, FT 0 (Ethernet), O set + 8-byte sub-header.
    let gre = cat(&[&[0x10, 0x00, 0x22, 0xeb], &8u32.to_be_bytes()]);
    let hdr = [0x20, 0x00, 0x03, 0xff, 1, 2, 3, 4, 0, 0, 0x00, 0x01];
    let g = one(
        linktype::RAW,
        &ipv4(47, &cat(&[&gre, &hdr, &[0u8; 8], &inner])),
    );
    assert_eq!(
        g.tunnel,
        Tunnel {
            kind: TunnelKind::Erspan,
            id: 0x3ff
        }
    );
    // Type II with a wrong version stays GRE.
    let bad = [0x20, 0x00, 0x01, 0x23, 0, 0, 0, 0];
    let (mut d, gre) = (
        dec(),
        cat(&[&[0x10, 0x00, 0x88, 0xbe], &7u32.to_be_bytes()]),
    );
    let g = packet(
        &mut d,
        linktype::RAW,
        &ipv4(47, &cat(&[&gre, &bad, &inner])),
    );
    assert_eq!((g.proto, d.stats.erspan_bad_version), (47, 1));
}

#[test]
fn vxlan_keys_on_inner_packet_with_vni() {
    let vx = [0x08, 0, 0, 0, 0x00, 0x30, 0x39, 0]; // VNI 12345
    let inner = eth(
        0x0800,
        &ipv4_full(
            [172, 16, 0, 1],
            [172, 16, 0, 2],
            6,
            1,
            0,
            &[],
            &tcp(5000, 502, b""),
        ),
    );
    let g = one(
        linktype::ETHERNET,
        &eth(0x0800, &ipv4(17, &udp(51000, 4789, &cat(&[&vx, &inner])))),
    );
    assert_eq!((g.src, g.dport), (ip4([172, 16, 0, 1]), 502));
    assert_eq!(
        g.tunnel,
        Tunnel {
            kind: TunnelKind::Vxlan,
            id: 12345
        }
    );
}

#[test]
fn vxlan_port_without_valid_flag_stays_udp() {
    let mut d = dec();
    let g = packet(&mut d, linktype::RAW, &ipv4(17, &udp(1, 4789, &[0u8; 30])));
    assert_eq!(
        (g.dport, g.tunnel.kind, d.stats.vxlan_bad_flags),
        (4789, TunnelKind::None, 1)
    );
}

#[test]
fn geneve_with_options_and_ethernet_payload() {
    // version 0, option length 2 (8 bytes), protocol 0x6558, VNI 0x0a0b0c
    let hdr = cat(&[
        &[0x02, 0x00, 0x65, 0x58, 0x0a, 0x0b, 0x0c, 0x00],
        &[0x01, 0x02, 0x80, 0x01, 0, 0, 0, 0],
    ]);
    let inner = eth(0x86dd, &ipv6(17, &udp(546, 547, b"")));
    let g = one(
        linktype::RAW,
        &ipv4(17, &udp(1, 6081, &cat(&[&hdr, &inner]))),
    );
    assert_eq!((g.src, g.sport), (ip6(A6), 546));
    assert_eq!(
        g.tunnel,
        Tunnel {
            kind: TunnelKind::Geneve,
            id: 0x0a0b0c
        }
    );
}

#[test]
fn ip_in_ip_six_in_four_and_six_in_six() {
    let inner4 = ipv4_full([1, 1, 1, 1], [2, 2, 2, 2], 17, 1, 0, &[], &udp(1, 2, b""));
    let inner6 = ipv6(17, &udp(3, 4, b""));
    let g = one(linktype::RAW, &ipv4(4, &inner4));
    assert_eq!(
        (g.src, g.tunnel.kind),
        (ip4([1, 1, 1, 1]), TunnelKind::IpInIp)
    );
    let g = one(linktype::RAW, &ipv4(41, &inner6));
    assert_eq!((g.sport, g.tunnel.kind), (3, TunnelKind::Ip6In4));
    let g = one(linktype::RAW, &ipv6_full(B6, A6, 41, &inner6));
    assert_eq!((g.src, g.tunnel.kind), (ip6(A6), TunnelKind::IpInIp));
    let g = one(linktype::RAW, &ipv6(4, &inner4));
    assert_eq!(
        (g.dst, g.tunnel.kind),
        (ip4([2, 2, 2, 2]), TunnelKind::IpInIp)
    );
    // Protocol 41 whose payload is not IPv6 stays the outer packet.
    let mut d = dec();
    let g = packet(&mut d, linktype::RAW, &ipv4(41, &inner4));
    assert_eq!((g.proto, d.stats.ipip_bad_version), (41, 1));
}

#[test]
fn teredo_with_origin_indication() {
    let teredo_src = [
        0x20, 0x01, 0, 0, 0x41, 0x37, 0x9e, 0x50, 0x80, 0, 0xf1, 0x2a, 0xb9, 0xc8, 0x28, 0x15,
    ];
    let inner = ipv6_full(teredo_src, B6, 58, &[128, 0, 0, 0, 0, 1, 0, 1]);
    let origin = [0x00, 0x00, 0xf1, 0x2a, 0x3f, 0x57, 0x61, 0xe9];
    let g = one(
        linktype::RAW,
        &ipv4(17, &udp(3544, 40000, &cat(&[&origin, &inner]))),
    );
    assert_eq!(
        (g.proto, g.sport, g.tunnel.kind),
        (58, 128, TunnelKind::Other)
    );
    // Not IPv6 inside: stays UDP.
    assert_eq!(
        one(linktype::RAW, &ipv4(17, &udp(3544, 40000, b"hello"))).dport,
        40000
    );
}

#[test]
fn gtpu_with_extension_header() {
    let inner = ipv4(6, &tcp(1234, 80, b"GET"));
    // version 1, PT, E flag; T-PDU; length; TEID; seq, N-PDU, next ext 0x85 (PDU session container)
    let hdr = cat(&[
        &[0x34, 0xff],
        &((inner.len() + 8) as u16).to_be_bytes(),
        &0x1122_3344u32.to_be_bytes(),
        &[0, 0, 0, 0x85],
        &[1, 0x10, 0x09, 0x00],
    ]);
    let g = one(
        linktype::RAW,
        &ipv4(17, &udp(2152, 2152, &cat(&[&hdr, &inner]))),
    );
    assert_eq!((g.dport, g.payload.as_slice()), (80, &b"GET"[..]));
    assert_eq!(
        g.tunnel,
        Tunnel {
            kind: TunnelKind::GtpU,
            id: 0
        }
    );
    // An echo request (message type 1) is a UDP packet.
    let g = one(
        linktype::RAW,
        &ipv4(
            17,
            &udp(2152, 2152, &[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]),
        ),
    );
    assert_eq!((g.sport, g.tunnel.kind), (2152, TunnelKind::None));
}

#[test]
fn ayiya_forward_ipv6() {
    // identity length 2^4 = 16, type 1; signature 5 words (20), SHA-1; auth 1, opcode 1; next 41; epoch
    let hdr = cat(&[
        &[0x41, 0x52, 0x11, 41],
        &[0, 0, 0, 0],
        &[0u8; 16],
        &[0u8; 20],
    ]);
    let g = one(
        linktype::RAW,
        &ipv4(
            17,
            &udp(5072, 5072, &cat(&[&hdr, &ipv6(6, &tcp(80, 1000, b""))])),
        ),
    );
    assert_eq!(
        (g.src, g.sport, g.tunnel.kind),
        (ip6(A6), 80, TunnelKind::Other)
    );
}

#[test]
fn tunnels_nested_past_the_limit_stop_there() {
    let mut p = ipv4(17, &udp(7, 7, b"core"));
    for _ in 0..MAX_ENCAP_DEPTH + 1 {
        p = ipv4(4, &p);
    }
    let mut d = dec();
    let g = packet(&mut d, linktype::RAW, &p);
    // The packet at the limit: still an IP-in-IP packet, no ports.
    assert_eq!((g.proto, g.tunnel.kind), (4, TunnelKind::IpInIp));
    assert_eq!(
        (d.stats.encap_too_deep, d.stats.ipip),
        (1, MAX_ENCAP_DEPTH as u64)
    );
}

#[test]
fn outermost_tunnel_kind_is_kept_for_nested_tunnels() {
    let gre = [0x20, 0x00, 0x08, 0x00, 0, 0, 0, 77];
    let innermost = ipv4_full([9, 9, 9, 9], [8, 8, 8, 8], 17, 1, 0, &[], &udp(53, 53, b""));
    let inner = ipv4(47, &cat(&[&gre, &innermost]));
    let vx = [0x08, 0, 0, 0, 0, 0, 5, 0];
    let g = one(
        linktype::RAW,
        &ipv4(17, &udp(1, 4789, &cat(&[&vx, &eth(0x0800, &inner)]))),
    );
    assert_eq!(g.src, ip4([9, 9, 9, 9]));
    assert_eq!(
        g.tunnel,
        Tunnel {
            kind: TunnelKind::Vxlan,
            id: 5
        }
    );
}

// ---------------------------------------------------------------- fragments

/// Splits an IPv4 payload into fragments of `size` bytes (a multiple of 8).
fn frags4(id: u16, proto: u8, payload: &[u8], size: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + size).min(payload.len());
        let mf = if end < payload.len() { 0x2000 } else { 0 };
        out.push(ipv4_full(
            A4,
            B4,
            proto,
            id,
            mf | (off / 8) as u16,
            &[],
            &payload[off..end],
        ));
        off = end;
    }
    out
}

fn feed(d: &mut Decoder, ts: Nanos, frame: &[u8]) -> Result<Got, &'static str> {
    match d.decode(linktype::RAW, ts, frame, frame.len() as u32) {
        Decoded::Packet(p) => Ok(got(&p)),
        Decoded::FragmentHeld => Err("held"),
        Decoded::NotIp => Err("not_ip"),
        Decoded::Invalid => Err("invalid"),
    }
}

fn big_udp() -> Vec<u8> {
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    udp(5000, 6000, &data)
}

#[test]
fn ipv4_fragments_in_order_are_reassembled() {
    let dgram = big_udp();
    let fr = frags4(0x4242, 17, &dgram, 1480);
    assert_eq!(fr.len(), 3);
    let mut d = dec();
    assert_eq!(feed(&mut d, 1, &fr[0]), Err("held"));
    assert_eq!(feed(&mut d, 2, &fr[1]), Err("held"));
    assert_eq!(d.fragments_in_use(), 1);
    let g = feed(&mut d, 3, &fr[2]).unwrap();
    assert!(g.reassembled);
    assert_eq!(
        (g.sport, g.dport, g.payload.as_slice()),
        (5000, 6000, &dgram[8..])
    );
    assert_eq!(
        g.wire_len as usize,
        fr.iter().map(|f| f.len()).sum::<usize>()
    );
    assert_eq!(
        (
            d.stats.frag_ipv4,
            d.stats.frag_reassembled,
            d.fragments_in_use()
        ),
        (3, 1, 0)
    );
    assert_eq!(d.fragment_bytes_in_use(), 0);
}

#[test]
fn ipv4_fragments_in_reverse_order_are_reassembled() {
    let dgram = big_udp();
    let fr = frags4(7, 17, &dgram, 1000);
    let mut d = dec();
    let n = fr.len();
    for f in fr.iter().rev().take(n - 1) {
        assert_eq!(feed(&mut d, 0, f), Err("held"));
    }
    let g = feed(&mut d, 0, &fr[0]).unwrap();
    assert_eq!(g.payload, &dgram[8..]);
}

#[test]
fn overlapping_fragment_keeps_first_bytes_and_is_counted() {
    // 24-byte payload: [0,16) then an overlapping [8,24) whose first 8 bytes differ.
    let payload: Vec<u8> = (0..24u8).collect();
    let first = ipv4_full(A4, B4, 200, 9, 0x2000, &[], &payload[..16]);
    let mut evil = payload[8..].to_vec();
    evil[..8].copy_from_slice(b"OVERLAP!");
    let second = ipv4_full(A4, B4, 200, 9, 1, &[], &evil);
    let mut d = dec();
    assert_eq!(feed(&mut d, 0, &first), Err("held"));
    let g = feed(&mut d, 0, &second).unwrap();
    assert_eq!(g.payload, payload);
    assert_eq!(d.stats.frag_overlap, 1);
}

#[test]
fn incomplete_datagram_times_out_on_packet_time() {
    let fr = frags4(1, 17, &big_udp(), 1480);
    let mut d = dec();
    assert_eq!(feed(&mut d, 1_000_000_000, &fr[0]), Err("held"));
    d.expire(30_000_000_000);
    assert_eq!(d.fragments_in_use(), 1);
    d.expire(62_000_000_000);
    assert_eq!((d.fragments_in_use(), d.stats.frag_timeout), (0, 1));
    // The remaining fragments now start a new datagram that cannot complete.
    assert_eq!(feed(&mut d, 62_000_000_001, &fr[1]), Err("held"));
    assert_eq!(feed(&mut d, 62_000_000_002, &fr[2]), Err("held"));
}

#[test]
fn stale_tracker_expires_lazily_when_its_datagram_resumes() {
    let fr = frags4(3, 17, &big_udp(), 1480);
    let mut d = dec();
    assert_eq!(feed(&mut d, 0, &fr[0]), Err("held"));
    // 61 s later the rest arrives: the old part is gone, so no completion.
    assert_eq!(feed(&mut d, 61_000_000_000, &fr[1]), Err("held"));
    assert_eq!(feed(&mut d, 61_000_000_000, &fr[2]), Err("held"));
    assert_eq!(d.stats.frag_timeout, 1);
    assert_eq!(d.stats.frag_reassembled, 0);
}

#[test]
fn packet_time_jumping_back_expires_trackers_from_the_future() {
    let fr = frags4(4, 17, &big_udp(), 1480);
    let mut d = dec();
    assert_eq!(feed(&mut d, 500_000_000_000, &fr[0]), Err("held"));
    d.expire(100_000_000_000);
    assert_eq!((d.fragments_in_use(), d.stats.frag_timeout), (0, 1));
}

#[test]
fn full_tracker_table_drops_new_datagrams() {
    let cfg = DecodeConfig {
        max_fragment_trackers: 2,
        ..DecodeConfig::default()
    };
    let mut d = Decoder::new(&cfg);
    for id in 0..3u16 {
        let fr = frags4(id, 17, &big_udp(), 1480);
        let r = feed(&mut d, 0, &fr[0]);
        assert_eq!(r, if id < 2 { Err("held") } else { Err("invalid") });
    }
    assert_eq!((d.stats.frag_table_full, d.fragments_in_use()), (1, 2));
}

#[test]
fn fragment_memory_budget_is_enforced() {
    let cfg = DecodeConfig {
        max_fragment_bytes: 2000,
        ..DecodeConfig::default()
    };
    let mut d = Decoder::new(&cfg);
    let fr = frags4(1, 17, &big_udp(), 1480);
    assert_eq!(feed(&mut d, 0, &fr[0]), Err("held"));
    assert_eq!(feed(&mut d, 0, &fr[1]), Err("invalid"));
    assert_eq!(
        (
            d.stats.frag_memory_full,
            d.fragments_in_use(),
            d.fragment_bytes_in_use()
        ),
        (1, 0, 0)
    );
}

#[test]
fn fragment_reaching_past_65535_is_dropped() {
    // Offset 8189*8 = 65512 plus 32 bytes > 65535 (ping of death).
    let f = ipv4_full(A4, B4, 1, 5, 8189, &[], &[0u8; 32]);
    let (d, what) = rejected(linktype::RAW, &f);
    assert_eq!((what, d.stats.frag_too_large), ("invalid", 1));
}

#[test]
fn too_many_fragments_drop_the_datagram() {
    let payload = vec![0u8; 8 * (MAX_FRAGMENTS_PER_DATAGRAM + 2)];
    let fr = frags4(11, 17, &payload, 8);
    let mut d = dec();
    let mut results = Vec::new();
    for f in &fr {
        results.push(feed(&mut d, 0, f));
    }
    assert_eq!(results[MAX_FRAGMENTS_PER_DATAGRAM], Err("invalid"));
    assert_eq!(d.stats.frag_too_many, 1);
    assert_eq!(d.stats.frag_reassembled, 0);
}

#[test]
fn fragments_disagreeing_on_the_end_drop_the_datagram() {
    let last_a = ipv4_full(A4, B4, 17, 12, 2, &[], &[0u8; 8]); // ends at 24
    let last_b = ipv4_full(A4, B4, 17, 12, 3, &[], &[0u8; 8]); // ends at 32
    let mut d = dec();
    assert_eq!(feed(&mut d, 0, &last_a), Err("held"));
    assert_eq!(feed(&mut d, 0, &last_b), Err("invalid"));
    assert_eq!(d.stats.frag_inconsistent, 1);
}

#[test]
fn non_final_fragment_with_odd_length_is_invalid() {
    let f = ipv4_full(A4, B4, 17, 1, 0x2000, &[], &[0u8; 13]);
    let (d, _) = rejected(linktype::RAW, &f);
    assert_eq!(d.stats.ipv4_frag_bad_len, 1);
}

#[test]
fn ipv6_fragments_are_reassembled_with_next_header_of_first() {
    let dgram = tcp(8080, 40000, &[0x55u8; 2000]);
    let mut d = dec();
    let fh = |off: usize, more: bool| -> [u8; 8] {
        let fo = ((off as u16) & 0xfff8) | more as u16;
        let [a, b] = fo.to_be_bytes();
        [6, 0, a, b, 0xca, 0xfe, 0xba, 0xbe]
    };
    let p1 = ipv6(44, &cat(&[&fh(0, true), &dgram[..1232]]));
    let p2 = ipv6(44, &cat(&[&fh(1232, false), &dgram[1232..]]));
    assert_eq!(feed(&mut d, 0, &p2), Err("held"));
    let g = feed(&mut d, 0, &p1).unwrap();
    assert_eq!(
        (g.proto, g.sport, g.dport, g.payload.len(), g.reassembled),
        (6, 8080, 40000, 2000, true)
    );
    assert_eq!(d.stats.frag_ipv6, 2);
}

#[test]
fn fragments_in_different_vlans_do_not_mix() {
    let fr = frags4(99, 17, &big_udp(), 1480);
    let in_vlan = |vid: u16, ip: &[u8]| eth(0x8100, &cat(&[&tag(vid, 0x0800), ip]));
    let mut d = dec();
    let mut decode =
        |f: Vec<u8>| matches!(d.decode(linktype::ETHERNET, 0, &f, 0), Decoded::Packet(_));
    assert!(!decode(in_vlan(1, &fr[0])));
    assert!(!decode(in_vlan(2, &fr[1])));
    assert!(!decode(in_vlan(1, &fr[2])));
    assert!(decode(in_vlan(1, &fr[1])));
}

// ---------------------------------------------------------------- dispatch hash

#[test]
fn dispatch_hash_is_symmetric_and_ignores_ports_and_tunnels() {
    let ab = eth(0x0800, &ipv4_full(A4, B4, 6, 1, 0, &[], &tcp(1, 2, b"")));
    let ba = eth(0x0800, &ipv4_full(B4, A4, 6, 2, 0, &[], &tcp(2, 1, b"")));
    let other = eth(
        0x0800,
        &ipv4_full(A4, [10, 0, 0, 3], 6, 1, 0, &[], &tcp(1, 2, b"")),
    );
    let h = dispatch_hash(linktype::ETHERNET, &ab);
    assert_ne!(h, 0);
    assert_eq!(h, dispatch_hash(linktype::ETHERNET, &ba));
    assert_ne!(h, dispatch_hash(linktype::ETHERNET, &other));
    // VLAN tags and MPLS do not change it; a later fragment hashes the same.
    let tagged = eth(0x8100, &cat(&[&tag(5, 0x0800), &ab[14..]]));
    assert_eq!(h, dispatch_hash(linktype::ETHERNET, &tagged));
    let frag = eth(0x0800, &ipv4_full(B4, A4, 6, 3, 100, &[], b"tail"));
    assert_eq!(h, dispatch_hash(linktype::ETHERNET, &frag));
    // Same pair over raw IP.
    assert_eq!(h, dispatch_hash(linktype::RAW, &ab[14..]));

    let v6ab = ipv6_full(A6, B6, 17, &udp(1, 2, b""));
    let v6ba = ipv6_full(B6, A6, 17, &udp(2, 1, b""));
    assert_eq!(
        dispatch_hash(linktype::RAW, &v6ab),
        dispatch_hash(linktype::RAW, &v6ba)
    );
    assert_ne!(dispatch_hash(linktype::RAW, &v6ab), 0);

    assert_eq!(
        dispatch_hash(linktype::ETHERNET, &eth(0x0806, &[0u8; 28])),
        0
    );
    assert_eq!(dispatch_hash(linktype::ETHERNET, &ab[..20]), 0);
    assert_eq!(dispatch_hash(999, &ab), 0);
}

// ---------------------------------------------------------------- robustness

/// Every frame built in this file, cut at every length, under every link
/// type: each decode is accounted exactly once.
#[test]
fn every_prefix_of_every_frame_is_accounted_once() {
    let inner = eth(0x0800, &ipv4(6, &tcp(1, 2, b"x")));
    let frames: Vec<Vec<u8>> = vec![
        eth(0x0800, &ipv4(6, &tcp(1, 2, b"abc"))),
        eth(
            0x88a8,
            &cat(&[&tag(1, 0x8100), &tag(2, 0x86dd), &ipv6(17, &udp(1, 2, b""))]),
        ),
        eth(0x8847, &cat(&[&[0, 1, 1, 64], &[0u8; 4], &inner])),
        ipv4(
            47,
            &cat(&[
                &[0x10, 0x00, 0x22, 0xeb],
                &[0u8; 4],
                &[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
                &[0u8; 8],
                &inner,
            ]),
        ),
        ipv4(
            17,
            &udp(1, 4789, &cat(&[&[8, 0, 0, 0, 0, 0, 1, 0], &inner])),
        ),
        ipv4(
            17,
            &udp(
                1,
                6081,
                &cat(&[&[1, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 0, 0, 0], &inner]),
            ),
        ),
        ipv6(
            0,
            &cat(&[
                &[44, 0, 1, 4, 0, 0, 0, 0],
                &[17, 0, 0, 1, 0, 0, 0, 1],
                &udp(1, 2, b""),
            ]),
        ),
    ];
    let mut d = dec();
    let mut calls = 0u64;
    for f in &frames {
        for lt in [0u16, 1, 9, 12, 50, 101, 104, 108, 113, 228, 229, 276] {
            for n in 0..=f.len() {
                let _ = d.decode(lt, 0, &f[..n], n as u32);
                calls += 1;
            }
        }
    }
    let s = &d.stats;
    assert_eq!(s.frames, calls);
    let held = s.frames - s.packets - s.not_ip - s.invalid;
    assert!(held <= s.frag_ipv4 + s.frag_ipv6);
}

#[test]
fn stats_merge_adds_every_counter() {
    let mut a = DecodeStats::default();
    let mut b = DecodeStats::default();
    let mut d = dec();
    let _ = d.decode(
        linktype::ETHERNET,
        0,
        &eth(0x0800, &ipv4(6, &tcp(1, 2, b""))),
        60,
    );
    a.merge(&d.stats);
    b.merge(&d.stats);
    a.merge(&b);
    let mut names = 0;
    a.for_each(|k, v| {
        names += 1;
        let mut want = 0;
        d.stats.for_each(|k2, v2| {
            if k2 == k {
                want = v2 * 2
            }
        });
        assert_eq!(v, want, "{k}");
    });
    assert!(names > 90);
    assert_eq!((a.frames, a.tcp, a.bytes), (2, 2, 120));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_are_accounted(
            lt in proptest::sample::select(vec![0u16, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276, 3]),
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut d = dec();
            let r = d.decode(lt, 0, &bytes, bytes.len() as u32);
            let is_packet = matches!(r, Decoded::Packet(_));
            prop_assert_eq!(d.stats.frames, 1);
            prop_assert_eq!(d.stats.packets, is_packet as u64);
            let _ = dispatch_hash(lt, &bytes);
        }

        #[test]
        fn ethernet_ipv4_with_random_transport_bytes(
            proto in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let f = eth(0x0800, &ipv4(proto, &body));
            let mut d = dec();
            let r = d.decode(linktype::ETHERNET, 0, &f, f.len() as u32);
            if ![1, 4, 6, 17, 41, 47, 58].contains(&proto) {
                // Any other protocol: passed on whole, no ports.
                let Decoded::Packet(p) = r else { panic!("{r:?}") };
                prop_assert_eq!((p.proto, p.sport, p.dport, p.payload), (proto, 0, 0, &body[..]));
            }
            prop_assert!(d.stats.ipv4 >= 1);
            prop_assert_eq!(d.stats.frames, 1);
        }
    }
}
