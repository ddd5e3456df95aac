//! GE SRTP dissector: pairs each service request with its reply by the
//! parser's pairing key (sequence number at 2, mailbox sequence at 30) and
//! writes one `ge_srtp` event per transaction.
//!
//! Parser: [`spanwatch_parsers::srtp`]. The session opener (56 zero bytes
//! answered by an init-ack) is one `recon` transaction with
//! `"pdu_type": "init"` / `"init_ack"`.
//!
//! Event shape:
//!
//! ```text
//! "ge_srtp": {
//!   "class": "read", "latency_us": 1200,
//!   "request":  {"sequence": 168, "mailbox_sequence": 6, "mailbox_type": "initial_request",
//!                "service_raw": 4, "service": "read_system_memory",
//!                "segment_selector_raw": 10, "segment_selector": "analog_inputs_word",
//!                "memory_offset": 10, "data_length": 1},
//!   "response": {"mailbox_type": "completion_ack", "major_status": 0, "major_status_name": "success",
//!                "minor_status": 0, "minor_status_name": "none",
//!                "plc_status": {"raw": 8572, "state_raw": 2, "state": "stop_io_disabled",
//!                               "programmer_attached": true, ...},
//!                "privilege_level": 4, "control_program_number": 255}
//! }
//! ```
//!
//! Baseline: [`ObsKind::OtState`] when the PLC state in a reply's status
//! word is first seen on the flow and whenever it changes (`run`, `stop`,
//! `stop_faulted`, `halted`, `suspended`); [`ObsKind::OtAuthFailure`] for a
//! NACK with minor status 0xF5 (invalid password) or major status 0x02
//! (insufficient privilege), or any NACK to a logon/privilege request;
//! [`ObsKind::OtWrite`] for writes to system, task and program-block memory
//! (area = segment selector); facts `controller_id` (service 0x43) and
//! `program` (service 0x03) from the reply's text. The layout of those two
//! replies is not public: the fact is the reply's visible ASCII, and no
//! public capture carries either service, so this is unverified.

use super::ot_common::{write_flags, write_tx_meta, CodeCounts, OtFlow, Pending, Side, TcpSide};
use super::{AppProto, Ctx, TcpApp};
use crate::baseline::obs::ObsKind;
use crate::capture::Nanos;
use crate::output::json::JsonWriter;
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::srtp::{
    mailbox_type_name, major_status_name, minor_status_name, segment_selector_name, service_name,
    Body, Flags, PlcStatus, Reply, Srtp, SrtpPdu, MAILBOX_ACK_WITH_TEXT,
};
use spanwatch_parsers::stream::Direction;

const APP: AppProto = AppProto::GeSrtp;

/// Service: return control program names.
pub const SERVICE_PROGRAM_NAMES: u8 = 0x03;
/// Service: return controller type and ID information.
pub const SERVICE_CONTROLLER_ID: u8 = 0x43;
/// NACK minor status: invalid password.
pub const MINOR_INVALID_PASSWORD: u8 = 0xF5;
/// NACK major status: insufficient privilege.
pub const MAJOR_INSUFFICIENT_PRIVILEGE: u8 = 0x02;

/// The baseline's name of a PLC state (bits 12-15 of the status word): the
/// two RUN states and the two plain STOP states fold together.
pub fn state_obs_name(state: u8) -> &'static str {
    match state {
        0 | 1 => "run",
        2 | 6 => "stop",
        3 => "stop_faulted",
        4 => "halted",
        5 => "suspended",
        _ => "unknown",
    }
}

/// A request waiting for its reply.
#[derive(Debug, Clone, Copy)]
struct Req {
    ts: Nanos,
    key: (u16, u8),
    mailbox_type: u8,
    service: u8,
    selector: u8,
    offset: u16,
    length: u16,
    text_length: u16,
    class: OtClass,
    flags: Flags,
}

/// GE SRTP state of one flow.
#[derive(Debug, Default)]
pub struct SrtpState {
    tcp: TcpSide<Srtp>,
    core: Core,
}

impl SrtpState {
    /// A fresh flow.
    pub fn new() -> SrtpState {
        SrtpState::default()
    }
}

