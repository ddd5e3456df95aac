//! Decoder benchmarks.
//!
//! - `decode/frame/*`: one typical frame at a time (Ethernet/IPv4/TCP at the
//!   three IMIX sizes, UDP, 802.1Q, IPv6, VXLAN).
//! - `decode/imix`: a 12-frame batch in the simple IMIX ratio 7:4:1 of 64,
//!   576 and 1500-byte Ethernet/IPv4/TCP frames; reported per frame.
//! - `decode/capture/*`: every frame of real captures from `shared/pcaps`
//!   (skipped, with a note, when the folder is absent); the benched loop
//!   checks the packet count so a decoder that silently drops frames cannot
//!   look fast.
//! - `dispatch_hash`: the reader-side hash on the same IMIX batch.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spanwatch::capture::file::CaptureFile;
use spanwatch::decode::{dispatch_hash, linktype, DecodeConfig, Decoded, Decoder};
use std::hint::black_box;
use std::path::PathBuf;

fn eth(et: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    ];
    v.extend_from_slice(&et.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&[
        0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0, 192, 168, 1, 10, 192, 168, 1, 20,
    ]);
    v.extend_from_slice(payload);
    v
}

fn ipv6(nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    v.extend_from_slice(&[nh, 64]);
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v.extend_from_slice(payload);
    v
}

/// TCP with a 12-byte timestamp option block, as most real segments carry.
fn tcp(payload_len: usize) -> Vec<u8> {
    let mut v = vec![
        0xc3, 0x50, 0x01, 0xf6, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x80, 0x18, 0x01, 0xf5, 0, 0, 0, 0,
    ];
    v.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    v.resize(v.len() + payload_len, 0x5a);
    v
}

fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0xd4, 0x31];
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    v
}

/// An Ethernet/IPv4/TCP frame of `size` bytes (without FCS).
fn eth_tcp(size: usize) -> Vec<u8> {
    let hdr = 14 + 20 + 32;
    let f = eth(0x0800, &ipv4(6, &tcp(size.saturating_sub(hdr))));
    let mut f = f;
    f.resize(size.max(hdr), 0); // minimum-size frames get Ethernet padding
    f
}

fn imix() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for _ in 0..7 {
        v.push(eth_tcp(60));
    }
    for _ in 0..4 {
        v.push(eth_tcp(576));
    }
    v.push(eth_tcp(1514));
    v
}

fn bench_frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode/frame");
    g.throughput(Throughput::Elements(1));
    let vxlan_inner = eth(0x0800, &ipv4(6, &tcp(100)));
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 0x7b, 0];
    vx.extend_from_slice(&vxlan_inner);
    let mut vlan = vec![0x00, 0x64, 0x08, 0x00];
    vlan.extend_from_slice(&ipv4(6, &tcp(100)));
    let frames: Vec<(&str, Vec<u8>)> = vec![
        ("eth_ipv4_tcp_64", eth_tcp(60)),
        ("eth_ipv4_tcp_576", eth_tcp(576)),
        ("eth_ipv4_tcp_1514", eth_tcp(1514)),
        (
            "eth_ipv4_udp_dns",
            eth(0x0800, &ipv4(17, &udp(53, &[0u8; 40]))),
        ),
        ("eth_vlan_ipv4_tcp", eth(0x8100, &vlan)),
        ("eth_ipv6_tcp", eth(0x86dd, &ipv6(6, &tcp(100)))),
        (
            "eth_ipv4_vxlan_tcp",
            eth(0x0800, &ipv4(17, &udp(4789, &vx))),
        ),
    ];
    let mut dec = Decoder::new(&DecodeConfig::default());
    for (name, f) in &frames {
        g.bench_with_input(BenchmarkId::from_parameter(name), f, |b, f| {
            b.iter(
                || match dec.decode(linktype::ETHERNET, 1, black_box(f), f.len() as u32) {
                    Decoded::Packet(p) => p.sport,
                    other => panic!("{other:?}"),
                },
            )
        });
    }
    g.finish();
}

fn bench_imix(c: &mut Criterion) {
    let frames = imix();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(frames.len() as u64));
    let mut dec = Decoder::new(&DecodeConfig::default());
    g.bench_function("imix", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for f in &frames {
                if let Decoded::Packet(p) =
                    dec.decode(linktype::ETHERNET, 1, black_box(f), f.len() as u32)
                {
                    n += (p.dport == 502) as usize;
                }
            }
            assert_eq!(n, frames.len());
            n
        })
    });
    g.bench_function("dispatch_hash_imix", |b| {
        b.iter(|| {
            let mut h = 0u64;
            for f in &frames {
                h ^= dispatch_hash(linktype::ETHERNET, black_box(f));
            }
            h
        })
    });
    g.finish();
}

/// A capture loaded into memory: its map plus where each frame lies.
struct Loaded {
    map: std::sync::Arc<memmap2::Mmap>,
    frames: Vec<(u16, u64, usize, u32, u32)>,
}

fn load(path: &std::path::Path) -> Option<Loaded> {
    let mut cf = CaptureFile::open(path).ok()?;
    let mut frames = Vec::new();
    while let Some(f) = cf.next_frame() {
        frames.push((f.linktype, f.ts, f.offset, f.caplen, f.origlen));
    }
    Some(Loaded {
        map: cf.map().clone(),
        frames,
    })
}

fn bench_captures(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
    if !dir.is_dir() {
        eprintln!("SKIP: decode/capture benches: {} not found", dir.display());
        return;
    }
    let mut g = c.benchmark_group("decode/capture");
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(4));
    for name in [
        "mixed/lemay_channel_5d_3s.pcap",
        "tls/suricata-verify_tls-subjectaltname.pcap",
        "mixed/malcolm_Tunnels.pcap",
    ] {
        let Some(cap) = load(&dir.join(name)) else {
            eprintln!("SKIP: {name}: not readable");
            continue;
        };
        // Packets expected out of each pass, measured once outside the loop
        // and checked inside it.
        let count = |dec: &mut Decoder| {
            let mut packets = 0usize;
            for &(lt, ts, off, cap_len, orig) in &cap.frames {
                let bytes = &cap.map[off..off + cap_len as usize];
                if let Decoded::Packet(_) = dec.decode(lt, ts, black_box(bytes), orig) {
                    packets += 1;
                }
            }
            packets
        };
        let expected = count(&mut Decoder::new(&DecodeConfig::default()));
        let bytes: u64 = cap.frames.iter().map(|f| f.3 as u64).sum();
        let short = name.rsplit('/').next().unwrap_or(name);
        g.throughput(Throughput::Elements(cap.frames.len() as u64));
        g.bench_function(BenchmarkId::new("frames", short), |b| {
            b.iter(|| {
                let mut dec = Decoder::new(&DecodeConfig::default());
                assert_eq!(count(&mut dec), expected);
            })
        });
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(BenchmarkId::new("bytes", short), |b| {
            b.iter(|| {
                let mut dec = Decoder::new(&DecodeConfig::default());
                assert_eq!(count(&mut dec), expected);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_frames, bench_imix, bench_captures);
criterion_main!(benches);
