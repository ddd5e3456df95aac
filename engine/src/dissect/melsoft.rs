//! Mitsubishi MELSOFT engineering-protocol dissector (GX Works2/3 ↔ MELSEC
//! CPU, TCP and UDP): one `melsoft` event per command.
//!
//! Parser: [`spanwatch_parsers::melsoft`]. Responses repeat the command
//! code, so a response is paired with the oldest waiting request of the
//! same command (first in, first out within a command). Over UDP the
//! engineering tool broadcasts every request from a fresh port and the CPU
//! broadcasts the answer back, so request and answer are different flows:
//! each is logged alone (request-only events when the flow ends).
//!
//! The `5A 00 00 tt` hello and its `DA` answer open each session; they are
//! counted on the flow record (`hellos`), not logged as events.
//!
//! Event shape:
//!
//! ```text
//! "melsoft": {
//!   "class": "control", "latency_us": 5200,
//!   "request":  {"command_raw": 4098, "command": "remote_stop", "sequence": 12,
//!                "network": 1, "unit": 125, "module_io": 992, "data_length": 4},
//!   "response": {"command_raw": 4098, "command": "remote_stop", "status": 0, "data_length": 0}
//! }
//! ```
//!
//! Baseline: fact `cpu_model` from an open-initial (0x0121) answer; roles
//! `plc` and `engineering_workstation`; [`ObsKind::OtAuthFailure`] for a
//! non-zero status answering a username or password login (0x0131/0x0132).
//! The meaning of the status word is inferred from the public captures (0
//! in every successful exchange); no capture holds a failed login, so the
//! failure rule is unverified.

use super::ot_common::{write_flags, write_tx_meta, CodeCounts, OtFlow, Pending, Side, TcpSide};
use super::{idx, AppProto, Ctx, TcpApp, UdpApp};
use crate::baseline::obs::ObsKind;
use crate::capture::Nanos;
use crate::output::json::JsonWriter;
use spanwatch_parsers::melsoft::{
    command_name, parse_datagram, Flags, Frame, Kind, MelsoftStream, Message,
};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::stream::Direction;

const APP: AppProto = AppProto::Melsoft;

/// Username login.
pub const CMD_USERNAME_LOGIN: u16 = 0x0131;
/// Password login.
pub const CMD_PASSWORD_LOGIN: u16 = 0x0132;
/// Longest user name kept for the event (characters).
pub const MAX_USERNAME: usize = 20;

/// A request waiting for its response.
#[derive(Debug, Clone, Copy)]
struct Req {
    ts: Nanos,
    command: Option<u16>,
    sequence: u16,
    network: u8,
    unit: u8,
    module_io: u16,
    data_len: u16,
    registered_users: Option<u16>,
    /// ASCII user name of a username login (UTF-16LE on the wire).
    username: [u8; MAX_USERNAME],
    username_len: u8,
    class: OtClass,
    flags: Flags,
}

impl Req {
    fn new(f: &Frame<'_>, ts: Nanos) -> Req {
        let mut username = [0u8; MAX_USERNAME];
        let mut username_len = 0u8;
        if let Some(u) = f.login_username_utf16() {
            for (slot, c) in username.iter_mut().zip(u.chunks_exact(2)) {
                let unit = u16::from_le_bytes([c[0], c[1]]);
                // Keep visible ASCII; anything else becomes '?'.
                *slot = match u8::try_from(unit) {
                    Ok(b) if (0x20..0x7F).contains(&b) => b,
                    _ => b'?',
                };
                username_len += 1;
            }
        }
        Req {
            ts,
            command: f.command,
            sequence: f.sequence,
            network: f.network,
            unit: f.unit,
            module_io: f.module_io,
            data_len: u16::try_from(f.data.len()).unwrap_or(u16::MAX),
            registered_users: f.registered_users(),
            username,
            username_len,
            class: f.class(),
            flags: f.flags,
        }
    }
}

/// MELSOFT state shared by the TCP and UDP dissectors.
#[derive(Debug, Default)]
struct Core {
    pending: Pending<Req>,
    ot: OtFlow,
    commands: CodeCounts,
    hellos: u32,
    error_status: u32,
}

impl Core {
    fn on_message(&mut self, dir: Direction, m: Message<'_>, ctx: &mut Ctx<'_>) {
        match m {
            Message::Hello(_) => self.hellos = self.hellos.saturating_add(1),
            Message::Frame(f) => match f.kind {
                Kind::Request => self.on_request(dir, &f, ctx),
                Kind::Response => self.on_response(dir, &f, ctx),
            },
        }
    }

    fn on_request(&mut self, dir: Direction, f: &Frame<'_>, ctx: &mut Ctx<'_>) {
        let req = Req::new(f, ctx.ts);
        if let Some(c) = f.command {
            self.commands.add(c);
        }
        self.ot
            .role(ctx, APP, Side::sender(dir), "engineering_workstation");
        self.ot.poll(ctx, APP, req.class);
        if let Some(old) = self.pending.push(req) {
            self.ot.errs.pending_full = self.ot.errs.pending_full.saturating_add(1);
            self.complete(Some(&old), None, ctx);
        }
    }

