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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::ot_common::testutil::Harness;

    /// An EGD production: request id, producer id, exchange 0x7B, status 1,
    /// signature, 8 data bytes.
    fn production(request_id: u16, producer: [u8; 4], signature: u32) -> Vec<u8> {
        let mut b = vec![0x0D, 0x01];
        b.extend_from_slice(&request_id.to_le_bytes());
        b.extend_from_slice(&producer);
        b.extend_from_slice(&0x7Bu32.to_le_bytes());
        b.extend_from_slice(&947_817_150u32.to_le_bytes());
        b.extend_from_slice(&740_000_000u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&signature.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&[0xAA; 8]);
        b
    }

    fn productions(h: &Harness) -> Vec<(u32, u32, u32, bool)> {
        h.obs()
            .iter()
            .filter_map(|o| match o {
                ObsKind::EgdProduction {
                    producer_id,
                    exchange,
                    signature,
                    spoofed,
                } => Some((*producer_id, *exchange, *signature, *spoofed)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_observation_per_signature_and_request_id_gaps_counted() {
        let mut h = Harness::new(17, 18246);
        let mut s = EgdState::new();
        let me = [10, 0, 0, 1];
        for (rid, sig) in [(10u16, 7u32), (11, 7), (13, 7), (14, 8)] {
            let mut ctx = h.ctx();
            s.on_datagram(Direction::ToServer, &production(rid, me, sig), &mut ctx);
        }
        assert_eq!(
            productions(&h),
            vec![(0x0A00_0001, 0x7B, 7, false), (0x0A00_0001, 0x7B, 8, false)]
        );
        assert_eq!(s.request_id_gaps, 1);
        let ev = h.events();
        assert_eq!(ev.len(), 4);
        let e = &ev[0]["ge_egd"];
        assert_eq!(e["class"], "cyclic");
        assert_eq!(e["producer_id"], "10.0.0.1");
        assert_eq!(e["exchange_id"], 0x7B);
        assert_eq!(e["request_id"], 10);
        assert_eq!(e["status_name"], "no_error");
        assert_eq!(e["config_signature"], 7);
        assert_eq!(e["data_length"], 8);
        assert_eq!(e["producer_mismatch"], false);
        let role = h.obs().iter().find_map(|o| match o {
            ObsKind::Asset {
                key: "role", value, ..
            } => Some(value.to_string()),
            _ => None,
        });
        assert_eq!(role.as_deref(), Some("producer"));
    }

    #[test]
    fn producer_id_that_is_not_the_sender_is_flagged() {
        let mut h = Harness::new(17, 18246);
        let mut s = EgdState::new();
        let mut ctx = h.ctx();
        s.on_datagram(
            Direction::ToServer,
            &production(1, [10, 0, 0, 99], 7),
            &mut ctx,
        );
        s.on_datagram(Direction::ToServer, &[0x0D, 0x01, 0, 0], &mut ctx);
        assert_eq!(h.events()[0]["ge_egd"]["producer_mismatch"], true);
        assert_eq!(productions(&h), vec![(0x0A00_0063, 0x7B, 7, true)]);
        assert_eq!(s.ot.errs.invalid, 1);
        assert_eq!(h.stats.invalid[idx(APP)], 1);
    }
}
