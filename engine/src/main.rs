//! The `spanwatch` command line.

use clap::{Args, Parser, Subcommand};
use spanwatch::config::Config;
use spanwatch::output::writer::EveTarget;
use spanwatch::runtime::{replay, ReplayError, ReplayOptions, ReplaySummary};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// spanwatch: a network detection engine for SPAN/mirror ports.
///
/// Reassembles flows, dissects IT and OT protocols (Modbus/TCP, GE SRTP and
/// EGD, Mitsubishi MC/SLMP and MELSOFT, CC-Link IE Field Basic, TLS, SMTP,
/// DNS) and writes Suricata-compatible EVE JSON.
#[derive(Parser, Debug)]
#[command(name = "spanwatch", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay capture files (pcap or pcapng) through the engine and write EVE JSON.
    Replay(ReplayArgs),
    /// Print the default configuration as TOML (every key, with its default).
    Config,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// Capture files, read in the order given as one input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Worker threads [default: number of CPU cores, or runtime.workers].
    #[arg(short, long, value_name = "N")]
    workers: Option<usize>,
    /// EVE output path; `-` writes to stdout [default: eve.json].
    #[arg(long, value_name = "PATH")]
    eve: Option<String>,
    /// Configuration file (TOML). Not needed to run: every key has a default.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Never show a progress bar (it is shown only on a terminal for large inputs).
    #[arg(long)]
    no_progress: bool,
    /// Do not print the summary line.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(a) => run_replay(a),
        Command::Config => {
            print!("{}", spanwatch::config::Config::default_toml());
            ExitCode::SUCCESS
        }
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    }
}

fn run_replay(a: ReplayArgs) -> ExitCode {
    let config = match load_config(a.config.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("spanwatch: error: {e}");
            return ExitCode::from(2);
        }
    };
    let workers = match a
        .workers
        .or(Some(config.runtime.workers).filter(|&w| w > 0))
    {
        Some(0) => {
            eprintln!("spanwatch: error: --workers must be at least 1");
            return ExitCode::from(2);
        }
        Some(w) => w,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let eve = EveTarget::parse(a.eve.as_deref().unwrap_or(&config.output.eve));
    let total: u64 = a
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress = !a.no_progress && std::io::stderr().is_terminal() && total > 64 * 1024 * 1024;
    let opts = ReplayOptions {
        files: a.files,
        workers,
        eve,
        config,
        progress,
    };
    match replay(opts) {
        Ok(s) => {
            for t in &s.truncated {
                eprintln!(
                    "spanwatch: warning: {}: truncated: the record at byte {} is cut off; processed the {} packets before it",
                    t.path.display(),
                    t.offset,
                    t.frames
                );
            }
            if !a.quiet {
                eprintln!("{}", summary_line(&s, workers));
            }
            ExitCode::SUCCESS
        }
        Err(e @ ReplayError::Open(_)) => {
            eprintln!("spanwatch: error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("spanwatch: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn summary_line(s: &ReplaySummary, workers: usize) -> String {
    let secs = s.wall.as_secs_f64().max(1e-9);
    let pps = s.capture.frames as f64 / secs;
    let gbps = s.capture.bytes as f64 * 8.0 / secs / 1e9;
    format!(
        "spanwatch: {} packets ({} bytes) from {} file(s), {} flows, {} events in {:.2} s with {} worker(s): {:.2} Mpps, {:.2} Gbit/s",
        s.capture.frames,
        s.capture.bytes,
        s.capture.files,
        s.workers.flow.created,
        s.writer.lines,
        secs,
        workers,
        pps / 1e6,
        gbps
    )
}
