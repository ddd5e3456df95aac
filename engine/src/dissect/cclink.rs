//! CC-Link IE Field Basic dissector: one `cclink_ief` event per cyclic
//! exchange (class `cyclic`).
//!
//! Parser: [`spanwatch_parsers::cclink`]. The master broadcasts one cyclic
//! request per group and period; each slave answers it unicast with the
//! request's frame sequence number. A request and its answers therefore
//! usually travel in different flows (master → broadcast, slave → master):
//! a response is paired with the flow's waiting request of the same frame
//! sequence when there is one (a unicast master), and is logged alone
//! otherwise. A flow keeps at most one cyclic request waiting: the next
//! request logs the previous one unanswered.
//!
//! SLMP frames on the CC-Link ports (node search 0x0E30, set IP address
//! 0x0E31) go to the SLMP dissector's logic and become `slmp` events.
//!
//! Event shape:
//!
//! ```text
//! "cclink_ief": {
//!   "class": "cyclic",
//!   "request":  {"protocol_version": 1, "master_id": "172.16.134.128", "group": 1,
//!                "frame_sequence": 1752, "timeout_ms": 500, "timeout_count": 3,
//!                "parameter_no": 11, "occupied_stations": 1, "cyclic_state": 0,
//!                "master_state": "running", "slave_ids": ["172.16.134.129"]},
//!   "response": {"protocol_version": 1, "slave_id": "172.16.134.129", "group": 1,
//!                "frame_sequence": 1752, "end_code": 0, "end_code_name": "ok",
//!                "slave_state": "running", "slave_error_code": 0, "vendor_code": ...,
//!                "model_code": ..., "equipment_version": ..., "occupied_stations": 1}
//! }
//! ```
//!
//! Baseline: [`ObsKind::CclinkMaster`] on the first cyclic request of a flow
//! (`second_master: false`) and whenever a slave starts answering end code
//! 0xCFE0 (master duplication: `second_master: true`; sent again only
//! after an answer without it, so a persisting duplicate is not repeated at
//! the cyclic rate); roles `cclink_master` / `cclink_slave`; the slave's
//! vendor code, model code and equipment version as facts
//! `cclink_vendor_code`, `cclink_model_code`, `cclink_equipment_version`
//! (hex text; not sent when zero).

use super::ot_common::{dotted, write_flags, write_ipv4, write_tx_meta, OtFlow, Side};
use super::slmp::SlmpCore;
use super::{idx, AppProto, Ctx, UdpApp};
use crate::baseline::obs::ObsKind;
use crate::capture::Nanos;
use crate::output::json::JsonWriter;
use spanwatch_parsers::cclink::{
    end_code_name, parse_datagram, unit_info_name, CyclicRequest, CyclicResponse, Datagram, Flags,
    CMD_CYCLIC, END_MASTER_DUPLICATION, MAX_OCCUPIED_STATIONS,
};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::stream::Direction;

const APP: AppProto = AppProto::CclinkIef;

/// A cyclic request waiting for an answer on the same flow.
#[derive(Debug, Clone, Copy)]
struct Req {
    ts: Nanos,
    protocol_version: u16,
    master_ip: [u8; 4],
    group: u8,
    frame_sequence: u16,
    timeout_ms: u16,
    timeout_count: u16,
    parameter_no: u16,
    occupied_stations: u16,
    cyclic_state: u16,
    master_unit_info: u16,
    slave_ids: [[u8; 4]; MAX_OCCUPIED_STATIONS as usize],
    slave_count: u8,
    flags: Flags,
}

impl Req {
    fn new(r: &CyclicRequest<'_>, ts: Nanos) -> Req {
        let mut slave_ids = [[0u8; 4]; MAX_OCCUPIED_STATIONS as usize];
        let mut slave_count = 0u8;
        for (slot, ip) in slave_ids.iter_mut().zip(r.slave_ips()) {
            *slot = ip;
            slave_count += 1;
        }
        Req {
            ts,
            protocol_version: r.protocol_version,
            master_ip: r.master_ip,
            group: r.group,
            frame_sequence: r.frame_sequence,
            timeout_ms: r.timeout_ms,
            timeout_count: r.timeout_count,
            parameter_no: r.parameter_no,
            occupied_stations: r.occupied_stations,
            cyclic_state: r.cyclic_state,
            master_unit_info: r.master_unit_info,
            slave_ids,
            slave_count,
            flags: r.flags,
        }
    }
}

