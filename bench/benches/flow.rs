//! Flow-table benchmarks: lookup/insert of decoded packets with a skewed
//! key distribution, and decode + flow tracking over a real capture.
//!
//! `cargo bench -p spanwatch-bench --bench flow`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanwatch::capture::file::CaptureFile;
use spanwatch::decode::{Addr, Decoded, Decoder, Packet, TcpHeader, Tunnel};
use spanwatch::flow::{FlowConfig, FlowTable};
use std::hint::black_box;
use std::path::Path;

/// Deterministic packets over `flows` TCP flows, both directions, with a
/// skewed popularity (a few flows carry most packets, as on a real link).
fn packets(n: usize, flows: u32) -> Vec<Packet<'static>> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Squaring a uniform value skews it towards 0.
            let u = (x % 1_000_000) as f64 / 1_000_000.0;
            let f = ((u * u) * flows as f64) as u32;
            let client = Addr::v4([10, 0, (f >> 8) as u8, f as u8]);
            let server = Addr::v4([192, 168, 1, (f % 16) as u8]);
            let sport = 1024 + (f % 60000) as u16;
            let to_server = i % 2 == 0;
            let (src, dst, sp, dp) = if to_server {
                (client, server, sport, 502)
            } else {
                (server, client, 502, sport)
            };
            Packet {
                ts: 1_767_600_000_000_000_000 + i as u64 * 1000,
                src,
                dst,
                is_v6: false,
                proto: 6,
                sport: sp,
                dport: dp,
                vlan: 0,
                tunnel: Tunnel::default(),
                tcp: TcpHeader {
                    seq: i as u32,
                    ack: 0,
                    flags: 0x18,
                    window: 512,
                },
                payload: &[],
                wire_len: 100,
                reassembled: false,
            }
        })
        .collect()
}

fn flow_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table");
    for flows in [1_000u32, 100_000] {
        let pk = packets(200_000, flows);
        g.throughput(Throughput::Elements(pk.len() as u64));
        g.bench_function(format!("track_{flows}_flows"), |b| {
            b.iter(|| {
                let cfg = FlowConfig::default();
                let mut t = FlowTable::new(&cfg, 1_000_000);
                let mut ended = 0u64;
                for p in &pk {
                    let r = t.track(p, p.ts, &mut |_, _| ended += 1);
                    black_box(r.is_some());
                }
                assert!(t.len() <= flows as usize);
                black_box(ended)
            })
        });
    }
    g.finish();
}

fn decode_and_track(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/pcaps/mixed/lemay_channel_5d_3s.pcap");
    let Ok(mut file) = CaptureFile::open(&path) else {
        eprintln!(
            "SKIP: {} not found; decode_and_track not run",
            path.display()
        );
        return;
    };
    let map = file.map().clone();
    let mut frames = Vec::new();
    while let Some(f) = file.next_frame() {
        frames.push(f);
    }
    let mut g = c.benchmark_group("decode_and_track");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("lemay_channel_5d_3s", |b| {
        b.iter(|| {
            let mut d = Decoder::new(&Default::default());
            let mut t = FlowTable::new(&FlowConfig::default(), 1_000_000);
            let mut tracked = 0u64;
            for f in &frames {
                let bytes = &map[f.offset..f.offset + f.caplen as usize];
                if let Decoded::Packet(p) = d.decode(f.linktype, f.ts, bytes, f.origlen) {
                    if t.track(&p, f.ts, &mut |_, _| {}).is_some() {
                        tracked += 1;
                    }
                }
            }
            // Every frame of this capture is an Ethernet/IPv4/TCP packet.
            assert_eq!(tracked, frames.len() as u64);
            black_box(tracked)
        })
    });
    g.finish();
}

criterion_group!(benches, flow_table, decode_and_track);
criterion_main!(benches);