#[derive(Debug, Default)]
struct Core {
    pending: Pending<Req>,
    /// Time of an init not yet acknowledged.
    init: Option<Nanos>,
    ot: OtFlow,
    services: CodeCounts,
    inits: u32,
    nacks: u32,
    unknown_mailbox: u32,
    /// PLC state last sent to the baseline.
    state: Option<&'static str>,
}

impl Core {
    fn on_pdu(&mut self, dir: Direction, p: SrtpPdu<'_>, ctx: &mut Ctx<'_>) {
        match p.body {
            Body::Init => {
                self.inits = self.inits.saturating_add(1);
                self.ot
                    .role(ctx, APP, Side::sender(dir), "hmi_or_engineering");
                // A repeated init before the ack keeps the first one's time.
                self.init.get_or_insert(ctx.ts);
            }
            Body::InitAck => {
                let req_ts = self.init.take();
                if ctx.cfg.ot_events.logs(OtClass::Recon) {
                    let ts = ctx.ts;
                    ctx.event(APP, "ge_srtp", |w| {
                        w.begin_object("ge_srtp");
                        write_tx_meta(w, OtClass::Recon, req_ts, Some(ts));
                        write_flags(w, p.flags.names());
                        if req_ts.is_some() {
                            w.begin_object("request")
                                .str("pdu_type", "init")
                                .end_object();
                        }
                        w.begin_object("response")
                            .str("pdu_type", "init_ack")
                            .end_object();
                        w.end_object();
                    });
                }
            }
            Body::Request(r) => {
                let req = Req {
                    ts: ctx.ts,
                    key: p.pairing_key(),
                    mailbox_type: p.mailbox_type,
                    service: r.service_code,
                    selector: r.segment_selector,
                    offset: r.memory_offset,
                    length: r.data_length,
                    text_length: p.text_length,
                    class: r.class(),
                    flags: p.flags,
                };
                self.services.add(r.service_code.into());
                self.ot
                    .role(ctx, APP, Side::sender(dir), "hmi_or_engineering");
                self.ot.poll(ctx, APP, req.class);
                if ctx.obs.enabled && matches!(r.service_code, 0x07..=0x09) {
                    ctx.observe(ObsKind::OtWrite {
                        app: APP,
                        area: r.segment_selector.into(),
                        start: r.memory_offset.into(),
                        count: r.data_length.into(),
                    });
                }
                if let Some(old) = self.pending.push(req) {
                    self.ot.errs.pending_full = self.ot.errs.pending_full.saturating_add(1);
                    self.complete(Some(&old), None, ctx);
                }
            }
            Body::Reply(r) => {
                let server = Side::sender(dir);
                self.ot.role(ctx, APP, server, "plc");
                if r.is_nack() {
                    self.nacks = self.nacks.saturating_add(1);
                }
                if let Some(s) = p.plc_status() {
                    let name = state_obs_name(s.state());
                    if self.state != Some(name) {
                        self.state = Some(name);
                        let device = server.device(ctx);
                        ctx.observe(ObsKind::OtState {
                            app: APP,
                            device,
                            state: name,
                        });
                    }
                }
                let key = p.pairing_key();
                let req = self.pending.take(|q| q.key == key);
                if req.is_none() {
                    self.ot.errs.orphan_responses = self.ot.errs.orphan_responses.saturating_add(1);
                }
                if let Some(q) = &req {
                    if !r.is_nack() {
                        let data = if r.mailbox_type == MAILBOX_ACK_WITH_TEXT {
                            p.text
                        } else {
                            r.inline_data
                        };
                        match q.service {
                            SERVICE_CONTROLLER_ID => {
                                self.ot.fact(ctx, APP, server, "controller_id", data)
                            }
                            SERVICE_PROGRAM_NAMES => {
                                self.ot.fact(ctx, APP, server, "program", data)
                            }
                            _ => {}
                        }
                    }
                }
                self.complete(req.as_ref(), Some((&p, &r)), ctx);
            }
            Body::Unknown { .. } => {
                self.unknown_mailbox = self.unknown_mailbox.saturating_add(1);
            }
        }
    }

