//! Baseline: what is normal for every device, learned from observations.
//!
//! Workers send [`obs::Obs`] batches; one baseline thread owns all device
//! state, merges the workers' batches back into input order (by frame
//! position) and runs the detection models on each observation. Nothing on
//! the per-packet path takes a lock: see `ARCHITECTURE.md`.

pub mod capped;
pub mod merge;
pub mod obs;
pub mod state;

/// Observations from one worker, with the input position it has fully
/// processed (every later observation from it has a higher `seq`).
#[derive(Debug)]
pub struct ObsBatch {
    /// Worker index.
    pub worker: usize,
    /// Input position processed.
    pub watermark: u64,
    /// Observations, in input order.
    pub items: Vec<obs::Obs>,
    /// The worker is done.
    pub last: bool,
}

use crate::detect::{Analyzer, DetectStats};
use crossbeam_channel::{Receiver, Sender};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the baseline thread reports at the end.
pub struct BaselineResult {
    /// Detection counters.
    pub detect: DetectStats,
    /// Observations processed.
    pub observations: u64,
    /// Devices known.
    pub devices: usize,
    /// Pairs known.
    pub pairs: usize,
    /// Approximate bytes of learned state.
    pub state_bytes: usize,
    /// Snapshots written, and the size of the last.
    pub snapshots: (u64, u64),
    /// Observations released early by the merge bound.
    pub merge_forced: u64,
    /// A snapshot could not be written.
    pub snapshot_error: Option<String>,
    /// Devices and pairs refused by their table bounds.
    pub refused: (u64, u64),
    /// The asset inventory: devices with facts.
    pub inventory: Vec<(obs::DeviceId, Vec<(String, String)>)>,
}

/// Runs the baseline thread: merges worker observations into input order,
/// feeds them to the analyzer, writes alerts/assets to `out_tx`, and
/// snapshots the state into `state_dir` every `snapshot_interval` seconds of
/// wall time and at the end.
pub fn run(
    mut analyzer: Analyzer,
    workers: usize,
    rx: Receiver<ObsBatch>,
    out_tx: Sender<Vec<u8>>,
    state_dir: Option<PathBuf>,
) -> BaselineResult {
    let mut merger = merge::Merger::new(workers);
    let mut out = Vec::with_capacity(64 * 1024);
    let interval = Duration::from_secs(analyzer.base.cfg.snapshot_interval.max(1));
    let mut last_snap = Instant::now();
    let mut snapshots = (0u64, 0u64);
    let mut snapshot_error = None;
    let save = |a: &Analyzer, snapshots: &mut (u64, u64), err: &mut Option<String>| {
        if let Some(dir) = &state_dir {
            match a.base.save(dir) {
                Ok(n) => *snapshots = (snapshots.0 + 1, n),
                Err(e) => {
                    *err = Some(format!(
                        "{}: cannot write baseline state: {e}",
                        dir.display()
                    ))
                }
            }
        }
    };
    for b in rx.iter() {
        merger.push(b);
        while let Some(o) = merger.pop() {
            analyzer.observe(&o, &mut out);
        }
        if out.len() > 64 * 1024 {
            let _ = out_tx.send(std::mem::replace(&mut out, Vec::with_capacity(64 * 1024)));
        }
        if state_dir.is_some() && last_snap.elapsed() >= interval {
            save(&analyzer, &mut snapshots, &mut snapshot_error);
            last_snap = Instant::now();
        }
        if merger.finished() {
            break;
        }
    }
    while let Some(o) = merger.pop() {
        analyzer.observe(&o, &mut out);
    }
    analyzer.finish(&mut out);
    if !out.is_empty() {
        let _ = out_tx.send(out);
    }
    save(&analyzer, &mut snapshots, &mut snapshot_error);
    BaselineResult {
        observations: analyzer.base.observations,
        devices: analyzer.base.devices.len(),
        pairs: analyzer.base.pairs.len(),
        state_bytes: analyzer.base.approx_bytes(),
        snapshots,
        merge_forced: merger.forced,
        snapshot_error,
        refused: (
            analyzer.base.net.devices_refused,
            analyzer.base.net.pairs_refused,
        ),
        inventory: crate::detect::inventory(&analyzer.base),
        detect: analyzer.stats,
    }
}
