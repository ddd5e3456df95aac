//! Criterion benchmarks for the Mitsubishi parsers, on real captures where
//! they exist (MELSOFT tcp/udp, CC-Link IE Field Basic) and on a synthetic
//! MC/SLMP stream built from the manual layouts (no public 3E/4E capture
//! exists). Each benchmark asserts its message count inside the timed code
//! and reports bytes/s and messages/s.
//!
//! `cargo bench -p spanwatch-parsers --bench ot_mitsubishi`

#[path = "../tests/ot_mitsubishi_common/mod.rs"]
mod pcap;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanwatch_parsers::stream::{drive, Direction};
use spanwatch_parsers::{cclink, melsoft, slmp};
use std::hint::black_box;

/// One reassembled TCP direction and its stream direction.
type Stream = (Direction, Vec<u8>);

/// Reassembled MELSOFT TCP directions of the two TCP captures, with the
/// message count measured by tshark (see tests/ot_mitsubishi_captures.rs).
fn melsoft_tcp() -> Option<(Vec<Stream>, usize)> {
    let mut dirs = Vec::new();
    for (name, port) in [
        ("nozomi_legitimate_user_addition_plc_stop_test.pcapng", 5007),
        ("iti_melsoft_129_clean.pcap", 5562),
    ] {
        let file = pcap::capture(name)?;
        for d in pcap::tcp_directions(&file) {
            let dir = if d.dport == port {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            dirs.push((dir, d.bytes));
        }
    }
    // nozomi: 1392 frames + 102 hellos; iti 129: 983 frames.
    Some((dirs, 1392 + 102 + 983))
}

/// A synthetic MC/SLMP stream: binary 3E/4E and ASCII 3E/4E requests and
/// responses, repeated.
fn slmp_stream() -> (Vec<u8>, usize) {
    let frames: [&[u8]; 6] = [
        &[
            0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x0C, 0x00, 0x10, 0x00, 0x01, 0x04, 0x00,
            0x00, 0x64, 0x00, 0x00, 0xA8, 0x03, 0x00,
        ],
        &[
            0xD0, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x08, 0x00, 0x00, 0x00, 0x95, 0x19, 0x02,
            0x12, 0x30, 0x11,
        ],
        &[
            0x54, 0x00, 0x34, 0x12, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x16, 0x00, 0x10,
            0x00, 0x02, 0x14, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0xA8, 0x50, 0x05, 0x02,
            0x00, 0x00, 0xA8, 0x78, 0x56, 0x34, 0x12,
        ],
        b"500000FF03FF000018001004010000D*0001000003",
        b"D00000FF03FF0000100000199512021130",
        b"54001A2B000000FF03FF00001400101001000000030200",
    ];
    let mut buf = Vec::new();
    let rounds = 2000;
    for _ in 0..rounds {
        for f in frames {
            buf.extend_from_slice(f);
        }
    }
    (buf, rounds * frames.len())
}

fn bench(c: &mut Criterion) {
    let (stream, n) = slmp_stream();
    let mut g = c.benchmark_group("slmp_tcp_synthetic");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("bytes", |b| {
        b.iter(|| {
            let out = drive(
                &mut slmp::SlmpStream,
                black_box(&stream),
                Direction::ToServer,
                |m| {
                    black_box(m);
                },
            );
            assert_eq!(out.messages, n);
        })
    });
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("messages", |b| {
        b.iter(|| {
            let out = drive(
                &mut slmp::SlmpStream,
                black_box(&stream),
                Direction::ToServer,
                |m| {
                    black_box(m);
                },
            );
            assert_eq!(out.messages, n);
        })
    });
    g.finish();

    if let Some((dirs, n)) = melsoft_tcp() {
        let bytes: usize = dirs.iter().map(|d| d.1.len()).sum();
        let run = || {
            let mut msgs = 0;
            for (dir, b) in &dirs {
                msgs += drive(&mut melsoft::MelsoftStream, black_box(b), *dir, |m| {
                    black_box(m);
                })
                .messages;
            }
            assert_eq!(msgs, n);
        };
        let mut g = c.benchmark_group("melsoft_tcp_captures");
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function("bytes", |b| b.iter(run));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("messages", |b| b.iter(run));
        g.finish();
    }

    for (group, name, expected) in [
        (
            "melsoft_udp_capture",
            "iti_melsoft_UDP_clean_2.pcap",
            432usize,
        ),
        (
            "cclink_udp_capture",
            "nttcom_cclink_ief_basic_only.pcap",
            444,
        ),
    ] {
        let Some(file) = pcap::capture(name) else {
            continue;
        };
        let dgrams: Vec<Vec<u8>> = pcap::udp_datagrams(&file)
            .into_iter()
            .map(|d| d.payload.to_vec())
            .collect();
        let bytes: usize = dgrams.iter().map(Vec::len).sum();
        let is_cclink = group.starts_with("cclink");
        let run = || {
            let ok = dgrams
                .iter()
                .filter(|d| {
                    if is_cclink {
                        black_box(cclink::parse_datagram(black_box(d))).is_ok()
                    } else {
                        black_box(melsoft::parse_datagram(black_box(d))).is_ok()
                    }
                })
                .count();
            assert_eq!(ok, expected);
        };
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function("bytes", |b| b.iter(run));
        g.throughput(Throughput::Elements(expected as u64));
        g.bench_function("messages", |b| b.iter(run));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
