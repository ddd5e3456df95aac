//! `spanwatch-gen`: writes deterministic pcap captures for tests and benchmarks.
//!
//! ```text
//! spanwatch-gen demo  -o pcaps/demo.pcap
//! spanwatch-gen bench -o /tmp/bench-1g.pcap --size 1G --seed 1
//! spanwatch-gen flood -o /tmp/flood.pcap --connections 1000000
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use spanwatch_bench::gen::timeline::Stats;
use spanwatch_bench::gen::{
    parse_size, write_bench, write_demo, write_flood, BenchOptions, FloodOptions, DEMO_SEED,
};

/// Output buffer: large, so the generator is never waiting on small writes.
const OUTPUT_BUFFER: usize = 8 << 20;

#[derive(Parser)]
#[command(
    name = "spanwatch-gen",
    version,
    about = "Seeded, deterministic capture generator"
)]
struct Cli {
    #[command(subcommand)]
    profile: Profile,
}

#[derive(Subcommand)]
enum Profile {
    /// The small capture committed as pcaps/demo.pcap: one flow of each kind.
    Demo {
        /// Output file (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// Seed (the committed file uses the default).
        #[arg(long, default_value_t = DEMO_SEED)]
        seed: u64,
    },
    /// The realistic benchmark mix (Modbus, TLS, SMTP, DNS, bulk HTTP), up to a size.
    Bench {
        /// Output file (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// File size to stop at: 1G, 500M, 64K… (binary units; the file never exceeds it).
        #[arg(long, default_value = "1G", value_parser = parse_size)]
        size: u64,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Many concurrent TCP connections each holding out-of-order data (reassembly memory test).
    Flood {
        /// Output file (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// Connections to open.
        #[arg(long, default_value_t = 1_000_000)]
        connections: u64,
        /// Bytes of hole between the handshake and the buffered segment.
        #[arg(long, default_value_t = 1000)]
        hole: u32,
        /// Payload bytes of the buffered segment.
        #[arg(long, default_value_t = 512)]
        payload: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn open(path: &PathBuf) -> io::Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufWriter::with_capacity(
            OUTPUT_BUFFER,
            io::stdout().lock(),
        )))
    } else {
        Ok(Box::new(BufWriter::with_capacity(
            OUTPUT_BUFFER,
            File::create(path)?,
        )))
    }
}

/// Progress to stderr, at most about once a second.
fn reporter(target: Option<u64>) -> impl FnMut(&Stats) {
    let start = Instant::now();
    let mut last = 0.0f64;
    move |s: &Stats| {
        let el = start.elapsed().as_secs_f64();
        if el - last < 1.0 {
            return;
        }
        last = el;
        let mib = s.file_bytes as f64 / (1 << 20) as f64;
        match target {
            Some(t) => eprintln!(
                "  {:>8.1} / {:.0} MiB  {:>10} packets  {:>6.1} s capture time  {:>5.1} s",
                mib,
                t as f64 / (1 << 20) as f64,
                s.packets,
                s.span_secs(),
                el
            ),
            None => eprintln!(
                "  {:>8.1} MiB  {:>10} packets  {:>5.1} s",
                mib, s.packets, el
            ),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let start = Instant::now();
    let result = match &cli.profile {
        Profile::Demo { output, seed } => open(output).and_then(|w| write_demo(w, *seed)),
        Profile::Bench { output, size, seed } => open(output).and_then(|w| {
            let opts = BenchOptions {
                size: *size,
                seed: *seed,
            };
            write_bench(w, &opts, &mut reporter(Some(*size)))
        }),
        Profile::Flood {
            output,
            connections,
            hole,
            payload,
            seed,
        } => open(output).and_then(|w| {
            let opts = FloodOptions {
                connections: *connections,
                hole: *hole,
                payload: *payload,
                seed: *seed,
            };
            write_flood(w, &opts, &mut reporter(None))
        }),
    };
    match result {
        Ok(stats) => {
            let secs = start.elapsed().as_secs_f64();
            eprint!("{stats}");
            eprintln!(
                "generated in {:.2} s ({:.0} MiB/s)",
                secs,
                stats.file_bytes as f64 / (1 << 20) as f64 / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spanwatch-gen: {e}");
            ExitCode::FAILURE
        }
    }
}
