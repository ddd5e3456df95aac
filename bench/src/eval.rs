//! Scores spanwatch's alerts against the ground truth of the labelled scenarios.
//!
//! An alert **matches** a step when its model (`spanwatch.model`) is one of the step's
//! `models` or `may_fire`, its device (`spanwatch.device`) is one of the step's attackers or
//! victims, and its time lies in the step's window widened by the slack on both sides. A
//! (step, model) pair listed in `models` is **detected** when at least one matching alert has
//! that model. Every alert after learning that matches no step is a **false alert**.
//!
//! A flow is **benign** when it started after learning, does not touch a host that exists only
//! for the attack (`Truth::attack_hosts`), and is not an attacker↔victim flow inside a step's
//! window. The false-alert rate is the number of false alerts with score ≥ 50 per 10,000 benign
//! flows.
//!
//! Thresholds ([`Verdict`]): every (step, model) pair detected; at most
//! [`MAX_HIGH_FALSE_PER_10K`] false alerts with score ≥ 50 per 10,000 benign flows over all
//! scenarios; no alert with score ≥ 50 after learning on a real capture.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::gen::scenario::truth::{parse_rfc3339, Step, Truth};

/// Default slack around a step's window, seconds.
pub const DEFAULT_SLACK_SECS: u64 = 120;
/// Most false alerts with score ≥ 50 allowed per 10,000 benign flows.
pub const MAX_HIGH_FALSE_PER_10K: f64 = 1.0;
/// The score from which an alert counts as high.
pub const HIGH_SCORE: u32 = 50;

/// One `alert` record.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Packet time, µs.
    pub ts: u64,
    /// `spanwatch.model`.
    pub model: String,
    /// `spanwatch.score`.
    pub score: u32,
    /// `spanwatch.device`.
    pub device: String,
    /// `src_ip`.
    pub src_ip: String,
    /// `dest_ip`.
    pub dest_ip: String,
    /// `spanwatch.evidence`.
    pub evidence: String,
}

/// One `flow` record.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// First packet, µs.
    pub start: u64,
    /// Last packet, µs.
    pub end: u64,
    /// Client.
    pub src_ip: String,
    /// Server.
    pub dest_ip: String,
    /// Detected protocol.
    pub app_proto: Option<String>,
}

/// What the evaluation needs from an EVE file.
#[derive(Clone, Debug, Default)]
pub struct Eve {
    /// Alerts in file order.
    pub alerts: Vec<Alert>,
    /// Flow records.
    pub flows: Vec<Flow>,
    /// Lines that were not JSON objects.
    pub bad_lines: u64,
}

fn text(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str().map(str::to_string)
}

fn time(v: &serde_json::Value, path: &[&str]) -> Option<u64> {
    text(v, path).and_then(|s| parse_rfc3339(&s))
}

/// Reads EVE lines, keeping alerts and flows.
pub fn parse_eve(r: impl BufRead) -> io::Result<Eve> {
    let mut eve = Eve::default();
    for line in r.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            eve.bad_lines += 1;
            continue;
        };
        match v.get("event_type").and_then(|e| e.as_str()) {
            Some("alert") => {
                let sw = v.get("spanwatch");
                eve.alerts.push(Alert {
                    ts: time(&v, &["timestamp"]).unwrap_or(0),
                    model: text(&v, &["spanwatch", "model"]).unwrap_or_default(),
                    score: sw
                        .and_then(|s| s.get("score"))
                        .and_then(|s| s.as_u64())
                        .unwrap_or(0) as u32,
                    device: text(&v, &["spanwatch", "device"]).unwrap_or_default(),
                    src_ip: text(&v, &["src_ip"]).unwrap_or_default(),
                    dest_ip: text(&v, &["dest_ip"]).unwrap_or_default(),
                    evidence: text(&v, &["spanwatch", "evidence"]).unwrap_or_default(),
                });
            }
            Some("flow") => {
                let start = time(&v, &["flow", "start"])
                    .or_else(|| time(&v, &["timestamp"]))
                    .unwrap_or(0);
                eve.flows.push(Flow {
                    start,
                    end: time(&v, &["flow", "end"]).unwrap_or(start),
                    src_ip: text(&v, &["src_ip"]).unwrap_or_default(),
                    dest_ip: text(&v, &["dest_ip"]).unwrap_or_default(),
                    app_proto: text(&v, &["app_proto"]),
                });
            }
            _ => {}
        }
    }
    Ok(eve)
}

