//! Counters gathered into the final `stats` record.
//!
//! Every packet is accounted for: `capture.frames` = `decoder` outcomes
//! (packets, fragments held, non-IP, invalid) and every decoded packet is
//! either tracked in a flow or counted in `flow.memcap_drops`.

use crate::decode::DecodeStats;
use crate::dissect::DissectStats;
use crate::flow::FlowStats;
use crate::output::json::JsonWriter;

/// What the reader counted.
#[derive(Debug, Clone, Default)]
pub struct CaptureStats {
    /// Files opened.
    pub files: u64,
    /// Frames read from all files.
    pub frames: u64,
    /// Captured bytes of those frames.
    pub bytes: u64,
    /// Files that ended inside a record.
    pub truncated_files: u64,
}

/// Per-worker outcome counters of the decode → flow step.
#[derive(Debug, Clone, Default)]
pub struct PipelineStats {
    /// Packets that reached a flow.
    pub packets_tracked: u64,
    /// IP fragments held for reassembly (not yet a packet).
    pub fragments_held: u64,
    /// Valid frames that carry no IP (ARP, LLDP, ...).
    pub not_ip: u64,
    /// Frames the decoder refused (see `decoder.*` for the reasons).
    pub invalid: u64,
    /// Flow records written.
    pub flow_records: u64,
    /// Engine anomaly records written.
    pub anomaly_records: u64,
}

impl PipelineStats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &PipelineStats) {
        self.packets_tracked += o.packets_tracked;
        self.fragments_held += o.fragments_held;
        self.not_ip += o.not_ip;
        self.invalid += o.invalid;
        self.flow_records += o.flow_records;
        self.anomaly_records += o.anomaly_records;
    }
}

/// TCP reassembly counters summed over the streams of ended flows.
#[derive(Debug, Clone, Default)]
pub struct ReassemblyTotals {
    /// Streams closed.
    pub streams: u64,
    /// Bytes delivered in order.
    pub delivered_bytes: u64,
    /// Gaps reported and their bytes.
    pub gaps: u64,
    /// Bytes lost in gaps.
    pub gap_bytes: u64,
    /// Overlapping segments.
    pub overlaps: u64,
    /// Overlaps whose data differed.
    pub overlaps_different: u64,
    /// Segments buffered out of order.
    pub out_of_order: u64,
    /// Retransmitted segments.
    pub retransmissions: u64,
    /// Limit hits (holes, segments, bytes, memcap).
    pub limit_hits: u64,
    /// Out-of-order bytes dropped at the memcap.
    pub dropped_bytes: u64,
    /// Bytes ignored (after FIN/RST/depth, out of window).
    pub ignored_bytes: u64,
    /// Peak of the worker's reassembly memcap use (summed over workers).
    pub memcap_peak: u64,
    /// Memcap refusals.
    pub memcap_refusals: u64,
}

impl ReassemblyTotals {
    /// Adds the counters of a flow's two streams.
    pub fn add(&mut self, c: &[crate::reassembly::StreamCounters; 2]) {
        for s in c {
            self.streams += 1;
            self.delivered_bytes += s.delivered_bytes;
            self.gaps += s.gaps;
            self.gap_bytes += s.gap_bytes;
            self.overlaps += s.overlaps;
            self.overlaps_different += s.overlaps_different;
            self.out_of_order += s.out_of_order;
            self.retransmissions += s.retransmissions;
            self.limit_hits += s.limit_hits;
            self.dropped_bytes += s.dropped_bytes;
            self.ignored_bytes += s.ignored_bytes;
        }
    }

    /// Adds another worker's totals.
    pub fn merge(&mut self, o: &ReassemblyTotals) {
        self.streams += o.streams;
        self.delivered_bytes += o.delivered_bytes;
        self.gaps += o.gaps;
        self.gap_bytes += o.gap_bytes;
        self.overlaps += o.overlaps;
        self.overlaps_different += o.overlaps_different;
        self.out_of_order += o.out_of_order;
        self.retransmissions += o.retransmissions;
        self.limit_hits += o.limit_hits;
        self.dropped_bytes += o.dropped_bytes;
        self.ignored_bytes += o.ignored_bytes;
        self.memcap_peak += o.memcap_peak;
        self.memcap_refusals += o.memcap_refusals;
    }

