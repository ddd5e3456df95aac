//! Detect: models that compare each observation with the baseline and raise
//! alerts, grouped into incidents and rate-limited.
//!
//! The [`Analyzer`] is owned by the baseline thread. For each observation it
//! first asks "is this new or out of range for this device or pair?", raises
//! what deviates (only once learning is over), then learns the observation,
//! so what becomes normal stops alerting.
//!
//! An `alert` record carries the Suricata fields (`alert.signature_id`,
//! `signature`, `category`, `severity` 1-3, `metadata.mitre_technique_id`)
//! and a `spanwatch` object: `score` (0-100), `device`, `model`, `evidence`
//! (one sentence naming the hosts), `suppressed_before` (alerts of this
//! model on this device dropped by the rate limit since the last one
//! written) and `incident` (`id`, `alerts`, combined `score` so far).
//!
//! Alerts on one device join one incident while each comes within
//! `incident_window` of the previous; the combined score is
//! `100 · (1 − Π(1 − score/100))`. `incident` records are written at the
//! end (or earlier when [`MAX_CLOSED_INCIDENTS`] closed ones wait). Each
//! model may alert `max_alerts_per_hour` times per device and hour of
//! capture time; the rest are counted in `stats.detect.suppressed`.
//!
//! Every table here is bounded: rate-limit slots ([`MAX_RATE_SLOTS`]), open
//! and closed incidents; devices the baseline refuses share one rate slot
//! per model.

pub mod lookalike;
pub mod models;
#[cfg(test)]
mod tests;

use crate::baseline::obs::{DeviceId, FlowRef, Obs, ObsKind};
use crate::baseline::state::{Baseline, Device, Pair, PairKey, MAX_EGD_EXCHANGES};
use crate::capture::Nanos;
use crate::dissect::AppProto;
use crate::output::eve::{write_header, FlowHeader};
use crate::output::json::JsonWriter;
use models::Model;
use spanwatch_parsers::ot::OtClass;
use std::collections::HashMap;

const NS: u64 = 1_000_000_000;
const HOUR: u64 = 3600 * NS;

/// Alerting settings (`[detect]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Alerts per model and device per hour of capture time; more are counted as suppressed.
    pub max_alerts_per_hour: u32,
    /// Seconds of capture time in which alerts on one device join one incident.
    pub incident_window: u64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            max_alerts_per_hour: 10,
            incident_window: 3600,
        }
    }
}

/// An open incident on a device.
#[derive(Debug, Clone)]
struct Incident {
    id: u64,
    device: DeviceId,
    start: Nanos,
    last: Nanos,
    alerts: u32,
    /// Product of (1 - score/100) over its alerts.
    keep: f64,
    models: Vec<&'static str>,
    max_severity: u8,
}

impl Incident {
    fn score(&self) -> u32 {
        ((1.0 - self.keep) * 100.0).round().clamp(0.0, 100.0) as u32
    }
}

/// Counters of the analyzer.
#[derive(Debug, Clone, Default)]
pub struct DetectStats {
    /// Alerts written, per model sid.
    pub alerts: HashMap<u32, u64>,
    /// Alerts suppressed by the rate limit, per model sid.
    pub suppressed: HashMap<u32, u64>,
    /// Incidents opened.
    pub incidents: u64,
    /// Asset records written.
    pub asset_records: u64,
}

/// A raised deviation before it is written.
struct Deviation {
    model: Model,
    score: u32,
    device: DeviceId,
    evidence: String,
}

/// Most rate-limit slots held. Slots of earlier hours are dropped when it is
/// reached; past that, alerts share one slot per model.
pub const MAX_RATE_SLOTS: usize = 1 << 16;
/// Most open incidents. When it is reached, incidents idle for longer than
/// the incident window are closed; past that, the least recently active one.
pub const MAX_OPEN_INCIDENTS: usize = 1 << 16;
/// Most closed incidents held for the summary at the end; when it is reached
/// their `incident` records are written at once.
pub const MAX_CLOSED_INCIDENTS: usize = 1 << 16;

/// One rate-limit slot: alerts written and suppressed in one hour.
#[derive(Debug, Clone, Copy)]
struct RateSlot {
    hour: u64,
    written: u32,
    /// Highest score written from this slot this hour: a stronger alert
    /// still gets through a full slot, so a burst of weak ones cannot hide it.
    max_score: u32,
    /// Suppressed since the last alert written from this slot.
    suppressed: u64,
}

/// Runs the models over observations in input order.
pub struct Analyzer {
    /// The learned state.
    pub base: Baseline,
    cfg: DetectConfig,
    /// Never alert (`spanwatch learn`).
    learn_only: bool,
    /// Rate limit per (sid, device); `None` for devices the baseline does
    /// not track (refused by a full table), which share one slot per model.
    rate: HashMap<(u32, Option<DeviceId>), RateSlot>,
    incidents: HashMap<DeviceId, Incident>,
    closed: Vec<Incident>,
    /// The table-full alert was raised in this run: (devices, pairs).
    table_full_alerted: (bool, bool),
    /// Counters.
    pub stats: DetectStats,
    /// Lookalike comparison set: owner labels of domains known at the end of
    /// learning or seen at least twice.
    known_labels: Vec<String>,
    /// Capture time covered by a loaded state.
    loaded_span: Nanos,
}

fn header(f: &FlowRef) -> FlowHeader {
    FlowHeader {
        flow_id: f.flow_id,
        src: crate::decode::Addr(f.client.addr),
        dst: crate::decode::Addr(f.server.addr),
        sport: f.client_port,
        dport: f.server_port,
        proto: f.proto,
        is_v6: f.client.v6,
        vlan: f.vlan,
        tunnel: None,
    }
}

/// A learning duration in words: `3 h`, `10 min`, `45 s`.
fn hours(ns: u64) -> String {
    let h = ns as f64 / HOUR as f64;
    if h >= 1.0 {
        format!("{h:.0} h")
    } else if ns >= 60 * NS {
        format!("{:.0} min", ns as f64 / (60 * NS) as f64)
    } else {
        format!("{} s", ns / NS)
    }
}

