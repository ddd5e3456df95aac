//! The application-layer state of one flow: reassembly streams, protocol
//! detection and the dissector.

use super::detect::{Detection, Detector, Transport};
use super::{idx, start_tcp, start_udp, AppProto, Ctx, TcpApp, UdpApp};
use crate::decode::{ipproto, Packet};
use crate::output::json::JsonWriter;
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
    detector: Option<Detector>,
    app: Option<Box<dyn TcpApp + Send>>,
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
    pub fn on_packet(
        &mut self,
        p: &Packet<'_>,
        dir: Direction,
        client_port: u16,
        server_port: u16,
        ctx: &mut Ctx<'_>,
    ) {
        if !ctx.cfg.enabled {
            return;
        }
        if let State::Fresh = self.state {
            if p.payload.is_empty() {
                return;
            }
            self.state = match p.proto {
                ipproto::TCP => State::Tcp(Box::new(TcpSession {
                    detector: Some(Detector::new(Transport::Tcp, client_port, server_port)),
                    app: None,
                })),
                ipproto::UDP => State::Udp(Box::new(UdpSession {
                    probes: 0,
                    detector: Detector::new(Transport::Udp, client_port, server_port),
                    app: None,
                })),
                _ => State::Off,
            };
        }
        match &mut self.state {
            State::Tcp(s) => {
                if !p.payload.is_empty() {
                    // In-order delivery until the reassembly stage lands.
                    Self::tcp_data(&mut self.proto, s, dir, p.payload, ctx);
                }
            }
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

    fn tcp_data(
        proto: &mut Option<AppProto>,
        s: &mut TcpSession,
        dir: Direction,
        data: &[u8],
        ctx: &mut Ctx<'_>,
    ) {
        if let Some(app) = s.app.as_mut() {
            app.on_data(dir, data, ctx);
            return;
        }
        let Some(det) = s.detector.as_mut() else {
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
                s.detector = None;
            }
            Detection::Found(p) => {
                *proto = Some(p);
                ctx.stats.flows[idx(p)] += 1;
                let Some(mut app) = start_tcp(p, ctx.cfg) else {
                    s.detector = None;
                    return;
                };
                // Replay what detection held, first speaker first, then this data.
                let det = s
                    .detector
                    .take()
                    .unwrap_or_else(|| Detector::new(Transport::Tcp, 0, 0));
                let this_held = !det.held[d].is_empty();
                let other = 1 - d;
                let other_dir = dir.reverse();
                let [h0, h1] = det.held;
                let held = [h0, h1];
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
                s.app = Some(app);
            }
        }
    }

    /// The flow ends: dissectors flush open transactions.
    pub fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        match &mut self.state {
            State::Tcp(s) => {
                if let Some(a) = s.app.as_mut() {
                    a.on_close(ctx)
                }
            }
            State::Udp(s) => {
                if let Some(a) = s.app.as_mut() {
                    a.on_close(ctx)
                }
            }
            _ => {}
        }
    }

    /// Adds the dissector's per-flow fields to the flow record.
    pub fn write_flow(&self, w: &mut JsonWriter<'_>) {
        match &self.state {
            State::Tcp(s) => {
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
