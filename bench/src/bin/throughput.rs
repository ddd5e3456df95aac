//! The throughput harness: replays a capture through the whole pipeline and
//! prints packets/s, Gbit/s, ns/packet, CPU seconds, peak RSS and batch
//! latency percentiles, next to a bare counting walk over the same mapped
//! file (the floor no engine can beat). Medians over `--runs` runs.
//!
//! ```text
//! cargo run --release -p spanwatch-bench --bin spanwatch-gen -- bench -o /tmp/bench.pcap
//! cargo run --release -p spanwatch-bench --bin throughput -- /tmp/bench.pcap --workers 1
//! ```

use clap::Parser;
use spanwatch::capture::file::CaptureFile;
use spanwatch::config::Config;
use spanwatch::output::writer::EveTarget;
use spanwatch::runtime::{replay, ReplayOptions};
use std::path::PathBuf;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "spanwatch throughput harness")]
struct Args {
    /// Capture file(s) to replay.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Worker threads.
    #[arg(short, long, default_value_t = 1)]
    workers: usize,
    /// Runs; medians are reported.
    #[arg(short, long, default_value_t = 5)]
    runs: usize,
    /// Where EVE goes: a path (e.g. on tmpfs), or `null` to discard.
    #[arg(long, default_value = "null")]
    eve: String,
    /// Configuration file.
    #[arg(short, long)]
    config: Option<PathBuf>,
}

fn cpu_seconds() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own; RUSAGE_SELF is valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// The floor: walk every record of the mapped files and touch each frame's
/// first and last byte, doing nothing else.
fn bare_walk(files: &[PathBuf]) -> (u64, u64, f64) {
    let t = Instant::now();
    let (mut n, mut bytes, mut sink) = (0u64, 0u64, 0u64);
    for p in files {
        let mut f = CaptureFile::open(p).expect("open");
        let map = f.map().clone();
        while let Some(fr) = f.next_frame() {
            n += 1;
            bytes += fr.caplen as u64;
            if fr.caplen > 0 {
                sink = sink.wrapping_add(
                    map[fr.offset] as u64 + map[fr.offset + fr.caplen as usize - 1] as u64,
                );
            }
        }
    }
    std::hint::black_box(sink);
    (n, bytes, t.elapsed().as_secs_f64())
}

fn main() {
    let a = Args::parse();
    let config = match &a.config {
        Some(p) => Config::load(p).unwrap_or_else(|e| {
            eprintln!("throughput: {e}");
            std::process::exit(2)
        }),
        None => Config::default(),
    };
    let eve = if a.eve == "null" {
        EveTarget::Null
    } else {
        EveTarget::parse(&a.eve)
    };
    // Warm the page cache.
    let _ = bare_walk(&a.files);
    let (mut pps, mut gbps, mut nspp, mut cpu, mut floor) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut last = None;
    for run in 0..a.runs.max(1) {
        let (fn_, _fb, fs) = bare_walk(&a.files);
        floor.push(fn_ as f64 / fs);
        let c0 = cpu_seconds();
        let s = replay(ReplayOptions {
            files: a.files.clone(),
            workers: a.workers,
            eve: eve.clone(),
            config: config.clone(),
            progress: false,
            state_dir: None,
            learn_only: false,
            learn_for: None,
        })
        .unwrap_or_else(|e| {
            eprintln!("throughput: {e}");
            std::process::exit(2)
        });
        let c1 = cpu_seconds();
        let secs = s.wall.as_secs_f64();
        let p = s.capture.frames as f64 / secs;
        pps.push(p);
        gbps.push(s.capture.bytes as f64 * 8.0 / secs / 1e9);
        nspp.push(secs * 1e9 / s.capture.frames.max(1) as f64);
        cpu.push(c1 - c0);
        eprintln!(
            "run {run}: {:.3} Mpps, {:.2} s wall, {:.2} s CPU, floor {:.2} Mpps",
            p / 1e6,
            secs,
            c1 - c0,
            fn_ as f64 / fs / 1e6
        );
        last = Some(s);
    }
    let s = last.expect("at least one run");
    let (p, g, n, c, fl) = (
        median(&mut pps),
        median(&mut gbps),
        median(&mut nspp),
        median(&mut cpu),
        median(&mut floor),
    );
    println!(
        "input            {} file(s), {} packets, {} bytes",
        s.capture.files, s.capture.frames, s.capture.bytes
    );
    println!("workers          {}", a.workers);
    println!(
        "events           {} ({} flow records)",
        s.writer.lines, s.workers.pipeline.flow_records
    );
    println!(
        "pipeline         {:.3} Mpps  {:.2} Gbit/s  {:.1} ns/packet  (median of {})",
        p / 1e6,
        g,
        n,
        a.runs.max(1)
    );
    println!(
        "cpu              {:.2} s per run ({:.1} ns CPU/packet)",
        c,
        c * 1e9 / s.capture.frames.max(1) as f64
    );
    println!(
        "bare walk floor  {:.3} Mpps  (pipeline = {:.2}x the floor's time)",
        fl / 1e6,
        fl / p
    );
    println!("peak RSS         {:.1} MiB", peak_rss_mib());
    let l = &s.latency;
    println!(
        "batch latency    p50 {:.1} us  p90 {:.1} us  p99 {:.1} us  p99.9 {:.1} us  max {:.1} us",
        l.value_at_quantile(0.5) as f64 / 1e3,
        l.value_at_quantile(0.9) as f64 / 1e3,
        l.value_at_quantile(0.99) as f64 / 1e3,
        l.value_at_quantile(0.999) as f64 / 1e3,
        l.max() as f64 / 1e3
    );
}
