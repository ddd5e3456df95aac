//! Every real capture in `shared/pcaps`, read and decoded frame by frame,
//! against facts measured independently with capinfos and tshark 4.0.17
//! (`tshark -r F | wc -l`, `tshark -r F -Y "ip or ipv6" | wc -l`, field
//! sums with `-T fields`). The folder is not part of the repository; when it
//! is absent these tests say SKIP and pass.

use super::*;
use crate::capture::file::CaptureFile;
use std::path::{Path, PathBuf};

fn pcaps_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
    d.is_dir().then_some(d)
}

/// What decoding one file gave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Summary {
    frames: u64,
    /// Frames whose outermost network layer is IPv4 or IPv6.
    reach_ip: u64,
    packets: u64,
    held: u64,
    not_ip: u64,
    invalid: u64,
    tcp: u64,
}

/// Reads and decodes the whole file, calling `each` for every packet.
fn decode_file(
    path: &Path,
    mut each: impl FnMut(u64, &Packet<'_>),
) -> (Summary, DecodeStats, Option<usize>) {
    let mut cf = CaptureFile::open(path).unwrap_or_else(|e| panic!("{e}"));
    let map = cf.map().clone();
    let mut dec = Decoder::default();
    let mut s = Summary::default();
    while let Some(f) = cf.next_frame() {
        s.frames += 1;
        let bytes = &map[f.offset..f.offset + f.caplen as usize];
        let mut info = link::L2Info::default();
        if matches!(
            link::link(f.linktype, bytes, &mut info),
            Ok(Net::Ip4(_) | Net::Ip6(_))
        ) {
            s.reach_ip += 1;
        }
        match dec.decode(f.linktype, f.ts, bytes, f.origlen) {
            Decoded::Packet(p) => {
                s.packets += 1;
                if p.proto == ipproto::TCP {
                    s.tcp += 1;
                }
                each(s.frames, &p);
            }
            Decoded::FragmentHeld => s.held += 1,
            Decoded::NotIp => s.not_ip += 1,
            Decoded::Invalid => s.invalid += 1,
        }
    }
    assert_eq!(
        cf.position(),
        cf.len(),
        "{}: not read to the end",
        path.display()
    );
    assert_eq!(cf.corrupt(), None, "{}", path.display());
    (s, dec.stats, cf.truncated_at())
}

/// file, frames (capinfos), frames reaching IP (tshark "ip or ipv6"),
/// packets, fragments held, not IP, invalid, TCP packets.
///
/// TCP differs from tshark's `tcp` count in two files, by design: tshark
/// also counts the TCP header quoted inside ICMP errors (zeek_smtp: 122 vs
/// 118; malcolm_Tunnels: 343 vs 341). Frames reaching IP equal packets +
/// held everywhere except malcolm_Tunnels, whose 2 VXLAN frames carry ARP.
type Fact = (&'static str, u64, u64, u64, u64, u64, u64, u64);

const FACTS: &[Fact] = &[
    ("ge-egd/ndpi_egd.pcapng", 5, 5, 5, 0, 0, 0, 0),
    (
        "ge-srtp/booozie_kepware_cap.pcapng",
        10487,
        10487,
        10487,
        0,
        0,
        0,
        10355,
    ),
    (
        "ge-srtp/booozie_kepware_cap3.pcapng",
        1270,
        1270,
        1270,
        0,
        0,
        0,
        1217,
    ),
    (
        "mitsubishi-melsec/iti_melsoft_129_clean.pcap",
        2041,
        2041,
        2041,
        0,
        0,
        0,
        2041,
    ),
    (
        "mitsubishi-melsec/iti_melsoft_UDP_clean_2.pcap",
        432,
        432,
        432,
        0,
        0,
        0,
        0,
    ),
    (
        "mitsubishi-melsec/nozomi_legitimate_user_addition_plc_stop_test.pcapng",
        1905,
        1905,
        1905,
        0,
        0,
        0,
        1905,
    ),
    (
        "mitsubishi-melsec/nttcom_cclink_ief_basic_only.pcap",
        444,
        444,
        444,
        0,
        0,
        0,
        0,
    ),
    (
        "mixed/lemay_channel_4d_9s.pcap",
        60295,
        60295,
        60295,
        0,
        0,
        0,
        60295,
    ),
    (
        "mixed/lemay_channel_5d_3s.pcap",
        143809,
        143809,
        143809,
        0,
        0,
        0,
        143809,
    ),
    (
        "mixed/malcolm_Tunnels.pcap",
        1624,
        1624,
        1532,
        90,
        2,
        0,
        341,
    ),
    (
        "mixed/suricata-verify_decode-sll2-02.pcap",
        159,
        159,
        159,
        0,
        0,
        0,
        159,
    ),
    ("modbus/arkime_modbus.pcap", 1237, 1237, 1237, 0, 0, 0, 1237),
    (
        "modbus/icsnpp_modbus_example.pcap",
        100,
        100,
        100,
        0,
        0,
        0,
        100,
    ),
    (
        "modbus/iti_ModbusTCP.pcap",
        15387,
        15387,
        15387,
        0,
        0,
        0,
        15387,
    ),
    (
        "modbus/iti_modbus_test_data_part1.pcap",
        118,
        118,
        118,
        0,
        0,
        0,
        118,
    ),
    ("modbus/ndpi_umas.pcap", 191, 191, 191, 0, 0, 0, 191),
    (
        "modbus/zeek_modbus-and-non-modbus-p502.pcap",
        86,
        86,
        86,
        0,
        0,
        0,
        86,
    ),
    ("modbus/zeek_modbusSmall.pcap", 166, 166, 166, 0, 0, 0, 160),
    ("modbus/zeek_modbus_fuzz-72.pcap", 36, 36, 36, 0, 0, 0, 36),
    (
        "smtp/suricata-verify_smtp-attachment-md5.pcap",
        26,
        26,
        26,
        0,
        0,
        0,
        25,
    ),
    (
        "smtp/suricata-verify_smtp-bug-5981.pcap",
        47,
        46,
        46,
        0,
        1,
        0,
        46,
    ),
    (
        "smtp/zeek_rfc3030-bdat-multipart-chunked.pcap",
        184,
        184,
        184,
        0,
        0,
        0,
        184,
    ),
    (
        "smtp/zeek_smtp-attachment-msg.pcap",
        17,
        17,
        17,
        0,
        0,
        0,
        17,
    ),
    ("smtp/zeek_smtp-starttls.pcap", 37, 37, 37, 0, 0, 0, 37),
    ("smtp/zeek_smtp.pcap", 125, 125, 125, 0, 0, 0, 118),
    (
        "tls/retina_tls_ciphers.pcap",
        1095,
        1095,
        1095,
        0,
        0,
        0,
        1095,
    ),
    (
        "tls/suricata-verify_tls-client-hello-frag-01_dump_mtu300.pcap",
        62,
        62,
        62,
        0,
        0,
        0,
        62,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        3138,
        3090,
        3090,
        0,
        48,
        0,
        2982,
    ),
    (
        "tls/zeek_chrome-1250-tls-x25519-kyber.pcap",
        15,
        15,
        15,
        0,
        0,
        0,
        15,
    ),
    ("tls/zeek_hrr.pcap", 19, 19, 19, 0, 0, 0, 19),
    (
        "tls/zeek_tls-conn-with-extensions.pcap",
        58,
        58,
        58,
        0,
        0,
        0,
        58,
    ),
    ("tls/zeek_tls1.2.pcap", 22, 22, 22, 0, 0, 0, 22),
    ("tls/zeek_tls13-ech.pcap", 69, 69, 69, 0, 0, 0, 69),
    ("tls/zeek_tls13_wolfssl.pcap", 21, 21, 21, 0, 0, 0, 21),
];

/// The one file that is cut short: capinfos and tshark both report "cut
/// short in the middle of a packet" after 2041 packets. The last record
/// header starts at this offset and announces 157 bytes, 111 of which are
/// missing.
const TRUNCATED: (&str, usize) = ("mitsubishi-melsec/iti_melsoft_129_clean.pcap", 331_665);

#[test]
fn every_shared_capture_reads_fully_and_decodes_to_measured_counts() {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: shared/pcaps not found next to the repository");
        return;
    };
    // Every capture in the folder is in the table, and the other way round.
    let mut on_disk = Vec::new();
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                let f = f.unwrap().path();
                on_disk.push(f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = FACTS.iter().map(|f| f.0.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    assert_eq!(listed.len(), 34);

    for &(name, frames, reach_ip, packets, held, not_ip, invalid, tcp) in FACTS {
        let (s, stats, truncated) = decode_file(&dir.join(name), |_, _| {});
        let want = Summary {
            frames,
            reach_ip,
            packets,
            held,
            not_ip,
            invalid,
            tcp,
        };
        assert_eq!(s, want, "{name}");
        assert_eq!(stats.frames, frames, "{name}");
        let expect_cut = if name == TRUNCATED.0 {
            Some(TRUNCATED.1)
        } else {
            None
        };
        assert_eq!(truncated, expect_cut, "{name}");
    }
}

#[test]
fn malcolm_tunnels_packets_by_outermost_tunnel() {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: shared/pcaps not found next to the repository");
        return;
    };
    let mut by_kind = std::collections::BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    let mut reassembled = 0;
    let mut erspan_vlans = Vec::new();
    let (_, stats, _) = decode_file(&dir.join("mixed/malcolm_Tunnels.pcap"), |_, p| {
        *by_kind.entry(p.tunnel.kind.name()).or_insert(0u64) += 1;
        ids.insert((p.tunnel.kind.name(), p.tunnel.id));
        if p.reassembled {
            reassembled += 1;
            assert_eq!((p.tunnel.kind, p.proto), (TunnelKind::GtpU, ipproto::TCP));
        }
        if p.tunnel.kind == TunnelKind::Erspan {
            erspan_vlans.push(p.vlan);
        }
    });
    // From tshark frame.protocols, by the first tunnel on the way in:
    // gre 670 frames (2 of them inside IPv4-in-IPv6 first), erspan (III) 2,
    // vxlan 10 (2 carry ARP), IP-in-IP 14 (ipv6:ipv6, ipv6:ip, ip:ip,
    // mpls:ipv6:ipv6), ip:ipv6 138, Teredo 8 + AYIYA 32 with IP inside,
    // GTP-U 202 with IP inside.
    let want: std::collections::BTreeMap<&str, u64> = [
        ("none", 460),
        ("gre", 668),
        ("erspan", 2),
        ("vxlan", 8),
        ("ipip", 14),
        ("ip6in4", 138),
        ("other", 40),
        ("gtpu", 202),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_kind, want);
    // tshark: VXLAN VNI 123, ERSPAN III span id 0 with inner VLAN 10, GRE without keys.
    assert!(ids.contains(&("vxlan", 123)));
    assert!(ids.contains(&("erspan", 0)));
    assert!(ids.contains(&("gre", 0)));
    assert_eq!(erspan_vlans, [10, 10]);
    // tshark: 176 IPv4 fragments, 86 datagrams reassembled from 2 each
    // (all GTP-U carrying TCP), 4 fragments never completed.
    assert_eq!(
        (stats.frag_ipv4, stats.frag_reassembled, reassembled),
        (176, 86, 86)
    );
    assert_eq!(
        (stats.teredo, stats.ayiya, stats.erspan, stats.vxlan),
        (18, 32, 2, 10)
    );
}

#[test]
fn linux_cooked_v2_http_download_ports() {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: shared/pcaps not found next to the repository");
        return;
    };
    let client = Addr::v4([192, 168, 1, 253]);
    let server = Addr::v4([192, 168, 1, 21]);
    let (mut up, mut down, mut bytes) = (0, 0, 0u64);
    let mut first = None;
    decode_file(
        &dir.join("mixed/suricata-verify_decode-sll2-02.pcap"),
        |n, p| {
            assert_eq!(p.proto, ipproto::TCP);
            if n == 1 {
                first = Some((p.tcp.seq, p.tcp.flags, p.tcp.window));
            }
            match (p.src, p.sport, p.dst, p.dport) {
                (s, 56478, d, 80) if s == client && d == server => up += 1,
                (s, 80, d, 56478) if s == server && d == client => down += 1,
                other => panic!("frame {n}: unexpected {other:?}"),
            }
            bytes += p.payload.len() as u64;
        },
    );
    // tshark -T fields -e tcp.srcport: 74 x 56478, 85 x 80; sum(tcp.len) = 2598957;
    // frame 1: SYN, seq_raw 2332771219, window 64240.
    assert_eq!((up, down, bytes), (74, 85, 2_598_957));
    assert_eq!(first, Some((2_332_771_219, tcp_flags::SYN, 64240)));
}

#[test]
fn bsd_loopback_ge_srtp_ports() {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: shared/pcaps not found next to the repository");
        return;
    };
    // (file, tshark "tcp.port==18245" frames, their sum(tcp.len), sum(tcp.len) over all TCP)
    let facts = [
        (
            "ge-srtp/booozie_kepware_cap.pcapng",
            5447u64,
            359_750u64,
            628_073u64,
        ),
        ("ge-srtp/booozie_kepware_cap3.pcapng", 89, 2520, 63_564),
    ];
    for (name, srtp_frames, srtp_bytes, tcp_bytes) in facts {
        let (mut n, mut b, mut all) = (0, 0, 0);
        let mut syn = None;
        decode_file(&dir.join(name), |frame, p| {
            if p.proto != ipproto::TCP {
                return;
            }
            all += p.payload.len() as u64;
            if p.sport == 18245 || p.dport == 18245 {
                n += 1;
                b += p.payload.len() as u64;
                if p.tcp.flags == tcp_flags::SYN && syn.is_none() {
                    syn = Some((frame, p.src, p.sport, p.tcp.seq));
                }
            }
        });
        assert_eq!((n, b, all), (srtp_frames, srtp_bytes, tcp_bytes), "{name}");
        if name.ends_with("cap.pcapng") {
            // tshark: frame 4422, 127.0.0.1:21023 -> 18245, SYN, seq_raw 2547735039.
            assert_eq!(
                syn,
                Some((4422, Addr::v4([127, 0, 0, 1]), 21023, 2_547_735_039))
            );
        }
    }
}