/// The result for one (step, expected model) pair.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelHit {
    /// Model key.
    pub model: String,
    /// At least one matching alert.
    pub detected: bool,
    /// Highest score among the matching alerts.
    pub best_score: u32,
}

/// The result for one step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepResult {
    /// Step id.
    pub id: String,
    /// Expected models and whether each fired.
    pub expected: Vec<ModelHit>,
    /// Alerts matching the step (expected or allowed models).
    pub matched: usize,
    /// Models of the matching alerts, with counts.
    pub matched_models: BTreeMap<String, usize>,
}

impl StepResult {
    /// Every expected model fired.
    pub fn fully_detected(&self) -> bool {
        self.expected.iter().all(|m| m.detected)
    }
    /// At least one expected model fired.
    pub fn detected(&self) -> bool {
        self.expected.iter().any(|m| m.detected)
    }
}

/// Per-model counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelRow {
    /// (step, model) pairs expecting it.
    pub expected: u64,
    /// Of those, detected.
    pub detected: u64,
    /// Of those, missed.
    pub missed: u64,
    /// False alerts (after learning, matching no step).
    pub false_alerts: u64,
    /// False alerts with score ≥ 50.
    pub false_high: u64,
}

/// The evaluation of one scenario.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// Scenario name.
    pub name: String,
    /// Per step.
    pub steps: Vec<StepResult>,
    /// Per model key.
    pub models: BTreeMap<String, ModelRow>,
    /// The false alerts.
    pub false_alerts: Vec<Alert>,
    /// False alerts that a benign novelty explains at a low score (still counted as false).
    pub novelty_low: usize,
    /// Alerts after learning.
    pub alerts_after_learning: usize,
    /// Alerts before learning ended (should be none).
    pub alerts_while_learning: usize,
    /// Flows that started after learning.
    pub flows_after_learning: u64,
    /// Of those, benign.
    pub benign_flows: u64,
}

impl ScenarioResult {
    /// False alerts with score ≥ 50.
    pub fn false_high(&self) -> u64 {
        self.false_alerts
            .iter()
            .filter(|a| a.score >= HIGH_SCORE)
            .count() as u64
    }
}

fn in_window(s: &Step, ts: u64, slack: u64) -> bool {
    ts + slack >= s.start_us && ts <= s.end_us + slack
}

fn matches(s: &Step, a: &Alert, slack: u64) -> bool {
    (s.models.contains(&a.model) || s.may_fire.contains(&a.model))
        && (s.attacker.contains(&a.device) || s.victims.contains(&a.device))
        && in_window(s, a.ts, slack)
}

fn attack_flow(truth: &Truth, f: &Flow, slack: u64) -> bool {
    if truth.attack_hosts.contains(&f.src_ip) || truth.attack_hosts.contains(&f.dest_ip) {
        return true;
    }
    truth.steps.iter().any(|s| {
        let a = |ip: &String| s.attacker.contains(ip);
        let v = |ip: &String| s.victims.contains(ip);
        ((a(&f.src_ip) && v(&f.dest_ip)) || (v(&f.src_ip) && a(&f.dest_ip)))
            && f.end + slack >= s.start_us
            && f.start <= s.end_us + slack
    })
}