    fn on_response(&mut self, dir: Direction, f: &Frame<'_>, ctx: &mut Ctx<'_>) {
        let plc = Side::sender(dir);
        self.ot.role(ctx, APP, plc, "plc");
        if f.status.is_some_and(|s| s != 0) {
            self.error_status = self.error_status.saturating_add(1);
        }
        if let Some(m) = f.cpu_model() {
            self.ot.fact(ctx, APP, plc, "cpu_model", m.name.as_bytes());
        }
        let req = match f.command {
            Some(c) => self.pending.take(|q| q.command == Some(c)),
            None => self.pending.pop_front(),
        };
        if req.is_none() {
            self.ot.errs.orphan_responses = self.ot.errs.orphan_responses.saturating_add(1);
            if let Some(c) = f.command {
                self.commands.add(c);
            }
        }
        let login = matches!(f.command, Some(CMD_USERNAME_LOGIN | CMD_PASSWORD_LOGIN));
        if login && f.status.is_some_and(|s| s != 0) {
            ctx.observe(ObsKind::OtAuthFailure { app: APP });
        }
        self.complete(req.as_ref(), Some(f), ctx);
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(r) = self.pending.pop_front() {
            self.complete(Some(&r), None, ctx);
        }
    }

    fn complete(&mut self, req: Option<&Req>, resp: Option<&Frame<'_>>, ctx: &mut Ctx<'_>) {
        let ok = resp.and_then(|r| r.status).map(|s| s == 0);
        let class = match (req, resp) {
            (Some(q), _) => q.class,
            (None, Some(r)) => r.class(),
            (None, None) => return,
        };
        if resp.is_none() {
            self.ot.errs.unanswered = self.ot.errs.unanswered.saturating_add(1);
        }
        let command = req.and_then(|q| q.command).or(resp.and_then(|r| r.command));
        if let Some(c) = command {
            self.ot.op(ctx, APP, c, 0, command_name(c), class, ok);
        }
        if !ctx.cfg.ot_events.logs(class) {
            return;
        }
        let resp_ts = resp.map(|_| ctx.ts);
        ctx.event(APP, "melsoft", |w| {
            w.begin_object("melsoft");
            write_tx_meta(w, class, req.map(|r| r.ts), resp_ts);
            let flags = Flags(req.map_or(0, |r| r.flags.0) | resp.map_or(0, |r| r.flags.0));
            write_flags(w, flags.names());
            if let Some(q) = req {
                write_request(w, q);
            }
            if let Some(r) = resp {
                write_response(w, r);
            }
            w.end_object();
        });
    }

    fn write_flow(&self, w: &mut JsonWriter<'_>) {
        w.begin_object("melsoft");
        self.commands
            .write_hex(w, "command_counts", "command_counts_other");
        w.u64("hellos", self.hellos.into())
            .u64("error_status", self.error_status.into());
        self.ot.errs.write(w);
        w.end_object();
    }
}

fn write_command(w: &mut JsonWriter<'_>, command: Option<u16>) {
    match command {
        Some(c) => {
            w.u64("command_raw", c.into())
                .str("command", command_name(c));
        }
        None => {
            w.str("command", "none");
        }
    }
}

fn write_request(w: &mut JsonWriter<'_>, q: &Req) {
    w.begin_object("request");
    write_command(w, q.command);
    w.u64("sequence", q.sequence.into())
        .u64("network", q.network.into())
        .u64("unit", q.unit.into())
        .u64("module_io", q.module_io.into())
        .u64("data_length", q.data_len.into());
    if q.username_len > 0 {
        let n = usize::from(q.username_len).min(MAX_USERNAME);
        w.bytes_str("username", &q.username[..n]);
    }
    if let Some(n) = q.registered_users {
        w.u64("registered_users", n.into());
    }
    w.end_object();
}

fn write_response(w: &mut JsonWriter<'_>, r: &Frame<'_>) {
    w.begin_object("response");
    write_command(w, r.command);
    w.u64("sequence", r.sequence.into());
    if let Some(s) = r.status {
        w.u64("status", s.into());
    }
    w.u64("data_length", r.data.len() as u64);
    if let Some(m) = r.cpu_model() {
        w.str("cpu_model", m.name);
        if let Some(c) = m.code {
            w.u64("model_code", c.into());
        }
    }
    w.end_object();
}

/// MELSOFT over TCP.
#[derive(Debug, Default)]
pub struct MelsoftTcp {
    tcp: TcpSide<MelsoftStream>,
    core: Core,
}

impl MelsoftTcp {
    /// A fresh flow.
    pub fn new() -> MelsoftTcp {
        MelsoftTcp::default()
    }
}

impl TcpApp for MelsoftTcp {
    fn on_data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        let MelsoftTcp { tcp, core } = self;
        let o = tcp.feed(APP, dir, data, ctx, |m, ctx| core.on_message(dir, m, ctx));
        core.ot.errs.account(&o);
    }

    fn on_gap(&mut self, dir: Direction, _len: u64, ctx: &mut Ctx<'_>) {
        self.tcp.gap(dir);
        self.core.ot.errs.gap();
        // Pairing is by order within a command: a lost answer would shift it.
        self.core.flush(ctx);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        self.core.flush(ctx);
    }

    fn write_flow(&self, w: &mut JsonWriter<'_>) {
        self.core.write_flow(w);
    }
}

/// MELSOFT over UDP: one message per datagram.
#[derive(Debug, Default)]
pub struct MelsoftUdp {
    core: Core,
}

impl MelsoftUdp {
    /// A fresh flow.
    pub fn new() -> MelsoftUdp {
        MelsoftUdp::default()
    }
}

impl UdpApp for MelsoftUdp {
    fn on_datagram(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        match parse_datagram(data) {
            Ok(m) => {
                ctx.stats.messages[idx(APP)] += 1;
                self.core.on_message(dir, m, ctx);
            }
            Err(_) => {
                ctx.stats.invalid[idx(APP)] += 1;
                self.core.ot.errs.invalid = self.core.ot.errs.invalid.saturating_add(1);
            }
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        self.core.flush(ctx);
    }

    fn write_flow(&self, w: &mut JsonWriter<'_>) {
        self.core.write_flow(w);
    }
}
