//! The live runtime: capture from an interface into the same pipeline as a
//! replay.
//!
//! ```text
//!  reader per queue ──FrameBatch (owned copy)──▶ worker 0..N ──EVE buffers──▶ writer
//!   (pcap: one;            dispatch hash, or                         ▲ SIGHUP: reopen
//!    af-xdp: one per        queue i → worker i                        │
//!    NIC queue)             with a symmetric RSS key)     main thread: signals, ticks,
//!                                                          stats records, /metrics
//! ```
//!
//! * **Readers** copy each frame into the pending batch of the worker that
//!   [`crate::decode::dispatch_hash`] picks (or, with `rss_symmetric`, the
//!   queue's own worker), and hand a batch over when it holds
//!   `runtime.batch_size` frames or [`MAX_BATCH_BYTES`], when the source goes
//!   idle, or after [`MAX_BATCH_DELAY`]. The hand-off blocks when a worker's
//!   queue is full: the back-pressure ends in the kernel ring, where the
//!   kernel counts what it drops.
//! * **Workers** are [`Worker`]s, as in a replay. The frames' input clock is
//!   the highest timestamp the reader has seen, raised per worker so that
//!   what a worker sees never goes back in time (several readers feed one
//!   worker). The main thread sends each worker a `Tick` at the wall clock
//!   every [`TICK_INTERVAL`], so flows also time out on an idle link; at each
//!   tick a worker publishes its counters for stats and metrics.
//! * **Signals**: SIGINT/SIGTERM stop the capture (the XDP program is
//!   detached first), drain what the kernel already holds, let the workers
//!   finish every flow, write the final stats record, call the state
//!   snapshot hook and exit 0. A second SIGINT/SIGTERM exits at once with
//!   status 1 (the kernel still detaches the XDP program). SIGHUP reopens
//!   the EVE file (logrotate).
//!
//! The wall clock is read here and in [`crate::capture::live`] only.
//!
//! Accounting: for every queue, `received` = `delivered` + drops (each with
//! its reason, from the kernel), and every delivered frame is processed by a
//! worker (`in_flight` is 0 in the final stats record).

use super::worker::{Worker, WorkerResult};
use super::{FrameBatch, ToWorker};
use crate::capture::live::pcap::{PcapOptions, PcapSource};
use crate::capture::live::xdp::{XdpCapture, XdpOptions};
use crate::capture::live::{wall_clock, CaptureMethod, KernelCounters, LiveSource};
use crate::capture::{Backing, FrameRef, Nanos};
use crate::config::Config;
use crate::decode::dispatch_hash;
use crate::metrics::{Exposition, Kind, MetricsServer, Render};
use crate::output::json::JsonWriter;
use crate::output::writer::{self, EveTarget, WriterStats};
use crate::stats::{write_stats, CaptureStats, WorkerStats};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a reader waits in `poll()` before it looks at its stop flag.
pub const READ_POLL_MS: i32 = 50;
/// Longest a frame waits in a reader's pending batch while traffic flows.
pub const MAX_BATCH_DELAY: Duration = Duration::from_millis(20);
/// Most frame bytes in one batch buffer.
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// How often workers get a wall-clock tick (flow timeouts on an idle link)
/// and publish their counters.
pub const TICK_INTERVAL: Duration = Duration::from_secs(1);
/// How often readers publish the kernel's counters.
const COUNTER_INTERVAL: Duration = Duration::from_secs(1);
/// Longest the readers keep draining kernel buffers after a stop signal.
pub const MAX_DRAIN: Duration = Duration::from_secs(1);
/// A reader's wait while draining: over twice libpcap's block timeout.
const DRAIN_POLL_MS: i32 = 3 * crate::capture::live::pcap::BLOCK_TIMEOUT_MS;

/// What `spanwatch live` is asked to do.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Interface to capture on.
    pub iface: String,
    /// libpcap or AF_XDP.
    pub method: CaptureMethod,
    /// Worker threads (≥ 1).
    pub workers: usize,
    /// libpcap settings (also used when AF_XDP falls back).
    pub pcap: PcapOptions,
    /// AF_XDP settings.
    pub xdp: XdpOptions,
    /// The NIC's RSS key is symmetric: AF_XDP queue `i` feeds worker
    /// `i % workers` directly instead of handing frames over by dispatch hash.
    pub rss_symmetric: bool,
    /// Where EVE goes (a file is opened for append).
    pub eve: EveTarget,
    /// State directory (created; see [`StateDir::snapshot`]).
    pub state_dir: Option<PathBuf>,
    /// Interval of the periodic stats records; `None`: only the final one.
    pub stats_interval: Option<Duration>,
    /// Serve Prometheus metrics on this address.
    pub metrics_listen: Option<SocketAddr>,
    /// Switch to this user once the capture is open.
    pub user: Option<String>,
    /// Configuration.
    pub config: Config,
}

/// Why the live runtime failed.
#[derive(Debug)]
pub enum LiveError {
    /// The capture, the metrics listener, the state directory or the user
    /// switch could not be set up (exit 2).
    Setup(String),
    /// The output could not be written, or a thread died (exit 1).
    Runtime(String),
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::Setup(e) | LiveError::Runtime(e) => f.write_str(e),
        }
    }
}