    fn complete(
        &mut self,
        req: Option<&Req>,
        resp: Option<(&SrtpPdu<'_>, &Reply<'_>)>,
        ctx: &mut Ctx<'_>,
    ) {
        let ok = resp.map(|(_, r)| !r.is_nack());
        let class = req.map_or(OtClass::Other, |r| r.class);
        if let Some(q) = req {
            if resp.is_none() {
                self.ot.errs.unanswered = self.ot.errs.unanswered.saturating_add(1);
            }
            self.ot.op(
                ctx,
                APP,
                q.service.into(),
                0,
                service_name(q.service),
                class,
                ok,
            );
        }
        if let Some((_, r)) = resp {
            let auth = r.is_nack()
                && (r.minor_status == Some(MINOR_INVALID_PASSWORD)
                    || r.major_status == Some(MAJOR_INSUFFICIENT_PRIVILEGE)
                    || class == OtClass::Auth);
            if auth {
                ctx.observe(ObsKind::OtAuthFailure { app: APP });
            }
        }
        if !ctx.cfg.ot_events.logs(class) {
            return;
        }
        let resp_ts = resp.map(|_| ctx.ts);
        ctx.event(APP, "ge_srtp", |w| {
            w.begin_object("ge_srtp");
            write_tx_meta(w, class, req.map(|r| r.ts), resp_ts);
            let flags = req
                .map_or(Flags::empty(), |r| r.flags)
                .union(resp.map_or(Flags::empty(), |(p, _)| p.flags));
            write_flags(w, flags.names());
            if let Some(q) = req {
                w.begin_object("request")
                    .u64("sequence", q.key.0.into())
                    .u64("mailbox_sequence", q.key.1.into())
                    .u64("mailbox_type_raw", q.mailbox_type.into())
                    .str("mailbox_type", mailbox_type_name(q.mailbox_type))
                    .u64("service_raw", q.service.into())
                    .str("service", service_name(q.service))
                    .u64("segment_selector_raw", q.selector.into())
                    .str("segment_selector", segment_selector_name(q.selector))
                    .u64("memory_offset", q.offset.into())
                    .u64("data_length", q.length.into());
                if q.text_length > 0 {
                    w.u64("text_length", q.text_length.into());
                }
                w.end_object();
            }
            if let Some((p, r)) = resp {
                write_reply(w, p, r);
            }
            w.end_object();
        });
    }
}

fn write_reply(w: &mut JsonWriter<'_>, p: &SrtpPdu<'_>, r: &Reply<'_>) {
    w.begin_object("response")
        .u64("sequence", p.sequence.into())
        .u64("mailbox_sequence", p.mailbox_sequence.into())
        .u64("mailbox_type_raw", r.mailbox_type.into())
        .str("mailbox_type", mailbox_type_name(r.mailbox_type));
    if let Some(m) = r.major_status {
        w.u64("major_status", m.into())
            .str("major_status_name", major_status_name(m));
    }
    if let Some(m) = r.minor_status {
        w.u64("minor_status", m.into())
            .str("minor_status_name", minor_status_name(m));
    }
    if let Some(n) = r.response_data_length {
        w.u64("response_data_length", n.into());
    }
    if p.text_length > 0 {
        w.u64("text_length", p.text_length.into());
    }
    if let Some(pb) = r.piggyback {
        write_status(w, pb.status);
        w.u64("privilege_level", pb.privilege_level.into())
            .u64("control_program_number", pb.control_program_number.into())
            .u64("last_sweep_time", pb.last_sweep_time.into());
    }
    w.end_object();
}

fn write_status(w: &mut JsonWriter<'_>, s: PlcStatus) {
    w.begin_object("plc_status")
        .u64("raw", s.0.into())
        .u64("state_raw", s.state().into())
        .str("state", s.state_name())
        .bool("programmer_attached", s.programmer_attached())
        .bool("run_switch", s.run_switch())
        .bool("oem_protected", s.oem_protected())
        .bool("outputs_enable_switch", s.outputs_enable_switch())
        .bool("plc_fault_present", s.plc_fault_present())
        .bool("io_fault_present", s.io_fault_present())
        .bool("new_plc_fault", s.new_plc_fault())
        .bool("new_io_fault", s.new_io_fault())
        .bool("oversweep", s.oversweep())
        .bool("constant_sweep", s.constant_sweep())
        .end_object();
}

