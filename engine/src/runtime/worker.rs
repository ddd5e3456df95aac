//! A worker: decode → flow → (reassembly → dissect) for the frames routed to
//! it. Owns its decoder, flow table and output buffer; shares nothing on the
//! per-packet path.

use super::{FrameBatch, ToWorker};
use crate::baseline::obs::{ObsBuf, ObsKind};
use crate::baseline::ObsBatch;
use crate::capture::Nanos;
use crate::config::Config;
use crate::decode::{Decoded, Decoder};
use crate::dissect::{Ctx, DissectConfig, DissectStats};
use crate::flow::{EndReason, Flow, FlowTable};
use crate::output::records::{flow_header, write_engine_anomaly, write_flow};
use crate::reassembly::{ReassemblyConfig, ReassemblyMemcap};
use crate::stats::ReassemblyTotals;
use crate::stats::WorkerStats;
use crossbeam_channel::{Receiver, Sender};
use spanwatch_parsers::stream::Direction;

/// Output buffered by a worker before it is handed to the writer thread.
const MAX_OUT_BUFFER: usize = 256 * 1024;
/// How many frames ahead of the one being decoded the worker prefetches.
const PREFETCH_FRAMES_AHEAD: usize = 4;

/// Observations buffered by a worker before they are handed to the baseline.
const MAX_OBS_BUFFER: usize = 8192;

/// What a worker returns when its input ends.
pub struct WorkerResult {
    /// Counters.
    pub stats: WorkerStats,
    /// Reader-to-worker latency of each batch, in nanoseconds.
    pub latency: hdrhistogram::Histogram<u64>,
}

/// One worker's state.
pub struct Worker {
    decoder: Decoder,
    flows: FlowTable,
    out: Vec<u8>,
    out_tx: Sender<Vec<u8>>,
    /// Empty output buffers handed back by the writer.
    spares: Option<Receiver<Vec<u8>>>,
    stats: WorkerStats,
    flow_records: bool,
    dissect_cfg: DissectConfig,
    dissect: DissectStats,
    obs: ObsBuf,
    rcfg: ReassemblyConfig,
    mem: ReassemblyMemcap,
    reasm: ReassemblyTotals,
    obs_tx: Option<Sender<ObsBatch>>,
    worker_id: usize,
    seq: u64,
    batches_since_obs: u32,
    latency: hdrhistogram::Histogram<u64>,
}

/// The output side of a worker, split from the decoder and flow table so
/// that a flow can be written while a packet borrowed from the decoder is live.
struct Emit<'a> {
    out_tx: &'a Sender<Vec<u8>>,
    obs_tx: Option<&'a Sender<ObsBatch>>,
    worker_id: usize,
    mem: &'a mut ReassemblyMemcap,
    reasm: &'a mut ReassemblyTotals,
    seq: u64,
    obs: &'a mut ObsBuf,
    out: &'a mut Vec<u8>,
    stats: &'a mut WorkerStats,
    flow_records: bool,
    dissect_cfg: &'a DissectConfig,
    dissect: &'a mut DissectStats,
}

/// The output side of a worker as an [`Emit`], borrowing only the fields
/// that the decoder and flow table do not use.
macro_rules! emit {
    ($w:ident) => {
        Emit {
            out_tx: &$w.out_tx,
            obs_tx: $w.obs_tx.as_ref(),
            worker_id: $w.worker_id,
            mem: &mut $w.mem,
            reasm: &mut $w.reasm,
            seq: $w.seq,
            obs: &mut $w.obs,
            out: &mut $w.out,
            stats: &mut $w.stats,
            flow_records: $w.flow_records,
            dissect_cfg: &$w.dissect_cfg,
            dissect: &mut $w.dissect,
        }
    };
}

impl Emit<'_> {
    fn flow_ended(&mut self, mut f: Flow, reason: EndReason) {
        let header = flow_header(&f);
        let mut ctx = Ctx {
            out: self.out,
            flow: &header,
            ts: f.last,
            cfg: self.dissect_cfg,
            stats: self.dissect,
            seq: self.seq,
            obs: self.obs,
        };
        if let Some(c) = f.app.on_close(self.mem, &mut ctx) {
            self.reasm.add(&c);
        }
        ctx.observe(ObsKind::FlowEnd {
            app: f.app.proto,
            pkts: f.pkts,
            bytes: f.bytes,
            duration: f.last.saturating_sub(f.start),
        });
        if self.flow_records {
            write_flow(self.out, &f, &header, reason);
            self.stats.pipeline.flow_records += 1;
        }
        // Many flows can end at once (a sweep, the end of input): hand output
        // and observations over as they pile up rather than all at the end.
        if self.out.len() >= MAX_OUT_BUFFER {
            let full = std::mem::replace(self.out, Vec::with_capacity(MAX_OUT_BUFFER + 4096));
            let _ = self.out_tx.send(full);
        }
        if self.obs.items.len() >= MAX_OBS_BUFFER {
            if let Some(tx) = self.obs_tx {
                let items = std::mem::take(&mut self.obs.items);
                // Every flow ending now belongs to frames up to `seq`; more
                // observations at `seq` may still follow, so the watermark
                // stays just below it.
                let _ = tx.send(ObsBatch {
                    worker: self.worker_id,
                    watermark: self.seq.saturating_sub(1),
                    items,
                    last: false,
                });
            }
        }
    }
}

