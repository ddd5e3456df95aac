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
            let flags =
                req.map_or(Flags::empty(), |r| r.flags) | resp.map_or(Flags::empty(), |r| r.flags);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::ot_common::testutil::Harness;

    const UP: Direction = Direction::ToServer;
    const DOWN: Direction = Direction::ToClient;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // nozomi_legitimate_user_addition_plc_stop_test.pcapng, frames 1505/1506
    // (REMOTE STOP), 6/7 (open initial, R08SFCPU) and 141/143 (password login).
    const STOP_REQ: &str = "570108000011110700017de0030000fe03000032001c0a1614e003000000000004000000000000000000000000100209000400010000020e000281048205beba6128008f730738";
    const STOP_RESP: &str = "d7001f0000111107000000a803017de00300003a009c021814000000000104e00300000000000000000000000000001002090004000000000214000380028104820702002662edaa0000008ef0db10";
    const OPEN_REQ: &str = "570100000011110700017de0030000fe03000032001c0a1614e003000000000004000000000000000000000000012101000400000100020e000281048205baa0a9ee003e36a12b";
    const OPEN_RESP: &str = "d700000000111107000000a803017de00300004e009c021814000000000104e0030000000000000000000000000000012101001c0052303853464350552020202020202020914800080000020002900002100002810482072356c2fa000000fa78e00d";
    const LOGIN_RESP: &str = "d7002d0000111107000000a803017de003000056009c021814000000000104e003000000000000000000000000000001320b002400fd8d99eb9cc64743615c95acc6bcd080000000000000000000000000000000000000000210000281048207ab0aefd6000000e440266c";
    const LOGIN_REQ: &str = "57010a000011110700017de0030000fe03000066001c0a1614e00300000000000400000000000000000000000001320b003400f796a33d852d50050550d9a91f50af8c7478931482d98d9fe6cdac8ad40ef09cc5b247416ca28b2cbb3aa31e02d02b67000000021200038002810482050200bcb6c99a00972d0b80";

    fn feed(h: &mut Harness, s: &mut MelsoftTcp, dir: Direction, bytes: &[u8]) {
        let mut ctx = h.ctx();
        s.on_data(dir, bytes, &mut ctx);
    }

    #[test]
    fn remote_stop_in_two_segments_is_one_control_transaction() {
        let mut h = Harness::new(6, 5007);
        let mut s = MelsoftTcp::new();
        let req = hex(STOP_REQ);
        feed(&mut h, &mut s, UP, &[0x5A, 0, 0, 0xFF]);
        feed(&mut h, &mut s, UP, &req[..30]);
        feed(&mut h, &mut s, UP, &req[30..]);
        h.ts += 7_000_000;
        feed(&mut h, &mut s, DOWN, &hex(STOP_RESP));
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        let t = &ev[0]["melsoft"];
        assert_eq!(t["class"], "control");
        assert_eq!(t["latency_us"], 7000);
        assert_eq!(t["request"]["command_raw"], 0x1002);
        assert_eq!(t["request"]["command"], "remote_stop");
        assert_eq!(t["request"]["network"], 1);
        assert_eq!(t["request"]["unit"], 0x7D);
        assert_eq!(t["request"]["module_io"], 0x03E0);
        assert_eq!(t["response"]["command"], "remote_stop");
        assert_eq!(t["response"]["status"], 0);
        assert!(h.obs().iter().any(|o| matches!(
            o,
            ObsKind::OtOp {
                code: 0x1002,
                class: OtClass::Control,
                ok: Some(true),
                ..
            }
        )));
        assert_eq!(s.core.hellos, 1);
    }

    #[test]
    fn answers_pair_by_command_and_the_cpu_model_is_a_fact() {
        let mut h = Harness::new(6, 5007);
        let mut s = MelsoftTcp::new();
        let mut both = hex(OPEN_REQ);
        both.extend(hex(STOP_REQ));
        feed(&mut h, &mut s, UP, &both);
        let mut back = hex(STOP_RESP);
        back.extend(hex(OPEN_RESP));
        feed(&mut h, &mut s, DOWN, &back);
        let ev = h.events();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0]["melsoft"]["request"]["command"], "remote_stop");
        assert_eq!(
            ev[1]["melsoft"]["request"]["command"],
            "open_initial_cpu_model_read"
        );
        assert_eq!(ev[1]["melsoft"]["response"]["cpu_model"], "R08SFCPU");
        assert_eq!(ev[1]["melsoft"]["response"]["model_code"], 0x4891);
        let facts: Vec<(&str, String)> = h
            .obs()
            .iter()
            .filter_map(|o| match o {
                ObsKind::Asset { key, value, .. } => Some((*key, value.to_string())),
                _ => None,
            })
            .collect();
        assert_eq!(
            facts,
            vec![
                ("role", "engineering_workstation".to_string()),
                ("role", "plc".to_string()),
                ("cpu_model", "R08SFCPU".to_string()),
            ]
        );
    }

    #[test]
    fn login_answered_with_an_error_status_is_an_auth_failure() {
        let mut h = Harness::new(6, 5007);
        let mut s = MelsoftTcp::new();
        feed(&mut h, &mut s, UP, &hex(LOGIN_REQ));
        let mut resp = hex(LOGIN_RESP);
        assert_eq!(&resp[0x19..0x1B], &[0, 0], "the capture's login succeeded");
        feed(&mut h, &mut s, DOWN, &resp);
        assert!(!h
            .obs()
            .iter()
            .any(|o| matches!(o, ObsKind::OtAuthFailure { .. })));
        feed(&mut h, &mut s, UP, &hex(LOGIN_REQ));
        resp[0x19] = 0x01;
        resp[0x1A] = 0x40;
        feed(&mut h, &mut s, DOWN, &resp);
        let ev = h.events();
        assert_eq!(ev[1]["melsoft"]["class"], "auth");
        assert_eq!(ev[1]["melsoft"]["response"]["status"], 0x4001);
        assert_eq!(
            h.obs()
                .iter()
                .filter(|o| matches!(o, ObsKind::OtAuthFailure { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn udp_answer_in_its_own_flow_is_logged_alone() {
        let mut h = Harness::new(17, 5560);
        let mut s = MelsoftUdp::new();
        let mut ctx = h.ctx();
        s.on_datagram(DOWN, &hex(OPEN_RESP), &mut ctx);
        s.on_datagram(DOWN, b"\x99garbage", &mut ctx);
        s.on_close(&mut ctx);
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        assert!(ev[0]["melsoft"].get("request").is_none());
        assert_eq!(ev[0]["melsoft"]["class"], "recon");
        assert_eq!(s.core.ot.errs.orphan_responses, 1);
        assert_eq!(s.core.ot.errs.invalid, 1);
    }
}