/// What a live run did.
#[derive(Debug)]
pub struct LiveSummary {
    /// The source that ran (AF_XDP may have fallen back to libpcap).
    pub method: CaptureMethod,
    /// Per-queue counters at the end.
    pub queues: Vec<QueueSnapshot>,
    /// Worker counters, summed.
    pub workers: WorkerStats,
    /// EVE writer counters.
    pub writer: WriterStats,
    /// Wall time of the run.
    pub wall: Duration,
    /// CPU time of the process (user + system, all threads), from getrusage.
    pub cpu: Duration,
}

impl LiveSummary {
    /// Frames delivered by all queues.
    pub fn delivered(&self) -> u64 {
        self.queues.iter().map(|q| q.packets).sum()
    }
    /// Frames dropped before delivery, all queues and reasons.
    pub fn dropped(&self) -> u64 {
        self.queues.iter().map(|q| q.kernel.dropped()).sum()
    }
}

/// The state directory of a live run.
pub struct StateDir {
    /// Its path.
    pub path: PathBuf,
}

impl StateDir {
    /// Called once at shutdown, after every worker finished. The baseline
    /// thread has already written the final snapshot (`baseline.json`) by
    /// then; this only checks that it is there.
    pub fn snapshot(&self) {
        debug_assert!(!self.path.as_os_str().is_empty());
    }
}

/// One queue's counters, as published by its reader.
#[derive(Debug, Clone, Default)]
pub struct QueueSnapshot {
    /// NIC queue (0 for libpcap).
    pub queue: u32,
    /// Frames delivered to spanwatch.
    pub packets: u64,
    /// Captured bytes of those frames.
    pub bytes: u64,
    /// Kernel counters.
    pub kernel: KernelCounters,
}

/// What a reader publishes (one writer, any number of readers).
#[derive(Default)]
struct QueueShared {
    queue: u32,
    packets: AtomicU64,
    bytes: AtomicU64,
    kernel_seen: AtomicU64,
    kernel_drops: AtomicU64,
    ring_full_drops: AtomicU64,
    interface_drops: AtomicU64,
    fill_ring_empty: AtomicU64,
    invalid_descs: AtomicU64,
}

impl QueueShared {
    fn publish(&self, packets: u64, bytes: u64, k: &KernelCounters) {
        self.packets.store(packets, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        self.kernel_seen.store(k.kernel_seen, Ordering::Relaxed);
        self.kernel_drops.store(k.kernel_drops, Ordering::Relaxed);
        self.ring_full_drops
            .store(k.ring_full_drops, Ordering::Relaxed);
        self.interface_drops
            .store(k.interface_drops, Ordering::Relaxed);
        self.fill_ring_empty
            .store(k.fill_ring_empty, Ordering::Relaxed);
        self.invalid_descs.store(k.invalid_descs, Ordering::Relaxed);
    }

    fn snapshot(&self) -> QueueSnapshot {
        QueueSnapshot {
            queue: self.queue,
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            kernel: KernelCounters {
                kernel_seen: self.kernel_seen.load(Ordering::Relaxed),
                kernel_drops: self.kernel_drops.load(Ordering::Relaxed),
                ring_full_drops: self.ring_full_drops.load(Ordering::Relaxed),
                interface_drops: self.interface_drops.load(Ordering::Relaxed),
                fill_ring_empty: self.fill_ring_empty.load(Ordering::Relaxed),
                invalid_descs: self.invalid_descs.load(Ordering::Relaxed),
            },
        }
    }
}

/// A worker's counters as of its last tick.
#[derive(Debug, Clone, Default)]
struct WorkerSnap {
    stats: WorkerStats,
    active_flows: u64,
}

/// The way into one worker. Readers and the main thread send through it
/// under its lock (once per batch, never per frame), which keeps the clock a
/// worker sees monotonic whatever the interleaving of senders.
struct Lane {
    tx: Sender<ToWorker>,
    last_clock: Nanos,
}

struct Shared {
    lanes: Vec<Mutex<Lane>>,
    queues: Vec<Arc<QueueShared>>,
    workers: Vec<Mutex<WorkerSnap>>,
    method: CaptureMethod,
    iface: String,
    started: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Hands a batch to worker `w`. False when the worker is gone.
    fn send_batch(&self, w: usize, buf: Vec<u8>, mut frames: Vec<FrameRef>) -> bool {
        let mut lane = lock(&self.lanes[w]);
        let floor = lane.last_clock;
        if frames.first().is_some_and(|f| f.clock < floor) {
            for f in frames.iter_mut() {
                f.clock = f.clock.max(floor);
            }
        }
        if let Some(last) = frames.last() {
            lane.last_clock = last.clock;
        }
        lane.tx
            .send(ToWorker::Batch(FrameBatch {
                backing: Arc::new(Backing::Owned(buf)),
                frames,
                sent: Instant::now(),
            }))
            .is_ok()
    }

