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
    /// Learn baselines from capture files into --state-dir, without alerting.
    Learn(LearnArgs),
    /// Print the asset inventory that capture files reveal (a table, or JSON).
    Assets(AssetsArgs),
    /// Print the default configuration as TOML (every key, with its default).
    Config,
    /// Capture live from an interface (libpcap or AF_XDP) until SIGINT/SIGTERM.
    Live(live_cmd::LiveArgs),
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
    /// Baseline state directory: loaded at start, snapshotted periodically and at exit.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Treat the first DURATION of capture time as learning (e.g. 90s, 30m, 3h, 2d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    learn_for: Option<u64>,
    /// Which OT transactions become events: all, changes (non-read) or none.
    #[arg(long, value_enum, value_name = "WHICH")]
    ot_events: Option<spanwatch::dissect::OtEvents>,
}

#[derive(Args, Debug)]
struct LearnArgs {
    /// Capture files, read in the order given as one input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Baseline state directory (created if missing).
    #[arg(long, value_name = "DIR", required = true)]
    state_dir: PathBuf,
    /// Worker threads [default: number of CPU cores].
    #[arg(short, long, value_name = "N")]
    workers: Option<usize>,
    /// EVE output path for the events seen while learning [default: none].
    #[arg(long, value_name = "PATH")]
    eve: Option<String>,
    /// Configuration file (TOML).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Do not print the summary line.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct AssetsArgs {
    /// Capture files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Configuration file (TOML).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Parses `90`, `90s`, `30m`, `3h`, `2d` into seconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid duration {s:?}: use a number with s, m, h or d (e.g. 30m)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(a) => run_replay(a, false),
        Command::Learn(a) => run_replay(
            ReplayArgs {
                files: a.files,
                workers: a.workers,
                eve: Some(a.eve.unwrap_or_else(|| "/dev/null".into())),
                config: a.config,
                no_progress: false,
                quiet: a.quiet,
                state_dir: Some(a.state_dir),
                learn_for: None,
                ot_events: None,
            },
            true,
        ),
        Command::Assets(a) => run_assets(a),
        Command::Live(a) => live_cmd::run(a),
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

fn run_replay(a: ReplayArgs, learn_only: bool) -> ExitCode {
    let config = match load_config(a.config.as_ref()) {
        Ok(mut c) => {
            if let Some(o) = a.ot_events {
                c.dissect.ot_events = o;
            }
            c
        }
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
        state_dir: a.state_dir,
        learn_only,
        learn_for: a.learn_for,
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
            if let Some(e) = s.baseline.as_ref().and_then(|b| b.snapshot_error.as_ref()) {
                eprintln!("spanwatch: error: {e}");
                return ExitCode::from(1);
            }
            if !a.quiet {
                eprintln!("{}", summary_line(&s, workers));
            }
            ExitCode::SUCCESS
        }
        Err(e @ (ReplayError::Open(_) | ReplayError::State(_))) => {
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

fn run_assets(a: AssetsArgs) -> ExitCode {
    let config = match load_config(a.config.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("spanwatch: error: {e}");
            return ExitCode::from(2);
        }
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let opts = ReplayOptions {
        files: a.files,
        workers,
        eve: EveTarget::Null,
        config,
        progress: std::io::stderr().is_terminal(),
        state_dir: None,
        learn_only: true,
        learn_for: None,
    };
    let s = match replay(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("spanwatch: error: {e}");
            return ExitCode::from(if matches!(e, ReplayError::Output(_)) {
                1
            } else {
                2
            });
        }
    };
    let inv = s.baseline.map(|b| b.inventory).unwrap_or_default();
    if a.json {
        let v: Vec<serde_json::Value> = inv
            .iter()
            .map(|(ip, facts)| {
                let m: serde_json::Map<String, serde_json::Value> = facts
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                serde_json::json!({"ip": ip.to_string(), "facts": m})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        let keys: std::collections::BTreeSet<&str> = inv
            .iter()
            .flat_map(|(_, f)| f.iter().map(|(k, _)| k.as_str()))
            .collect();
        let keys: Vec<&str> = keys.into_iter().collect();
        let mut rows: Vec<Vec<String>> = vec![std::iter::once("ip".to_string())
            .chain(keys.iter().map(|k| k.to_string()))
            .collect()];
        for (ip, facts) in &inv {
            let mut row = vec![ip.to_string()];
            for k in &keys {
                row.push(
                    facts
                        .iter()
                        .find(|(fk, _)| fk == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_else(|| "-".into()),
                );
            }
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v:<w$}"))
                .collect();
            println!("{}", line.join("  ").trim_end());
        }
        if inv.is_empty() {
            eprintln!("spanwatch: no asset facts found in the input");
        }
    }
    ExitCode::SUCCESS
}

/// `spanwatch live`: a self-contained block (arguments and their mapping onto
/// `runtime::live::LiveOptions`).
mod live_cmd {
    use super::load_config;
    use clap::{Args, ValueEnum};
    use spanwatch::capture::live::pcap::PcapOptions;
    use spanwatch::capture::live::xdp::{AttachMode, BindMode, XdpOptions};
    use spanwatch::capture::live::CaptureMethod;
    use spanwatch::output::writer::EveTarget;
    use spanwatch::runtime::live::{live, LiveError, LiveOptions, Signals};
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy, ValueEnum)]
    pub enum CaptureArg {
        /// libpcap (TPACKET_V3); needs CAP_NET_RAW.
        Pcap,
        /// AF_XDP, one socket per NIC queue; needs CAP_NET_RAW, CAP_NET_ADMIN
        /// and CAP_BPF; falls back to libpcap where it cannot be set up.
        AfXdp,
    }

    #[derive(Debug, Clone, Copy, ValueEnum)]
    pub enum XdpModeArg {
        /// Native where the driver supports it, else generic.
        Auto,
        /// Generic XDP (any driver).
        Skb,
        /// Native (driver) XDP.
        Native,
    }

    #[derive(Debug, Clone, Copy, ValueEnum)]
    pub enum XdpBindArg {
        /// Zero-copy where supported, else copy.
        Auto,
        /// Copy mode.
        Copy,
        /// Zero-copy mode.
        ZeroCopy,
    }

    #[derive(Args, Debug)]
    pub struct LiveArgs {
        /// Interface to capture on (the SPAN / mirror port).
        #[arg(short, long, value_name = "IF")]
        iface: String,
        /// Capture mechanism.
        #[arg(long, value_enum, default_value = "pcap")]
        capture: CaptureArg,
        /// AF_XDP: NIC queues to read, 0..N [default: every RX queue].
        #[arg(long, value_name = "N")]
        queues: Option<u32>,
        /// Worker threads [default: runtime.workers if set, else --queues with af-xdp, else CPU cores].
        #[arg(short, long, value_name = "N")]
        workers: Option<usize>,
        /// BPF filter (tcpdump syntax; libpcap only).
        #[arg(long, value_name = "FILTER")]
        bpf: Option<String>,
        /// EVE output path, opened for append; `-` writes to stdout [default: output.eve].
        #[arg(long, value_name = "PATH")]
        eve: Option<String>,
        /// State directory (created at start; the baseline snapshot goes here at shutdown).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// libpcap: bytes kept per frame.
        #[arg(long, value_name = "N", default_value_t = 65535)]
        snaplen: u32,
        /// libpcap: kernel ring buffer size in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
        buffer_size: u32,
        /// Seconds between `stats` EVE records; 0: only the final one.
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        stats_interval: u64,
        /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9490) at /metrics.
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<SocketAddr>,
        /// Switch to USER once the capture is open.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Do not put the interface in promiscuous mode (libpcap).
        #[arg(long)]
        no_promisc: bool,
        /// AF_XDP: where the redirect program runs.
        #[arg(long, value_enum, default_value = "auto")]
        xdp_mode: XdpModeArg,
        /// AF_XDP: copy or zero-copy sockets.
        #[arg(long, value_enum, default_value = "auto")]
        xdp_bind: XdpBindArg,
        /// AF_XDP: UMEM chunks per queue.
        #[arg(long, value_name = "N", default_value_t = 4096)]
        umem_frames: u32,
        /// AF_XDP: UMEM chunk size (2048 or 4096).
        #[arg(long, value_name = "BYTES", default_value_t = 4096)]
        xdp_frame_size: u32,
        /// AF_XDP: fill and RX ring entries (power of two).
        #[arg(long, value_name = "N", default_value_t = 2048)]
        xdp_ring_size: u32,
        /// AF_XDP: bind without XDP_USE_NEED_WAKEUP.
        #[arg(long)]
        no_need_wakeup: bool,
        /// AF_XDP: microseconds to let frames gather after a wake-up on an
        /// empty queue (fewer wake-ups per frame; a busy queue never waits).
        #[arg(long, value_name = "US", default_value_t = 200)]
        xdp_wake_delay_us: u32,
        /// AF_XDP: the NIC's RSS key is symmetric, so queue i feeds worker i
        /// directly (no hand-off between threads).
        #[arg(long)]
        rss_symmetric: bool,
        /// Configuration file (TOML).
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Do not print the summary line at exit.
        #[arg(short, long)]
        quiet: bool,
    }

    pub fn run(a: LiveArgs) -> ExitCode {
        let config = match load_config(a.config.as_ref()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("spanwatch: error: {e}");
                return ExitCode::from(2);
            }
        };
        let method = match a.capture {
            CaptureArg::Pcap => CaptureMethod::Pcap,
            CaptureArg::AfXdp => CaptureMethod::AfXdp,
        };
        let xdp = XdpOptions {
            iface: a.iface.clone(),
            queues: a.queues,
            attach: match a.xdp_mode {
                XdpModeArg::Auto => AttachMode::Auto,
                XdpModeArg::Skb => AttachMode::Skb,
                XdpModeArg::Native => AttachMode::Native,
            },
            bind: match a.xdp_bind {
                XdpBindArg::Auto => BindMode::Auto,
                XdpBindArg::Copy => BindMode::Copy,
                XdpBindArg::ZeroCopy => BindMode::ZeroCopy,
            },
            frame_size: a.xdp_frame_size,
            umem_frames: a.umem_frames,
            ring_size: a.xdp_ring_size,
            need_wakeup: !a.no_need_wakeup,
            wake_delay_us: a.xdp_wake_delay_us,
        };
        if let Err(e) = xdp.validate() {
            eprintln!("spanwatch: error: {e}");
            return ExitCode::from(2);
        }
        let workers = match a
            .workers
            .or(Some(config.runtime.workers).filter(|&w| w > 0))
        {
            Some(0) => {
                eprintln!("spanwatch: error: --workers must be at least 1");
                return ExitCode::from(2);
            }
            Some(w) => w,
            None => match (method, a.queues) {
                (CaptureMethod::AfXdp, Some(q)) => q as usize,
                _ => std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
            },
        };
        let signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("spanwatch: error: {e}");
                return ExitCode::from(1);
            }
        };
        let eve = EveTarget::parse(a.eve.as_deref().unwrap_or(&config.output.eve));
        let opts = LiveOptions {
            iface: a.iface.clone(),
            method,
            workers,
            pcap: PcapOptions {
                iface: a.iface.clone(),
                snaplen: a.snaplen,
                buffer_size: a.buffer_size,
                promisc: !a.no_promisc,
                filter: a.bpf,
            },
            xdp,
            rss_symmetric: a.rss_symmetric,
            eve,
            state_dir: a.state_dir,
            stats_interval: (a.stats_interval > 0).then(|| Duration::from_secs(a.stats_interval)),
            metrics_listen: a.metrics_listen,
            user: a.user,
            config,
        };
        match live(opts, signals) {
            Ok(s) => {
                if !a.quiet {
                    // stderr may be gone by now (a closed pipe): never fail on it.
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "spanwatch: live: {} ({}): {} packets delivered, {} dropped before delivery, {} flows, {} events in {:.1} s with {} worker(s), {:.3} s CPU",
                        a.iface,
                        s.method.name(),
                        s.delivered(),
                        s.dropped(),
                        s.workers.flow.created,
                        s.writer.lines,
                        s.wall.as_secs_f64(),
                        workers,
                        s.cpu.as_secs_f64()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e @ LiveError::Setup(_)) => {
                eprintln!("spanwatch: error: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("spanwatch: error: {e}");
                ExitCode::from(1)
            }
        }
    }
}
