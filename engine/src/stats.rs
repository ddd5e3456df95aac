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