impl TcpApp for SrtpState {
    fn on_data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        let SrtpState { tcp, core } = self;
        let o = tcp.feed(APP, dir, data, ctx, |p, ctx| core.on_pdu(dir, p, ctx));
        core.ot.errs.account(&o);
    }

    fn on_gap(&mut self, dir: Direction, _len: u64, _ctx: &mut Ctx<'_>) {
        self.tcp.gap(dir);
        self.core.ot.errs.gap();
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(r) = self.core.pending.pop_front() {
            self.core.complete(Some(&r), None, ctx);
        }
    }

    fn write_flow(&self, w: &mut JsonWriter<'_>) {
        let c = &self.core;
        w.begin_object("ge_srtp");
        c.services
            .write_hex(w, "service_counts", "service_counts_other");
        w.u64("inits", c.inits.into()).u64("nacks", c.nacks.into());
        if c.unknown_mailbox > 0 {
            w.u64("unknown_mailbox", c.unknown_mailbox.into());
        }
        c.ot.errs.write(w);
        w.end_object();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::ot_common::testutil::Harness;

    const UP: Direction = Direction::ToServer;
    const DOWN: Direction = Direction::ToClient;

    /// A request header: type 2, sequence, mailbox sequence, mailbox 0xC0,
    /// service, segment selector, offset and length (LE).
    fn request(seq: u16, service: u8, selector: u8, offset: u16, len: u16) -> Vec<u8> {
        let mut b = vec![0u8; 56];
        b[0] = 0x02;
        b[2..4].copy_from_slice(&seq.to_le_bytes());
        b[30] = 0x06;
        b[31] = 0xC0;
        b[36] = 0x10;
        b[37] = 0x0E;
        b[40] = 1;
        b[41] = 1;
        b[42] = service;
        b[43] = selector;
        b[44..46].copy_from_slice(&offset.to_le_bytes());
        b[46..48].copy_from_slice(&len.to_le_bytes());
        b
    }

    /// A reply header: mailbox type, bytes 42/43 and the status word; `text`
    /// follows the header.
    fn reply(seq: u16, mailbox: u8, b42: u8, b43: u8, status: u16, text: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 56];
        b[0] = 0x03;
        b[2..4].copy_from_slice(&seq.to_le_bytes());
        b[4..6].copy_from_slice(&(text.len() as u16).to_le_bytes());
        b[30] = 0x06;
        b[31] = mailbox;
        b[42] = b42;
        b[43] = b43;
        b[51] = 4; // privilege level
        b[54..56].copy_from_slice(&status.to_le_bytes());
        b.extend_from_slice(text);
        b
    }

    fn feed(h: &mut Harness, s: &mut SrtpState, dir: Direction, bytes: &[u8]) {
        let mut ctx = h.ctx();
        s.on_data(dir, bytes, &mut ctx);
    }

    #[test]
    fn init_then_read_answered_with_header_and_text_in_two_segments() {
        let mut h = Harness::new(6, 18245);
        let mut s = SrtpState::new();
        feed(&mut h, &mut s, UP, &[0u8; 56]);
        let mut ack = vec![0u8; 56];
        ack[0] = 0x01;
        feed(&mut h, &mut s, DOWN, &ack);
        feed(&mut h, &mut s, UP, &request(0xA8, 0x04, 0x08, 0, 2));
        h.ts += 1_000_000;
        let r = reply(0xA8, 0x94, 0x04, 0x00, 0x217C, &[0x34, 0x12, 0x78, 0x56]);
        feed(&mut h, &mut s, DOWN, &r[..56]);
        assert_eq!(h.events().len(), 1, "the reply waits for its text");
        feed(&mut h, &mut s, DOWN, &r[56..]);
        let ev = h.events();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0]["ge_srtp"]["class"], "recon");
        assert_eq!(ev[0]["ge_srtp"]["request"]["pdu_type"], "init");
        assert_eq!(ev[0]["ge_srtp"]["response"]["pdu_type"], "init_ack");
        let t = &ev[1]["ge_srtp"];
        assert_eq!(t["class"], "read");
        assert_eq!(t["latency_us"], 1000);
        assert_eq!(t["request"]["service_raw"], 4);
        assert_eq!(t["request"]["service"], "read_system_memory");
        assert_eq!(t["request"]["segment_selector"], "registers_word");
        assert_eq!(t["request"]["data_length"], 2);
        assert_eq!(t["response"]["mailbox_type"], "completion_ack_with_text");
        assert_eq!(t["response"]["text_length"], 4);
        assert_eq!(t["response"]["plc_status"]["state"], "stop_io_disabled");
        assert_eq!(t["response"]["plc_status"]["programmer_attached"], true);
        assert_eq!(t["response"]["privilege_level"], 4);
    }

    #[test]
    fn invalid_password_nack_is_an_auth_failure() {
        let mut h = Harness::new(6, 18245);
        let mut s = SrtpState::new();
        feed(&mut h, &mut s, UP, &request(3, 0x21, 0, 0, 0));
        feed(&mut h, &mut s, DOWN, &reply(3, 0xD1, 0x05, 0xF5, 0, &[]));
        let ev = h.events();
        let t = &ev[0]["ge_srtp"];
        assert_eq!(t["class"], "auth");
        assert_eq!(t["request"]["service"], "change_privilege_level");
        assert_eq!(t["response"]["mailbox_type"], "error_nack");
        assert_eq!(t["response"]["minor_status"], 0xF5);
        assert_eq!(t["response"]["minor_status_name"], "invalid_password");
        assert!(t["response"].get("plc_status").is_none());
        let obs = h.obs();
        assert_eq!(
            obs.iter()
                .filter(|o| matches!(o, ObsKind::OtAuthFailure { .. }))
                .count(),
            1
        );
        assert!(obs.iter().any(|o| matches!(
            o,
            ObsKind::OtOp {
                code: 0x21,
                class: OtClass::Auth,
                ok: Some(false),
                ..
            }
        )));
    }

    #[test]
    fn plc_state_is_reported_when_first_seen_and_when_it_changes() {
        let mut h = Harness::new(6, 18245);
        let mut s = SrtpState::new();
        // RUN (state 0), RUN with I/O disabled (state 1, same "run"),
        // STOP (state 2), set PLC state request in between.
        for (seq, status) in [(1u16, 0x0100u16), (2, 0x1100), (3, 0x2100)] {
            feed(&mut h, &mut s, UP, &request(seq, 0x23, 0, 0, 0));
            feed(&mut h, &mut s, DOWN, &reply(seq, 0xD4, 0, 0, status, &[]));
        }
        let states: Vec<(&str, String)> = h
            .obs()
            .iter()
            .filter_map(|o| match o {
                ObsKind::OtState { state, device, .. } => Some((*state, device.to_string())),
                _ => None,
            })
            .collect();
        assert_eq!(
            states,
            vec![
                ("run", "10.0.0.2".to_string()),
                ("stop", "10.0.0.2".to_string())
            ]
        );
        // Control requests are observed every time.
        let n = h
            .obs()
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    ObsKind::OtOp {
                        code: 0x23,
                        class: OtClass::Control,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(n, 3);
    }

    #[test]
    fn memory_write_range_and_controller_id_fact() {
        let mut h = Harness::new(6, 18245);
        let mut s = SrtpState::new();
        feed(&mut h, &mut s, UP, &request(1, 0x07, 0x08, 100, 4));
        feed(&mut h, &mut s, DOWN, &reply(1, 0xD4, 0, 0, 0, &[]));
        feed(&mut h, &mut s, UP, &request(2, 0x43, 0, 0, 0));
        feed(
            &mut h,
            &mut s,
            DOWN,
            &reply(2, 0x94, 0x10, 0, 0, b"\x00\x01IC695CPE330\x00\x00"),
        );
        let obs = h.obs();
        assert!(obs.iter().any(|o| matches!(
            o,
            ObsKind::OtWrite {
                area: 0x08,
                start: 100,
                count: 4,
                ..
            }
        )));
        let fact = obs.iter().find_map(|o| match o {
            ObsKind::Asset {
                key: "controller_id",
                value,
                ..
            } => Some(value.to_string()),
            _ => None,
        });
        assert_eq!(fact.as_deref(), Some("IC695CPE330"));
    }

    #[test]
    fn unknown_pdu_type_is_skipped_and_counted() {
        let mut h = Harness::new(6, 18245);
        let mut s = SrtpState::new();
        let mut bytes = vec![0x07; 10];
        bytes.extend(request(9, 0x04, 0x0A, 0, 1));
        feed(&mut h, &mut s, UP, &bytes);
        feed(&mut h, &mut s, DOWN, &reply(9, 0xD4, 0, 0, 0, &[]));
        assert_eq!(h.events().len(), 1);
        assert_eq!(s.core.ot.errs.invalid, 1);
    }
}
