//! Mitsubishi MC protocol / SLMP dissector (3E and 4E frames, binary and
//! ASCII, over TCP and UDP): one `slmp` event per transaction.
//!
//! Parser: [`spanwatch_parsers::slmp`]. Responses do not repeat the command,
//! so pairing follows the frame family:
//! * 4E: by serial number (pipelined requests are fine);
//! * 3E: first in, first out per connection (a client waits for each
//!   answer). After a gap the waiting 3E requests are logged unanswered, so
//!   that a lost answer cannot shift every later pair.
//!
//! Event shape:
//!
//! ```text
//! "slmp": {
//!   "class": "write", "latency_us": 310,
//!   "request":  {"frame_type": "3E", "encoding": "binary", "network": 0, "station": 255,
//!                "module_io": 1023, "multidrop": 0, "timer": 4,
//!                "command_raw": 5121, "command": "batch_write", "subcommand_raw": 0,
//!                "unit": "word", "device_code": 168, "device": "D", "head_device": 200, "points": 4},
//!   "response": {"frame_type": "3E", "encoding": "binary", "end_code": 0, "end_code_name": "ok"}
//! }
//! ```
//!
//! Remote password unlock/lock (0x1630/0x1631) carry the password in clear:
//! the event has `password_length` and `cleartext_password: true`, never the
//! password (the parser does not hand its bytes out).
//!
//! Baseline: [`ObsKind::OtWrite`] per written device range (area = binary
//! device code; batch write once, random/block writes for at most
//! [`MAX_WRITE_OBS`] devices); [`ObsKind::OtAuthFailure`] for the
//! remote-password end codes 0xC200-0xC205 and 0xC810-0xC816
//! ([`is_remote_password_end_code`]: wrong password, lockout, password from
//! another device); fact `cpu_model` from a read-CPU-model (0x0101) answer;
//! roles `plc` and `hmi_or_engineering`.

use super::ot_common::{write_flags, write_tx_meta, CodeCounts, OtFlow, Pending, Side, TcpSide};
use super::{idx, AppProto, Ctx, TcpApp, UdpApp};
use crate::baseline::obs::ObsKind;
use crate::capture::Nanos;
use crate::output::json::JsonWriter;
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::slmp::{
    command_name, device_name, end_code_name, is_remote_password_end_code, parse_cpu_model,
    parse_frame, AccessOp, AccessUnit, DeviceForm, DeviceRef, Encoding, Flags, Frame, FrameType,
    Header, Request, RequestDetail, Response, SlmpStream, UNKNOWN_ASCII_DEVICE,
};
use spanwatch_parsers::stream::Direction;

const APP: AppProto = AppProto::Slmp;

/// Read CPU model.
pub const CMD_READ_CPU_MODEL: u16 = 0x0101;
/// Most write observations sent for one random or block write.
pub const MAX_WRITE_OBS: usize = 16;

/// What a request asked for, without borrowed bytes.
#[derive(Debug, Clone, Copy)]
enum Detail {
    None,
    Device {
        op: AccessOp,
        unit: AccessUnit,
        form: DeviceForm,
        head: Option<DeviceRef>,
        points: u32,
        first_count: u8,
        second_count: u8,
        items: u16,
    },
    Remote {
        mode: u16,
        clear_mode: Option<u8>,
    },
    Password {
        len: u16,
    },
    Loopback {
        len: u16,
    },
    NodeSearch {
        master_ip: [u8; 4],
    },
    SetIp {
        master_ip: [u8; 4],
        slave_mac: [u8; 6],
        new_ip: [u8; 4],
        netmask: [u8; 4],
    },
}

/// A request waiting for its response.
#[derive(Debug, Clone, Copy)]
struct Req {
    ts: Nanos,
    header: Header,
    timer: u16,
    command: u16,
    subcommand: u16,
    class: OtClass,
    flags: Flags,
    detail: Detail,
}

