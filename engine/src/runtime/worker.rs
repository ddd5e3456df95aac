//! A worker: decode → flow → (reassembly → dissect) for the frames routed to
//! it. Owns its decoder, flow table and output buffer; shares nothing on the
//! per-packet path.

use super::{FrameBatch, ToWorker};
use crate::capture::Nanos;
use crate::config::Config;
use crate::decode::{Decoded, Decoder};
use crate::dissect::{Ctx, DissectConfig, DissectStats};
use crate::flow::{EndReason, Flow, FlowTable};
use crate::output::records::{flow_header, write_engine_anomaly, write_flow};
use crate::stats::WorkerStats;
use crossbeam_channel::{Receiver, Sender};
use spanwatch_parsers::stream::Direction;

/// Output buffered by a worker before it is handed to the writer thread.
const MAX_OUT_BUFFER: usize = 256 * 1024;

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
    stats: WorkerStats,
    flow_records: bool,
    dissect_cfg: DissectConfig,
    dissect: DissectStats,
    latency: hdrhistogram::Histogram<u64>,
}

/// The output side of a worker, split from the decoder and flow table so
/// that a flow can be written while a packet borrowed from the decoder is live.
struct Emit<'a> {
    out: &'a mut Vec<u8>,
    stats: &'a mut WorkerStats,
    flow_records: bool,
    dissect_cfg: &'a DissectConfig,
    dissect: &'a mut DissectStats,
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
        };
        f.app.on_close(&mut ctx);
        if self.flow_records {
            write_flow(self.out, &f, reason);
            self.stats.pipeline.flow_records += 1;
        }
    }
}

impl Worker {
    /// A worker that is one of `workers`, writing to `out_tx`.
    pub fn new(cfg: &Config, workers: usize, out_tx: Sender<Vec<u8>>) -> Worker {
        let share = (cfg.flow.max_flows / workers.max(1)).max(16);
        Worker {
            decoder: Decoder::new(&cfg.decode.for_worker(workers)),
            flows: FlowTable::new(&cfg.flow, share),
            out: Vec::with_capacity(MAX_OUT_BUFFER + 4096),
            out_tx,
            stats: WorkerStats::default(),
            flow_records: cfg.output.flow_records,
            dissect_cfg: cfg.dissect.clone(),
            dissect: DissectStats::default(),
            latency: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 2).unwrap_or_else(
                |_| hdrhistogram::Histogram::new(2).expect("2 significant figures is valid"),
            ),
        }
    }

    /// Processes batches until told to finish.
    pub fn run(mut self, rx: Receiver<ToWorker>) -> WorkerResult {
        for msg in rx.iter() {
            match msg {
                ToWorker::Batch(b) => self.batch(&b),
                ToWorker::Tick { clock } => self.tick(clock),
                ToWorker::Finish { final_clock } => {
                    self.finish(final_clock);
                    break;
                }
            }
        }
        self.flush_out();
        self.stats.decode = self.decoder.stats.clone();
        self.stats.flow = self.flows.stats.clone();
        self.stats.dissect = self.dissect.clone();
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

    /// Runs one batch through the pipeline.
    pub fn batch(&mut self, b: &FrameBatch) {
        let backing = b.backing.as_ref();
        for f in &b.frames {
            self.frame(f.linktype, f.ts, f.clock, backing.frame(f), f.origlen);
        }
        if let Some(last) = b.frames.last() {
            self.tick(last.clock);
        }
        if self.out.len() >= MAX_OUT_BUFFER {
            self.flush_out();
        }
        let ns = b.sent.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        let _ = self.latency.record(ns.max(1));
    }

    /// One frame: decode, then flow tracking.
    #[inline]
    pub fn frame(&mut self, linktype: u16, ts: Nanos, clock: Nanos, data: &[u8], origlen: u32) {
        self.stats.frames += 1;
        let mut emit = Emit {
            out: &mut self.out,
            stats: &mut self.stats,
            flow_records: self.flow_records,
            dissect_cfg: &self.dissect_cfg,
            dissect: &mut self.dissect,
        };
        match self.decoder.decode(linktype, ts, data, origlen) {
            Decoded::Packet(p) => {
                let mut ended = |f: Flow, r: EndReason| emit.flow_ended(f, r);
                if let Some((flow, to_server)) = self.flows.track(&p, clock, &mut ended) {
                    emit.stats.pipeline.packets_tracked += 1;
                    if !p.payload.is_empty() || p.proto == crate::decode::ipproto::TCP {
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
                        };
                        flow.app
                            .on_packet(&p, dir, header.sport, header.dport, &mut ctx);
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
        let mut emit = Emit {
            out: &mut self.out,
            stats: &mut self.stats,
            flow_records: self.flow_records,
            dissect_cfg: &self.dissect_cfg,
            dissect: &mut self.dissect,
        };
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
        let mut emit = Emit {
            out: &mut self.out,
            stats: &mut self.stats,
            flow_records: self.flow_records,
            dissect_cfg: &self.dissect_cfg,
            dissect: &mut self.dissect,
        };
        self.flows
            .drain(final_clock, &mut |f, r| emit.flow_ended(f, r));
    }

    fn flush_out(&mut self) {
        if !self.out.is_empty() {
            let full = std::mem::replace(&mut self.out, Vec::with_capacity(MAX_OUT_BUFFER + 4096));
            // The writer only goes away on an output error, reported by the runtime.
            let _ = self.out_tx.send(full);
        }
    }
}