fn class_bit(c: OtClass) -> u16 {
    1 << (c as u16)
}

const RISKY_ATTACHMENTS: &[&str] = &[
    "html", "htm", "shtml", "svg", "js", "vbs", "hta", "exe", "scr", "iso", "img", "lnk", "zip",
    "rar", "7z", "docm", "xlsm", "one",
];

impl Analyzer {
    /// An analyzer over `base`.
    pub fn new(base: Baseline, cfg: DetectConfig, learn_only: bool) -> Analyzer {
        let mut a = Analyzer {
            base,
            cfg,
            learn_only,
            rate: HashMap::new(),
            incidents: HashMap::new(),
            closed: Vec::new(),
            table_full_alerted: (false, false),
            stats: DetectStats::default(),
            known_labels: Vec::new(),
            loaded_span: 0,
        };
        a.loaded_span = a
            .base
            .now
            .saturating_sub(a.base.learn_start.unwrap_or(a.base.now));
        // A loaded state whose learning period was over when it was saved
        // detects from the first packet, whatever the new input's clock
        // (replaying an older capture must not start learning again).
        if matches!(a.base.learn_until, Some(u) if u > 0 && a.base.now >= u) {
            a.base.learn_until = Some(0);
        }
        a.refresh_labels();
        a
    }

    fn refresh_labels(&mut self) {
        let mut v: Vec<String> = self
            .base
            .net
            .domains
            .iter()
            .map(|(d, _)| lookalike::owner_label(d).to_ascii_lowercase())
            .collect();
        v.sort();
        v.dedup();
        v.truncate(50_000);
        self.known_labels = v;
    }

    fn learning(&self, ts: Nanos) -> bool {
        self.learn_only || self.base.learning(ts)
    }

    /// How much capture time the baseline learned before `ts`.
    fn learned_for(&self, ts: Nanos) -> Nanos {
        let start = self.base.learn_start.unwrap_or(ts);
        match self.base.learn_until {
            // Learned by an earlier `learn` run: everything up to its last packet.
            Some(0) => self.loaded_span,
            Some(u) => ts.min(u).saturating_sub(start),
            None => ts.saturating_sub(start),
        }
    }

    /// Handles one observation; alert, asset and incident records go to `out`.
    pub fn observe(&mut self, o: &Obs, out: &mut Vec<u8>) {
        let ts = o.ts;
        if self.base.learn_start.is_none() {
            self.base.learn_start = Some(ts);
        }
        if self.base.learn_until.is_none() && !self.learn_only {
            self.base.learn_until =
                Some(self.base.learn_start.unwrap_or(ts) + self.base.cfg.learn_for * NS);
        }
        let was_learning = self.learning(self.base.now);
        self.base.now = self.base.now.max(ts);
        if was_learning && !self.learning(ts) {
            self.refresh_labels();
        }
        self.base.observations += 1;
        let mut devs: Vec<Deviation> = Vec::new();
        let refused_before = (self.base.net.devices_refused, self.base.net.pairs_refused);
        self.check_and_learn(o, &mut devs, out);
        if !self.learning(ts) {
            self.table_full(o, refused_before, &mut devs);
            for d in devs {
                self.raise(o, d, out);
            }
        }
    }

    /// Raises the table-full alert the first time in a run (after
    /// learning) that the device table, or the pair table, refuses an entry.
    fn table_full(&mut self, o: &Obs, before: (u64, u64), devs: &mut Vec<Deviation>) {
        let net = &self.base.net;
        let cfg = &self.base.cfg;
        if net.devices_refused > before.0 && !self.table_full_alerted.0 {
            self.table_full_alerted.0 = true;
            devs.push(Deviation {
                model: models::TABLE_FULL,
                score: 60,
                device: o.flow.client,
                evidence: format!(
                    "the device table is full ({} devices, {} refused so far; the flow {} → {} brought a new one): \
                     new devices are counted but not learned",
                    cfg.max_devices, net.devices_refused, o.flow.client, o.flow.server
                ),
            });
        }
        if net.pairs_refused > before.1 && !self.table_full_alerted.1 {
            self.table_full_alerted.1 = true;
            devs.push(Deviation {
                model: models::TABLE_FULL,
                score: 50,
                device: o.flow.client,
                evidence: format!(
                    "the pair table is full ({} pairs, {} refused so far; {} → {} is a new one): \
                     new client/server pairs are counted but not learned",
                    cfg.max_pairs, net.pairs_refused, o.flow.client, o.flow.server
                ),
            });
        }
    }

    /// The device `id`, created at `ts` if the device table has room; a
    /// device refused by the bound is counted in `net.devices_refused`.
    fn device_mut(base: &mut Baseline, id: DeviceId, ts: Nanos) -> Option<&mut Device> {
        let full = base.devices.len() >= base.cfg.max_devices;
        if full && !base.devices.contains_key(&id) {
            base.net.devices_refused += 1;
            return None;
        }
        let cfg = &base.cfg;
        let d = base
            .devices
            .entry(id)
            .or_insert_with(|| Device::new(ts, cfg));
        d.last_seen = d.last_seen.max(ts);
        d.first_seen = d.first_seen.min(ts);
        Some(d)
    }

    fn pair_mut(base: &mut Baseline, k: PairKey, ts: Nanos) -> Option<(&mut Pair, bool)> {
        let cfg = base.cfg.clone();
        if base.pairs.len() >= cfg.max_pairs && !base.pairs.contains_key(&k) {
            base.net.pairs_refused += 1;
            return None;
        }
        let mut new = false;
        let p = base.pairs.entry(k).or_insert_with(|| {
            new = true;
            Pair::new(ts, &cfg)
        });
        Some((p, new))
    }