/// CC-Link IE Field Basic state of one flow.
#[derive(Debug, Default)]
pub struct CclinkState {
    pending: Option<Req>,
    ot: OtFlow,
    slmp: SlmpCore,
    cyclic_requests: u32,
    cyclic_responses: u32,
    slmp_frames: u32,
    master_duplication: u32,
    master_seen: bool,
    /// The last answer on this flow reported master duplication.
    duplicate_now: bool,
    /// Parameter number of the last request (changes when the master's
    /// parameters change).
    parameter_no: Option<u16>,
    parameter_changes: u32,
}

impl CclinkState {
    /// A fresh flow.
    pub fn new() -> CclinkState {
        CclinkState::default()
    }

    fn on_request(&mut self, dir: Direction, r: &CyclicRequest<'_>, ctx: &mut Ctx<'_>) {
        self.cyclic_requests = self.cyclic_requests.saturating_add(1);
        if !self.master_seen {
            self.master_seen = true;
            ctx.observe(ObsKind::CclinkMaster {
                second_master: false,
            });
        }
        if let Some(old) = self.parameter_no.replace(r.parameter_no) {
            if old != r.parameter_no {
                self.parameter_changes = self.parameter_changes.saturating_add(1);
            }
        }
        self.ot.role(ctx, APP, Side::sender(dir), "cclink_master");
        self.ot.poll(ctx, APP, OtClass::Cyclic);
        if let Some(old) = self.pending.replace(Req::new(r, ctx.ts)) {
            self.ot.errs.unanswered = self.ot.errs.unanswered.saturating_add(1);
            self.complete(Some(&old), None, ctx);
        }
    }

    fn on_response(&mut self, dir: Direction, r: &CyclicResponse<'_>, ctx: &mut Ctx<'_>) {
        self.cyclic_responses = self.cyclic_responses.saturating_add(1);
        let slave = Side::sender(dir);
        self.ot.role(ctx, APP, slave, "cclink_slave");
        // Zero codes (the nttcom capture's slave) say nothing about the device.
        if r.vendor_code != 0 {
            self.ot.fact_with(
                ctx,
                APP,
                slave,
                "cclink_vendor_code",
                &r.vendor_code.to_le_bytes(),
                || Some(format!("0x{:04x}", r.vendor_code).into_boxed_str()),
            );
        }
        if r.model_code != 0 {
            self.ot.fact_with(
                ctx,
                APP,
                slave,
                "cclink_model_code",
                &r.model_code.to_le_bytes(),
                || Some(format!("0x{:08x}", r.model_code).into_boxed_str()),
            );
        }
        if r.equipment_version != 0 {
            self.ot.fact_with(
                ctx,
                APP,
                slave,
                "cclink_equipment_version",
                &r.equipment_version.to_le_bytes(),
                || Some(format!("0x{:04x}", r.equipment_version).into_boxed_str()),
            );
        }
        let dup = r.master_duplication();
        if dup {
            self.master_duplication = self.master_duplication.saturating_add(1);
            if !self.duplicate_now {
                ctx.observe(ObsKind::CclinkMaster {
                    second_master: true,
                });
            }
        }
        self.duplicate_now = dup;
        let req = match self.pending {
            Some(q) if q.frame_sequence == r.frame_sequence => self.pending.take(),
            _ => None,
        };
        if req.is_none() {
            self.ot.errs.orphan_responses = self.ot.errs.orphan_responses.saturating_add(1);
        }
        self.complete(req.as_ref(), Some(r), ctx);
    }

