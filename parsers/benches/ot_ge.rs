//! Criterion benchmarks of the Modbus/TCP, GE SRTP and GE EGD parsers over
//! real captures from `../shared/pcaps`, reported twice per workload: as
//! bytes/s and as messages/s. Each benched closure checks its message count,
//! so a parser that silently stops producing messages cannot look fast.
//!
//! Workloads (same extraction as the capture tests: per connection and
//! direction, in-order TCP payload pieces):
//! * `modbus/iti_polling`: iti_ModbusTCP.pcap, 14 HMI/PLC connections,
//!   15,976 ADUs (FC 1/2/4 reads, FC 15/16 writes; many pipelined).
//! * `modbus/umas`: ndpi_umas.pcap, 180 FC 90 ADUs up to 261 bytes.
//! * `srtp/kepware`: booozie_kepware_cap.pcapng, 2,722 PDUs (56-byte
//!   headers, text buffers up to 322 bytes).
//! * `egd/ndpi`: the five 59-byte productions of ndpi_egd.pcapng.
//!
//! Without the captures the benches fall back to synthetic traffic built
//! from the same message shapes, and say so.
//!
//! `cargo bench -p spanwatch-parsers --bench ot_ge`

#[path = "../tests/ot_ge_pcap/mod.rs"]
mod ot_ge_pcap;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ot_ge_pcap::{read_packets, tcp_conns, udp_payloads, Piece};
use spanwatch_parsers::stream::{drive, Direction, StreamParser};
use spanwatch_parsers::{egd, modbus, srtp};
use std::hint::black_box;
use std::path::PathBuf;

/// In-order byte runs of one protocol, each with its direction.
struct Workload {
    name: &'static str,
    chunks: Vec<(Vec<u8>, Direction)>,
    bytes: u64,
    messages: usize,
}

fn pcaps() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
    dir.is_dir().then_some(dir)
}

/// Every contiguous run of every connection on `port` in `file`.
fn tcp_chunks(file: &str, port: u16) -> Option<Vec<(Vec<u8>, Direction)>> {
    let packets = read_packets(&pcaps()?.join(file));
    let mut out = Vec::new();
    for conn in tcp_conns(&packets, port) {
        for (pieces, dir) in [
            (conn.to_server, Direction::ToServer),
            (conn.to_client, Direction::ToClient),
        ] {
            for p in pieces {
                if let Piece::Data(d) = p {
                    out.push((d, dir));
                }
            }
        }
    }
    Some(out)
}

fn count<P: StreamParser + Default>(chunks: &[(Vec<u8>, Direction)]) -> usize {
    chunks
        .iter()
        .map(|(c, d)| drive(&mut P::default(), c, *d, |_| {}).messages)
        .sum()
}

fn workload<P: StreamParser + Default>(
    name: &'static str,
    chunks: Vec<(Vec<u8>, Direction)>,
) -> Workload {
    let bytes = chunks.iter().map(|(c, _)| c.len() as u64).sum();
    let messages = count::<P>(&chunks);
    Workload {
        name,
        chunks,
        bytes,
        messages,
    }
}

fn synthetic_modbus() -> Vec<(Vec<u8>, Direction)> {
    eprintln!("NOTE: ../shared/pcaps absent; benching synthetic Modbus traffic");
    let req = [
        0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x04, 0x00, 0x00, 0x00, 0x0A,
    ];
    let mut rsp = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x17, 0x01, 0x04, 0x14];
    rsp.extend_from_slice(&[0x12; 20]);
    vec![
        (req.repeat(1000), Direction::ToServer),
        (rsp.repeat(1000), Direction::ToClient),
    ]
}

fn synthetic_srtp() -> Vec<(Vec<u8>, Direction)> {
    eprintln!("NOTE: ../shared/pcaps absent; benching synthetic SRTP traffic");
    let mut req = [0u8; 56];
    req[0] = 0x02;
    req[31] = 0xC0;
    req[42] = 0x04;
    let mut rsp = [0u8; 56 + 80];
    rsp[0] = 0x03;
    rsp[4] = 80;
    rsp[31] = 0x94;
    vec![
        (req.repeat(1000), Direction::ToServer),
        (rsp.repeat(1000), Direction::ToClient),
    ]
}

