//! End-to-end evaluation on the labelled scenario captures in `pcaps/scenarios/`: replays each
//! through the `spanwatch` binary and asserts the thresholds of `spanwatch_bench::eval` (every
//! expected model fires on its step; at most one false alert with score ≥ 50 per 10,000 benign
//! flows; none on the lemay captures, when `../shared/pcaps` is present).
//!
//! The `spanwatch` binary is looked for in the target directory of this build; when it is
//! missing the test builds it with `cargo build -p spanwatch`. Missing captures skip the test
//! with a visible message.

use std::path::{Path, PathBuf};

use spanwatch_bench::eval::{
    evaluate, evaluate_real, load_truth, replay, report, scenario_files, verdict,
    DEFAULT_SLACK_SECS,
};
use spanwatch_bench::gen::scenario::{self, SCENARIOS};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/<profile>/spanwatch` of this build, built on demand.
fn spanwatch() -> Option<PathBuf> {
    let name = format!("spanwatch{}", std::env::consts::EXE_SUFFIX);
    // CARGO_TARGET_TMPDIR is <target>/tmp; the test binary lives in <target>/<profile>/deps.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("..");
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(Path::to_path_buf));
    let candidates: Vec<PathBuf> = profile_dir
        .iter()
        .map(|d| d.join(&name))
        .chain(
            ["debug", "release"]
                .iter()
                .map(|p| target.join(p).join(&name)),
        )
        .collect();
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        warn_if_stale(p);
        return Some(p.clone());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "spanwatch", "--bin", "spanwatch"])
        .current_dir(repo())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut best = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let t = if p.is_dir() {
            newest(&p)
        } else {
            e.metadata().and_then(|m| m.modified()).ok()
        };
        best = best.max(t);
    }
    best
}

/// `cargo test -p spanwatch-bench` does not rebuild the spanwatch binary: say so when it is
/// older than the engine or parser sources.
fn warn_if_stale(bin: &Path) {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok();
    let src = newest(&repo().join("engine/src")).max(newest(&repo().join("parsers/src")));
    if let (Some(b), Some(s)) = (built, src) {
        if s > b {
            eprintln!(
                "WARNING: {} is older than the engine sources; run `cargo build -p spanwatch` (or test the whole workspace) for current results",
                bin.display()
            );
        }
    }
}

#[test]
fn committed_scenarios_match_the_generator() {
    let dir = repo().join("pcaps/scenarios");
    for (name, _) in SCENARIOS {
        let pcap = dir.join(format!("{name}.pcap"));
        let Ok(committed) = std::fs::read(&pcap) else {
            eprintln!("SKIP: {} is missing", pcap.display());
            continue;
        };
        let mut out = Vec::new();
        let (_, truth) = scenario::write(name, scenario::DEFAULT_SEED, &mut out).unwrap();
        assert!(
            out == committed,
            "{name}: the committed capture differs from `spanwatch-gen scenario {name}`; regenerate pcaps/scenarios"
        );
        let t = load_truth(&dir.join(format!("{name}.truth.json"))).unwrap();
        assert_eq!(t, truth, "{name}: the committed truth file is stale");
        assert!(
            committed.len() < 3 << 20,
            "{name}: keep scenario captures under 3 MiB"
        );
    }
}

#[test]
fn scenario_alerts_meet_the_detection_and_false_alert_thresholds() {
    let dir = repo().join("pcaps/scenarios");
    let files = match scenario_files(&dir) {
        Ok(f) if !f.is_empty() => f,
        _ => {
            eprintln!("SKIP: no scenario captures in {}", dir.display());
            return;
        }
    };
    let Some(bin) = spanwatch() else {
        eprintln!("SKIP: the spanwatch binary is not built and could not be built");
        return;
    };
    let mut results = Vec::new();
    let mut truths = Vec::new();
    for (pcap, truth) in &files {
        let truth = load_truth(truth).unwrap();
        let eve = replay(&bin, pcap, truth.learn_for_secs).unwrap();
        assert_eq!(
            eve.bad_lines,
            0,
            "{}: spanwatch wrote lines that are not JSON",
            pcap.display()
        );
        results.push(evaluate(&truth, &eve, DEFAULT_SLACK_SECS * 1_000_000));
        truths.push(truth);
    }
    let shared = repo().join("../shared/pcaps/mixed");
    let mut real = Vec::new();
    for f in ["lemay_channel_4d_9s.pcap", "lemay_channel_5d_3s.pcap"] {
        let p = shared.join(f);
        if p.is_file() {
            real.push(evaluate_real(&bin, &p, None).unwrap());
        } else {
            eprintln!("SKIP: {} is missing (real-capture check)", p.display());
        }
    }
    let text = report(&results, &real, &truths);
    eprintln!("{text}");
    let v = verdict(&results, &real);
    let mut failures = Vec::new();
    if v.benign_flows < 10_000 {
        failures.push(format!(
            "too few benign flows to measure the rate: {}",
            v.benign_flows
        ));
    }
    if !v.missed.is_empty() {
        failures.push(format!(
            "attack steps missed (scenario, step, model): {:?}",
            v.missed
        ));
    }
    if v.rate_per_10k > spanwatch_bench::eval::MAX_HIGH_FALSE_PER_10K {
        failures.push(format!(
            "{} false alerts with score >= 50 over {} benign flows ({:.2} per 10,000, at most {})",
            v.false_high,
            v.benign_flows,
            v.rate_per_10k,
            spanwatch_bench::eval::MAX_HIGH_FALSE_PER_10K
        ));
    }
    if v.real_high > 0 {
        failures.push(format!(
            "{} alerts with score >= 50 on the real captures",
            v.real_high
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