    fn check_and_learn(&mut self, o: &Obs, devs: &mut Vec<Deviation>, out: &mut Vec<u8>) {
        let f = &o.flow;
        let ts = o.ts;
        // Only evidence text uses it, and nothing is raised while learning.
        let learned = if self.learning(ts) {
            String::new()
        } else {
            hours(self.learned_for(ts))
        };
        match &o.kind {
            ObsKind::FlowStart { .. } => self.flow_start(o, devs, &learned),
            ObsKind::ServerAnswered => self.server_answered(o, devs, &learned),
            ObsKind::AppDetected { app } => {
                if let Some(d) = Self::device_mut(&mut self.base, f.server, ts) {
                    // As for ports: only a device that served before, and
                    // only internal ones, have services to compare with.
                    let served_before = d.apps.iter().any(|((client, _), _)| !client);
                    if d.apps.see((false, app.name().to_string()), ts) == Some(true)
                        && served_before
                        && f.server.is_internal()
                    {
                        devs.push(Deviation {
                            model: models::NEW_SERVICE,
                            score: 45,
                            device: f.server,
                            evidence: format!(
                                "{} began serving {} to {}; not served in {learned} of learning",
                                f.server,
                                app.name(),
                                f.client
                            ),
                        });
                    }
                }
                if let Some(d) = Self::device_mut(&mut self.base, f.client, ts) {
                    d.apps.see((true, app.name().to_string()), ts);
                }
            }
            ObsKind::FlowEnd { .. } => {}
            ObsKind::OtOp {
                app,
                code,
                sub,
                name,
                class,
                ok,
            } => self.ot_op(o, *app, *code, *sub, name, *class, *ok, devs, &learned),
            ObsKind::OtWrite {
                app, area, start, ..
            } => {
                let k = PairKey {
                    client: f.client,
                    server: f.server,
                    app: *app as u8,
                };
                if let Some((p, _)) = Self::pair_mut(&mut self.base, k, ts) {
                    let had = !p.write_ranges.is_empty();
                    if p.write_ranges.see((*area, *start / 256), ts) == Some(true) && had {
                        devs.push(Deviation {
                            model: models::OT_FIRST_WRITE,
                            score: 40,
                            device: f.client,
                            evidence: format!(
                                "{} wrote {} area {area} at {start} on {}, outside the ranges it wrote in {learned} of learning",
                                f.client,
                                app.name(),
                                f.server
                            ),
                        });
                    }
                }
            }
            ObsKind::OtAuthFailure { app } => {
                let k = PairKey {
                    client: f.client,
                    server: f.server,
                    app: *app as u8,
                };
                if let Some((p, _)) = Self::pair_mut(&mut self.base, k, ts) {
                    p.auth_failures += 1;
                    // Three or more failures within one hour of capture time.
                    let hour = ts / HOUR;
                    if p.recent_failures.0 != hour {
                        p.recent_failures = (hour, 0);
                    }
                    p.recent_failures.1 += 1;
                    let n = p.recent_failures.1;
                    if n >= 3 {
                        devs.push(Deviation {
                            model: models::OT_AUTH,
                            score: (50 + 10 * n.min(5)) as u32,
                            device: f.client,
                            evidence: format!(
                                "{} failed {n} {} logons on {} within the hour (password guessing?)",
                                f.client,
                                app.name(),
                                f.server
                            ),
                        });
                    }
                }
            }
            ObsKind::OtState { app, device, state } => {
                if let Some(d) = Self::device_mut(&mut self.base, *device, ts) {
                    let old = d.ot_state.replace(state.to_string());
                    if let Some(old) = old {
                        if old != *state {
                            devs.push(Deviation {
                                model: models::OT_STATE_CHANGE,
                                score: if *state == "run" { 50 } else { 85 },
                                device: *device,
                                evidence: format!(
                                    "{device} reported {} state {old} → {state}",
                                    app.name()
                                ),
                            });
                        }
                    }
                }
            }
            ObsKind::Asset {
                app,
                device,
                key,
                value,
            } => {
                let mut changed = None;
                let mut new = false;
                if let Some(d) = Self::device_mut(&mut self.base, *device, ts) {
                    match d.facts.get(*key) {
                        Some(v) if v.as_str() == &**value => {}
                        Some(v) => {
                            changed = Some(v.clone());
                            d.facts.insert(key.to_string(), value.to_string());
                        }
                        None if d.facts.len() < 32 => {
                            new = true;
                            d.facts.insert(key.to_string(), value.to_string());
                        }
                        None => {}
                    }
                }
                if new || changed.is_some() {
                    self.write_asset(o, *device, Some(*app), out);
                }
                if let Some(old) = changed {
                    if matches!(
                        *key,
                        "firmware"
                            | "revision"
                            | "cpu_model"
                            | "model"
                            | "product_code"
                            | "controller_id"
                    ) {
                        devs.push(Deviation {
                            model: models::OT_FIRMWARE,
                            score: 80,
                            device: *device,
                            evidence: format!(
                                "{device} {} changed from {old:?} to {value:?} (via {})",
                                key,
                                app.name()
                            ),
                        });
                    }
                }
            }
            ObsKind::EgdProduction {
                producer_id,
                exchange,
                signature,
                spoofed,
            } => {
                let k = format!("{}:{exchange}", std::net::Ipv4Addr::from(*producer_id));
                let net = &mut self.base.net;
                let known = net.egd.contains_key(&k);
                let prev = if known || net.egd.len() < MAX_EGD_EXCHANGES {
                    net.egd.insert(k.clone(), *signature)
                } else {
                    net.egd_refused += 1;
                    None
                };
                let stored = known || net.egd.contains_key(&k);
                match prev {
                    None if stored && net.egd.len() > 1 => devs.push(Deviation {
                        model: models::OT_NEW_MASTER,
                        score: 60,
                        device: f.client,
                        evidence: format!("{} started producing EGD exchange {k}; not seen in {learned} of learning", f.client),
                    }),
                    Some(old) if old != *signature => devs.push(Deviation {
                        model: models::OT_NEW_MASTER,
                        score: 85,
                        device: f.client,
                        evidence: format!("EGD exchange {k} configuration signature changed {old:#x} → {signature:#x}"),
                    }),
                    _ => {}
                }
                // A sender that used another producer id while learning
                // (NAT, a multi-homed controller) is normal; a new one is not.
                if *spoofed
                    && net.egd_foreign_producers.see((f.client, *producer_id), ts) != Some(false)
                {
                    devs.push(Deviation {
                        model: models::OT_NEW_MASTER,
                        score: 75,
                        device: f.client,
                        evidence: format!(
                            "{} sent EGD with producer id {} that is not its address",
                            f.client,
                            std::net::Ipv4Addr::from(*producer_id)
                        ),
                    });
                }
            }
            ObsKind::CclinkMaster { second_master } => {
                let had = !self.base.net.cclink_masters.is_empty();
                // Cyclic requests come from the master (the flow's client);
                // a 0xCFE0 answer travels from a slave (client) to a master.
                if !*second_master
                    && self.base.net.cclink_masters.see(f.client, ts) == Some(true)
                    && had
                {
                    devs.push(Deviation {
                        model: models::OT_NEW_MASTER,
                        score: 90,
                        device: f.client,
                        evidence: format!(
                            "{} acts as a new CC-Link IE Field Basic master",
                            f.client
                        ),
                    });
                }
                if *second_master {
                    devs.push(Deviation {
                        model: models::OT_NEW_MASTER,
                        score: 90,
                        device: f.server,
                        evidence: format!(
                            "{} answered {} with end code 0xCFE0: a second CC-Link master is present",
                            f.client, f.server
                        ),
                    });
                }
            }
            ObsKind::PollPeriod { app, interval } => {
                let k = PairKey {
                    client: f.client,
                    server: f.server,
                    app: *app as u8,
                };
                let ms = *interval as f64 / 1e6;
                if let Some((p, _)) = Self::pair_mut(&mut self.base, k, ts) {
                    // One long-lived connection reports its period rarely: a
                    // single earlier period is enough for the ratio test;
                    // with more, the deviation must also be far from the spread.
                    let ratio_off = (ms / p.poll_ms.mean.max(1e-3) - 1.0).abs() > 0.5;
                    if p.poll_ms.n >= 1
                        && ratio_off
                        && (p.poll_ms.n < 3 || p.poll_ms.z(ms, 0.2) > 6.0)
                    {
                        devs.push(Deviation {
                            model: models::OT_POLL_SHIFT,
                            score: 35,
                            device: f.client,
                            evidence: format!(
                                "{} polls {} over {} every {ms:.0} ms; it polled every {:.0} ms before",
                                f.client,
                                f.server,
                                app.name(),
                                p.poll_ms.mean
                            ),
                        });
                    }
                    p.poll_ms.add(ms, 0.2);
                }
            }
            ObsKind::TlsHello { sni, ja4 } => self.tls(o, sni.as_deref(), ja4, devs, &learned),
            ObsKind::SmtpTx {
                from,
                rcpt,
                bcc,
                attachments,
                url_domains,
                ..
            } => self.smtp(
                o,
                from,
                *rcpt,
                *bcc,
                attachments,
                url_domains,
                devs,
                &learned,
            ),
            ObsKind::DnsQuery { name } => {
                self.domain(o, name, "DNS query", devs);
            }
            ObsKind::StreamOverlap => devs.push(Deviation {
                model: models::STREAM_OVERLAP,
                score: 70,
                device: f.client,
                evidence: format!(
                    "TCP {}:{} ↔ {}:{} carried overlapping segments with different data (evasion?)",
                    f.client, f.client_port, f.server, f.server_port
                ),
            }),
        }
    }