impl Worker {
    /// A worker that is one of `workers`, writing to `out_tx`.
    pub fn new(
        cfg: &Config,
        workers: usize,
        worker_id: usize,
        out_tx: Sender<Vec<u8>>,
        obs_tx: Option<Sender<ObsBatch>>,
    ) -> Worker {
        let share = (cfg.flow.max_flows / workers.max(1)).max(16);
        Worker {
            decoder: Decoder::new(&cfg.decode.for_worker(workers)),
            flows: FlowTable::new(&cfg.flow, share),
            out: Vec::with_capacity(MAX_OUT_BUFFER + 4096),
            out_tx,
            spares: None,
            stats: WorkerStats::default(),
            flow_records: cfg.output.flow_records,
            dissect_cfg: cfg.dissect.clone(),
            dissect: DissectStats::default(),
            obs: ObsBuf {
                items: Vec::new(),
                enabled: obs_tx.is_some(),
            },
            rcfg: cfg.reassembly.to_config(),
            mem: ReassemblyMemcap::new(cfg.reassembly.memcap / workers.max(1) as u64),
            reasm: ReassemblyTotals::default(),
            obs_tx,
            worker_id,
            seq: 0,
            batches_since_obs: 0,
            latency: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 2).unwrap_or_else(
                |_| hdrhistogram::Histogram::new(2).expect("2 significant figures is valid"),
            ),
        }
    }

    /// Reuse the writer's emptied buffers.
    pub fn with_spares(mut self, spares: Receiver<Vec<u8>>) -> Worker {
        self.spares = Some(spares);
        self
    }

    /// Processes batches until told to finish.
    pub fn run(mut self, rx: Receiver<ToWorker>) -> WorkerResult {
        for msg in rx.iter() {
            match msg {
                ToWorker::Batch(b) => self.batch(&b),
                ToWorker::Tick { clock } => self.tick(clock),
                ToWorker::Position { seq } => {
                    self.flush_observations(seq.saturating_sub(1).max(self.seq))
                }
                ToWorker::Finish { final_clock } => {
                    self.finish(final_clock);
                    break;
                }
            }
        }
        self.flush_out();
        self.flush_obs(u64::MAX, true);
        self.stats.decode = self.decoder.stats.clone();
        self.stats.flow = self.flows.stats.clone();
        self.stats.dissect = self.dissect.clone();
        self.reasm.memcap_peak = self.mem.peak();
        self.reasm.memcap_refusals = self.mem.refusals();
        self.stats.reassembly = self.reasm.clone();
        WorkerResult {
            stats: self.stats,
            latency: self.latency,
        }
    }

    /// The counters so far, for the periodic stats of a live capture
    /// (`run` returns the final ones).
    pub fn stats_snapshot(&self) -> WorkerStats {
        let mut s = self.stats.clone();
        s.decode = self.decoder.stats.clone();
        s.flow = self.flows.stats.clone();
        s.dissect = self.dissect.clone();
        s
    }

    /// Flows held now.
    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Hands the records written so far to the writer (a live capture calls
    /// it at each tick, so that records do not wait for a full buffer).
    pub fn flush(&mut self) {
        self.flush_out();
    }

    /// Hands pending observations to the baseline with `watermark` as the
    /// position reached (live capture: at each tick, so an idle worker does
    /// not hold the baseline's merge back).
    pub fn flush_observations(&mut self, watermark: u64) {
        self.batches_since_obs = u32::MAX - 1;
        self.flush_obs(watermark, false);
    }

    /// Runs one batch through the pipeline.
    pub fn batch(&mut self, b: &FrameBatch) {
        let backing = b.backing.as_ref();
        let bytes = backing.bytes();
        for (i, f) in b.frames.iter().enumerate() {
            // The frames were read long ago (a queue of batches back): ask
            // for the headers of a frame a few ahead while this one is
            // decoded, instead of stalling on each frame's first line.
            if let Some(next) = b.frames.get(i + PREFETCH_FRAMES_AHEAD) {
                crate::runtime::prefetch(bytes, next.offset);
                crate::runtime::prefetch(bytes, next.offset + 64);
            }
            self.frame(
                f.seq,
                f.linktype,
                f.ts,
                f.clock,
                backing.frame(f),
                f.origlen,
            );
        }
        if let Some(last) = b.frames.last() {
            self.tick(last.clock);
            self.flush_obs(last.seq, false);
        }
        if self.out.len() >= MAX_OUT_BUFFER {
            self.flush_out();
        }
        let ns = b.sent.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        let _ = self.latency.record(ns.max(1));
    }

    /// One frame: decode, then flow tracking.
    #[inline]
    pub fn frame(
        &mut self,
        seq: u64,
        linktype: u16,
        ts: Nanos,
        clock: Nanos,
        data: &[u8],
        origlen: u32,
    ) {
        self.stats.frames += 1;
        self.seq = seq;
        let mut emit = emit!(self);
        match self.decoder.decode(linktype, ts, data, origlen) {
            Decoded::Packet(p) => {
                let mut ended = |f: Flow, r: EndReason| emit.flow_ended(f, r);
                if let Some((flow, to_server)) = self.flows.track(&p, clock, &mut ended) {
                    emit.stats.pipeline.packets_tracked += 1;
                    // Flow records only: no header, no app state, no observations.
                    if emit.dissect_cfg.enabled
                        && (!p.payload.is_empty() || p.proto == crate::decode::ipproto::TCP)
                    {
                        let header = flow_header(flow);
                        let dir = if to_server {
                            Direction::ToServer
                        } else {
                            Direction::ToClient
                        };
                        let mut ctx = Ctx {
                            out: emit.out,
                            flow: &header,
                            ts: p.ts,
                            cfg: emit.dissect_cfg,
                            stats: emit.dissect,
                            seq,
                            obs: emit.obs,
                        };
                        if flow.pkts[0] + flow.pkts[1] == 1 {
                            ctx.observe(ObsKind::FlowStart { app: None });
                        }
                        if !to_server && !flow.answered {
                            use crate::decode::tcp_flags::{ACK, SYN};
                            let answers = p.proto != crate::decode::ipproto::TCP
                                || p.tcp.flags & (SYN | ACK) == SYN | ACK
                                || !p.payload.is_empty();
                            if answers {
                                flow.answered = true;
                                ctx.observe(ObsKind::ServerAnswered);
                            }
                        }
                        flow.app.on_packet(
                            &p,
                            dir,
                            header.sport,
                            header.dport,
                            &self.rcfg,
                            emit.mem,
                            &mut ctx,
                        );
                    }
                }
            }
            Decoded::FragmentHeld => emit.stats.pipeline.fragments_held += 1,
            Decoded::NotIp => emit.stats.pipeline.not_ip += 1,
            Decoded::Invalid => emit.stats.pipeline.invalid += 1,
        }
    }

    /// Time-driven work at the input clock `now`: flow timeouts, fragment
    /// expiry, bound-hit events.
    pub fn tick(&mut self, now: Nanos) {
        let mut emit = emit!(self);
        self.flows.sweep(now, &mut |f, r| emit.flow_ended(f, r));
        self.decoder.expire(now);
        if self.flows.memcap_event_pending {
            self.flows.memcap_event_pending = false;
            write_engine_anomaly(
                &mut self.out,
                now,
                "flow_memcap_reached",
                "flow table full: emergency pruning",
            );
            self.stats.pipeline.anomaly_records += 1;
        }
    }

    /// End of input: every remaining flow is written.
    pub fn finish(&mut self, final_clock: Nanos) {
        self.tick(final_clock);
        let mut emit = emit!(self);
        self.flows
            .drain(final_clock, &mut |f, r| emit.flow_ended(f, r));
    }

    /// Hands observations to the baseline with the input position this
    /// worker has fully processed. Empty batches still go out now and then
    /// so the baseline's merge can move on.
    fn flush_obs(&mut self, watermark: u64, last: bool) {
        let Some(tx) = &self.obs_tx else { return };
        self.batches_since_obs += 1;
        if self.obs.items.is_empty() && !last && self.batches_since_obs < 16 {
            return;
        }
        self.batches_since_obs = 0;
        let items = std::mem::take(&mut self.obs.items);
        let _ = tx.send(ObsBatch {
            worker: self.worker_id,
            watermark,
            items,
            last,
        });
    }

    fn flush_out(&mut self) {
        if !self.out.is_empty() {
            let next = self
                .spares
                .as_ref()
                .and_then(|r| r.try_recv().ok())
                .filter(|v| v.capacity() >= MAX_OUT_BUFFER)
                .unwrap_or_else(|| Vec::with_capacity(MAX_OUT_BUFFER + 4096));
            let full = std::mem::replace(&mut self.out, next);
            // The writer only goes away on an output error, reported by the runtime.
            let _ = self.out_tx.send(full);
        }
    }
}
