//! `spanwatch-gen`: writes deterministic pcap captures for tests and benchmarks.
//!
//! ```text
//! spanwatch-gen demo  -o pcaps/demo.pcap
//! spanwatch-gen bench -o /tmp/bench-1g.pcap --size 1G --seed 1
//! spanwatch-gen flood -o /tmp/flood.pcap --connections 1000000
//! spanwatch-gen scenario ot_intrusion_ge_modbus -o pcaps/scenarios/ot_intrusion_ge_modbus.pcap
//! spanwatch-gen scenario all -o pcaps/scenarios/
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use spanwatch_bench::gen::scenario::{self, SCENARIOS};
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
    /// A labelled attack scenario: the capture, and NAME.truth.json (ground truth) next to it.
    Scenario {
        /// Scenario name, or `all` (then --output is a directory), or `list`.
        name: String,
        /// Output file (`NAME.pcap`; the truth goes to `NAME.truth.json` beside it).
        #[arg(short, long, default_value = "pcaps/scenarios/")]
        output: PathBuf,
        /// Seed (the committed files use the default).
        #[arg(long, default_value_t = scenario::DEFAULT_SEED)]
        seed: u64,
    },
}

/// The truth file that goes with a capture path: `x/NAME.pcap` → `x/NAME.truth.json`.
fn truth_path(pcap: &std::path::Path) -> PathBuf {
    let stem = pcap
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    pcap.with_file_name(format!("{stem}.truth.json"))
}

/// Writes one scenario capture and its truth file.
fn write_scenario(name: &str, pcap: &std::path::Path, seed: u64) -> io::Result<Stats> {
    let out = BufWriter::with_capacity(OUTPUT_BUFFER, File::create(pcap)?);
    let (stats, truth) = scenario::write(name, seed, out)?;
    let json = serde_json::to_string_pretty(&truth).map_err(io::Error::other)?;
    let tp = truth_path(pcap);
    std::fs::write(&tp, json + "\n")?;
    eprintln!(
        "{name}: {} ({} packets, {} bytes, {} steps) + {}",
        pcap.display(),
        stats.packets,
        stats.file_bytes,
        truth.steps.len(),
        tp.display()
    );
    Ok(stats)
}

fn run_scenario(name: &str, output: &std::path::Path, seed: u64) -> io::Result<Stats> {
    match name {
        "list" => {
            for (n, d) in SCENARIOS {
                println!("{n:<26} {d}");
            }
            Ok(Stats::default())
        }
        "all" => {
            std::fs::create_dir_all(output)?;
            let mut last = Stats::default();
            for (n, _) in SCENARIOS {
                last = write_scenario(n, &output.join(format!("{n}.pcap")), seed)?;
            }
            Ok(last)
        }
        _ => {
            let path = if output.is_dir() || output.as_os_str().to_string_lossy().ends_with('/') {
                std::fs::create_dir_all(output)?;
                output.join(format!("{name}.pcap"))
            } else {
                output.to_path_buf()
            };
            write_scenario(name, &path, seed)
        }
    }
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
        Profile::Scenario { name, output, seed } => {
            let r = run_scenario(name, output, *seed);
            return match r {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("spanwatch-gen: {e}");
                    ExitCode::FAILURE
                }
            };
        }
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
