//! Dissect: protocol detection by content, and the per-flow state of each
//! application-layer dissector.
//!
//! A flow's payload reaches [`FlowApp`]. For TCP it first goes through the
//! flow's two reassembly streams; the in-order bytes of each direction then
//! go to protocol detection and, once a protocol is found, to its dissector.
//! Detection runs every protocol's `probe` (from `parsers/`); port hints only
//! choose the order. Dissectors turn messages into transactions and write
//! EVE records through a [`Ctx`].
//!
//! Adding a protocol: write its parser in `parsers/`, a module here with a
//! state type that implements [`TcpApp`] or [`UdpApp`], a variant in
//! [`AppProto`], and a line in [`probe_order`]/[`start_tcp`]/[`start_udp`].

pub mod detect;
pub mod session;
pub mod streambuf;

pub mod cclink;
pub mod dns;
pub mod egd;
pub mod melsoft;
pub mod modbus;
pub mod ot_common;
pub mod slmp;
pub mod smtp;
pub mod srtp;
pub mod tls;

use crate::baseline::obs::{DeviceId, FlowRef, ObsBuf, ObsKind};
use crate::capture::Nanos;
use crate::output::eve::{write_header, FlowHeader};
use crate::output::json::JsonWriter;
pub use detect::{probe_order, start_tcp, start_udp};
pub use session::FlowApp;
use spanwatch_parsers::stream::Direction;
pub use streambuf::StreamBuf;

/// Application protocols spanwatch dissects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AppProto {
    /// Modbus/TCP.
    Modbus,
    /// GE SRTP.
    GeSrtp,
    /// GE Ethernet Global Data.
    GeEgd,
    /// Mitsubishi MC protocol / SLMP (3E, 4E).
    Slmp,
    /// Mitsubishi MELSOFT engineering protocol.
    Melsoft,
    /// CC-Link IE Field Basic.
    CclinkIef,
    /// TLS.
    Tls,
    /// SMTP.
    Smtp,
    /// DNS.
    Dns,
}

impl AppProto {
    /// The name written as `app_proto` and as the protocol's `event_type`.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Modbus => "modbus",
            AppProto::GeSrtp => "ge_srtp",
            AppProto::GeEgd => "ge_egd",
            AppProto::Slmp => "slmp",
            AppProto::Melsoft => "melsoft",
            AppProto::CclinkIef => "cclink_ief",
            AppProto::Tls => "tls",
            AppProto::Smtp => "smtp",
            AppProto::Dns => "dns",
        }
    }

    /// OT protocols keep their whole session (unlimited reassembly depth by default).
    pub fn is_ot(self) -> bool {
        !matches!(self, AppProto::Tls | AppProto::Smtp | AppProto::Dns)
    }

    /// Every protocol, in a fixed order.
    pub const ALL: [AppProto; 9] = [
        AppProto::Modbus,
        AppProto::GeSrtp,
        AppProto::GeEgd,
        AppProto::Slmp,
        AppProto::Melsoft,
        AppProto::CclinkIef,
        AppProto::Tls,
        AppProto::Smtp,
        AppProto::Dns,
    ];
}

/// Which OT transactions become EVE events (`--ot-events`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum OtEvents {
    /// Every transaction.
    All,
    /// Only transactions that change something (write, control, program, file, auth, ...).
    #[default]
    Changes,
    /// None (per-flow code counters are still kept on the flow record).
    None,
}

impl OtEvents {
    /// Should a transaction of this class be logged?
    #[inline]
    pub fn logs(self, class: spanwatch_parsers::ot::OtClass) -> bool {
        match self {
            OtEvents::All => true,
            OtEvents::Changes => class.is_change(),
            OtEvents::None => false,
        }
    }
}

/// Dissector settings (`[dissect]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DissectConfig {
    /// Turn application-layer dissection off entirely (flow records only).
    pub enabled: bool,
    /// Which OT transactions are logged: `all`, `changes` or `none`.
    pub ot_events: OtEvents,
    /// Bytes per direction that protocol detection may look at before giving up.
    pub max_probe_bytes: usize,
    /// Largest unconsumed tail a dissector may hold per direction (a message
    /// bigger than this is skipped and the dissector resynchronises).
    pub max_pending_bytes: usize,
    /// Log DNS queries and answers.
    pub dns_events: bool,
    /// Reassemble TCP streams but detect and dissect nothing, and run no
    /// baseline (for measuring the cost of reassembly alone).
    pub reassembly_only: bool,
}

impl Default for DissectConfig {
    fn default() -> Self {
        DissectConfig {
            enabled: true,
            ot_events: OtEvents::Changes,
            max_probe_bytes: 4096,
            max_pending_bytes: 256 * 1024,
            dns_events: true,
            reassembly_only: false,
        }
    }
}

/// Dissection counters, summed over workers into `stats.app_layer`.
#[derive(Debug, Clone, Default)]
pub struct DissectStats {
    /// Flows per detected protocol (indexed like [`AppProto::ALL`]).
    pub flows: [u64; 9],
    /// Transactions/messages per protocol.
    pub messages: [u64; 9],
    /// Events written per protocol.
    pub events: [u64; 9],
    /// Invalid frames per protocol (framing errors, followed by resync).
    pub invalid: [u64; 9],
    /// Gaps reported to dissectors.
    pub gaps: u64,
    /// Flows whose protocol could not be found within the probe limit.
    pub undetected: u64,
    /// Dissector buffers that overflowed `max_pending_bytes`.
    pub pending_overflows: u64,
    /// Parsers stopped for making no progress.
    pub stalled: u64,
    /// Reassembly overlaps with different data (anomaly records written).
    pub overlap_anomalies: u64,
    /// Stream limit events (holes, segments, stream/global memcap, RST data, data after FIN).
    pub stream_limit_events: u64,
    /// Streams that reached their reassembly depth.
    pub depth_reached: u64,
    /// Packet time of the last `reassembly_memcap_reached` record.
    pub memcap_event_at: Nanos,
    /// Memcap hits since that record.
    pub memcap_suppressed: u64,
}

