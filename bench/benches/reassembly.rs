//! TCP reassembly throughput: in-order, out-of-order and overlapping input,
//! in bytes/s and segments/s; plus a memory simulation of one million
//! concurrent streams holding out-of-order data under a 64 MiB memcap.
//!
//! ```text
//! cargo bench -p spanwatch-bench --bench reassembly
//! SPANWATCH_MEMSIM=1 cargo bench -p spanwatch-bench --bench reassembly   # memory simulation only
//! ```
//!
//! Every benchmark asserts the bytes delivered inside the timed code, so a
//! broken reassembler cannot look fast.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use spanwatch::reassembly::{
    OverlapPolicy, ReassemblyConfig, ReassemblyMemcap, StreamEvent, StreamSink, TcpStream,
    DEFAULT_MEMCAP_BYTES,
};

const ACK: u8 = 0x10;
const MSS: usize = 1448;
const STREAM_LEN: usize = 1 << 20;
const ISN: u32 = 0xfff0_0000; // wraps inside the stream

/// Counts what it is given and touches each delivered slice, as a dissector
/// would at least do.
#[derive(Default)]
struct Counting {
    bytes: u64,
    gaps: u64,
    sum: u64,
    events: u64,
}

impl StreamSink for Counting {
    fn data(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        self.sum = self
            .sum
            .wrapping_add(u64::from(*bytes.first().unwrap_or(&0)));
    }
    fn gap(&mut self, len: u64) {
        self.gaps += len;
    }
    fn event(&mut self, _e: StreamEvent) {
        self.events += 1;
    }
}

/// (relative sequence number, payload range) of each segment to feed.
type Feed = Vec<(u32, std::ops::Range<usize>)>;

fn payload() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..STREAM_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn segments(stride: usize, len: usize) -> Feed {
    (0..STREAM_LEN)
        .step_by(stride)
        .map(|s| (s as u32, s..(s + len).min(STREAM_LEN)))
        .collect()
}

/// Every segment in order.
fn in_order() -> Feed {
    segments(MSS, MSS)
}

/// Pairs swapped: every other segment arrives before its predecessor and is
/// buffered, as after a single reordering on the SPAN.
fn out_of_order() -> Feed {
    let mut f = in_order();
    for pair in f.chunks_mut(2) {
        pair.reverse();
    }
    f
}

/// Segments overlapping by a third, sent in swapped pairs: every buffered
/// segment is overlapped by the next one, exercising the policy path.
fn overlapping() -> Feed {
    let mut f = segments(MSS * 2 / 3, MSS);
    for pair in f.chunks_mut(2) {
        pair.reverse();
    }
    f
}

fn run(feed: &Feed, data: &[u8], policy: OverlapPolicy, mem: &mut ReassemblyMemcap) -> Counting {
    let cfg = ReassemblyConfig {
        policy,
        depth: None,
        ..ReassemblyConfig::default()
    };
    let mut s = TcpStream::new(&cfg);
    let mut sink = Counting::default();
    s.handle_syn(ISN.wrapping_sub(1));
    for (i, (rel, range)) in feed.iter().enumerate() {
        let seq = ISN.wrapping_add(*rel);
        s.segment(
            i as u64 * 1000,
            seq,
            ACK,
            &data[range.clone()],
            mem,
            &mut sink,
        );
    }
    s.close(mem, &mut sink);
    sink
}

fn bench_reassembly(c: &mut Criterion) {
    let data = payload();
    let feeds = [
        ("in_order", in_order()),
        ("out_of_order", out_of_order()),
        ("overlapping", overlapping()),
    ];
    let mut mem = ReassemblyMemcap::default();
    for (unit, per_bytes) in [("bytes", true), ("segments", false)] {
        let mut g = c.benchmark_group(format!("reassembly_{unit}"));
        g.sample_size(20);
        for (name, feed) in &feeds {
            g.throughput(if per_bytes {
                Throughput::Bytes(STREAM_LEN as u64)
            } else {
                Throughput::Elements(feed.len() as u64)
            });
            g.bench_with_input(BenchmarkId::new(*name, "bsd"), feed, |b, feed| {
                b.iter(|| {
                    let out = run(black_box(feed), &data, OverlapPolicy::Bsd, &mut mem);
                    assert_eq!(out.bytes, STREAM_LEN as u64);
                    assert_eq!(out.gaps, 0);
                    out.sum
                })
            });
        }
        g.finish();
    }
}