impl Req {
    fn new(r: &Request<'_>, ts: Nanos) -> Req {
        let detail = match r.detail {
            RequestDetail::None => Detail::None,
            RequestDetail::Device(a) => Detail::Device {
                op: a.op,
                unit: a.unit,
                form: a.form,
                head: a.head,
                points: a.points,
                first_count: a.first_count,
                second_count: a.second_count,
                items: a.items_walked,
            },
            RequestDetail::Remote { mode, clear_mode } => Detail::Remote { mode, clear_mode },
            RequestDetail::Password { len } => Detail::Password { len },
            RequestDetail::Loopback { len } => Detail::Loopback { len },
            RequestDetail::NodeSearch { master_ip, .. } => Detail::NodeSearch { master_ip },
            RequestDetail::SetIp {
                master_ip,
                slave_mac,
                new_ip,
                netmask,
            } => Detail::SetIp {
                master_ip,
                slave_mac,
                new_ip,
                netmask,
            },
        };
        Req {
            ts,
            header: r.header,
            timer: r.timer,
            command: r.command,
            subcommand: r.subcommand,
            class: r.class(),
            flags: r.flags,
            detail,
        }
    }
}

/// The protocol state shared by the TCP and UDP dissectors (and by the
/// CC-Link dissector for SLMP frames on its ports).
#[derive(Debug, Default)]
pub struct SlmpCore {
    pending: Pending<Req>,
    ot: OtFlow,
    commands: CodeCounts,
    frames_3e: u32,
    frames_4e: u32,
    ascii: u32,
    error_end_codes: u32,
}

impl SlmpCore {
    /// One frame travelling in `dir`.
    pub fn on_frame(&mut self, dir: Direction, f: Frame<'_>, ctx: &mut Ctx<'_>) {
        let h = f.header();
        match h.frame_type {
            FrameType::E3 => self.frames_3e = self.frames_3e.saturating_add(1),
            FrameType::E4 => self.frames_4e = self.frames_4e.saturating_add(1),
        }
        if h.encoding == Encoding::Ascii {
            self.ascii = self.ascii.saturating_add(1);
        }
        match f {
            Frame::Request(r) => self.on_request(dir, &r, ctx),
            Frame::Response(r) => self.on_response(dir, &r, ctx),
        }
    }

    fn on_request(&mut self, dir: Direction, r: &Request<'_>, ctx: &mut Ctx<'_>) {
        let req = Req::new(r, ctx.ts);
        self.commands.add(r.command);
        self.ot
            .role(ctx, APP, Side::sender(dir), "hmi_or_engineering");
        self.ot.poll(ctx, APP, req.class);
        if ctx.obs.enabled {
            observe_writes(r, ctx);
        }
        if let Some(old) = self.pending.push(req) {
            self.ot.errs.pending_full = self.ot.errs.pending_full.saturating_add(1);
            self.complete(Some(&old), None, ctx);
        }
    }

    fn on_response(&mut self, dir: Direction, r: &Response<'_>, ctx: &mut Ctx<'_>) {
        let plc = Side::sender(dir);
        self.ot.role(ctx, APP, plc, "plc");
        if r.end_code != 0 {
            self.error_end_codes = self.error_end_codes.saturating_add(1);
        }
        let h = r.header;
        let req = match (h.frame_type, h.serial) {
            (FrameType::E4, Some(serial)) => self
                .pending
                .take(|q| q.header.frame_type == FrameType::E4 && q.header.serial == Some(serial)),
            _ => self.pending.take(|q| q.header.frame_type == FrameType::E3),
        };
        match &req {
            None => self.ot.errs.orphan_responses = self.ot.errs.orphan_responses.saturating_add(1),
            Some(q) if q.command == CMD_READ_CPU_MODEL => {
                if let Some(m) = parse_cpu_model(r) {
                    self.ot.fact(ctx, APP, plc, "cpu_model", m.name.as_bytes());
                }
            }
            Some(_) => {}
        }
        if is_remote_password_end_code(r.end_code) {
            ctx.observe(ObsKind::OtAuthFailure { app: APP });
        }
        self.complete(req.as_ref(), Some(r), ctx);
    }

    /// Logs every waiting request unanswered.
    pub fn flush(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(r) = self.pending.pop_front() {
            self.complete(Some(&r), None, ctx);
        }
    }

