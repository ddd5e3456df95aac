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