    /// A tick at `now` (or the worker's clock if that is later), without
    /// waiting: the main thread never blocks on a busy worker (a worker with
    /// a full queue ticks with its batches anyway).
    fn tick(&self, w: usize, now: Nanos) {
        // A reader holding the lane is handing over a batch, which ticks too.
        let Ok(mut lane) = self.lanes[w].try_lock() else {
            return;
        };
        let clock = now.max(lane.last_clock);
        if lane.tx.try_send(ToWorker::Tick { clock }).is_ok() {
            lane.last_clock = clock;
        }
    }

    /// The final message to a worker, at the highest clock any worker saw.
    fn finish(&self, w: usize, final_clock: Nanos) {
        let lane = lock(&self.lanes[w]);
        let _ = lane.tx.send(ToWorker::Finish { final_clock });
    }

    fn max_clock(&self) -> Nanos {
        self.lanes
            .iter()
            .map(|l| lock(l).last_clock)
            .max()
            .unwrap_or(0)
    }

    fn queue_snapshots(&self) -> Vec<QueueSnapshot> {
        self.queues.iter().map(|q| q.snapshot()).collect()
    }

    fn worker_snapshots(&self) -> Vec<WorkerSnap> {
        self.workers.iter().map(|w| lock(w).clone()).collect()
    }
}

/// Events a worker wrote: flow and anomaly records and application events.
fn events_of(s: &WorkerStats) -> u64 {
    s.pipeline.flow_records + s.pipeline.anomaly_records + s.dissect.events.iter().sum::<u64>()
}

fn decode_failures(s: &WorkerStats) -> u64 {
    s.pipeline.invalid
}

/// Frames a worker finished with (each ends in exactly one outcome).
fn processed(s: &WorkerStats) -> u64 {
    s.frames
}

/// One `stats` EVE record: the totals in the replay's shape under `stats`,
/// the live details under `live`.
fn stats_record(sh: &Shared, final_record: bool, workers_final: Option<&[WorkerSnap]>) -> Vec<u8> {
    let queues = sh.queue_snapshots();
    let workers = match workers_final {
        Some(w) => w.to_vec(),
        None => sh.worker_snapshots(),
    };
    let mut total = WorkerStats::default();
    for w in &workers {
        total.merge(&w.stats);
    }
    let delivered: u64 = queues.iter().map(|q| q.packets).sum();
    let dropped: u64 = queues.iter().map(|q| q.kernel.dropped()).sum();
    let cap = CaptureStats {
        files: 0,
        frames: delivered,
        bytes: queues.iter().map(|q| q.bytes).sum(),
        truncated_files: 0,
    };
    let events = events_of(&total);
    let mut line = Vec::with_capacity(4096);
    {
        let mut w = JsonWriter::object(&mut line);
        w.raw(
            "timestamp",
            &crate::output::eve::rfc3339_quoted(wall_clock()),
        );
        w.str("event_type", "stats");
        write_stats(&mut w, &cap, &total, None, events);
        w.begin_object("live")
            .str("interface", &sh.iface)
            .str("source", sh.method.name())
            .u64("uptime", sh.started.elapsed().as_secs())
            .bool("final", final_record);
        w.begin_object("accounting")
            .u64("received", delivered.saturating_add(dropped))
            .u64("delivered", delivered)
            .u64("dropped", dropped)
            .u64("processed", processed(&total))
            .u64("in_flight", delivered.saturating_sub(processed(&total)))
            .end_object();
        w.begin_array("queues");
        for q in &queues {
            w.begin_element_object()
                .u64("queue", q.queue as u64)
                .u64("packets", q.packets)
                .u64("bytes", q.bytes)
                .u64("kernel_drops", q.kernel.kernel_drops)
                .u64("ring_full_drops", q.kernel.ring_full_drops)
                .u64("interface_drops", q.kernel.interface_drops)
                .u64("fill_ring_empty", q.kernel.fill_ring_empty)
                .u64("invalid_descs", q.kernel.invalid_descs)
                .u64("kernel_seen", q.kernel.kernel_seen)
                .end_object();
        }
        w.end_array();
        w.begin_array("workers");
        for (i, s) in workers.iter().enumerate() {
            w.begin_element_object()
                .u64("worker", i as u64)
                .u64("packets", s.stats.frames)
                .u64("decode_failures", decode_failures(&s.stats))
                .u64("flows", s.stats.flow.created)
                .u64("flows_active", s.active_flows)
                .u64("memcap_hits", s.stats.flow.memcap_hits)
                .u64("memcap_drops", s.stats.flow.memcap_drops)
                .u64("events", events_of(&s.stats))
                .end_object();
        }
        w.end_array();
        w.end_object();
        w.finish();
    }
    line
}

/// The Prometheus text of the runtime's counters.
fn render_metrics(sh: &Shared) -> String {
    let queues = sh.queue_snapshots();
    let workers = sh.worker_snapshots();
    let src = sh.method.name();
    let mut e = Exposition::new();
    e.family(
        "spanwatch_up",
        Kind::Gauge,
        "1 while spanwatch captures.",
        |f| {
            f.u64(&[("iface", &sh.iface), ("source", src)], 1);
        },
    );
    e.family(
        "spanwatch_uptime_seconds",
        Kind::Gauge,
        "Seconds since the capture started.",
        |f| {
            f.sample(&[], sh.started.elapsed().as_secs_f64().floor());
        },
    );
    let qlabel: Vec<String> = queues.iter().map(|q| q.queue.to_string()).collect();
    e.family(
        "spanwatch_packets_received_total",
        Kind::Counter,
        "Frames delivered to spanwatch by the capture, per queue.",
        |f| {
            for (q, l) in queues.iter().zip(&qlabel) {
                f.u64(&[("source", src), ("queue", l)], q.packets);
            }
        },
    );
    e.family(
        "spanwatch_bytes_received_total",
        Kind::Counter,
        "Captured bytes of the frames delivered, per queue.",
        |f| {
            for (q, l) in queues.iter().zip(&qlabel) {
                f.u64(&[("source", src), ("queue", l)], q.bytes);
            }
        },
    );
    e.family(
        "spanwatch_packets_dropped_total",
        Kind::Counter,
        "Frames lost before delivery, per queue and reason (kernel: capture buffer or no UMEM buffer; ring_full: AF_XDP RX ring full; interface: NIC or driver).",
        |f| {
            for (q, l) in queues.iter().zip(&qlabel) {
                f.u64(
                    &[("source", src), ("queue", l), ("reason", "kernel")],
                    q.kernel.kernel_drops,
                );
                f.u64(
                    &[("source", src), ("queue", l), ("reason", "ring_full")],
                    q.kernel.ring_full_drops,
                );
                f.u64(
                    &[("source", src), ("queue", l), ("reason", "interface")],
                    q.kernel.interface_drops,
                );
            }
        },
    );
    let wlabel: Vec<String> = (0..workers.len()).map(|i| i.to_string()).collect();
    let per_worker = |e: &mut Exposition,
                      name: &str,
                      kind: Kind,
                      help: &str,
                      get: &dyn Fn(&WorkerSnap) -> u64| {
        e.family(name, kind, help, |f| {
            for (w, l) in workers.iter().zip(&wlabel) {
                f.u64(&[("worker", l)], get(w));
            }
        });
    };
    per_worker(
        &mut e,
        "spanwatch_worker_packets_total",
        Kind::Counter,
        "Frames processed by each worker.",
        &|w| w.stats.frames,
    );
    e.family(
        "spanwatch_worker_packet_outcomes_total",
        Kind::Counter,
        "How each processed frame ended: tracked in a flow, fragment held, not IP, invalid (decode failure), or dropped at the flow memcap.",
        |f| {
            for (w, l) in workers.iter().zip(&wlabel) {
                let p = &w.stats.pipeline;
                for (o, v) in [
                    ("tracked", p.packets_tracked),
                    ("fragment_held", p.fragments_held),
                    ("not_ip", p.not_ip),
                    ("invalid", p.invalid),
                    ("memcap_drop", w.stats.flow.memcap_drops),
                ] {
                    f.u64(&[("worker", l), ("outcome", o)], v);
                }
            }
        },
    );
    per_worker(
        &mut e,
        "spanwatch_decode_failures_total",
        Kind::Counter,
        "Frames the decoder refused.",
        &|w| decode_failures(&w.stats),
    );
    per_worker(
        &mut e,
        "spanwatch_flows_total",
        Kind::Counter,
        "Flows created.",
        &|w| w.stats.flow.created,
    );
    per_worker(
        &mut e,
        "spanwatch_flows_active",
        Kind::Gauge,
        "Flows held now.",
        &|w| w.active_flows,
    );
    per_worker(
        &mut e,
        "spanwatch_flow_memcap_hits_total",
        Kind::Counter,
        "Times a new flow found the flow table full.",
        &|w| w.stats.flow.memcap_hits,
    );
    per_worker(
        &mut e,
        "spanwatch_events_total",
        Kind::Counter,
        "EVE records written (flow, anomaly and application events).",
        &|w| events_of(&w.stats),
    );
    e.finish()
}

/// A reader's pending batch for one worker.
struct Pending {
    buf: Vec<u8>,
    frames: Vec<FrameRef>,
    since: Instant,
}

impl Pending {
    fn new(batch: usize) -> Pending {
        Pending {
            buf: Vec::with_capacity(batch * 256),
            frames: Vec::with_capacity(batch),
            since: Instant::now(),
        }
    }
}

struct Reader {
    src: LiveSource,
    shared: Arc<Shared>,
    me: Arc<QueueShared>,
    /// `Some(w)`: every frame goes to worker `w` (symmetric RSS).
    fixed_worker: Option<usize>,
    batch_size: usize,
    stop: Arc<AtomicBool>,
}

/// How a reader ended.
struct ReaderEnd {
    error: Option<String>,
}

impl Reader {
    fn flush(&self, pending: &mut [Pending], w: usize) -> bool {
        let p = &mut pending[w];
        if p.frames.is_empty() {
            return true;
        }
        let cap = p.buf.capacity();
        let buf = std::mem::replace(&mut p.buf, Vec::with_capacity(cap));
        let frames = std::mem::replace(&mut p.frames, Vec::with_capacity(self.batch_size));
        self.shared.send_batch(w, buf, frames)
    }