/// Scores `eve` against `truth` with `slack_us` of slack around each step.
pub fn evaluate(truth: &Truth, eve: &Eve, slack_us: u64) -> ScenarioResult {
    let learn_end = truth.learning_end_us;
    let mut models: BTreeMap<String, ModelRow> = BTreeMap::new();
    let mut steps = Vec::new();
    for s in &truth.steps {
        let mut matched_models: BTreeMap<String, usize> = BTreeMap::new();
        let mut matched = 0;
        for a in eve.alerts.iter().filter(|a| matches(s, a, slack_us)) {
            matched += 1;
            *matched_models.entry(a.model.clone()).or_default() += 1;
        }
        let expected = s
            .models
            .iter()
            .map(|m| {
                let best = eve
                    .alerts
                    .iter()
                    .filter(|a| &a.model == m && matches(s, a, slack_us))
                    .map(|a| a.score)
                    .max();
                let row = models.entry(m.clone()).or_default();
                row.expected += 1;
                if best.is_some() {
                    row.detected += 1;
                } else {
                    row.missed += 1;
                }
                ModelHit {
                    model: m.clone(),
                    detected: best.is_some(),
                    best_score: best.unwrap_or(0),
                }
            })
            .collect();
        steps.push(StepResult {
            id: s.id.clone(),
            expected,
            matched,
            matched_models,
        });
    }
    let mut false_alerts = Vec::new();
    let mut novelty_low = 0;
    let mut after = 0;
    let mut during = 0;
    for a in &eve.alerts {
        if a.ts < learn_end {
            during += 1;
            continue;
        }
        after += 1;
        if truth.steps.iter().any(|s| matches(s, a, slack_us)) {
            continue;
        }
        let row = models.entry(a.model.clone()).or_default();
        row.false_alerts += 1;
        if a.score >= HIGH_SCORE {
            row.false_high += 1;
        }
        if a.score < HIGH_SCORE
            && truth.novelties.iter().any(|n| {
                n.low_score_models.contains(&a.model)
                    && n.devices.contains(&a.device)
                    && a.ts + slack_us >= n.start_us
            })
        {
            novelty_low += 1;
        }
        false_alerts.push(a.clone());
    }
    let flows_after: Vec<&Flow> = eve.flows.iter().filter(|f| f.start >= learn_end).collect();
    let benign = flows_after
        .iter()
        .filter(|f| !attack_flow(truth, f, slack_us))
        .count() as u64;
    ScenarioResult {
        name: truth.scenario.clone(),
        steps,
        models,
        false_alerts,
        novelty_low,
        alerts_after_learning: after,
        alerts_while_learning: during,
        flows_after_learning: flows_after.len() as u64,
        benign_flows: benign,
    }
}

/// A real capture replayed with learning on its first part.
#[derive(Clone, Debug)]
pub struct RealResult {
    /// The capture.
    pub file: PathBuf,
    /// Seconds learned.
    pub learn_secs: u64,
    /// Flows that started after learning.
    pub flows_after_learning: u64,
    /// Alerts (all after learning: spanwatch does not alert while learning).
    pub alerts: Vec<Alert>,
}

impl RealResult {
    /// Alerts with score ≥ 50.
    pub fn high(&self) -> usize {
        self.alerts.iter().filter(|a| a.score >= HIGH_SCORE).count()
    }
}

/// The overall outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// (scenario, step, model) pairs not detected.
    pub missed: Vec<(String, String, String)>,
    /// Benign flows after learning, all scenarios.
    pub benign_flows: u64,
    /// False alerts with score ≥ 50, all scenarios.
    pub false_high: u64,
    /// Per 10,000 benign flows.
    pub rate_per_10k: f64,
    /// Alerts with score ≥ 50 on real captures.
    pub real_high: usize,
}

impl Verdict {
    /// Every threshold holds.
    pub fn pass(&self) -> bool {
        self.missed.is_empty() && self.rate_per_10k <= MAX_HIGH_FALSE_PER_10K && self.real_high == 0
    }
}

/// Applies the thresholds.
pub fn verdict(scenarios: &[ScenarioResult], real: &[RealResult]) -> Verdict {
    let mut missed = Vec::new();
    for r in scenarios {
        for s in &r.steps {
            for m in s.expected.iter().filter(|m| !m.detected) {
                missed.push((r.name.clone(), s.id.clone(), m.model.clone()));
            }
        }
    }
    let benign: u64 = scenarios.iter().map(|r| r.benign_flows).sum();
    let high: u64 = scenarios.iter().map(|r| r.false_high()).sum();
    let rate = if benign == 0 {
        if high == 0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        high as f64 * 10_000.0 / benign as f64
    };
    Verdict {
        missed,
        benign_flows: benign,
        false_high: high,
        rate_per_10k: rate,
        real_high: real.iter().map(RealResult::high).sum(),
    }
}