impl DissectStats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &DissectStats) {
        for i in 0..9 {
            self.flows[i] += o.flows[i];
            self.messages[i] += o.messages[i];
            self.events[i] += o.events[i];
            self.invalid[i] += o.invalid[i];
        }
        self.gaps += o.gaps;
        self.undetected += o.undetected;
        self.pending_overflows += o.pending_overflows;
        self.stalled += o.stalled;
        self.overlap_anomalies += o.overlap_anomalies;
        self.stream_limit_events += o.stream_limit_events;
        self.depth_reached += o.depth_reached;
    }

    /// Writes the `app_layer` stats object.
    pub fn write(&self, w: &mut JsonWriter<'_>) {
        w.begin_object("app_layer");
        for (i, p) in AppProto::ALL.iter().enumerate() {
            w.begin_object(p.name())
                .u64("flows", self.flows[i])
                .u64("messages", self.messages[i])
                .u64("events", self.events[i])
                .u64("invalid", self.invalid[i])
                .end_object();
        }
        w.u64("gaps", self.gaps)
            .u64("undetected", self.undetected)
            .u64("pending_overflows", self.pending_overflows)
            .u64("stalled", self.stalled);
        w.end_object();
        w.begin_object("stream")
            .u64("overlap_different_data", self.overlap_anomalies)
            .u64("limit_events", self.stream_limit_events)
            .u64("depth_reached", self.depth_reached)
            .end_object();
    }
}

/// Index of a protocol in the stats arrays.
#[inline]
pub fn idx(p: AppProto) -> usize {
    p as usize
}

/// What a dissector may touch while handling bytes: the worker's output
/// buffer, the flow's EVE header, the packet time, settings and counters.
pub struct Ctx<'a> {
    /// EVE lines of this worker.
    pub out: &'a mut Vec<u8>,
    /// The flow's EVE header (client → server).
    pub flow: &'a FlowHeader,
    /// Time of the packet being handled.
    pub ts: Nanos,
    /// Settings.
    pub cfg: &'a DissectConfig,
    /// Counters.
    pub stats: &'a mut DissectStats,
    /// Input position of the current frame.
    pub seq: u64,
    /// Observations for the baseline.
    pub obs: &'a mut ObsBuf,
}

impl Ctx<'_> {
    /// Sends an observation about this flow to the baseline.
    #[inline]
    pub fn observe(&mut self, kind: ObsKind) {
        if self.obs.enabled {
            let f = self.flow;
            let flow = FlowRef {
                flow_id: f.flow_id,
                client: DeviceId::new(f.src, f.is_v6),
                server: DeviceId::new(f.dst, f.is_v6),
                client_port: f.sport,
                server_port: f.dport,
                proto: f.proto,
                vlan: f.vlan,
            };
            self.obs.push(self.seq, self.ts, flow, kind);
        }
    }

    /// Writes one EVE record of `event_type` for `proto`: the common header,
    /// then whatever `body` adds. Counts the event.
    pub fn event(
        &mut self,
        proto: AppProto,
        event_type: &str,
        body: impl FnOnce(&mut JsonWriter<'_>),
    ) {
        let mut w = JsonWriter::object(self.out);
        write_header(&mut w, self.ts, event_type, self.flow, Some(proto.name()));
        body(&mut w);
        w.finish();
        self.stats.events[idx(proto)] += 1;
    }

    /// Writes an `anomaly` record of `anomaly_type` (`stream`, `applayer`)
    /// and `event` on this flow.
    pub fn anomaly(
        &mut self,
        app: Option<AppProto>,
        anomaly_type: &str,
        event: &str,
        extra: impl FnOnce(&mut JsonWriter<'_>),
    ) {
        let mut w = JsonWriter::object(self.out);
        write_header(&mut w, self.ts, "anomaly", self.flow, app.map(|a| a.name()));
        w.begin_object("anomaly")
            .str("type", anomaly_type)
            .str("event", event);
        if let Some(a) = app {
            w.str("app_proto", a.name());
        }
        extra(&mut w);
        w.end_object();
        w.finish();
    }
}

/// A TCP application dissector: receives each direction's in-order bytes.
pub trait TcpApp {
    /// In-order bytes of one direction.
    fn on_data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>);
    /// `len` bytes of `dir` were lost (capture loss); resynchronise.
    fn on_gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>);
    /// The flow ends: flush open transactions.
    fn on_close(&mut self, _ctx: &mut Ctx<'_>) {}
    /// Adds protocol fields to the flow record (e.g. per-flow code counters).
    fn write_flow(&self, _w: &mut JsonWriter<'_>) {}
}

/// A UDP application dissector: receives each datagram's payload.
pub trait UdpApp {
    /// One datagram's payload.
    fn on_datagram(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>);
    /// The flow ends.
    fn on_close(&mut self, _ctx: &mut Ctx<'_>) {}
    /// Adds protocol fields to the flow record.
    fn write_flow(&self, _w: &mut JsonWriter<'_>) {}
}
