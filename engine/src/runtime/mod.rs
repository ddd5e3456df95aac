//! Runtime: the reader, worker and output threads.
//!
//! ```text
//!  reader (calling thread) ──batches──▶ worker 0..N ──EVE line buffers──▶ writer thread
//!        symmetric hash of the          decode, flow, ...              one file
//!        outer IP pair picks a worker
//! ```
//!
//! Channels are bounded (crossbeam) and carry batches, never single packets.
//! Frames of a capture file are not copied: a batch holds an `Arc` of the
//! file's memory map and offsets into it.

pub mod live;
pub mod worker;

use crate::baseline::state::Baseline;
use crate::baseline::{BaselineResult, ObsBatch};
use crate::capture::file::{CaptureFile, OpenError};
use crate::capture::{Backing, FrameRef, InputClock, Nanos};
use crate::config::Config;
use crate::decode::dispatch_hash;
use crate::detect::Analyzer;
use crate::output::json::JsonWriter;
use crate::output::writer::{self, EveTarget, WriterStats};
use crate::stats::{write_stats, CaptureStats, WorkerStats};
use crossbeam_channel::{bounded, Sender};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{Worker, WorkerResult};

/// Frames on their way from the reader to one worker.
pub struct FrameBatch {
    /// The buffer the frames point into.
    pub backing: Arc<Backing>,
    /// The frames, in capture order.
    pub frames: Vec<FrameRef>,
    /// When the reader handed the batch over (for latency figures).
    pub sent: Instant,
}

/// Messages to a worker.
pub enum ToWorker {
    /// Frames to process.
    Batch(FrameBatch),
    /// The reader has handed over every frame before input position `seq`:
    /// a worker that got none of them still tells the baseline it has
    /// passed them, so the merge never waits on an idle worker.
    Position {
        /// The next input position the reader will hand out.
        seq: u64,
    },
    /// The input clock started a new epoch; expire flows at the old clock.
    Tick {
        /// The clock at the end of the old epoch.
        clock: Nanos,
    },
    /// End of input; `final_clock` is the input clock after the last frame.
    Finish {
        /// The input clock at the end.
        final_clock: Nanos,
    },
}

/// What `spanwatch replay` is asked to do.
pub struct ReplayOptions {
    /// Capture files, processed in order as one input.
    pub files: Vec<PathBuf>,
    /// Worker threads (≥ 1).
    pub workers: usize,
    /// Where EVE goes.
    pub eve: EveTarget,
    /// Configuration.
    pub config: Config,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Baseline state directory (`--state-dir`): loaded at start, written
    /// periodically and at the end.
    pub state_dir: Option<PathBuf>,
    /// Learn only, never alert (`spanwatch learn`).
    pub learn_only: bool,
    /// Seconds of capture time to learn before alerting (`--learn-for`).
    pub learn_for: Option<u64>,
}

/// A file that ended inside a record.
#[derive(Debug, Clone)]
pub struct Truncation {
    /// The file.
    pub path: PathBuf,
    /// Byte offset of the cut-off record.
    pub offset: usize,
    /// Frames read from it before the cut.
    pub frames: u64,
}

/// What a replay did.
pub struct ReplaySummary {
    /// Reader counters.
    pub capture: CaptureStats,
    /// Worker counters, summed.
    pub workers: WorkerStats,
    /// EVE writer counters.
    pub writer: WriterStats,
    /// Files cut off mid-record.
    pub truncated: Vec<Truncation>,
    /// Wall time of the whole run.
    pub wall: Duration,
    /// Batch latency from reader to worker completion, nanoseconds.
    pub latency: hdrhistogram::Histogram<u64>,
    /// What the baseline thread did (None when dissection is off).
    pub baseline: Option<BaselineResult>,
}

/// Why a replay failed.
#[derive(Debug)]
pub enum ReplayError {
    /// An input file could not be opened (exit code 2).
    Open(OpenError),
    /// The output could not be written.
    Output(std::io::Error),
    /// The baseline state could not be loaded (exit code 2).
    State(String),
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::Open(e) => write!(f, "{e}"),
            ReplayError::Output(e) => write!(f, "cannot write EVE output: {e}"),
            ReplayError::State(e) => write!(f, "{e}"),
        }
    }
}

/// Opens every file first, so that a bad file fails the run before any work.
pub fn open_all(files: &[PathBuf]) -> Result<Vec<CaptureFile>, OpenError> {
    files.iter().map(|p| CaptureFile::open(p)).collect()
}