fn bench_stream<P: StreamParser + Default>(c: &mut Criterion, group: &str, w: &Workload) {
    let mut g = c.benchmark_group(group);
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(w.bytes)),
        ("messages", Throughput::Elements(w.messages as u64)),
    ] {
        g.throughput(throughput);
        g.bench_function(format!("{}/{unit}", w.name), |b| {
            b.iter(|| {
                let mut n = 0usize;
                for (chunk, dir) in &w.chunks {
                    let o = drive(&mut P::default(), black_box(chunk), *dir, |m| {
                        black_box(&m);
                    });
                    n += o.messages;
                }
                assert_eq!(n, w.messages);
            })
        });
    }
    g.finish();
}

fn modbus_benches(c: &mut Criterion) {
    let polling =
        tcp_chunks("modbus/iti_ModbusTCP.pcap", modbus::PORT).unwrap_or_else(synthetic_modbus);
    let w = workload::<modbus::ModbusTcp>("iti_polling", polling);
    bench_stream::<modbus::ModbusTcp>(c, "modbus", &w);
    if let Some(umas) = tcp_chunks("modbus/ndpi_umas.pcap", modbus::PORT) {
        let w = workload::<modbus::ModbusTcp>("umas", umas);
        assert_eq!(w.messages, 180);
        bench_stream::<modbus::ModbusTcp>(c, "modbus", &w);
    }
    // The probe on every connection's first request.
    let firsts: Vec<Vec<u8>> = w
        .chunks
        .iter()
        .filter(|(_, d)| *d == Direction::ToServer)
        .map(|(c, _)| c.clone())
        .collect();
    let mut g = c.benchmark_group("modbus");
    g.throughput(Throughput::Elements(firsts.len() as u64));
    g.bench_function("probe/first_bytes", |b| {
        b.iter(|| {
            let hits = firsts
                .iter()
                .filter(|f| {
                    modbus::probe(black_box(f)) != spanwatch_parsers::stream::Probe::NoMatch
                })
                .count();
            assert_eq!(hits, firsts.len());
        })
    });
    g.finish();
}

fn srtp_benches(c: &mut Criterion) {
    let chunks =
        tcp_chunks("ge-srtp/booozie_kepware_cap.pcapng", srtp::PORT).unwrap_or_else(synthetic_srtp);
    let w = workload::<srtp::Srtp>("kepware", chunks);
    bench_stream::<srtp::Srtp>(c, "srtp", &w);
}

fn egd_benches(c: &mut Criterion) {
    let datagrams: Vec<Vec<u8>> = match pcaps() {
        Some(dir) => {
            let packets = read_packets(&dir.join("ge-egd/ndpi_egd.pcapng"));
            udp_payloads(&packets, egd::PORT)
                .into_iter()
                .map(|p| p.payload.clone())
                .collect()
        }
        None => {
            eprintln!("NOTE: ../shared/pcaps absent; benching a synthetic EGD production");
            let mut d = vec![0x0D, 0x01];
            d.resize(59, 0);
            vec![d; 5]
        }
    };
    let bytes: u64 = datagrams.iter().map(|d| d.len() as u64).sum();
    let mut g = c.benchmark_group("egd");
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(bytes)),
        ("messages", Throughput::Elements(datagrams.len() as u64)),
    ] {
        g.throughput(throughput);
        g.bench_function(format!("ndpi/{unit}"), |b| {
            b.iter(|| {
                let mut n = 0usize;
                for d in &datagrams {
                    if let Ok(p) = egd::parse_pdu(black_box(d)) {
                        black_box(p.request_id);
                        n += 1;
                    }
                }
                assert_eq!(n, datagrams.len());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, modbus_benches, srtp_benches, egd_benches);
criterion_main!(benches);