    fn complete(
        &mut self,
        req: Option<&Req>,
        resp: Option<&CyclicResponse<'_>>,
        ctx: &mut Ctx<'_>,
    ) {
        let ok = resp.map(|r| r.end_code == 0);
        self.ot.op(
            ctx,
            APP,
            CMD_CYCLIC,
            0,
            "cciefb_cyclic",
            OtClass::Cyclic,
            ok,
        );
        if !ctx.cfg.ot_events.logs(OtClass::Cyclic) {
            return;
        }
        let resp_ts = resp.map(|_| ctx.ts);
        ctx.event(APP, "cclink_ief", |w| {
            w.begin_object("cclink_ief");
            write_tx_meta(w, OtClass::Cyclic, req.map(|r| r.ts), resp_ts);
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
}

fn write_request(w: &mut JsonWriter<'_>, q: &Req) {
    w.begin_object("request")
        .u64("command_raw", CMD_CYCLIC.into())
        .u64("protocol_version", q.protocol_version.into());
    write_ipv4(w, "master_id", q.master_ip);
    w.u64("group", q.group.into())
        .u64("frame_sequence", q.frame_sequence.into())
        .u64("timeout_ms", q.timeout_ms.into())
        .u64("timeout_count", q.timeout_count.into())
        .u64("parameter_no", q.parameter_no.into())
        .u64("occupied_stations", q.occupied_stations.into())
        .u64("cyclic_state", q.cyclic_state.into())
        .u64("master_state_raw", q.master_unit_info.into())
        .str("master_state", unit_info_name(q.master_unit_info));
    w.begin_array("slave_ids");
    for ip in q.slave_ids.iter().take(usize::from(q.slave_count)) {
        let mut b = [0u8; 15];
        let s = dotted(&mut b, *ip);
        w.element_str(s);
    }
    w.end_array();
    w.end_object();
}

fn write_response(w: &mut JsonWriter<'_>, r: &CyclicResponse<'_>) {
    w.begin_object("response")
        .u64("protocol_version", r.protocol_version.into());
    write_ipv4(w, "slave_id", r.slave_ip);
    w.u64("group", r.group.into())
        .u64("frame_sequence", r.frame_sequence.into())
        .u64("end_code", r.end_code.into())
        .str("end_code_name", end_code_name(r.end_code))
        .bool("second_master", r.end_code == END_MASTER_DUPLICATION)
        .u64("slave_state_raw", r.slave_unit_info.into())
        .str("slave_state", r.slave_state())
        .u64("slave_error_code", r.slave_error_code.into())
        .u64("vendor_code", r.vendor_code.into())
        .u64("model_code", r.model_code.into())
        .u64("equipment_version", r.equipment_version.into())
        .u64("occupied_stations", r.occupied_stations.into())
        .end_object();
}

impl UdpApp for CclinkState {
    fn on_datagram(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        match parse_datagram(data) {
            Ok(d) => {
                ctx.stats.messages[idx(APP)] += 1;
                match d {
                    Datagram::CyclicRequest(r) => self.on_request(dir, &r, ctx),
                    Datagram::CyclicResponse(r) => self.on_response(dir, &r, ctx),
                    Datagram::Slmp(f) => {
                        self.slmp_frames = self.slmp_frames.saturating_add(1);
                        self.slmp.on_frame(dir, f, ctx);
                    }
                }
            }
            Err(_) => {
                ctx.stats.invalid[idx(APP)] += 1;
                self.ot.errs.invalid = self.ot.errs.invalid.saturating_add(1);
            }
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(q) = self.pending.take() {
            self.ot.errs.unanswered = self.ot.errs.unanswered.saturating_add(1);
            self.complete(Some(&q), None, ctx);
        }
        self.slmp.flush(ctx);
    }

    fn write_flow(&self, w: &mut JsonWriter<'_>) {
        w.begin_object("cclink_ief")
            .u64("cyclic_requests", self.cyclic_requests.into())
            .u64("cyclic_responses", self.cyclic_responses.into())
            .u64("master_duplication", self.master_duplication.into())
            .u64("parameter_changes", self.parameter_changes.into());
        if self.slmp_frames > 0 {
            w.u64("slmp_frames", self.slmp_frames.into());
            w.begin_object("slmp");
            self.slmp.write_counters(w);
            w.end_object();
        }
        self.ot.errs.write(w);
        w.end_object();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::ot_common::testutil::Harness;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// nttcom_cclink_ief_basic_only.pcap frame 1 (master 172.16.134.128,
    /// frame sequence 0x06D8) with its RWw/RY zero bytes trimmed off, and
    /// frame 2 (the slave's answer).
    fn request() -> Vec<u8> {
        let mut b = hex("500000ffff030086000000700e00000100000024000000000000000000000000000000010000002baf8d6881010000808610ac0100d806f40103000b00010000000000818610ac");
        b.resize(9 + 0x86, 0);
        b
    }

    fn response(end_code: u16) -> Vec<u8> {
        let mut b = hex("d00000ffff03007a00000001000000280000000000000000000000000000000000000000000000000000000100000000000000818610ac0100d806");
        b.resize(9 + 0x7A, 0);
        b[13..15].copy_from_slice(&end_code.to_le_bytes());
        b
    }

    fn masters(h: &Harness) -> Vec<bool> {
        h.obs()
            .iter()
            .filter_map(|o| match o {
                ObsKind::CclinkMaster { second_master } => Some(*second_master),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn broadcast_request_and_unicast_answer_are_logged_per_flow() {
        // Master -> broadcast flow: requests only.
        let mut h = Harness::new(17, 61450);
        let mut s = CclinkState::new();
        let mut ctx = h.ctx();
        s.on_datagram(Direction::ToServer, &request(), &mut ctx);
        s.on_datagram(Direction::ToServer, &request(), &mut ctx);
        s.on_close(&mut ctx);
        let ev = h.events();
        assert_eq!(ev.len(), 2);
        let q = &ev[0]["cclink_ief"]["request"];
        assert_eq!(ev[0]["cclink_ief"]["class"], "cyclic");
        assert_eq!(q["master_id"], "172.16.134.128");
        assert_eq!(q["frame_sequence"], 0x06D8);
        assert_eq!(q["parameter_no"], 11);
        assert_eq!(q["occupied_stations"], 1);
        assert_eq!(q["master_state"], "running");
        assert_eq!(q["slave_ids"], serde_json::json!(["172.16.134.129"]));
        assert_eq!(masters(&h), vec![false]);
        // Slave -> master flow: answers only.
        let mut h = Harness::new(17, 61450);
        let mut s = CclinkState::new();
        let mut ctx = h.ctx();
        s.on_datagram(Direction::ToServer, &response(0), &mut ctx);
        let ev = h.events();
        let r = &ev[0]["cclink_ief"]["response"];
        assert!(ev[0]["cclink_ief"].get("request").is_none());
        assert_eq!(r["slave_id"], "172.16.134.129");
        assert_eq!(r["frame_sequence"], 0x06D8);
        assert_eq!(r["end_code_name"], "ok");
        assert_eq!(r["slave_state"], "running");
        assert!(masters(&h).is_empty());
    }

    #[test]
    fn unicast_answer_pairs_and_master_duplication_is_reported_on_change() {
        let mut h = Harness::new(17, 61450);
        let mut s = CclinkState::new();
        for (i, end) in [0u16, 0xCFE0, 0xCFE0, 0, 0xCFE0].into_iter().enumerate() {
            let mut ctx = h.ctx();
            s.on_datagram(Direction::ToServer, &request(), &mut ctx);
            h.ts += 3_000_000;
            let mut ctx = h.ctx();
            s.on_datagram(Direction::ToClient, &response(end), &mut ctx);
            h.ts += 7_000_000;
            assert_eq!(h.events().len(), i + 1);
        }
        let ev = h.events();
        assert_eq!(ev[1]["cclink_ief"]["latency_us"], 3000);
        assert_eq!(ev[1]["cclink_ief"]["response"]["end_code"], 0xCFE0);
        assert_eq!(
            ev[1]["cclink_ief"]["response"]["end_code_name"],
            "master_duplication"
        );
        assert_eq!(ev[1]["cclink_ief"]["response"]["second_master"], true);
        assert_eq!(masters(&h), vec![false, true, true]);
        assert_eq!(s.master_duplication, 3);
    }
}
