//! The application-layer state of one flow: reassembly streams, protocol
//! detection and the dissector.

use super::detect::{Detection, Detector, Transport};
use super::{idx, start_tcp, start_udp, AppProto, Ctx, TcpApp, UdpApp};
use crate::decode::{ipproto, Packet};
use crate::output::json::JsonWriter;
use crate::reassembly::{
    ReassemblyConfig, ReassemblyMemcap, StreamCounters, StreamEvent, StreamSink, TcpStream,
};
use spanwatch_parsers::stream::Direction;

/// Datagrams probed before a UDP flow is declared unknown.
const MAX_UDP_PROBES: u32 = 4;

/// Application-layer state of one flow.
#[derive(Default)]
pub struct FlowApp {
    /// The detected protocol.
    pub proto: Option<AppProto>,
    state: State,
}

#[derive(Default)]
enum State {
    /// No payload seen yet.
    #[default]
    Fresh,
    /// TCP: detection, then a dissector.
    Tcp(Box<TcpSession>),
    /// UDP: detection, then a dissector.
    Udp(Box<UdpSession>),
    /// Nothing more to do for this flow (unknown protocol, or not TCP/UDP).
    Off,
}

struct TcpSession {
    /// To server, to client.
    streams: [TcpStream; 2],
    detector: Option<Detector>,
    app: Option<Box<dyn TcpApp + Send>>,
    /// Detection failed: the streams were released and nothing more is reassembled.
    idle: bool,
}

/// Where one direction's reassembled bytes go: detection, then the dissector.
struct Sink<'s, 'c, 'o> {
    proto: &'s mut Option<AppProto>,
    detector: &'s mut Option<Detector>,
    app: &'s mut Option<Box<dyn TcpApp + Send>>,
    dir: Direction,
    ctx: &'c mut Ctx<'o>,
    /// Set when detection found a protocol (depth and window are then adjusted).
    found: Option<AppProto>,
    /// Set when detection gave up.
    unknown: bool,
}

impl StreamSink for Sink<'_, '_, '_> {
    fn data(&mut self, bytes: &[u8]) {
        if self.app.is_some() || self.detector.is_some() {
            let before = self.proto.is_some();
            FlowApp::tcp_data(
                self.proto,
                self.detector,
                self.app,
                self.dir,
                bytes,
                self.ctx,
            );
            if !before {
                if let Some(p) = *self.proto {
                    self.found = Some(p);
                } else if self.detector.is_none() {
                    self.unknown = true;
                }
            }
        }
    }

    fn gap(&mut self, len: u64) {
        self.ctx.stats.gaps += 1;
        if let Some(app) = self.app.as_mut() {
            app.on_gap(self.dir, len, self.ctx);
        } else if let Some(det) = self.detector.as_mut() {
            // Detection restarts after the hole.
            det.held[if self.dir == Direction::ToServer {
                0
            } else {
                1
            }]
            .clear();
        }
    }

    fn event(&mut self, e: StreamEvent) {
        let app = *self.proto;
        let name = match e {
            StreamEvent::OverlapDifferentData { offset, len } => {
                self.ctx.stats.overlap_anomalies += 1;
                let dir = self.dir;
                self.ctx
                    .anomaly(app, "stream", "reassembly_overlap_different_data", |w| {
                        w.str(
                            "direction",
                            if dir == Direction::ToServer {
                                "to_server"
                            } else {
                                "to_client"
                            },
                        )
                        .u64("offset", offset)
                        .u64("length", len);
                    });
                self.ctx
                    .observe(crate::baseline::obs::ObsKind::StreamOverlap);
                return;
            }
            StreamEvent::HoleLimitReached => "reassembly_hole_limit_reached",
            StreamEvent::SegmentLimitReached => "reassembly_segment_limit_reached",
            StreamEvent::StreamMemcapReached => "reassembly_stream_memcap_reached",
            StreamEvent::GlobalMemcapReached => {
                // An engine-wide bound: one record per second of packet time
                // per worker, with the number of streams it stood for.
                self.ctx.stats.stream_limit_events += 1;
                let st = &mut *self.ctx.stats;
                st.memcap_suppressed += 1;
                if self.ctx.ts >= st.memcap_event_at.saturating_add(1_000_000_000)
                    || st.memcap_event_at == 0
                {
                    let n = std::mem::take(&mut st.memcap_suppressed);
                    st.memcap_event_at = self.ctx.ts.max(1);
                    crate::output::records::write_engine_anomaly(
                        self.ctx.out,
                        self.ctx.ts,
                        "reassembly_memcap_reached",
                        &format!("reassembly memcap full: out-of-order data dropped on {n} stream(s) since the last report"),
                    );
                }
                return;
            }
            StreamEvent::DepthReached => {
                self.ctx.stats.depth_reached += 1;
                return;
            }
            StreamEvent::RstWithData { .. } => "rst_with_data",
            StreamEvent::DataAfterFin => "data_after_fin",
            StreamEvent::Reset | StreamEvent::Finished => return,
        };
        self.ctx.stats.stream_limit_events += 1;
        self.ctx.anomaly(app, "stream", name, |_| {});
    }
}