    fn write(&self, w: &mut JsonWriter<'_>) {
        w.begin_object("reassembly")
            .u64("streams", self.streams)
            .u64("delivered_bytes", self.delivered_bytes)
            .u64("gaps", self.gaps)
            .u64("gap_bytes", self.gap_bytes)
            .u64("overlaps", self.overlaps)
            .u64("overlaps_different_data", self.overlaps_different)
            .u64("out_of_order", self.out_of_order)
            .u64("retransmissions", self.retransmissions)
            .u64("limit_hits", self.limit_hits)
            .u64("dropped_bytes", self.dropped_bytes)
            .u64("ignored_bytes", self.ignored_bytes)
            .u64("memcap_peak", self.memcap_peak)
            .u64("memcap_refusals", self.memcap_refusals)
            .end_object();
    }
}

/// Everything one worker counted.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Decode counters.
    pub decode: DecodeStats,
    /// Flow table counters.
    pub flow: FlowStats,
    /// Outcome counters.
    pub pipeline: PipelineStats,
    /// Application-layer counters.
    pub dissect: DissectStats,
    /// Reassembly counters.
    pub reassembly: ReassemblyTotals,
    /// Frames handled by this worker.
    pub frames: u64,
}

impl WorkerStats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &WorkerStats) {
        self.decode.merge(&o.decode);
        self.flow.merge(&o.flow);
        self.pipeline.merge(&o.pipeline);
        self.dissect.merge(&o.dissect);
        self.reassembly.merge(&o.reassembly);
        self.frames += o.frames;
    }
}

/// Writes the `stats` object body (inside an EVE record).
pub fn write_stats(
    w: &mut JsonWriter<'_>,
    cap: &CaptureStats,
    ws: &WorkerStats,
    baseline: Option<&crate::baseline::BaselineResult>,
    events: u64,
) {
    w.begin_object("stats");
    w.begin_object("capture")
        .u64("files", cap.files)
        .u64("frames", cap.frames)
        .u64("bytes", cap.bytes)
        .u64("truncated_files", cap.truncated_files)
        .end_object();
    w.begin_object("decoder");
    ws.decode.for_each(|k, v| {
        w.u64(k, v);
    });
    w.end_object();
    w.begin_object("flow");
    ws.flow.for_each(|k, v| {
        w.u64(k, v);
    });
    w.end_object();
    ws.reassembly.write(w);
    ws.dissect.write(w);
    if let Some(b) = baseline {
        w.begin_object("baseline")
            .u64("observations", b.observations)
            .u64("devices", b.devices as u64)
            .u64("pairs", b.pairs as u64)
            .u64("state_bytes", b.state_bytes as u64)
            .u64("devices_refused", b.refused.0)
            .u64("pairs_refused", b.refused.1)
            .u64("snapshots", b.snapshots.0)
            .u64("snapshot_bytes", b.snapshots.1)
            .u64("merge_forced", b.merge_forced)
            .end_object();
        let d = &b.detect;
        w.begin_object("detect")
            .u64("alerts", d.alerts.values().sum())
            .u64("suppressed", d.suppressed.values().sum())
            .u64("incidents", d.incidents)
            .u64("asset_records", d.asset_records);
        w.begin_object("by_model");
        for m in crate::detect::models::ALL {
            let a = d.alerts.get(&m.sid).copied().unwrap_or(0);
            let s = d.suppressed.get(&m.sid).copied().unwrap_or(0);
            if a + s > 0 {
                w.begin_object(m.key)
                    .u64("alerts", a)
                    .u64("suppressed", s)
                    .end_object();
            }
        }
        w.end_object();
        w.end_object();
    }
    let p = &ws.pipeline;
    w.begin_object("pipeline")
        .u64("packets_tracked", p.packets_tracked)
        .u64("fragments_held", p.fragments_held)
        .u64("not_ip", p.not_ip)
        .u64("invalid", p.invalid)
        .u64("flow_records", p.flow_records)
        .u64("anomaly_records", p.anomaly_records)
        .u64("events", events)
        .end_object();
    w.end_object();
}