    fn flow_start(&mut self, o: &Obs, devs: &mut Vec<Deviation>, learned: &str) {
        let f = &o.flow;
        let ts = o.ts;
        // The client side only: the server is learned once it answers.
        for (id, peer, client) in [(f.client, f.server, true)] {
            let known = self.base.devices.contains_key(&id);
            // A device the table refuses raises no alert of its own: the
            // table-full alert (raised once, in `observe`) covers the flood.
            if Self::device_mut(&mut self.base, id, ts).is_none() {
                continue;
            }
            if !known && id.is_internal() && !id.is_group() {
                devs.push(Deviation {
                    model: models::NEW_DEVICE,
                    score: if client { 60 } else { 50 },
                    device: id,
                    evidence: format!(
                        "{id} appeared, {} {peer} port {}; it was not seen in {learned} of learning",
                        if client { "talking to" } else { "answering" },
                        f.server_port
                    ),
                });
            }
        }
        let (ci, si) = (f.client.is_internal(), f.server.is_internal());
        // The server's number of distinct internal clients: how common it is.
        let server_clients = self
            .base
            .devices
            .get(&f.server)
            .map(|d| d.clients.len())
            .unwrap_or(0);
        if let Some(c) = self.base.devices.get_mut(&f.client) {
            let hour = ts / HOUR;
            if c.cur_hour.0 != hour {
                // Close the previous hour: learn its count per hour of day.
                let (h, n, _) = c.cur_hour;
                if n > 0 {
                    c.flows_per_hour[(h % 24) as usize].add(n as f64, 0.3);
                }
                c.cur_hour = (hour, 0, 0);
            }
            c.cur_hour.1 += 1;
            let new_server = c.servers.see(f.server, ts);
            if new_server == Some(true) {
                c.cur_hour.2 += 1;
            }
            let fanout = c.cur_hour.2;
            let hod = &c.flows_per_hour[(hour % 24) as usize];
            let base_rate = hod.mean;
            if ci && !si && new_server == Some(true) && !c.servers.saturated() {
                let score = (80.0 / (1.0 + server_clients as f64)).round() as u32 + 10;
                c.external.see(f.server, ts);
                devs.push(Deviation {
                    model: models::NEW_EXTERNAL,
                    score: score.min(90),
                    device: f.client,
                    evidence: format!(
                        "{} connected to external {} port {} for the first time; {server_clients} other internal hosts use it",
                        f.client, f.server, f.server_port
                    ),
                });
            }
            if fanout == 50 {
                devs.push(Deviation {
                    model: models::SCAN,
                    score: 75,
                    device: f.client,
                    evidence: format!(
                        "{} contacted 50 hosts it never contacted before within an hour",
                        f.client
                    ),
                });
            }
            let n = c.cur_hour.1;
            if hod.n >= 1
                && n as f64 > (base_rate * 5.0).max(200.0)
                && n == ((base_rate * 5.0).max(200.0) as u64 + 1)
            {
                devs.push(Deviation {
                    model: models::UNUSUAL_VOLUME,
                    score: 60,
                    device: f.client,
                    evidence: format!(
                        "{} started {n} connections this hour; {base_rate:.0} is usual for this hour of day",
                        f.client
                    ),
                });
            }
        }
        let _ = learned;
    }