struct UdpSession {
    probes: u32,
    detector: Detector,
    app: Option<Box<dyn UdpApp + Send>>,
}

impl FlowApp {
    /// The `app_proto` name, when known.
    pub fn app_proto(&self) -> Option<&'static str> {
        self.proto.map(|p| p.name())
    }

    /// Handles one packet's payload. `client_port`/`server_port` orient the
    /// port hints.
    #[allow(clippy::too_many_arguments)]
    pub fn on_packet(
        &mut self,
        p: &Packet<'_>,
        dir: Direction,
        client_port: u16,
        server_port: u16,
        rcfg: &ReassemblyConfig,
        mem: &mut ReassemblyMemcap,
        ctx: &mut Ctx<'_>,
    ) {
        if !ctx.cfg.enabled {
            return;
        }
        if let State::Fresh = self.state {
            if p.payload.is_empty() && p.proto != ipproto::TCP {
                return;
            }
            self.state = match p.proto {
                ipproto::TCP => State::Tcp(Box::new(TcpSession {
                    streams: [TcpStream::new(rcfg), TcpStream::new(rcfg)],
                    detector: (!ctx.cfg.reassembly_only)
                        .then(|| Detector::new(Transport::Tcp, client_port, server_port)),
                    app: None,
                    idle: false,
                })),
                ipproto::UDP if !ctx.cfg.reassembly_only => State::Udp(Box::new(UdpSession {
                    probes: 0,
                    detector: Detector::new(Transport::Udp, client_port, server_port),
                    app: None,
                })),
                _ => State::Off,
            };
        }
        match &mut self.state {
            State::Tcp(s) => Self::tcp_packet(&mut self.proto, s, p, dir, mem, ctx),
            State::Udp(s) => {
                if p.payload.is_empty() {
                    return;
                }
                if s.app.is_none() {
                    s.probes += 1;
                    match s.detector.detect(
                        Transport::Udp,
                        dir,
                        p.payload,
                        s.probes >= MAX_UDP_PROBES,
                    ) {
                        Detection::Found(proto) => {
                            self.proto = Some(proto);
                            ctx.stats.flows[idx(proto)] += 1;
                            s.app = start_udp(proto, ctx.cfg);
                            if s.app.is_none() {
                                self.state = State::Off;
                                return;
                            }
                        }
                        Detection::NeedMore => return,
                        Detection::Unknown => {
                            ctx.stats.undetected += 1;
                            self.state = State::Off;
                            return;
                        }
                    }
                }
                if let State::Udp(s) = &mut self.state {
                    if let Some(app) = s.app.as_mut() {
                        app.on_datagram(dir, p.payload, ctx);
                    }
                }
            }
            State::Fresh | State::Off => {}
        }
    }

    fn tcp_packet(
        proto: &mut Option<AppProto>,
        s: &mut TcpSession,
        p: &Packet<'_>,
        dir: Direction,
        mem: &mut ReassemblyMemcap,
        ctx: &mut Ctx<'_>,
    ) {
        if s.idle {
            return;
        }
        let d = if dir == Direction::ToServer { 0 } else { 1 };
        let TcpSession {
            streams,
            detector,
            app,
            idle,
        } = s;
        let mut found = None;
        let mut unknown = false;
        // The ACK covers the other direction's bytes.
        if p.tcp.flags & crate::decode::tcp_flags::ACK != 0 {
            let mut sink = Sink {
                proto,
                detector,
                app,
                dir: dir.reverse(),
                ctx,
                found: None,
                unknown: false,
            };
            streams[1 - d].ack(p.tcp.ack, p.ts, mem, &mut sink);
            found = found.or(sink.found);
            unknown |= sink.unknown;
        }
        {
            let mut sink = Sink {
                proto,
                detector,
                app,
                dir,
                ctx,
                found: None,
                unknown: false,
            };
            streams[d].segment(p.ts, p.tcp.seq, p.tcp.flags, p.payload, mem, &mut sink);
            if streams[d].buffered_bytes() > 0 {
                streams[d].timeout(p.ts, mem, &mut sink);
            }
            found = found.or(sink.found);
            unknown |= sink.unknown;
        }
        if let Some(pr) = found {
            if pr.is_ot() {
                for st in streams.iter_mut() {
                    st.set_depth(None);
                    st.set_recent_window(4096);
                }
            }
        }
        if unknown && app.is_none() {
            // Nothing wants this connection's bytes: stop reassembling it.
            for st in streams.iter_mut() {
                st.discard(mem);
            }
            *idle = true;
        }
    }

    fn tcp_data(
        proto: &mut Option<AppProto>,
        detector: &mut Option<Detector>,
        app_slot: &mut Option<Box<dyn TcpApp + Send>>,
        dir: Direction,
        data: &[u8],
        ctx: &mut Ctx<'_>,
    ) {
        if let Some(app) = app_slot.as_mut() {
            app.on_data(dir, data, ctx);
            return;
        }
        let Some(det) = detector.as_mut() else {
            return;
        };
        let d = if dir == Direction::ToServer { 0 } else { 1 };
        let limit = ctx.cfg.max_probe_bytes;
        let outcome = if det.held[d].is_empty() {
            det.detect(Transport::Tcp, dir, data, data.len() >= limit)
        } else {
            let take = data.len().min(limit.saturating_sub(det.held[d].len()));
            det.held[d].extend_from_slice(&data[..take]);
            let held = std::mem::take(&mut det.held[d]);
            let o = det.detect(Transport::Tcp, dir, &held, held.len() >= limit);
            det.held[d] = held;
            o
        };
        match outcome {
            Detection::NeedMore => {
                if det.held[d].is_empty() {
                    det.held[d].extend_from_slice(&data[..data.len().min(limit)]);
                }
            }
            Detection::Unknown => {
                ctx.stats.undetected += 1;
                *detector = None;
            }
            Detection::Found(p) => {
                *proto = Some(p);
                ctx.stats.flows[idx(p)] += 1;
                ctx.observe(crate::baseline::obs::ObsKind::AppDetected { app: p });
                let Some(mut app) = start_tcp(p, ctx.cfg) else {
                    *detector = None;
                    return;
                };
                // Replay what detection held, first speaker first, then this data.
                let det = detector
                    .take()
                    .unwrap_or_else(|| Detector::new(Transport::Tcp, 0, 0));
                let this_held = !det.held[d].is_empty();
                let other = 1 - d;
                let other_dir = dir.reverse();
                let held = det.held;
                if det.first == Some(other_dir) && !held[other].is_empty() {
                    app.on_data(other_dir, &held[other], ctx);
                }
                if this_held {
                    app.on_data(dir, &held[d], ctx);
                } else {
                    app.on_data(dir, data, ctx);
                }
                if det.first != Some(other_dir) && !held[other].is_empty() {
                    app.on_data(other_dir, &held[other], ctx);
                }
                *app_slot = Some(app);
            }
        }
    }

    /// The flow ends: the streams deliver what they hold (holes become
    /// gaps), dissectors flush open transactions. Returns the streams' counters.
    pub fn on_close(
        &mut self,
        mem: &mut ReassemblyMemcap,
        ctx: &mut Ctx<'_>,
    ) -> Option<[StreamCounters; 2]> {
        match &mut self.state {
            State::Tcp(s) => {
                let TcpSession {
                    streams,
                    detector,
                    app,
                    ..
                } = &mut **s;
                for (d, st) in streams.iter_mut().enumerate() {
                    let dir = if d == 0 {
                        Direction::ToServer
                    } else {
                        Direction::ToClient
                    };
                    let mut sink = Sink {
                        proto: &mut self.proto,
                        detector,
                        app,
                        dir,
                        ctx,
                        found: None,
                        unknown: false,
                    };
                    st.close(mem, &mut sink);
                }
                if let Some(a) = app.as_mut() {
                    a.on_close(ctx)
                }
                return Some([*streams[0].counters(), *streams[1].counters()]);
            }
            State::Udp(s) => {
                if let Some(a) = s.app.as_mut() {
                    a.on_close(ctx)
                }
            }
            _ => {}
        }
        None
    }

    /// Adds the dissector's per-flow fields to the flow record.
    pub fn write_flow(&self, w: &mut JsonWriter<'_>) {
        match &self.state {
            State::Tcp(s) => {
                let (a, b) = (s.streams[0].counters(), s.streams[1].counters());
                if a.gaps
                    + b.gaps
                    + a.overlaps_different
                    + b.overlaps_different
                    + a.out_of_order
                    + b.out_of_order
                    > 0
                {
                    w.begin_object("stream")
                        .u64("gaps_toserver", a.gaps)
                        .u64("gaps_toclient", b.gaps)
                        .u64("gap_bytes_toserver", a.gap_bytes)
                        .u64("gap_bytes_toclient", b.gap_bytes)
                        .u64("out_of_order", a.out_of_order + b.out_of_order)
                        .u64("retransmissions", a.retransmissions + b.retransmissions)
                        .u64(
                            "overlaps_different_data",
                            a.overlaps_different + b.overlaps_different,
                        )
                        .end_object();
                }
                if let Some(a) = s.app.as_ref() {
                    a.write_flow(w)
                }
            }
            State::Udp(s) => {
                if let Some(a) = s.app.as_ref() {
                    a.write_flow(w)
                }
            }
            _ => {}
        }
    }
}