    fn complete(&mut self, req: Option<&Req>, resp: Option<&Response<'_>>, ctx: &mut Ctx<'_>) {
        let ok = resp.map(|r| r.end_code == 0);
        let class = req.map_or(OtClass::Other, |r| r.class);
        if let Some(q) = req {
            if resp.is_none() {
                self.ot.errs.unanswered = self.ot.errs.unanswered.saturating_add(1);
            }
            self.ot.op(
                ctx,
                APP,
                q.command,
                q.subcommand,
                command_name(q.command),
                class,
                ok,
            );
        }
        if !ctx.cfg.ot_events.logs(class) {
            return;
        }
        let resp_ts = resp.map(|_| ctx.ts);
        ctx.event(APP, "slmp", |w| {
            w.begin_object("slmp");
            write_tx_meta(w, class, req.map(|r| r.ts), resp_ts);
            let flags =
                req.map_or(Flags::empty(), |r| r.flags) | resp.map_or(Flags::empty(), |r| r.flags);
            write_flags(w, flags.names());
            if let Some(q) = req {
                write_request(w, q);
            }
            if let Some(r) = resp {
                write_response(w, r, req.map(|q| q.command));
            }
            w.end_object();
        });
    }

    /// Writes the per-flow counters (inside the protocol's flow object).
    pub fn write_counters(&self, w: &mut JsonWriter<'_>) {
        self.commands
            .write_hex(w, "command_counts", "command_counts_other");
        w.u64("frames_3e", self.frames_3e.into())
            .u64("frames_4e", self.frames_4e.into())
            .u64("ascii", self.ascii.into())
            .u64("error_end_codes", self.error_end_codes.into());
        self.ot.errs.write(w);
    }
}

/// Sends the device ranges a write request touches.
fn observe_writes(r: &Request<'_>, ctx: &mut Ctx<'_>) {
    let Some(a) = r.device_access() else {
        return;
    };
    match a.op {
        AccessOp::BatchWrite => {
            if let Some(h) = a.head {
                ctx.observe(ObsKind::OtWrite {
                    app: APP,
                    area: h.code,
                    start: h.number,
                    count: a.points,
                });
            }
        }
        AccessOp::RandomWrite | AccessOp::BlockWrite => {
            for item in a.items().take(MAX_WRITE_OBS) {
                ctx.observe(ObsKind::OtWrite {
                    app: APP,
                    area: item.device.code,
                    start: item.device.number,
                    count: if item.dword {
                        2
                    } else {
                        u32::from(item.points)
                    },
                });
            }
        }
        _ => {}
    }
}

fn write_header(w: &mut JsonWriter<'_>, h: &Header) {
    w.str(
        "frame_type",
        match h.frame_type {
            FrameType::E3 => "3E",
            FrameType::E4 => "4E",
        },
    )
    .str(
        "encoding",
        match h.encoding {
            Encoding::Binary => "binary",
            Encoding::Ascii => "ascii",
        },
    );
    if let Some(s) = h.serial {
        w.u64("serial", s.into());
    }
    w.u64("network", h.network.into())
        .u64("station", h.station.into())
        .u64("module_io", h.module_io.into())
        .u64("multidrop", h.multidrop.into());
}

fn write_device(w: &mut JsonWriter<'_>, d: &DeviceRef) {
    w.u64("device_code", d.code.into())
        .str("device", device_name(d.code))
        .u64("head_device", d.number.into());
    if d.code == UNKNOWN_ASCII_DEVICE {
        w.bytes_str("device_ascii", &d.ascii_name);
    }
}

fn write_mac(w: &mut JsonWriter<'_>, key: &str, m: [u8; 6]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 17];
    for (i, x) in m.iter().enumerate() {
        b[i * 3] = HEX[usize::from(x >> 4)];
        b[i * 3 + 1] = HEX[usize::from(x & 0xF)];
        if i < 5 {
            b[i * 3 + 2] = b':';
        }
    }
    w.str(key, std::str::from_utf8(&b).unwrap_or(""));
}