/// Where the `spanwatch` binary is: `hint` if given, else next to the running executable,
/// else `target/{release,debug}/spanwatch` under the current directory or `root`.
pub fn find_spanwatch(hint: Option<&Path>, root: Option<&Path>) -> Option<PathBuf> {
    if let Some(h) = hint {
        return h.is_file().then(|| h.to_path_buf());
    }
    let name = format!("spanwatch{}", std::env::consts::EXE_SUFFIX);
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join(&name));
        if let Some(up) = dir.parent() {
            candidates.push(up.join(&name));
        }
    }
    for base in [Some(PathBuf::from(".")), root.map(Path::to_path_buf)]
        .into_iter()
        .flatten()
    {
        for profile in ["release", "debug"] {
            candidates.push(base.join("target").join(profile).join(&name));
        }
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Runs `spanwatch replay FILE --learn-for SECSs --eve - --quiet --no-progress` and parses its
/// output.
pub fn replay(spanwatch: &Path, pcap: &Path, learn_secs: u64) -> io::Result<Eve> {
    let child = Command::new(spanwatch)
        .arg("replay")
        .arg(pcap)
        .arg("--learn-for")
        .arg(format!("{learn_secs}s"))
        .args(["--eve", "-", "--quiet", "--no-progress"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{} replay {} failed ({}): {}",
            spanwatch.display(),
            pcap.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_eve(io::Cursor::new(out.stdout))
}

/// Reads a truth file.
pub fn load_truth(path: &Path) -> io::Result<Truth> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::other(format!("{}: not a truth file: {e}", path.display())))
}

/// The scenario captures in `dir`: every `NAME.truth.json` with its `NAME.pcap`, sorted.
pub fn scenario_files(dir: &Path) -> io::Result<Vec<(PathBuf, PathBuf)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".truth.json") {
            let pcap = p.with_file_name(format!("{stem}.pcap"));
            if pcap.is_file() {
                v.push((pcap, p.clone()));
            }
        }
    }
    v.sort();
    Ok(v)
}

/// First and last packet time (µs) of a capture: classic pcap (either byte order, µs or ns)
/// or pcapng (enhanced and simple packet blocks, `if_tsresol` honoured).
pub fn pcap_span(path: &Path) -> io::Result<(u64, u64)> {
    let b = std::fs::read(path)?;
    let bad = || io::Error::other(format!("{}: not a pcap or pcapng file", path.display()));
    let magic = b.get(..4).ok_or_else(bad)?;
    let (first, last) = match magic {
        [0x0A, 0x0D, 0x0D, 0x0A] => pcapng_span(&b),
        _ => classic_span(&b),
    }
    .ok_or_else(bad)?;
    Ok((first, last))
}

fn read_u32(b: &[u8], at: usize, le: bool) -> Option<u64> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u64::from(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    }))
}

fn classic_span(b: &[u8]) -> Option<(u64, u64)> {
    let (le, nanos) = match b.get(..4)? {
        [0xD4, 0xC3, 0xB2, 0xA1] => (true, false),
        [0xA1, 0xB2, 0xC3, 0xD4] => (false, false),
        [0x4D, 0x3C, 0xB2, 0xA1] => (true, true),
        [0xA1, 0xB2, 0x3C, 0x4D] => (false, true),
        _ => return None,
    };
    let mut at = 24;
    let (mut first, mut last) = (None, 0);
    while let (Some(sec), Some(frac), Some(len)) = (
        read_u32(b, at, le),
        read_u32(b, at + 4, le),
        read_u32(b, at + 8, le),
    ) {
        let t = sec * 1_000_000 + if nanos { frac / 1000 } else { frac };
        first.get_or_insert(t);
        last = last.max(t);
        at += 16 + len as usize;
    }
    Some((first?, last))
}