/// Peak resident memory of this process (VmHWM), in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One million streams, each sent a SYN and then data past a hole, against
/// one 64 MiB memcap: the memcap must hold however many streams there are.
fn memsim() {
    const STREAMS: usize = 1_000_000;
    const OOO_SEGMENTS: u32 = 4;
    const SEG_LEN: usize = 512;
    let cfg = ReassemblyConfig::default();
    let mut mem = ReassemblyMemcap::new(DEFAULT_MEMCAP_BYTES);
    let mut sink = Counting::default();
    let payload = vec![0x5au8; SEG_LEN];

    let hwm_start = vm_hwm_kib();
    let mut streams: Vec<TcpStream> = Vec::with_capacity(STREAMS);
    for i in 0..STREAMS {
        let mut s = TcpStream::new(&cfg);
        s.handle_syn((i as u32).wrapping_mul(2_654_435_761));
        streams.push(s);
    }
    let hwm_streams = vm_hwm_kib();
    // Each stream misses its first segment and gets the next ones.
    for round in 1..=OOO_SEGMENTS {
        for (i, s) in streams.iter_mut().enumerate() {
            let isn = (i as u32).wrapping_mul(2_654_435_761);
            let seq = isn.wrapping_add(1).wrapping_add(round * SEG_LEN as u32);
            s.segment(u64::from(round), seq, ACK, &payload, &mut mem, &mut sink);
        }
        assert!(mem.used() <= mem.limit());
    }
    let hwm_buffered = vm_hwm_kib();
    let holding = streams.iter().filter(|s| s.buffered_bytes() > 0).count();
    let buffered: u64 = streams.iter().map(|s| s.buffered_bytes()).sum();
    let dropped: u64 = streams.iter().map(|s| s.counters().dropped_bytes).sum();
    println!("streams                 {STREAMS}");
    println!(
        "size_of::<TcpStream>()  {} bytes",
        std::mem::size_of::<TcpStream>()
    );
    println!(
        "out-of-order offered    {} MiB",
        (STREAMS as u64 * u64::from(OOO_SEGMENTS) * SEG_LEN as u64) >> 20
    );
    println!("memcap limit            {} MiB", mem.limit() >> 20);
    println!(
        "memcap peak             {:.1} MiB",
        mem.peak() as f64 / 1048576.0
    );
    println!("streams holding data    {holding}");
    println!(
        "payload buffered        {:.1} MiB",
        buffered as f64 / 1048576.0
    );
    println!(
        "payload dropped         {:.1} MiB",
        dropped as f64 / 1048576.0
    );
    println!(
        "VmHWM at start          {:.1} MiB",
        hwm_start as f64 / 1024.0
    );
    println!(
        "VmHWM with streams      {:.1} MiB",
        hwm_streams as f64 / 1024.0
    );
    println!(
        "VmHWM with buffered     {:.1} MiB",
        hwm_buffered as f64 / 1024.0
    );
    println!(
        "growth from buffering   {:.1} MiB (memcap {} MiB)",
        (hwm_buffered - hwm_streams) as f64 / 1024.0,
        mem.limit() >> 20
    );
    for s in &mut streams {
        s.close(&mut mem, &mut sink);
    }
    assert_eq!(mem.used(), 0);
    println!(
        "after close: memcap used {} bytes, gaps reported {} MiB",
        mem.used(),
        sink.gaps >> 20
    );
}

fn main() {
    if std::env::var_os("SPANWATCH_MEMSIM").is_some() {
        memsim();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_reassembly(&mut c);
    c.final_summary();
}