    fn run(mut self) -> ReaderEnd {
        let workers = self.shared.lanes.len();
        let linktype = self.src.linktype();
        let batch_size = self.batch_size.max(1);
        let mut pending: Vec<Pending> = (0..workers).map(|_| Pending::new(batch_size)).collect();
        let mut clock: Nanos = 0;
        let mut packets = 0u64;
        let mut bytes = 0u64;
        let mut last_counters = Instant::now();
        let mut stop_seen: Option<Instant> = None;
        let mut error = None;
        let mut worker_gone = false;
        loop {
            if stop_seen.is_none() && self.stop.load(Ordering::Relaxed) {
                stop_seen = Some(Instant::now());
            }
            // While draining, wait long enough for libpcap's partly filled
            // ring block to be handed over (its block timeout), then stop at
            // the first empty wait.
            // A frame waits at most MAX_BATCH_DELAY, also on a quiet link.
            let timeout = if stop_seen.is_some() {
                DRAIN_POLL_MS
            } else {
                match pending
                    .iter()
                    .filter(|p| !p.frames.is_empty())
                    .map(|p| p.since)
                    .min()
                {
                    Some(oldest) => MAX_BATCH_DELAY
                        .saturating_sub(oldest.elapsed())
                        .as_millis()
                        .min(READ_POLL_MS as u128) as i32,
                    None => READ_POLL_MS,
                }
            };
            let shared = &self.shared;
            let fixed = self.fixed_worker;
            let got = self.src.recv(timeout, batch_size, |ts, data, origlen| {
                clock = clock.max(ts);
                let w = match fixed {
                    Some(w) => w,
                    None if workers == 1 => 0,
                    None => (dispatch_hash(linktype, data) % workers as u64) as usize,
                };
                let p = &mut pending[w];
                if p.frames.is_empty() {
                    p.since = Instant::now();
                }
                let offset = p.buf.len();
                p.buf.extend_from_slice(data);
                p.frames.push(FrameRef {
                    ts,
                    // Live input has no global order: the reader's clock
                    // orders observations for the baseline merge.
                    seq: clock,
                    clock,
                    offset,
                    caplen: data.len() as u32,
                    origlen: origlen.max(data.len() as u32),
                    linktype,
                });
                packets += 1;
                bytes += data.len() as u64;
                if p.frames.len() >= batch_size || p.buf.len() >= MAX_BATCH_BYTES {
                    let cap = p.buf.capacity();
                    let buf = std::mem::replace(&mut p.buf, Vec::with_capacity(cap));
                    let frames = std::mem::replace(&mut p.frames, Vec::with_capacity(batch_size));
                    if !shared.send_batch(w, buf, frames) {
                        worker_gone = true;
                    }
                }
            });
            let got = match got {
                Ok(n) => n,
                Err(e) => {
                    error = Some(format!("capture read failed: {e}"));
                    0
                }
            };
            if got == 0 {
                for w in 0..workers {
                    worker_gone |= !self.flush(&mut pending, w);
                }
            } else {
                for w in 0..workers {
                    if !pending[w].frames.is_empty()
                        && pending[w].since.elapsed() >= MAX_BATCH_DELAY
                    {
                        worker_gone |= !self.flush(&mut pending, w);
                    }
                }
            }
            if last_counters.elapsed() >= COUNTER_INTERVAL {
                last_counters = Instant::now();
                let k = self.src.counters();
                self.me.publish(packets, bytes, &k);
            } else {
                self.me.packets.store(packets, Ordering::Relaxed);
                self.me.bytes.store(bytes, Ordering::Relaxed);
            }
            if worker_gone {
                error.get_or_insert_with(|| "a worker thread ended early".into());
            }
            if error.is_some() {
                break;
            }
            if let Some(t) = stop_seen {
                if got == 0 || t.elapsed() >= MAX_DRAIN {
                    break;
                }
            }
        }
        for w in 0..workers {
            let _ = self.flush(&mut pending, w);
        }
        let k = self.src.counters();
        self.me.publish(packets, bytes, &k);
        ReaderEnd { error }
    }
}

/// A live worker: a [`Worker`] that also publishes its counters at each tick.
fn worker_loop(
    mut w: Worker,
    rx: Receiver<ToWorker>,
    snap: Arc<Shared>,
    index: usize,
) -> WorkerResult {
    let publish = |w: &Worker| {
        let mut s = lock(&snap.workers[index]);
        s.stats = w.stats_snapshot();
        s.active_flows = w.active_flows() as u64;
    };
    for msg in rx.iter() {
        match msg {
            ToWorker::Batch(b) => w.batch(&b),
            ToWorker::Position { seq } => w.flush_observations(seq),
            ToWorker::Tick { clock } => {
                w.tick(clock);
                w.flush();
                w.flush_observations(clock);
                publish(&w);
            }
            ToWorker::Finish { final_clock } => {
                // `Worker::run` ends every flow, flushes and returns the counters.
                let (tx, last) = bounded(1);
                let _ = tx.send(ToWorker::Finish { final_clock });
                let r = w.run(last);
                let mut s = lock(&snap.workers[index]);
                s.stats = r.stats.clone();
                s.active_flows = 0;
                return r;
            }
        }
    }
    let (_, none) = bounded::<ToWorker>(0);
    w.run(none)
}

/// Looks up `user` and switches to it: supplementary groups, group, user.
/// Capabilities go with the switch (no `PR_SET_KEEPCAPS`). Sockets already
/// open stay usable.
pub fn drop_privileges(user: &str) -> Result<(), String> {
    let (uid, gid) = lookup_user(user)?;
    // SAFETY: plain syscalls with valid arguments; `gid` lives for the call.
    unsafe {
        if libc::setgroups(1, &gid) != 0 {
            return Err(format!(
                "cannot switch to user {user}: setgroups: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::setgid(gid) != 0 {
            return Err(format!(
                "cannot switch to user {user}: setgid: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::setuid(uid) != 0 {
            return Err(format!(
                "cannot switch to user {user}: setuid: {}",
                std::io::Error::last_os_error()
            ));
        }
        if uid != 0 && (libc::setuid(0) == 0 || libc::geteuid() == 0) {
            return Err(format!(
                "switched to user {user} but could regain root; refusing to run"
            ));
        }
    }
    Ok(())
}

/// `(uid, gid)` of `user` (a name, or a numeric uid).
pub fn lookup_user(user: &str) -> Result<(libc::uid_t, libc::gid_t), String> {
    let name = std::ffi::CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    let mut pw: libc::passwd = unsafe_zeroed_passwd();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the use of
    // `pw`'s string fields (none are used).
    let r = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    if r == 0 && !out.is_null() {
        return Ok((pw.pw_uid, pw.pw_gid));
    }
    if let Ok(uid) = user.parse::<libc::uid_t>() {
        // SAFETY: as above.
        let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
        if r == 0 && !out.is_null() {
            return Ok((pw.pw_uid, pw.pw_gid));
        }
    }
    Err(format!("no such user: {user}"))
}

fn unsafe_zeroed_passwd() -> libc::passwd {
    // SAFETY: `passwd` is plain C data (integers and pointers); all-zero is a
    // valid value that getpwnam_r overwrites.
    unsafe { std::mem::zeroed() }
}

/// Signal flags: SIGINT/SIGTERM set `stop`, SIGHUP sets `reopen`.
pub struct Signals {
    /// Set by SIGINT and SIGTERM.
    pub stop: Arc<AtomicBool>,
    /// Set by SIGHUP; the writer reopens the EVE file and clears it.
    pub reopen: Arc<AtomicBool>,
}

impl Signals {
    /// Registers the handlers. A second SIGINT/SIGTERM exits at once with
    /// status 1.
    pub fn install() -> Result<Signals, String> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let stop = Arc::new(AtomicBool::new(false));
        let reopen = Arc::new(AtomicBool::new(false));
        let e = |x: std::io::Error| format!("cannot install signal handlers: {x}");
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone()).map_err(e)?;
            signal_hook::flag::register(sig, stop.clone()).map_err(e)?;
        }
        signal_hook::flag::register(SIGHUP, reopen.clone()).map_err(e)?;
        Ok(Signals { stop, reopen })
    }
}

/// Opens the capture: AF_XDP when asked and possible, else libpcap.
fn open_sources(o: &LiveOptions) -> Result<(Vec<LiveSource>, Option<XdpCapture>), LiveError> {
    if o.method == CaptureMethod::AfXdp {
        let x = XdpOptions {
            iface: o.iface.clone(),
            ..o.xdp.clone()
        };
        match XdpCapture::open(&x) {
            Ok(mut cap) => {
                if (cap.device_queues as usize) > cap_queue_count(&x, cap.device_queues) {
                    eprintln!(
                        "spanwatch: warning: {}: reading {} of {} RX queues; frames on the others are not seen",
                        o.iface,
                        cap_queue_count(&x, cap.device_queues),
                        cap.device_queues
                    );
                }
                eprintln!("spanwatch: live: {}: {}", o.iface, cap.description);
                if let Some(f) = &o.pcap.filter {
                    eprintln!(
                        "spanwatch: warning: --bpf {f:?} applies to libpcap only; AF_XDP captures every frame"
                    );
                }
                let sources = cap
                    .take_queues()
                    .into_iter()
                    .map(|q| LiveSource::Xdp(Box::new(q)))
                    .collect();
                return Ok((sources, Some(cap)));
            }
            Err(e) => {
                eprintln!(
                    "spanwatch: warning: AF_XDP is not available on {} ({e}); falling back to libpcap",
                    o.iface
                );
            }
        }
    }
    let p = PcapOptions {
        iface: o.iface.clone(),
        ..o.pcap.clone()
    };
    let src = PcapSource::open(&p).map_err(LiveError::Setup)?;
    eprintln!(
        "spanwatch: live: {}: pcap, snaplen {}, buffer {} B, {} timestamps{}{}",
        o.iface,
        p.snaplen,
        p.buffer_size,
        if src.nanosecond_timestamps() {
            "ns"
        } else {
            "µs"
        },
        if p.promisc { ", promiscuous" } else { "" },
        p.filter
            .as_deref()
            .map(|f| format!(", filter {f:?}"))
            .unwrap_or_default()
    );
    Ok((vec![LiveSource::Pcap(src)], None))
}

fn cap_queue_count(x: &XdpOptions, device: u32) -> usize {
    x.queues.unwrap_or(device) as usize
}

/// Runs the live capture until SIGINT or SIGTERM (or until `signals.stop`
/// is set by the caller).
pub fn live(opts: LiveOptions, signals: Signals) -> Result<LiveSummary, LiveError> {
    let started = Instant::now();
    let workers = opts.workers.max(1);
    let cfg = &opts.config;

    // 1. Privileged setup: capture, metrics socket, state directory.
    let (sources, mut xdp) = open_sources(&opts)?;
    let method = sources
        .first()
        .map(|s| s.method())
        .unwrap_or(CaptureMethod::Pcap);
    let listener = match opts.metrics_listen {
        Some(a) => Some(
            MetricsServer::bind(a)
                .map_err(|e| LiveError::Setup(format!("cannot listen for metrics on {a}: {e}")))?,
        ),
        None => None,
    };
    let user = match &opts.user {
        Some(u) => Some(lookup_user(u).map_err(LiveError::Setup)?),
        None => None,
    };
    let state = match &opts.state_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| {
                LiveError::Setup(format!(
                    "cannot create state directory {}: {e}",
                    d.display()
                ))
            })?;
            if let Some((uid, gid)) = user {
                let c = std::ffi::CString::new(d.as_os_str().as_encoded_bytes())
                    .map_err(|_| LiveError::Setup("bad state directory path".into()))?;
                // SAFETY: `c` is a valid path string for the call.
                if unsafe { libc::chown(c.as_ptr(), uid, gid) } != 0 {
                    return Err(LiveError::Setup(format!(
                        "cannot hand state directory {} to {}: {}",
                        d.display(),
                        opts.user.as_deref().unwrap_or(""),
                        std::io::Error::last_os_error()
                    )));
                }
            }
            Some(StateDir { path: d.clone() })
        }
        None => None,
    };

    // 2. Give up privileges before any thread starts.
    if let Some(u) = &opts.user {
        drop_privileges(u).map_err(LiveError::Setup)?;
    }

    // 3. Output, workers, readers.
    let first = writer::open_target(&opts.eve, false)
        .map_err(|e| LiveError::Setup(format!("cannot open EVE output: {e}")))?;
    let (out_tx, out_rx) = bounded::<Vec<u8>>(workers * 8);
    let target = opts.eve.clone();
    let reopen = signals.reopen.clone();
    let writer_handle = std::thread::Builder::new()
        .name("sw-output".into())
        .spawn(move || writer::run(target, first, out_rx, reopen))
        .map_err(|e| LiveError::Runtime(format!("cannot start the output thread: {e}")))?;

    let mut rxs = Vec::with_capacity(workers);
    let mut lanes = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = bounded::<ToWorker>(cfg.runtime.queue_depth);
        lanes.push(Mutex::new(Lane { tx, last_clock: 0 }));
        rxs.push(rx);
    }
    let shared = Arc::new(Shared {
        lanes,
        queues: sources
            .iter()
            .map(|s| {
                Arc::new(QueueShared {
                    queue: s.queue(),
                    ..Default::default()
                })
            })
            .collect(),
        workers: (0..workers)
            .map(|_| Mutex::new(WorkerSnap::default()))
            .collect(),
        method,
        iface: opts.iface.clone(),
        started,
    });
    // The baseline thread: loads --state-dir, learns and detects, and
    // snapshots periodically and when the workers finish.
    let (obs_tx, baseline_handle) = if cfg.dissect.enabled {
        let analyzer = crate::runtime::make_analyzer(cfg, opts.state_dir.as_deref(), false, None)
            .map_err(|e| LiveError::Setup(e.to_string()))?;
        let (tx, rx) = bounded::<crate::baseline::ObsBatch>(workers * 64);
        let out = out_tx.clone();
        let dir = opts.state_dir.clone();
        let h = std::thread::Builder::new()
            .name("sw-baseline".into())
            .spawn(move || crate::baseline::run(analyzer, workers, rx, out, dir))
            .map_err(|e| LiveError::Runtime(format!("cannot start the baseline thread: {e}")))?;
        (Some(tx), Some(h))
    } else {
        (None, None)
    };
    let mut worker_handles = Vec::with_capacity(workers);
    for (i, rx) in rxs.into_iter().enumerate() {
        let w = Worker::new(cfg, workers, i, out_tx.clone(), obs_tx.clone());
        let sh = shared.clone();
        worker_handles.push(
            std::thread::Builder::new()
                .name(format!("sw-worker-{i}"))
                .spawn(move || worker_loop(w, rx, sh, i))
                .map_err(|e| LiveError::Runtime(format!("cannot start a worker: {e}")))?,
        );
    }
    let reader_stop = Arc::new(AtomicBool::new(false));
    let mut reader_handles = Vec::with_capacity(sources.len());
    for (i, src) in sources.into_iter().enumerate() {
        let fixed_worker = match (&src, opts.rss_symmetric) {
            (LiveSource::Xdp(q), true) => Some(q.queue() as usize % workers),
            _ => None,
        };
        let r = Reader {
            me: shared.queues[i].clone(),
            shared: shared.clone(),
            src,
            fixed_worker,
            batch_size: cfg.runtime.batch_size,
            stop: reader_stop.clone(),
        };
        reader_handles.push(
            std::thread::Builder::new()
                .name(format!("sw-capture-{i}"))
                .spawn(move || r.run())
                .map_err(|e| LiveError::Runtime(format!("cannot start a capture thread: {e}")))?,
        );
    }
    let mut metrics = match listener {
        Some(l) => {
            let sh = shared.clone();
            let render: Render = Arc::new(move || render_metrics(&sh));
            let m = MetricsServer::spawn(l, render)
                .map_err(|e| LiveError::Runtime(format!("cannot start the metrics thread: {e}")))?;
            eprintln!(
                "spanwatch: live: metrics on http://{}/metrics",
                m.local_addr()
            );
            Some(m)
        }
        None => None,
    };
    eprintln!(
        "spanwatch: live: capturing on {} with {} worker(s); SIGINT/SIGTERM stop, SIGHUP reopens the output",
        opts.iface, workers
    );

    // 4. The main loop: ticks, stats records, watching the threads.
    let mut last_tick = Instant::now();
    let mut last_stats = Instant::now();
    let mut failure: Option<String> = None;
    while !signals.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if last_tick.elapsed() >= TICK_INTERVAL {
            last_tick = Instant::now();
            let now = wall_clock();
            for w in 0..workers {
                shared.tick(w, now);
            }
        }
        if let Some(iv) = opts.stats_interval {
            if last_stats.elapsed() >= iv {
                last_stats = Instant::now();
                let _ = out_tx.send(stats_record(&shared, false, None));
            }
        }
        if reader_handles.iter().any(|h| h.is_finished())
            || worker_handles.iter().any(|h| h.is_finished())
            || writer_handle.is_finished()
        {
            failure = Some("a capture, worker or output thread ended unexpectedly".into());
            break;
        }
    }

    // 5. Shutdown: stop new frames, drain, finish every flow, final stats.
    if let Some(x) = xdp.as_mut() {
        x.detach();
    }
    reader_stop.store(true, Ordering::Relaxed);
    for h in reader_handles {
        match h.join() {
            Ok(ReaderEnd { error: Some(e) }) => {
                failure.get_or_insert(e);
            }
            Ok(_) => {}
            Err(_) => {
                failure.get_or_insert_with(|| "a capture thread panicked".into());
            }
        }
    }
    drop(xdp);
    let final_clock = shared.max_clock().max(wall_clock());
    for w in 0..workers {
        shared.finish(w, final_clock);
    }
    let mut total = WorkerStats::default();
    let mut finals = Vec::with_capacity(workers);
    for (i, h) in worker_handles.into_iter().enumerate() {
        match h.join() {
            Ok(r) => {
                total.merge(&r.stats);
                finals.push(WorkerSnap {
                    stats: r.stats,
                    active_flows: 0,
                });
            }
            Err(_) => {
                failure.get_or_insert_with(|| format!("worker {i} panicked"));
                finals.push(lock(&shared.workers[i]).clone());
            }
        }
    }
    drop(obs_tx);
    if let Some(h) = baseline_handle {
        match h.join() {
            Ok(b) => {
                if let Some(e) = b.snapshot_error {
                    failure.get_or_insert(e);
                }
            }
            Err(_) => {
                failure.get_or_insert_with(|| "baseline thread panicked".into());
            }
        }
    }
    let _ = out_tx.send(stats_record(&shared, true, Some(&finals)));
    if let Some(m) = metrics.as_mut() {
        m.stop();
    }
    if let Some(s) = &state {
        s.snapshot();
    }
    drop(out_tx);
    let queues = shared.queue_snapshots();
    drop(shared);
    let writer = match writer_handle.join() {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => return Err(LiveError::Runtime(format!("cannot write EVE output: {e}"))),
        Err(_) => return Err(LiveError::Runtime("output thread panicked".into())),
    };
    if let Some(f) = failure {
        return Err(LiveError::Runtime(f));
    }
    Ok(LiveSummary {
        method,
        queues,
        workers: total,
        writer,
        wall: started.elapsed(),
        cpu: process_cpu(),
    })
}

/// User + system CPU time of this process so far.
pub fn process_cpu() -> Duration {
    // SAFETY: `rusage` is plain C data; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid for writes for the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