fn pcapng_span(b: &[u8]) -> Option<(u64, u64)> {
    let mut at = 0;
    let mut le = true;
    // Ticks per second of each interface of the current section.
    let mut res: Vec<u64> = Vec::new();
    let (mut first, mut last) = (None, 0u64);
    while at + 12 <= b.len() {
        if b.get(at..at + 4)? == [0x0A, 0x0D, 0x0D, 0x0A] {
            le = b.get(at + 8..at + 12)? == [0x4D, 0x3C, 0x2B, 0x1A];
            res.clear();
        }
        let ty = read_u32(b, at, le)?;
        let len = read_u32(b, at + 4, le)? as usize;
        if len < 12 || at + len > b.len() {
            break;
        }
        match ty {
            1 => {
                // Interface description: options from offset 16.
                let mut tps = 1_000_000u64;
                let mut o = at + 16;
                while o + 4 <= at + len - 4 {
                    let code = read_u32(b, o, le)? & 0xFFFF;
                    let code = if le { code } else { read_u32(b, o, le)? >> 16 };
                    let olen = if le {
                        read_u32(b, o, le)? >> 16
                    } else {
                        read_u32(b, o, le)? & 0xFFFF
                    } as usize;
                    if code == 0 {
                        break;
                    }
                    if code == 9 && olen >= 1 {
                        let v = *b.get(o + 4)?;
                        tps = if v & 0x80 != 0 {
                            1u64.checked_shl(u32::from(v & 0x7F)).unwrap_or(1_000_000)
                        } else {
                            10u64.checked_pow(u32::from(v)).unwrap_or(1_000_000)
                        };
                    }
                    o += 4 + olen.div_ceil(4) * 4;
                }
                res.push(tps);
            }
            6 => {
                let iface = read_u32(b, at + 8, le)? as usize;
                let ticks = (read_u32(b, at + 12, le)? << 32) | read_u32(b, at + 16, le)?;
                let tps = res.get(iface).copied().unwrap_or(1_000_000).max(1);
                let t = (u128::from(ticks) * 1_000_000 / u128::from(tps)) as u64;
                first.get_or_insert(t);
                last = last.max(t);
            }
            _ => {}
        }
        at += len;
    }
    Some((first?, last))
}

/// Replays a real capture learning for `learn_secs` (default: the first half).
pub fn evaluate_real(
    spanwatch: &Path,
    pcap: &Path,
    learn_secs: Option<u64>,
) -> io::Result<RealResult> {
    let (first, last) = pcap_span(pcap)?;
    let learn = learn_secs.unwrap_or(((last - first) / 2_000_000).max(1));
    let eve = replay(spanwatch, pcap, learn)?;
    let end = first + learn * 1_000_000;
    Ok(RealResult {
        file: pcap.to_path_buf(),
        learn_secs: learn,
        flows_after_learning: eve.flows.iter().filter(|f| f.start >= end).count() as u64,
        alerts: eve.alerts,
    })
}

