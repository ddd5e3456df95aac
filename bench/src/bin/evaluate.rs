//! `spanwatch-eval`: replays the labelled scenario captures through `spanwatch`, matches its
//! alerts to the attack steps of each ground-truth file, and checks the detection and
//! false-alert thresholds; optionally replays real captures with learning on their first half.
//!
//! ```text
//! spanwatch-eval                                   # pcaps/scenarios/*, plus the lemay captures if present
//! spanwatch-eval --scenarios pcaps/scenarios ot_intrusion_ge_modbus
//! spanwatch-eval --real ../shared/pcaps/mixed/lemay_channel_4d_9s.pcap:300
//! ```
//!
//! Exit codes: 0 when every threshold holds, 1 when one fails, 2 on a usage or I/O error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use spanwatch_bench::eval::{
    evaluate, evaluate_real, find_spanwatch, load_truth, replay, report, scenario_files, verdict,
    DEFAULT_SLACK_SECS,
};

#[derive(Parser)]
#[command(
    name = "spanwatch-eval",
    version,
    about = "Score spanwatch's alerts on the labelled scenario captures"
)]
struct Cli {
    /// Scenario names to run (default: every NAME.truth.json with NAME.pcap in --scenarios).
    names: Vec<String>,
    /// The spanwatch binary [default: next to this one, or target/{release,debug}/spanwatch].
    #[arg(long, value_name = "PATH")]
    spanwatch: Option<PathBuf>,
    /// Folder of the scenario captures and truth files.
    #[arg(long, value_name = "DIR", default_value = "pcaps/scenarios")]
    scenarios: PathBuf,
    /// Seconds of slack around each step's window.
    #[arg(long, default_value_t = DEFAULT_SLACK_SECS)]
    slack: u64,
    /// A real capture to replay with learning on its first part: FILE or FILE:SECONDS
    /// (default: the first half). Repeatable. Without any, the lemay captures in
    /// ../shared/pcaps/mixed are used when present.
    #[arg(long, value_name = "FILE[:SECS]")]
    real: Vec<String>,
    /// Do not replay real captures.
    #[arg(long)]
    no_real: bool,
    /// Also write each scenario's EVE output here (NAME.eve.json).
    #[arg(long, value_name = "DIR")]
    keep_eve: Option<PathBuf>,
}

fn default_real() -> Vec<String> {
    let dir = Path::new("../shared/pcaps/mixed");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lemay_") && n.ends_with(".pcap"))
        })
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

fn run(cli: &Cli) -> Result<bool, String> {
    let spanwatch = find_spanwatch(cli.spanwatch.as_deref(), None).ok_or(
        "spanwatch binary not found: build it (cargo build --release -p spanwatch) or pass --spanwatch",
    )?;
    let mut files =
        scenario_files(&cli.scenarios).map_err(|e| format!("{}: {e}", cli.scenarios.display()))?;
    if !cli.names.is_empty() {
        files.retain(|(p, _)| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| cli.names.iter().any(|n| n == s))
        });
    }
    if files.is_empty() {
        return Err(format!(
            "no scenario captures in {} (generate them: spanwatch-gen scenario all -o {}/)",
            cli.scenarios.display(),
            cli.scenarios.display()
        ));
    }
    let mut results = Vec::new();
    let mut truths = Vec::new();
    for (pcap, truth_path) in &files {
        let truth = load_truth(truth_path).map_err(|e| e.to_string())?;
        eprintln!("replaying {} (learn {})", pcap.display(), truth.learn_for);
        if let Some(dir) = &cli.keep_eve {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let out = std::process::Command::new(&spanwatch)
                .arg("replay")
                .arg(pcap)
                .args(["--learn-for", &format!("{}s", truth.learn_for_secs)])
                .args(["--quiet", "--no-progress", "--eve"])
                .arg(dir.join(format!("{}.eve.json", truth.scenario)))
                .status()
                .map_err(|e| e.to_string())?;
            if !out.success() {
                return Err(format!("spanwatch failed on {}", pcap.display()));
            }
        }
        let eve = replay(&spanwatch, pcap, truth.learn_for_secs).map_err(|e| e.to_string())?;
        results.push(evaluate(&truth, &eve, cli.slack * 1_000_000));
        truths.push(truth);
    }
    let reals = if cli.no_real {
        Vec::new()
    } else if cli.real.is_empty() {
        default_real()
    } else {
        cli.real.clone()
    };
    let mut real_results = Vec::new();
    for r in &reals {
        let (file, secs) = match r.rsplit_once(':') {
            Some((f, s)) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
                (f.to_string(), s.parse().ok())
            }
            _ => (r.clone(), None),
        };
        eprintln!("replaying real capture {file}");
        real_results
            .push(evaluate_real(&spanwatch, Path::new(&file), secs).map_err(|e| e.to_string())?);
    }
    print!("{}", report(&results, &real_results, &truths));
    Ok(verdict(&results, &real_results).pass())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("spanwatch-eval: {e}");
            ExitCode::from(2)
        }
    }
}