/// Replays capture files through the pipeline.
pub fn replay(opts: ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    let started = Instant::now();
    let mut inputs = open_all(&opts.files).map_err(ReplayError::Open)?;
    let workers = opts.workers.max(1);
    let cfg = &opts.config;
    let analyzer = if cfg.dissect.enabled && !cfg.dissect.reassembly_only {
        Some(make_analyzer(
            cfg,
            opts.state_dir.as_deref(),
            opts.learn_only,
            opts.learn_for,
        )?)
    } else {
        None
    };
    let first = writer::open_target(&opts.eve, true).map_err(|e| {
        let what = match &opts.eve {
            EveTarget::File(p) => p.display().to_string(),
            EveTarget::Stdout => "stdout".into(),
            EveTarget::Null => "null".into(),
        };
        ReplayError::Output(std::io::Error::new(e.kind(), format!("{what}: {e}")))
    })?;
    let (out_tx, out_rx) = bounded::<Vec<u8>>(workers * 8);
    let reopen = Arc::new(AtomicBool::new(false));
    let (spare_tx, spare_rx) = bounded::<Vec<u8>>(workers * 4);
    let target = opts.eve.clone();
    let writer_handle = std::thread::Builder::new()
        .name("sw-output".into())
        .spawn(move || writer::run_with_spares(target, first, out_rx, reopen, Some(spare_tx)))
        .map_err(ReplayError::Output)?;

    let (obs_tx, baseline_handle) = match analyzer {
        Some(a) => {
            let (tx, rx) = bounded::<ObsBatch>(workers * 64);
            let out = out_tx.clone();
            let dir = opts.state_dir.clone();
            let h = std::thread::Builder::new()
                .name("sw-baseline".into())
                .spawn(move || crate::baseline::run(a, workers, rx, out, dir))
                .map_err(ReplayError::Output)?;
            (Some(tx), Some(h))
        }
        None => (None, None),
    };
    let mut txs: Vec<Sender<ToWorker>> = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for i in 0..workers {
        let (tx, rx) = bounded::<ToWorker>(cfg.runtime.queue_depth);
        let w = Worker::new(cfg, workers, i, out_tx.clone(), obs_tx.clone())
            .with_spares(spare_rx.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("sw-worker-{i}"))
                .spawn(move || w.run(rx))
                .map_err(ReplayError::Output)?,
        );
        txs.push(tx);
    }

    let total_bytes: usize = inputs.iter().map(|f| f.len()).sum();
    let bar = if opts.progress {
        Some(progress_bar(total_bytes as u64))
    } else {
        None
    };
    let mut cap = CaptureStats {
        files: inputs.len() as u64,
        ..Default::default()
    };
    let mut truncated = Vec::new();
    let mut clock = InputClock::default();
    let mut batches_sent: u64 = 0;
    let batch_size = cfg.runtime.batch_size;
    let mut done_bytes = 0usize;
    for file in inputs.iter_mut() {
        let backing = Arc::new(Backing::Mapped(file.map().clone()));
        let mut pending: Vec<Vec<FrameRef>> = (0..workers)
            .map(|_| Vec::with_capacity(batch_size))
            .collect();
        let mut since_progress = 0usize;
        let bytes = backing.bytes();
        while let Some(mut f) = file.next_frame() {
            // The reader only touches record headers, which sit a packet
            // apart: too sparse for the hardware prefetcher. Ask for the
            // memory a few records ahead so the walk (and the worker's first
            // look at each frame) does not stall on it.
            prefetch(bytes, f.offset + PREFETCH_AHEAD);
            if let Some(old) = clock.stamp(&mut f) {
                // Hand over everything before the jump, then let every worker
                // expire flows at the old clock: the same state whatever the
                // number of workers.
                for (w, q) in pending.iter_mut().enumerate() {
                    if !q.is_empty() {
                        let frames = std::mem::replace(q, Vec::with_capacity(batch_size));
                        send_batch(
                            &txs[w],
                            FrameBatch {
                                backing: backing.clone(),
                                frames,
                                sent: Instant::now(),
                            },
                        );
                    }
                }
                for tx in &txs {
                    let _ = tx.send(ToWorker::Tick { clock: old });
                }
            }
            f.seq = cap.frames;
            cap.frames += 1;
            cap.bytes += f.caplen as u64;
            let w = if workers == 1 {
                0
            } else {
                (dispatch_hash(f.linktype, backing.frame(&f)) % workers as u64) as usize
            };
            let q = &mut pending[w];
            q.push(f);
            if q.len() >= batch_size {
                let seq = f.seq;
                let frames = std::mem::replace(q, Vec::with_capacity(batch_size));
                send_batch(
                    &txs[w],
                    FrameBatch {
                        backing: backing.clone(),
                        frames,
                        sent: Instant::now(),
                    },
                );
                batches_sent += 1;
                if workers > 1 && batches_sent.is_multiple_of(POSITION_EVERY) {
                    // A worker that gets few frames would hold the baseline
                    // back: hand it what it has and tell it how far the
                    // input has got.
                    for (i, tx) in txs.iter().enumerate() {
                        if i == w {
                            continue;
                        }
                        if !pending[i].is_empty() {
                            let frames =
                                std::mem::replace(&mut pending[i], Vec::with_capacity(batch_size));
                            send_batch(
                                tx,
                                FrameBatch {
                                    backing: backing.clone(),
                                    frames,
                                    sent: Instant::now(),
                                },
                            );
                        }
                        let _ = tx.send(ToWorker::Position { seq });
                    }
                }
                since_progress += 1;
                if since_progress >= 64 {
                    since_progress = 0;
                    if let Some(b) = &bar {
                        b.set_position((done_bytes + file.position()) as u64);
                    }
                }
            }
        }
        for (w, q) in pending.into_iter().enumerate() {
            if !q.is_empty() {
                send_batch(
                    &txs[w],
                    FrameBatch {
                        backing: backing.clone(),
                        frames: q,
                        sent: Instant::now(),
                    },
                );
            }
        }
        done_bytes += file.len();
        if let Some(off) = file.truncated_at() {
            cap.truncated_files += 1;
            truncated.push(Truncation {
                path: file.path().to_path_buf(),
                offset: off,
                frames: file.frames(),
            });
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    for tx in &txs {
        let _ = tx.send(ToWorker::Finish {
            final_clock: clock.0,
        });
    }
    drop(txs);
    let mut ws = WorkerStats::default();
    let mut latency = hdrhistogram::Histogram::<u64>::new(2).expect("valid sigfig");
    for h in handles {
        let r: WorkerResult = h.join().unwrap_or_else(|_| WorkerResult {
            stats: WorkerStats::default(),
            latency: hdrhistogram::Histogram::new(2).expect("valid sigfig"),
        });
        ws.merge(&r.stats);
        let _ = latency.add(&r.latency);
    }
    drop(obs_tx);
    let baseline = baseline_handle.and_then(|h| h.join().ok());
    // The final stats record.
    let events = ws.pipeline.flow_records + ws.pipeline.anomaly_records + 1;
    let mut line = Vec::with_capacity(4096);
    {
        let mut w = JsonWriter::object(&mut line);
        w.raw("timestamp", &crate::output::eve::rfc3339_quoted(clock.0));
        w.str("event_type", "stats");
        write_stats(&mut w, &cap, &ws, baseline.as_ref(), events);
        w.finish();
    }
    let _ = out_tx.send(line);
    drop(out_tx);
    let writer = match writer_handle.join() {
        Ok(r) => r.map_err(ReplayError::Output)?,
        Err(_) => {
            return Err(ReplayError::Output(std::io::Error::other(
                "output thread panicked",
            )))
        }
    };
    Ok(ReplaySummary {
        capture: cap,
        workers: ws,
        writer,
        truncated,
        wall: started.elapsed(),
        latency,
        baseline,
    })
}

/// Loads the baseline in `state_dir` (or creates one) for a run: `learn_only`
/// never alerts; `learn_for` (seconds) learns again for that long from the
/// first packet.
pub fn make_analyzer(
    cfg: &Config,
    state_dir: Option<&std::path::Path>,
    learn_only: bool,
    learn_for: Option<u64>,
) -> Result<Analyzer, ReplayError> {
    let loaded = match state_dir {
        Some(dir) => Baseline::load(dir).map_err(ReplayError::State)?,
        None => None,
    };
    let base = match loaded {
        Some(mut b) => {
            b.cfg.snapshot_interval = cfg.baseline.snapshot_interval;
            if let Some(secs) = learn_for {
                // Learn again for this long from the first packet of this input.
                b.cfg.learn_for = secs;
                b.learn_start = None;
                b.learn_until = None;
            } else if b.learn_until.is_none() && !learn_only {
                // Learned by `spanwatch learn`: detect from the first packet.
                b.learn_until = Some(0);
            }
            b
        }
        None => {
            let mut bc = cfg.baseline.clone();
            if let Some(secs) = learn_for {
                bc.learn_for = secs;
            }
            Baseline::new(bc)
        }
    };
    Ok(Analyzer::new(base, cfg.detect.clone(), learn_only))
}

/// Hands a batch to a worker. When its queue is full the reader sleeps a
/// moment instead of letting the channel spin: on a small machine the
/// spinning reader takes the CPU the worker it waits for needs.
fn send_batch(tx: &Sender<ToWorker>, b: FrameBatch) {
    while tx.is_full() {
        std::thread::sleep(Duration::from_micros(50));
    }
    let _ = tx.send(ToWorker::Batch(b));
}

/// Batches between position notices to idle workers.
const POSITION_EVERY: u64 = 64;

/// How far ahead of the current record the reader prefetches.
const PREFETCH_AHEAD: usize = 2048;

/// Asks the CPU to bring the cache line holding `bytes[at]` closer; nothing
/// when `at` is out of range or the target has no prefetch instruction.
#[inline(always)]
pub(crate) fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at) {
        // SAFETY: a prefetch is only a hint; the address is inside `bytes`,
        // and prefetching never faults or changes memory.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (b as *const u8).cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})",
    ) {
        b.set_style(style);
    }
    b
}