fn write_request(w: &mut JsonWriter<'_>, q: &Req) {
    w.begin_object("request");
    write_header(w, &q.header);
    w.u64("timer", q.timer.into())
        .u64("command_raw", q.command.into())
        .str("command", command_name(q.command))
        .u64("subcommand_raw", q.subcommand.into());
    match q.detail {
        Detail::None => {}
        Detail::Device {
            op,
            unit,
            form,
            head,
            points,
            first_count,
            second_count,
            items,
        } => {
            w.str(
                "unit",
                match unit {
                    AccessUnit::Word => "word",
                    AccessUnit::Bit => "bit",
                },
            )
            .str(
                "device_form",
                match form {
                    DeviceForm::QL => "q_l",
                    DeviceForm::IqR => "iq_r",
                },
            );
            if let Some(d) = head {
                write_device(w, &d);
            }
            w.u64("points", points.into());
            match op {
                AccessOp::RandomRead | AccessOp::RandomWrite | AccessOp::MonitorRegister => {
                    w.u64("word_count", first_count.into())
                        .u64("dword_count", second_count.into())
                        .u64("devices", items.into());
                }
                AccessOp::BlockRead | AccessOp::BlockWrite => {
                    w.u64("word_blocks", first_count.into())
                        .u64("bit_blocks", second_count.into())
                        .u64("devices", items.into());
                }
                AccessOp::BatchRead | AccessOp::BatchWrite => {}
            }
        }
        Detail::Remote { mode, clear_mode } => {
            w.u64("mode", mode.into());
            if let Some(c) = clear_mode {
                w.u64("clear_mode", c.into());
            }
        }
        Detail::Password { len } => {
            w.u64("password_length", len.into())
                .bool("cleartext_password", true);
        }
        Detail::Loopback { len } => {
            w.u64("loopback_length", len.into());
        }
        Detail::NodeSearch { master_ip } => {
            super::ot_common::write_ipv4(w, "master_ip", master_ip);
        }
        Detail::SetIp {
            master_ip,
            slave_mac,
            new_ip,
            netmask,
        } => {
            super::ot_common::write_ipv4(w, "master_ip", master_ip);
            write_mac(w, "slave_mac", slave_mac);
            super::ot_common::write_ipv4(w, "new_ip", new_ip);
            super::ot_common::write_ipv4(w, "netmask", netmask);
        }
    }
    w.end_object();
}

fn write_response(w: &mut JsonWriter<'_>, r: &Response<'_>, command: Option<u16>) {
    w.begin_object("response");
    write_header(w, &r.header);
    w.u64("end_code", r.end_code.into())
        .str("end_code_name", end_code_name(r.end_code))
        .u64("data_length", r.data.len() as u64);
    if let Some(e) = r.error_info {
        w.begin_object("error_info")
            .u64("network", e.network.into())
            .u64("station", e.station.into())
            .u64("module_io", e.module_io.into())
            .u64("multidrop", e.multidrop.into())
            .u64("command_raw", e.command.into())
            .str("command", command_name(e.command))
            .u64("subcommand_raw", e.subcommand.into())
            .end_object();
    }
    if command == Some(CMD_READ_CPU_MODEL) {
        if let Some(m) = parse_cpu_model(r) {
            w.str("cpu_model", m.name).u64("model_code", m.code.into());
        }
    }
    w.end_object();
}

/// MC protocol / SLMP over TCP.
#[derive(Debug, Default)]
pub struct SlmpTcp {
    tcp: TcpSide<SlmpStream>,
    core: SlmpCore,
}

impl SlmpTcp {
    /// A fresh flow.
    pub fn new() -> SlmpTcp {
        SlmpTcp::default()
    }
}

impl TcpApp for SlmpTcp {
    fn on_data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        let SlmpTcp { tcp, core } = self;
        let o = tcp.feed(APP, dir, data, ctx, |f, ctx| core.on_frame(dir, f, ctx));
        core.ot.errs.account(&o);
    }

    fn on_gap(&mut self, dir: Direction, _len: u64, ctx: &mut Ctx<'_>) {
        self.tcp.gap(dir);
        self.core.ot.errs.gap();
        // 3E pairs by order: once an answer may be lost, order means nothing.
        self.core.flush(ctx);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        self.core.flush(ctx);
    }

    fn write_flow(&self, w: &mut JsonWriter<'_>) {
        w.begin_object("slmp");
        self.core.write_counters(w);
        w.end_object();
    }
}

/// MC protocol / SLMP over UDP: one frame per datagram.
#[derive(Debug, Default)]
pub struct SlmpUdp {
    core: SlmpCore,
}

