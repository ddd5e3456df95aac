//! GE Ethernet Global Data dissector: one `ge_egd` event per produced
//! exchange (class `cyclic`).
//!
//! Parser: [`spanwatch_parsers::egd`]. EGD has no request and no answer: a
//! producer sends each exchange periodically, so every datagram is one
//! transaction and the event carries the production's fields directly:
//!
//! ```text
//! "ge_egd": {"class": "cyclic", "pdu_type": 13, "version": 1, "request_id": 61652,
//!            "producer_id": "192.168.8.77", "exchange_id": 123, "status": 1,
//!            "status_name": "no_error", "config_signature": 739934464,
//!            "timestamp_sec": 947817150, "timestamp_nsec": 740000000,
//!            "data_length": 27, "producer_mismatch": false}
//! ```
//!
//! `producer_mismatch` is true when the producer id is not the sender's IPv4
//! address (spoofing or NAT). The flow record counts productions, exchanges
//! and gaps in the request id (lost productions or a producer restart).
//!
//! Baseline: [`ObsKind::EgdProduction`] once per (exchange, configuration
//! signature) per flow, and again when the signature changes; the sender's
//! `role` fact `producer`; the production period as
//! [`ObsKind::PollPeriod`].

use super::ot_common::{write_flags, write_ipv4, OtFlow, Side};
use super::{idx, AppProto, Ctx, UdpApp};
use crate::baseline::obs::ObsKind;
use crate::output::json::JsonWriter;
use spanwatch_parsers::egd::{parse_pdu, status_name, EgdPdu};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::stream::Direction;

const APP: AppProto = AppProto::GeEgd;

/// Exchanges tracked per flow (signature and last request id).
pub const MAX_EXCHANGES: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Exchange {
    id: u32,
    signature: u32,
    last_request_id: u16,
}

/// EGD state of one flow.
#[derive(Debug, Default)]
pub struct EgdState {
    ot: OtFlow,
    exchanges: Vec<Exchange>,
    productions: u32,
    request_id_gaps: u32,
    producer_mismatches: u32,
}

impl EgdState {
    /// A fresh flow.
    pub fn new() -> EgdState {
        EgdState::default()
    }

    fn on_pdu(&mut self, dir: Direction, p: &EgdPdu<'_>, ctx: &mut Ctx<'_>) {
        self.productions = self.productions.saturating_add(1);
        let sender = Side::sender(dir);
        let f = ctx.flow;
        let src = match sender {
            Side::Client => f.src,
            Side::Server => f.dst,
        };
        let (octets, n) = src.octets(f.is_v6);
        let mismatch = n != 4 || octets[..4] != p.producer_id;
        if mismatch {
            self.producer_mismatches = self.producer_mismatches.saturating_add(1);
        }
        let new_signature = match self.exchanges.iter_mut().find(|e| e.id == p.exchange_id) {
            Some(e) => {
                if p.request_id != e.last_request_id.wrapping_add(1) {
                    self.request_id_gaps = self.request_id_gaps.saturating_add(1);
                }
                e.last_request_id = p.request_id;
                let changed = e.signature != p.config_signature;
                e.signature = p.config_signature;
                changed
            }
            None => {
                if self.exchanges.len() < MAX_EXCHANGES {
                    self.exchanges.push(Exchange {
                        id: p.exchange_id,
                        signature: p.config_signature,
                        last_request_id: p.request_id,
                    });
                }
                true
            }
        };
        if new_signature {
            ctx.observe(ObsKind::EgdProduction {
                producer_id: u32::from_be_bytes(p.producer_id),
                exchange: p.exchange_id,
                signature: p.config_signature,
                spoofed: mismatch,
            });
        }
        self.ot.role(ctx, APP, sender, "producer");
        self.ot.poll(ctx, APP, OtClass::Cyclic);
        self.ot.op(
            ctx,
            APP,
            p.pdu_type.into(),
            0,
            "production",
            OtClass::Cyclic,
            None,
        );
        if !ctx.cfg.ot_events.logs(OtClass::Cyclic) {
            return;
        }
        ctx.event(APP, "ge_egd", |w| {
            w.begin_object("ge_egd")
                .str("class", OtClass::Cyclic.name());
            write_flags(w, p.flags.names());
            w.u64("pdu_type", p.pdu_type.into())
                .u64("version", p.version.into())
                .u64("request_id", p.request_id.into());
            write_ipv4(w, "producer_id", p.producer_id);
            w.u64("exchange_id", p.exchange_id.into())
                .u64("status", p.status.into())
                .str("status_name", status_name(p.status))
                .u64("config_signature", p.config_signature.into())
                .u64("timestamp_sec", p.timestamp_sec.into())
                .u64("timestamp_nsec", p.timestamp_nsec.into())
                .u64("data_length", p.data.len() as u64)
                .bool("producer_mismatch", mismatch)
                .end_object();
        });
    }
}

impl UdpApp for EgdState {
    fn on_datagram(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        match parse_pdu(data) {
            Ok(p) => {
                ctx.stats.messages[idx(APP)] += 1;
                self.on_pdu(dir, &p, ctx);
            }
            Err(_) => {
                ctx.stats.invalid[idx(APP)] += 1;
                self.ot.errs.invalid = self.ot.errs.invalid.saturating_add(1);
            }
        }
    }

    fn write_flow(&self, w: &mut JsonWriter<'_>) {
        w.begin_object("ge_egd")
            .u64("productions", self.productions.into())
            .u64("exchanges", self.exchanges.len() as u64)
            .u64("request_id_gaps", self.request_id_gaps.into())
            .u64("producer_mismatches", self.producer_mismatches.into());
        self.ot.errs.write(w);
        w.end_object();
    }
}