/// The per-scenario and per-model tables, the rates and the verdict, as text.
pub fn report(scenarios: &[ScenarioResult], real: &[RealResult], truths: &[Truth]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let mut all: BTreeMap<String, ModelRow> = BTreeMap::new();
    for (r, t) in scenarios.iter().zip(truths) {
        let det = r.steps.iter().filter(|s| s.fully_detected()).count();
        let _ = writeln!(
            o,
            "== {}: {} steps, {} fully detected; learn {}; flows after learning {} ({} benign); alerts after learning {}, false {} ({} with score >= {HIGH_SCORE}; {} low-score novelty)",
            r.name,
            r.steps.len(),
            det,
            t.learn_for,
            r.flows_after_learning,
            r.benign_flows,
            r.alerts_after_learning,
            r.false_alerts.len(),
            r.false_high(),
            r.novelty_low
        );
        if r.alerts_while_learning > 0 {
            let _ = writeln!(
                o,
                "   ! {} alerts before learning ended",
                r.alerts_while_learning
            );
        }
        for s in &r.steps {
            let exp: Vec<String> = s
                .expected
                .iter()
                .map(|m| {
                    if m.detected {
                        format!("{} ok({})", m.model, m.best_score)
                    } else {
                        format!("{} MISSED", m.model)
                    }
                })
                .collect();
            let others: Vec<String> = s
                .matched_models
                .iter()
                .map(|(k, v)| format!("{k}×{v}"))
                .collect();
            let _ = writeln!(
                o,
                "   {:<4} {:<9} {}   [matching alerts: {}]",
                s.id,
                if s.fully_detected() {
                    "detected"
                } else if s.detected() {
                    "partial"
                } else {
                    "MISSED"
                },
                exp.join(", "),
                others.join(" ")
            );
        }
        let mut shown: BTreeMap<(String, String, bool), (usize, String)> = BTreeMap::new();
        for a in &r.false_alerts {
            let e = shown
                .entry((a.model.clone(), a.device.clone(), a.score >= HIGH_SCORE))
                .or_insert((0, a.evidence.clone()));
            e.0 += 1;
        }
        for ((m, d, high), (n, ev)) in shown.iter().take(25) {
            let _ = writeln!(
                o,
                "   false: {m} on {d}{} ×{n}: {ev}",
                if *high { " (score>=50)" } else { "" }
            );
        }
        if shown.len() > 25 {
            let _ = writeln!(o, "   false: ... {} more groups", shown.len() - 25);
        }
        for (k, v) in &r.models {
            let e = all.entry(k.clone()).or_default();
            e.expected += v.expected;
            e.detected += v.detected;
            e.missed += v.missed;
            e.false_alerts += v.false_alerts;
            e.false_high += v.false_high;
        }
    }
    let _ = writeln!(
        o,
        "\nper model (all scenarios; steps = expected (step, model) pairs):"
    );
    let _ = writeln!(
        o,
        "  {:<32} {:>8} {:>8} {:>7} {:>7} {:>9}",
        "model", "expected", "detected", "missed", "false", "false>=50"
    );
    for (k, v) in &all {
        let _ = writeln!(
            o,
            "  {:<32} {:>8} {:>8} {:>7} {:>7} {:>9}",
            k, v.expected, v.detected, v.missed, v.false_alerts, v.false_high
        );
    }
    let v = verdict(scenarios, real);
    let _ = writeln!(
        o,
        "\nbenign flows after learning: {}; false alerts with score >= {HIGH_SCORE}: {}; rate {:.2} per 10,000 (threshold {MAX_HIGH_FALSE_PER_10K})",
        v.benign_flows, v.false_high, v.rate_per_10k
    );
    for r in real {
        let mut by_model: BTreeMap<&str, usize> = BTreeMap::new();
        for a in r.alerts.iter().filter(|a| a.score >= HIGH_SCORE) {
            *by_model.entry(&a.model).or_default() += 1;
        }
        let _ = writeln!(
            o,
            "real capture {}: learned {} s; flows after learning {}; alerts {} ({} with score >= {HIGH_SCORE}{})",
            r.file.display(),
            r.learn_secs,
            r.flows_after_learning,
            r.alerts.len(),
            r.high(),
            if by_model.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    by_model
                        .iter()
                        .map(|(k, n)| format!("{k}×{n}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        );
    }
    let missed: BTreeSet<String> = v
        .missed
        .iter()
        .map(|(s, st, m)| format!("{s}/{st}/{m}"))
        .collect();
    let _ = writeln!(
        o,
        "verdict: {}{}",
        if v.pass() { "PASS" } else { "FAIL" },
        if missed.is_empty() {
            String::new()
        } else {
            format!(
                " (missed: {})",
                missed.into_iter().collect::<Vec<_>>().join(", ")
            )
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::scenario::truth::{Novelty, Step};

    fn truth() -> Truth {
        Truth {
            scenario: "t".into(),
            seed: 1,
            description: String::new(),
            capture_start: String::new(),
            capture_end: String::new(),
            learn_for: "1h".into(),
            learn_for_secs: 3600,
            learning_end: String::new(),
            learning_end_us: 1_000_000_000,
            benign_start: String::new(),
            benign_start_us: 3_000_000_000,
            devices: Vec::new(),
            attack_hosts: vec!["10.9.9.9".into()],
            steps: vec![Step {
                id: "s1".into(),
                chain: "c".into(),
                description: String::new(),
                start: String::new(),
                end: String::new(),
                start_us: 2_000_000_000,
                end_us: 2_100_000_000,
                attacker: vec!["10.0.0.1".into()],
                victims: vec!["10.0.0.2".into()],
                models: vec!["ot_first_write".into(), "ot_new_function_code".into()],
                may_fire: vec!["ot_auth".into()],
            }],
            novelties: vec![Novelty {
                id: "n1".into(),
                description: String::new(),
                start: String::new(),
                start_us: 3_100_000_000,
                devices: vec!["10.0.0.5".into()],
                low_score_models: vec!["rare_tls_destination".into()],
            }],
        }
    }

    fn alert(ts: u64, model: &str, score: u32, device: &str) -> Alert {
        Alert {
            ts,
            model: model.into(),
            score,
            device: device.into(),
            src_ip: String::new(),
            dest_ip: String::new(),
            evidence: String::new(),
        }
    }

    fn flow(start: u64, src: &str, dst: &str) -> Flow {
        Flow {
            start,
            end: start + 1,
            src_ip: src.into(),
            dest_ip: dst.into(),
            app_proto: None,
        }
    }

    #[test]
    fn step_matching_uses_model_device_and_window_with_slack() {
        let t = truth();
        let eve = Eve {
            alerts: vec![
                // Expected model, attacker, inside the window.
                alert(2_050_000_000, "ot_first_write", 85, "10.0.0.1"),
                // Allowed model on the victim, within the slack after the end.
                alert(2_150_000_000, "ot_auth", 90, "10.0.0.2"),
                // Right model, wrong device: false, high.
                alert(2_050_000_000, "ot_new_function_code", 65, "10.0.0.3"),
                // Low-score novelty: false but explained.
                alert(3_200_000_000, "rare_tls_destination", 30, "10.0.0.5"),
                // While learning: ignored.
                alert(500_000_000, "new_device", 60, "10.0.0.7"),
            ],
            flows: vec![
                flow(500_000_000, "10.0.0.5", "10.0.0.53"),
                flow(2_010_000_000, "10.0.0.1", "10.0.0.2"),
                flow(2_500_000_000, "10.0.0.1", "10.0.0.2"),
                flow(2_500_000_000, "10.9.9.9", "10.0.0.2"),
                flow(3_500_000_000, "10.0.0.5", "10.0.0.53"),
            ],
            bad_lines: 0,
        };
        let r = evaluate(&t, &eve, 60_000_000);
        let s = &r.steps[0];
        assert_eq!(s.matched, 2);
        assert!(s.expected[0].detected && !s.expected[1].detected);
        assert!(s.detected() && !s.fully_detected());
        assert_eq!(r.false_alerts.len(), 2);
        assert_eq!(r.false_high(), 1);
        assert_eq!(r.novelty_low, 1);
        assert_eq!((r.alerts_after_learning, r.alerts_while_learning), (4, 1));
        // After learning: 4 flows; the in-window attacker→victim one and the attack host's are not benign.
        assert_eq!((r.flows_after_learning, r.benign_flows), (4, 2));
        assert_eq!(r.models["ot_new_function_code"].missed, 1);
        assert_eq!(r.models["ot_new_function_code"].false_high, 1);
        let v = verdict(&[r], &[]);
        assert_eq!(v.missed.len(), 1);
        assert_eq!(v.rate_per_10k, 5_000.0);
        assert!(!v.pass());
    }

    #[test]
    fn eve_lines_give_alerts_and_flows() {
        let lines = concat!(
            r#"{"timestamp":"2026-01-05T10:00:01.000000+00:00","event_type":"alert","src_ip":"10.0.10.66","dest_ip":"10.0.20.1","spanwatch":{"score":60,"device":"10.0.10.66","model":"new_device","evidence":"x"}}"#,
            "\n",
            r#"{"timestamp":"2026-01-05T10:00:00.000000+00:00","event_type":"flow","src_ip":"10.0.10.66","dest_ip":"10.0.20.1","flow":{"start":"2026-01-05T10:00:00.000000+00:00","end":"2026-01-05T10:00:02.000000+00:00"}}"#,
            "\nnot json\n"
        );
        let eve = parse_eve(io::Cursor::new(lines)).unwrap();
        assert_eq!(eve.alerts.len(), 1);
        assert_eq!(eve.alerts[0].score, 60);
        assert_eq!(
            eve.alerts[0].ts,
            crate::gen::EPOCH + 2 * 3_600_000_000 + 1_000_000
        );
        assert_eq!(eve.flows[0].end - eve.flows[0].start, 2_000_000);
        assert_eq!(eve.bad_lines, 1);
    }
}