    /// The server of a flow answered: learn it as a device and a service.
    fn server_answered(&mut self, o: &Obs, devs: &mut Vec<Deviation>, learned: &str) {
        let f = &o.flow;
        let ts = o.ts;
        let id = f.server;
        let known = self.base.devices.contains_key(&id);
        if Self::device_mut(&mut self.base, id, ts).is_none() {
            return;
        }
        if !known && id.is_internal() && !id.is_group() {
            devs.push(Deviation {
                model: models::NEW_DEVICE,
                score: 50,
                device: id,
                evidence: format!(
                    "{id} appeared, answering {} on port {}; it was not seen in {learned} of learning",
                    f.client, f.server_port
                ),
            });
        }
        let (ci, si) = (f.client.is_internal(), f.server.is_internal());
        if let Some(s) = self.base.devices.get_mut(&f.server) {
            s.clients.see(f.client, ts);
            let had_ports = !s.server_ports.is_empty();
            if s.server_ports.see((f.proto, f.server_port), ts) == Some(true) && had_ports && si {
                devs.push(Deviation {
                    model: models::NEW_SERVICE,
                    score: 40,
                    device: f.server,
                    evidence: format!(
                        "{} accepted a connection on port {} for the first time (from {})",
                        f.server, f.server_port, f.client
                    ),
                });
            }
            if !ci && si && s.external.see(f.client, ts) == Some(true) && !s.external.saturated() {
                devs.push(Deviation {
                    model: models::NEW_EXTERNAL,
                    score: 45,
                    device: f.server,
                    evidence: format!(
                        "external {} reached {} port {} for the first time",
                        f.client, f.server, f.server_port
                    ),
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ot_op(
        &mut self,
        o: &Obs,
        app: AppProto,
        code: u16,
        sub: u16,
        name: &str,
        class: OtClass,
        ok: Option<bool>,
        devs: &mut Vec<Deviation>,
        learned: &str,
    ) {
        let f = &o.flow;
        let k = PairKey {
            client: f.client,
            server: f.server,
            app: app as u8,
        };
        // Has anyone sent this class to this server?
        let server_saw_class = match self.base.devices.get_mut(&f.server) {
            Some(d) => {
                let saw = d.ot_classes_served & class_bit(class) != 0;
                d.ot_classes_served |= class_bit(class);
                saw
            }
            None => false,
        };
        let Some((p, _new_pair)) = Self::pair_mut(&mut self.base, k, o.ts) else {
            return;
        };
        let new_code = p.codes.see((code, sub), o.ts) == Some(true);
        let pair_had_class = p.classes & class_bit(class) != 0;
        let pair_read_only = p.classes
            & !(class_bit(OtClass::Read) | class_bit(OtClass::Recon) | class_bit(OtClass::Cyclic))
            == 0
            && p.classes != 0;
        p.classes |= class_bit(class);
        let what = format!("{} {name} (0x{code:02x})", app.name());
        if new_code && !p.codes.saturated() {
            let score = match class {
                OtClass::Control | OtClass::Program | OtClass::Auth => 80,
                OtClass::Write | OtClass::File => 65,
                _ => 45,
            };
            devs.push(Deviation {
                model: models::OT_NEW_CODE,
                score,
                device: f.client,
                evidence: format!(
                    "{} sent {what} to {}; this pair never used it in {learned} of learning",
                    f.client, f.server
                ),
            });
        }
        let rarity = |had: bool, anyone: bool| -> u32 {
            if had {
                30
            } else if anyone {
                60
            } else {
                92
            }
        };
        let lname = name.to_ascii_lowercase();
        // What the baseline knew: the evidence says it in words.
        let history = if pair_had_class {
            "; it sent such commands to it before"
        } else if server_saw_class {
            "; it never did before, other hosts did"
        } else {
            "; no host sent such commands to it before"
        };
        match class {
            OtClass::Write if pair_read_only => devs.push(Deviation {
                model: models::OT_FIRST_WRITE,
                score: 85,
                device: f.client,
                evidence: format!(
                    "{} wrote to {} ({what}) after only reading it in {learned} of learning",
                    f.client, f.server
                ),
            }),
            OtClass::Control
                if lname.contains("clear")
                    || lname.contains("time")
                    || lname.contains("format") =>
            {
                // Destructive or clock-changing: rare per code, not per
                // class (a STOP earlier does not make a memory clear usual).
                devs.push(Deviation {
                    model: models::OT_MEMORY_TIME,
                    score: rarity(pair_had_class && !new_code, server_saw_class && !new_code),
                    device: f.client,
                    evidence: format!("{} sent {what} to {}{history}", f.client, f.server),
                })
            }
            OtClass::Control => devs.push(Deviation {
                model: models::OT_STATE_CHANGE,
                score: rarity(pair_had_class, server_saw_class),
                device: f.client,
                evidence: format!("{} sent {what} to {}{history}", f.client, f.server),
            }),
            OtClass::Program => devs.push(Deviation {
                model: models::OT_PROGRAM,
                score: rarity(pair_had_class, server_saw_class),
                device: f.client,
                evidence: format!("{} sent {what} to {}{history}", f.client, f.server),
            }),
            OtClass::Auth => devs.push(Deviation {
                model: models::OT_AUTH,
                score: rarity(pair_had_class, server_saw_class).min(if ok == Some(false) {
                    100
                } else {
                    90
                }),
                device: f.client,
                evidence: format!(
                    "{} sent {what} to {}{}{history}",
                    f.client,
                    f.server,
                    if lname.contains("password") || lname.contains("unlock") {
                        " (the password crosses in clear)"
                    } else {
                        ""
                    },
                ),
            }),
            OtClass::File if !pair_had_class => devs.push(Deviation {
                model: models::OT_NEW_CODE,
                score: rarity(pair_had_class, server_saw_class).min(75),
                device: f.client,
                evidence: format!("{} sent file operation {what} to {}", f.client, f.server),
            }),
            _ => {}
        }
    }

    fn domain(&mut self, o: &Obs, name: &str, via: &str, devs: &mut Vec<Deviation>) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
            return false;
        }
        let new = self.base.net.domains.see(name.clone(), o.ts) == Some(true);
        if new && !self.learning(o.ts) {
            let label = lookalike::owner_label(&name).to_ascii_lowercase();
            if let Some(k) = self
                .known_labels
                .iter()
                .find(|k| **k != label && lookalike::resembles(&name, &format!("{k}.x")).is_some())
            {
                let how = lookalike::resembles(&name, &format!("{k}.x")).unwrap_or("edit");
                devs.push(Deviation {
                    model: models::LOOKALIKE,
                    score: if how.starts_with("homoglyph") { 90 } else { 75 },
                    device: o.flow.client,
                    evidence: format!(
                        "{} used {name} ({via}), which resembles the known {k} ({how})",
                        o.flow.client
                    ),
                });
            }
        }
        new
    }

    fn tls(
        &mut self,
        o: &Obs,
        sni: Option<&str>,
        ja4: &str,
        devs: &mut Vec<Deviation>,
        learned: &str,
    ) {
        let f = &o.flow;
        // Known to the network: seen more than five minutes before (the
        // client's own DNS lookup a moment ago does not make it familiar).
        let net_known = sni
            .map(|s| {
                self.base
                    .net
                    .domains
                    .get(&s.to_ascii_lowercase())
                    .is_some_and(|seen| seen.first.saturating_add(300 * NS) < o.ts)
            })
            .unwrap_or(true);
        if let Some(s) = sni {
            self.domain(o, s, "TLS SNI", devs);
        }
        let Some(d) = Self::device_mut(&mut self.base, f.client, o.ts) else {
            return;
        };
        let had_ja4 = !d.ja4.is_empty();
        if d.ja4.see(ja4.to_string(), o.ts) == Some(true) && had_ja4 {
            devs.push(Deviation {
                model: models::NEW_JA4,
                score: 40,
                device: f.client,
                evidence: format!(
                    "{} sent a TLS ClientHello with new fingerprint {ja4} to {}",
                    f.client, f.server
                ),
            });
        }
        if let Some(s) = sni {
            let had = d.sni.len() >= 3;
            if d.sni.see(s.to_ascii_lowercase(), o.ts) == Some(true)
                && had
                && !d.sni.saturated()
                && !f.server.is_internal()
            {
                devs.push(Deviation {
                    model: models::RARE_TLS,
                    score: if net_known { 30 } else { 60 },
                    device: f.client,
                    evidence: format!(
                        "{} talked TLS to {s} ({}) for the first time{}",
                        f.client,
                        f.server,
                        if net_known {
                            ""
                        } else {
                            "; no host in the network used it before"
                        }
                    ),
                });
            }
        }
        let _ = learned;
    }

    #[allow(clippy::too_many_arguments)]
    fn smtp(
        &mut self,
        o: &Obs,
        from: &str,
        rcpt: u32,
        bcc: u32,
        attachments: &[(Box<str>, Box<str>)],
        url_domains: &[Box<str>],
        devs: &mut Vec<Deviation>,
        learned: &str,
    ) {
        let f = &o.flow;
        let ts = o.ts;
        let sender = from.to_ascii_lowercase();
        let sender_domain = sender.rsplit('@').next().unwrap_or("").to_string();
        let known_correspondent = self.base.net.correspondents.contains(&sender);
        self.base.net.correspondents.see(sender.clone(), ts);
        // The mail server's view: new sender.
        if let Some(s) = Self::device_mut(&mut self.base, f.server, ts) {
            let had = s.smtp_senders.len() >= 2;
            if s.smtp_senders.see(sender.clone(), ts) == Some(true)
                && had
                && !s.smtp_senders.saturated()
            {
                devs.push(Deviation {
                    model: models::NEW_SMTP_SENDER,
                    score: 30,
                    device: f.server,
                    evidence: format!(
                        "{} accepted mail from {sender} (via {}) for the first time",
                        f.server, f.client
                    ),
                });
            }
        }
        // The client's view: rate and recipients, attachment types.
        if let Some(c) = Self::device_mut(&mut self.base, f.client, ts) {
            let hour = ts / HOUR;
            if c.smtp_hour.0 != hour {
                if c.smtp_hour.1 > 0 {
                    c.smtp_per_hour.add(c.smtp_hour.1 as f64, 0.3);
                }
                c.smtp_hour = (hour, 0);
            }
            c.smtp_hour.1 += 1;
            let mean_rcpt = if c.smtp_rcpt.n > 0 {
                c.smtp_rcpt.mean
            } else {
                1.0
            };
            let mean_rate = if c.smtp_per_hour.n > 0 {
                c.smtp_per_hour.mean
            } else {
                2.0
            };
            let n_this_hour = c.smtp_hour.1;
            let rcpt_spike = rcpt as f64 > (mean_rcpt * 10.0).max(25.0);
            let rate_threshold = (mean_rate * 10.0).max(30.0) as u64;
            if rcpt_spike || n_this_hour == rate_threshold + 1 {
                devs.push(Deviation {
                    model: models::SPAM,
                    score: if rcpt_spike && bcc > 0 { 90 } else { 75 },
                    device: f.client,
                    evidence: if rcpt_spike {
                        format!("{} sent one message to {rcpt} recipients ({bcc} undisclosed); its usual is {mean_rcpt:.1}", f.client)
                    } else {
                        format!("{} sent {n_this_hour} messages this hour; its usual is {mean_rate:.1} per hour", f.client)
                    },
                });
            }
            c.smtp_rcpt.add(rcpt as f64, 0.2);
            let had_types = c.attachment_types.len();
            for (name, ctype) in attachments {
                let ext = name
                    .rsplit('.')
                    .next()
                    .filter(|e| *e != &**name)
                    .unwrap_or(ctype)
                    .to_ascii_lowercase();
                let new = c.attachment_types.see(ext.clone(), ts) == Some(true);
                if new && RISKY_ATTACHMENTS.contains(&ext.as_str()) {
                    devs.push(Deviation {
                        model: models::ATTACHMENT,
                        score: if had_types > 0 { 70 } else { 55 },
                        device: f.client,
                        evidence: format!(
                            "{} sent attachment {name:?} ({ext}); it sent no .{ext} files in {learned} of learning",
                            f.client
                        ),
                    });
                }
            }
        }
        for d in url_domains {
            let dl = d.to_ascii_lowercase();
            if dl == sender_domain {
                continue;
            }
            let new = self.domain(o, &dl, "link in mail", devs);
            if new && known_correspondent {
                devs.push(Deviation {
                    model: models::LINK_NEW_DOMAIN,
                    score: 70,
                    device: f.client,
                    evidence: format!("known correspondent {sender} sent a link to {dl}, a domain never seen in this network"),
                });
            }
        }
    }

    /// The rate-limit slot of (model, device): one per tracked device, one
    /// shared per model for untracked devices or once `MAX_RATE_SLOTS` is
    /// reached.
    fn rate_slot(&mut self, sid: u32, device: DeviceId, hour: u64) -> &mut RateSlot {
        let mut key = (sid, Some(device));
        if !self.base.devices.contains_key(&device) {
            key.1 = None;
        }
        if !self.rate.contains_key(&key) && self.rate.len() >= MAX_RATE_SLOTS {
            // Slots of earlier hours only carry a suppressed count forward.
            self.rate.retain(|_, s| s.hour == hour);
            if self.rate.len() >= MAX_RATE_SLOTS {
                key.1 = None;
            }
        }
        let slot = self.rate.entry(key).or_insert(RateSlot {
            hour,
            written: 0,
            max_score: 0,
            suppressed: 0,
        });
        if slot.hour != hour {
            slot.hour = hour;
            slot.written = 0;
            slot.max_score = 0;
        }
        slot
    }

    /// Makes room for one more open incident: closes those idle for longer
    /// than the window, else the least recently active one.
    fn make_room_for_incident(&mut self, ts: Nanos, out: &mut Vec<u8>) {
        let window = self.cfg.incident_window * NS;
        let stale: Vec<DeviceId> = self
            .incidents
            .iter()
            .filter(|(_, i)| ts.saturating_sub(i.last) > window)
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some(i) = self.incidents.remove(&k) {
                self.close(i, out);
            }
        }
        if self.incidents.len() >= MAX_OPEN_INCIDENTS {
            if let Some(k) = self
                .incidents
                .iter()
                .min_by_key(|(k, i)| (i.last, **k))
                .map(|(k, _)| *k)
            {
                if let Some(i) = self.incidents.remove(&k) {
                    self.close(i, out);
                }
            }
        }
    }

    /// Holds a closed incident for the summary at the end; writes the held
    /// ones now once `MAX_CLOSED_INCIDENTS` are waiting.
    fn close(&mut self, i: Incident, out: &mut Vec<u8>) {
        self.closed.push(i);
        if self.closed.len() >= MAX_CLOSED_INCIDENTS {
            let mut held = std::mem::take(&mut self.closed);
            held.sort_by_key(|i| (i.start, i.id));
            for i in &held {
                write_incident(out, i);
            }
        }
    }

    fn raise(&mut self, o: &Obs, d: Deviation, out: &mut Vec<u8>) {
        let ts = o.ts;
        let sid = d.model.sid;
        let hour = ts / HOUR;
        let max = self.cfg.max_alerts_per_hour;
        let slot = self.rate_slot(sid, d.device, hour);
        if slot.written >= max && d.score <= slot.max_score {
            slot.suppressed += 1;
            *self.stats.suppressed.entry(sid).or_default() += 1;
            return;
        }
        slot.written += 1;
        slot.max_score = slot.max_score.max(d.score);
        let suppressed = std::mem::take(&mut slot.suppressed);
        *self.stats.alerts.entry(sid).or_default() += 1;
        if let Some(dev) = self.base.devices.get_mut(&d.device) {
            dev.alerts += 1;
        }
        // Incident grouping: one open incident per device; an alert more
        // than the window after the incident's last alert opens a new one.
        let window = self.cfg.incident_window * NS;
        let stale = self
            .incidents
            .get(&d.device)
            .is_some_and(|i| ts.saturating_sub(i.last) > window);
        if stale {
            if let Some(i) = self.incidents.remove(&d.device) {
                self.close(i, out);
            }
        }
        if !self.incidents.contains_key(&d.device) && self.incidents.len() >= MAX_OPEN_INCIDENTS {
            self.make_room_for_incident(ts, out);
        }
        let inc = self.incidents.entry(d.device).or_insert_with(|| {
            self.stats.incidents += 1;
            Incident {
                id: incident_id(o.flow.flow_id, sid, ts, d.device),
                device: d.device,
                start: ts,
                last: ts,
                alerts: 0,
                keep: 1.0,
                models: Vec::new(),
                max_severity: 3,
            }
        });
        inc.last = ts;
        inc.alerts += 1;
        inc.keep *= 1.0 - d.score.min(100) as f64 / 100.0;
        inc.max_severity = inc.max_severity.min(d.model.severity);
        if !inc.models.contains(&d.model.key) {
            inc.models.push(d.model.key);
        }
        let (inc_id, inc_alerts, inc_score) = (inc.id, inc.alerts, inc.score());
        let h = header(&o.flow);
        let mut w = JsonWriter::object(out);
        write_header(&mut w, ts, "alert", &h, None);
        w.begin_object("alert")
            .str("action", "allowed")
            .u64("gid", 1)
            .u64("signature_id", sid as u64)
            .u64("rev", 1)
            .str("signature", d.model.name)
            .str("category", d.model.category)
            .u64("severity", d.model.severity as u64);
        w.begin_object("metadata");
        w.begin_array("mitre_technique_id");
        for m in d.model.mitre {
            w.element_str(m);
        }
        w.end_array();
        w.begin_array("spanwatch_model")
            .element_str(d.model.key)
            .end_array();
        w.end_object();
        w.end_object();
        w.begin_object("spanwatch")
            .u64("score", d.score.min(100) as u64)
            .fmt("device", format_args!("{}", d.device))
            .str("model", d.model.key)
            .str("evidence", &d.evidence)
            .u64("suppressed_before", suppressed);
        w.begin_object("incident")
            .u64("id", inc_id)
            .u64("alerts", inc_alerts as u64)
            .u64("score", inc_score as u64)
            .end_object();
        w.end_object();
        w.finish();
    }

    fn write_asset(&mut self, o: &Obs, device: DeviceId, app: Option<AppProto>, out: &mut Vec<u8>) {
        let Some(d) = self.base.devices.get(&device) else {
            return;
        };
        let mut w = JsonWriter::object(out);
        w.raw("timestamp", &crate::output::eve::rfc3339_quoted(o.ts));
        w.str("event_type", "asset");
        write_asset_body(&mut w, device, d, app);
        w.finish();
        self.stats.asset_records += 1;
    }

    /// Writes `incident` summaries and the final asset inventory.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let mut all: Vec<Incident> = self.closed.drain(..).collect();
        all.extend(self.incidents.drain().map(|(_, i)| i));
        all.sort_by_key(|i| (i.start, i.id));
        for i in &all {
            write_incident(out, i);
        }
        let mut devs: Vec<(&DeviceId, &Device)> = self
            .base
            .devices
            .iter()
            .filter(|(_, d)| !d.facts.is_empty())
            .collect();
        devs.sort_by_key(|(k, _)| **k);
        for (id, d) in devs {
            let mut w = JsonWriter::object(out);
            w.raw(
                "timestamp",
                &crate::output::eve::rfc3339_quoted(self.base.now),
            );
            w.str("event_type", "asset");
            write_asset_body(&mut w, *id, d, None);
            w.bool("inventory", true);
            w.finish();
        }
    }
}

/// A stable incident id from what opened it (flow, model, time, device):
/// the same input gives the same ids, and two devices alerting on one flow
/// at one instant get different ones. 63 bits, so JSON readers keep it exact
/// as a signed integer too.
fn incident_id(flow_id: u64, sid: u32, ts: Nanos, device: DeviceId) -> u64 {
    // splitmix64 finaliser over each part in turn.
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut h = mix(flow_id);
    for part in [
        sid as u64,
        ts,
        device.addr as u64,
        (device.addr >> 64) as u64 ^ device.v6 as u64,
    ] {
        h = mix(h ^ part);
    }
    h & 0x7fff_ffff_ffff_ffff
}

/// Writes one `incident` record: the device, its alerts, the combined score
/// (1 - Π(1 - score/100)), the highest severity and the models involved.
fn write_incident(out: &mut Vec<u8>, i: &Incident) {
    let mut w = JsonWriter::object(out);
    w.raw("timestamp", &crate::output::eve::rfc3339_quoted(i.start));
    w.str("event_type", "incident");
    w.begin_object("incident")
        .u64("id", i.id)
        .fmt("device", format_args!("{}", i.device))
        .raw("start", &crate::output::eve::rfc3339_quoted(i.start))
        .raw("end", &crate::output::eve::rfc3339_quoted(i.last))
        .u64("alerts", i.alerts as u64)
        .u64("score", i.score() as u64)
        .u64("severity", i.max_severity as u64);
    w.begin_array("models");
    for m in &i.models {
        w.element_str(m);
    }
    w.end_array();
    w.end_object();
    w.finish();
}

fn write_asset_body(w: &mut JsonWriter<'_>, id: DeviceId, d: &Device, app: Option<AppProto>) {
    w.begin_object("asset");
    w.fmt("ip", format_args!("{id}"));
    w.raw(
        "first_seen",
        &crate::output::eve::rfc3339_quoted(d.first_seen),
    );
    w.raw(
        "last_seen",
        &crate::output::eve::rfc3339_quoted(d.last_seen),
    );
    if let Some(a) = app {
        w.str("source", a.name());
    }
    w.begin_object("facts");
    for (k, v) in &d.facts {
        w.str(k, v);
    }
    w.end_object();
    if let Some(s) = &d.ot_state {
        w.str("ot_state", s);
    }
    w.end_object();
}

/// Used by the `assets` command: every device with facts, as (ip, facts).
pub fn inventory(base: &Baseline) -> Vec<(DeviceId, Vec<(String, String)>)> {
    let mut v: Vec<(DeviceId, Vec<(String, String)>)> = base
        .devices
        .iter()
        .filter(|(_, d)| !d.facts.is_empty())
        .map(|(k, d)| {
            (
                *k,
                d.facts
                    .iter()
                    .map(|(a, b)| (a.clone(), b.clone()))
                    .collect(),
            )
        })
        .collect();
    v.sort_by_key(|(k, _)| *k);
    v
}