impl SlmpUdp {
    /// A fresh flow.
    pub fn new() -> SlmpUdp {
        SlmpUdp::default()
    }
}

impl UdpApp for SlmpUdp {
    fn on_datagram(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        match parse_frame(data) {
            Ok(f) => {
                ctx.stats.messages[idx(APP)] += 1;
                self.core.on_frame(dir, f, ctx);
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
        w.begin_object("slmp");
        self.core.write_counters(w);
        w.end_object();
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

    // From pcaps/loopback (pymcprotocol / plc-comm-slmp requests, mc_responder answers).
    const READ_MODEL_3E: &str = "500000ffff03000600040001010000";
    const MODEL_ANSWER_3E: &str = "d00000ffff030014000000513033554456435055202020202020206603";
    const UNLOCK_SW43_3E: &str = "500000ffff03000c00100030160000040053573433";
    const UNLOCK_REFUSED_3E: &str = "d00000ffff03000b0000c200ffff030030160000";
    const OK_3E: &str = "d00000ffff030002000000";

    /// Binary 3E batch write of D200 x4 = 11, -2, 300, 4000.
    fn batch_write_d200() -> Vec<u8> {
        hex(
            "500000ffff030014000400011400 00c80000a804000b00feff2c01a00f"
                .replace(' ', "")
                .as_str(),
        )
    }

    /// A binary 4E frame from a 3E one, with `serial`.
    fn to_4e(e3: &[u8], serial: u16) -> Vec<u8> {
        let mut v = vec![e3[0] | 0x04, 0];
        v.extend_from_slice(&serial.to_le_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&e3[2..]);
        v
    }

    fn feed(h: &mut Harness, s: &mut SlmpTcp, dir: Direction, bytes: &[u8]) {
        let mut ctx = h.ctx();
        s.on_data(dir, bytes, &mut ctx);
    }

    #[test]
    fn three_e_answers_pair_in_order_and_name_the_cpu() {
        let mut h = Harness::new(6, 5010);
        let mut s = SlmpTcp::new();
        let req = hex(READ_MODEL_3E);
        feed(&mut h, &mut s, UP, &req[..4]);
        feed(&mut h, &mut s, UP, &req[4..]);
        feed(&mut h, &mut s, DOWN, &hex(MODEL_ANSWER_3E));
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        let t = &ev[0]["slmp"];
        assert_eq!(t["class"], "recon");
        assert_eq!(t["request"]["frame_type"], "3E");
        assert_eq!(t["request"]["encoding"], "binary");
        assert_eq!(t["request"]["command_raw"], 0x0101);
        assert_eq!(t["request"]["command"], "read_cpu_model");
        assert_eq!(t["request"]["station"], 255);
        assert_eq!(t["request"]["module_io"], 0x03FF);
        assert_eq!(t["request"]["timer"], 4);
        assert_eq!(t["response"]["end_code"], 0);
        assert_eq!(t["response"]["cpu_model"], "Q03UDVCPU");
        assert_eq!(t["response"]["model_code"], 0x0366);
        let model = h.obs().iter().find_map(|o| match o {
            ObsKind::Asset {
                key: "cpu_model",
                value,
                device,
                ..
            } => Some((value.to_string(), device.to_string())),
            _ => None,
        });
        assert_eq!(model, Some(("Q03UDVCPU".into(), "10.0.0.2".into())));
    }

    #[test]
    fn refused_unlock_logs_the_password_length_never_the_password() {
        let mut h = Harness::new(6, 5010);
        let mut s = SlmpTcp::new();
        feed(&mut h, &mut s, UP, &hex(UNLOCK_SW43_3E));
        feed(&mut h, &mut s, DOWN, &hex(UNLOCK_REFUSED_3E));
        let text = String::from_utf8(h.out.clone()).unwrap();
        assert!(!text.contains("SW43"), "{text}");
        let ev = h.events();
        let t = &ev[0]["slmp"];
        assert_eq!(t["class"], "auth");
        assert_eq!(t["request"]["command"], "remote_password_unlock");
        assert_eq!(t["request"]["password_length"], 4);
        assert_eq!(t["request"]["cleartext_password"], true);
        assert_eq!(t["flags"], serde_json::json!(["cleartext_password"]));
        assert_eq!(t["response"]["end_code"], 0xC200);
        assert_eq!(t["response"]["end_code_name"], "remote_password_error");
        assert_eq!(t["response"]["error_info"]["command_raw"], 0x1630);
        let obs = h.obs();
        assert!(obs
            .iter()
            .any(|o| matches!(o, ObsKind::OtAuthFailure { .. })));
        assert!(obs.iter().any(|o| matches!(
            o,
            ObsKind::OtOp {
                code: 0x1630,
                class: OtClass::Auth,
                ok: Some(false),
                ..
            }
        )));
    }

    #[test]
    fn four_e_pipelined_answers_pair_by_serial() {
        let mut h = Harness::new(6, 5010);
        let mut s = SlmpTcp::new();
        let mut two = to_4e(&hex(READ_MODEL_3E), 0x1000);
        two.extend(to_4e(&batch_write_d200(), 0x1001));
        feed(&mut h, &mut s, UP, &two);
        let mut back = to_4e(&hex(OK_3E), 0x1001);
        back.extend(to_4e(&hex(MODEL_ANSWER_3E), 0x1000));
        feed(&mut h, &mut s, DOWN, &back);
        let ev = h.events();
        assert_eq!(ev.len(), 2);
        let w = &ev[0]["slmp"];
        assert_eq!(w["request"]["serial"], 0x1001);
        assert_eq!(w["request"]["frame_type"], "4E");
        assert_eq!(w["request"]["command"], "batch_write");
        assert_eq!(w["request"]["device"], "D");
        assert_eq!(w["request"]["device_code"], 0xA8);
        assert_eq!(w["request"]["head_device"], 200);
        assert_eq!(w["request"]["points"], 4);
        assert_eq!(w["request"]["unit"], "word");
        assert_eq!(w["response"]["serial"], 0x1001);
        assert_eq!(ev[1]["slmp"]["response"]["cpu_model"], "Q03UDVCPU");
        assert!(h.obs().iter().any(|o| matches!(
            o,
            ObsKind::OtWrite {
                area: 0xA8,
                start: 200,
                count: 4,
                ..
            }
        )));
    }

    #[test]
    fn gap_logs_waiting_3e_requests_so_later_answers_do_not_shift() {
        let mut h = Harness::new(6, 5010);
        let mut s = SlmpTcp::new();
        feed(&mut h, &mut s, UP, &hex(READ_MODEL_3E));
        let mut ctx = h.ctx();
        s.on_gap(DOWN, 40, &mut ctx);
        feed(&mut h, &mut s, UP, &batch_write_d200());
        feed(&mut h, &mut s, DOWN, &hex(OK_3E));
        let ev = h.events();
        assert_eq!(ev.len(), 2);
        assert!(ev[0]["slmp"].get("response").is_none());
        assert_eq!(ev[0]["slmp"]["request"]["command"], "read_cpu_model");
        assert_eq!(ev[1]["slmp"]["request"]["command"], "batch_write");
        assert_eq!(ev[1]["slmp"]["response"]["end_code"], 0);
    }

    #[test]
    fn udp_datagrams_pair_and_garbage_is_counted() {
        let mut h = Harness::new(17, 5010);
        let mut s = SlmpUdp::new();
        let mut ctx = h.ctx();
        s.on_datagram(UP, &hex(UNLOCK_SW43_3E), &mut ctx);
        s.on_datagram(DOWN, b"\x50\x00garbage", &mut ctx);
        s.on_datagram(DOWN, &hex(UNLOCK_REFUSED_3E), &mut ctx);
        assert_eq!(ctx.stats.invalid[idx(APP)], 1);
        assert_eq!(ctx.stats.messages[idx(APP)], 2);
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["slmp"]["response"]["end_code"], 0xC200);
        let mut flow = Vec::new();
        let mut w = JsonWriter::object(&mut flow);
        s.write_flow(&mut w);
        w.finish();
        let f: serde_json::Value = serde_json::from_slice(&flow).unwrap();
        assert_eq!(
            f["slmp"]["command_counts"],
            serde_json::json!({"0x1630": 1})
        );
        assert_eq!(f["slmp"]["invalid"], 1);
        assert_eq!(f["slmp"]["error_end_codes"], 1);
    }
}
