//! One scenario per detection model: a baseline learns a realistic sequence
//! of observations for a short `learn_for`, then sees the deviating one. Each
//! test checks the alert (id, model, score, device, evidence, MITRE ids, EVE
//! shape) and, where the model learns, that the same observation during
//! learning raises nothing and that a repeat after it became normal does not
//! alert again. Then incidents, rate limits and the bounds under a flood.

use super::models::{self, Model};
use super::*;
use crate::baseline::obs::{DeviceId, FlowRef, Obs, ObsKind};
use crate::baseline::state::{Baseline, BaselineConfig};
use crate::decode::Addr;
use serde_json::Value;
use std::ops::RangeInclusive;

/// 2023-11-14T22:00:00Z, on an hour boundary (hour-of-day models).
const T0: Nanos = 1_699_999_200 * NS;
const SEC: Nanos = NS;
const MIN: Nanos = 60 * NS;
/// The learning period of most scenarios.
const LEARN: u64 = 600;

fn ip(s: &str) -> DeviceId {
    match s.parse::<std::net::IpAddr>().expect("test address") {
        std::net::IpAddr::V4(a) => DeviceId::new(Addr::v4(a.octets()), false),
        std::net::IpAddr::V6(a) => DeviceId::new(Addr::v6(a.octets()), true),
    }
}

fn flow_of(proto: u8, client: &str, cport: u16, server: &str, sport: u16) -> FlowRef {
    let (c, s) = (ip(client), ip(server));
    FlowRef {
        flow_id: (c.addr as u64).rotate_left(17)
            ^ (s.addr as u64)
            ^ ((cport as u64) << 16)
            ^ sport as u64,
        client: c,
        server: s,
        client_port: cport,
        server_port: sport,
        proto,
        vlan: 0,
    }
}

fn tcp(client: &str, cport: u16, server: &str, sport: u16) -> FlowRef {
    flow_of(6, client, cport, server, sport)
}

fn udp(client: &str, cport: u16, server: &str, sport: u16) -> FlowRef {
    flow_of(17, client, cport, server, sport)
}

/// An analyzer and the records it wrote.
struct Net {
    a: Analyzer,
    seq: u64,
    /// Every record written, parsed.
    records: Vec<Value>,
}

impl Net {
    /// A fresh baseline learning for `learn_for` seconds from its first observation.
    fn new(learn_for: u64) -> Net {
        Net::with(
            BaselineConfig {
                learn_for,
                ..BaselineConfig::default()
            },
            DetectConfig::default(),
        )
    }

    fn with(cfg: BaselineConfig, det: DetectConfig) -> Net {
        Net {
            a: Analyzer::new(Baseline::new(cfg), det, false),
            seq: 0,
            records: Vec::new(),
        }
    }

    /// Feeds one observation at `T0 + at`; returns the alerts it raised.
    fn feed(&mut self, at: Nanos, flow: FlowRef, kind: ObsKind) -> Vec<Value> {
        self.seq += 1;
        let o = Obs {
            seq: self.seq,
            ts: T0 + at,
            flow,
            kind,
        };
        let mut out = Vec::new();
        self.a.observe(&o, &mut out);
        let recs = parse(&out);
        self.records.extend(recs.iter().cloned());
        recs.into_iter()
            .filter(|r| r["event_type"] == "alert")
            .collect()
    }

    /// A flow start.
    /// A flow starts and its server answers (what a completed connection
    /// reports): the alerts of both observations.
    fn start(&mut self, at: Nanos, flow: FlowRef) -> Vec<Value> {
        let mut v = self.feed(at, flow, ObsKind::FlowStart { app: None });
        v.extend(self.feed(at, flow, ObsKind::ServerAnswered));
        v
    }

    /// A flow starts and the server never answers (a refused or filtered SYN).
    fn start_unanswered(&mut self, at: Nanos, flow: FlowRef) -> Vec<Value> {
        self.feed(at, flow, ObsKind::FlowStart { app: None })
    }

    /// The analyzer's closing records (incidents, inventory).
    fn finish(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        self.a.finish(&mut out);
        parse(&out)
    }
}

fn parse(out: &[u8]) -> Vec<Value> {
    std::str::from_utf8(out)
        .expect("EVE is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect()
}

/// The alerts of one model.
fn of(alerts: &[Value], m: Model) -> Vec<&Value> {
    alerts
        .iter()
        .filter(|a| a["spanwatch"]["model"] == m.key)
        .collect()
}

/// The one alert of model `m` among `alerts`.
fn one(alerts: &[Value], m: Model) -> Value {
    let v = of(alerts, m);
    assert_eq!(v.len(), 1, "expected one {} alert, got {alerts:#?}", m.key);
    v[0].clone()
}

/// Checks an alert record: Suricata fields, MITRE ids, the spanwatch
/// object (score in `score`, `device`, evidence naming every host in
/// `mentions`) and the incident object.
#[track_caller]
fn check(a: &Value, m: Model, score: RangeInclusive<u64>, device: &str, mentions: &[&str]) {
    assert_eq!(a["event_type"], "alert", "{a}");
    assert!(
        a["timestamp"].as_str().is_some_and(|t| t.starts_with("20")),
        "{a}"
    );
    assert!(a["src_ip"].is_string() && a["dest_ip"].is_string(), "{a}");
    assert!(a["proto"].is_string(), "{a}");
    let al = &a["alert"];
    assert_eq!(al["action"], "allowed");
    assert_eq!(al["gid"], 1);
    assert_eq!(al["signature_id"], m.sid as u64, "{a}");
    assert_eq!(al["signature"], m.name);
    assert_eq!(al["category"], m.category);
    let sev = al["severity"].as_u64().expect("severity");
    assert!((1..=3).contains(&sev) && sev == m.severity as u64, "{a}");
    let mitre: Vec<&str> = al["metadata"]["mitre_technique_id"]
        .as_array()
        .expect("mitre_technique_id array")
        .iter()
        .map(|v| v.as_str().expect("technique id"))
        .collect();
    assert!(!mitre.is_empty());
    assert_eq!(mitre, m.mitre);
    assert!(mitre.iter().all(|t| t.starts_with('T') && t.len() >= 5));
    let sw = &a["spanwatch"];
    assert_eq!(sw["model"], m.key);
    let s = sw["score"].as_u64().expect("score");
    assert!(
        score.contains(&s),
        "{} score {s} not in {score:?}: {a}",
        m.key
    );
    assert_eq!(sw["device"], device, "{a}");
    let ev = sw["evidence"].as_str().expect("evidence");
    for h in mentions {
        assert!(
            ev.contains(h),
            "{} evidence {ev:?} does not mention {h}",
            m.key
        );
    }
    let inc = &sw["incident"];
    assert!(inc["id"].is_u64(), "{a}");
    assert!(inc["alerts"].as_u64().is_some_and(|n| n >= 1), "{a}");
    let is = inc["score"].as_u64().expect("incident score");
    assert!(is >= s && is <= 100, "{a}");
}

/// Ten minutes of Modbus polling: HMI 10.0.0.10 and historian 10.0.0.11
/// read PLC 10.0.0.20 with function 3, one TCP connection a minute each.
fn modbus_polling(n: &mut Net) {
    for i in 0..10u64 {
        for (k, hmi) in ["10.0.0.10", "10.0.0.11"].iter().enumerate() {
            let f = tcp(hmi, 40_000 + (i * 2 + k as u64) as u16, "10.0.0.20", 502);
            let t = i * MIN + k as u64 * SEC;
            assert!(n.start(t, f).is_empty());
            n.feed(
                t + 1000,
                f,
                ObsKind::AppDetected {
                    app: AppProto::Modbus,
                },
            );
            n.feed(t + 2000, f, op(3, "Read Holding Registers", OtClass::Read));
        }
    }
}

fn op(code: u16, name: &'static str, class: OtClass) -> ObsKind {
    ObsKind::OtOp {
        app: AppProto::Modbus,
        code,
        sub: 0,
        name,
        class,
        ok: Some(true),
    }
}

fn op_of(app: AppProto, code: u16, name: &'static str, class: OtClass) -> ObsKind {
    ObsKind::OtOp {
        app,
        code,
        sub: 0,
        name,
        class,
        ok: None,
    }
}

/// After learning.
const AFTER: Nanos = (LEARN + 300) * SEC;

// ---- 1. new_device -------------------------------------------------------

#[test]
fn new_device_a_new_client_and_a_new_server_alert_once() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    // A laptop appears during learning: learned, no alert.
    assert!(n
        .start(
            5 * MIN + 30 * SEC,
            tcp("10.0.0.98", 50_000, "10.0.0.20", 502)
        )
        .is_empty());
    let a = n.start(AFTER, tcp("10.0.0.99", 51_000, "10.0.0.20", 502));
    check(
        &one(&a, models::NEW_DEVICE),
        models::NEW_DEVICE,
        60..=60,
        "10.0.0.99",
        &[
            "10.0.0.99",
            "talking to 10.0.0.20 port 502",
            "10 min of learning",
        ],
    );
    // Known now: its next connection is normal.
    assert!(n
        .start(AFTER + MIN, tcp("10.0.0.99", 51_001, "10.0.0.20", 502))
        .is_empty());
    assert!(n
        .start(AFTER + MIN, tcp("10.0.0.98", 51_002, "10.0.0.20", 502))
        .is_empty());
    // A new server answering a known client.
    let a = n.start(AFTER + 2 * MIN, tcp("10.0.0.10", 51_003, "10.0.0.77", 502));
    assert_eq!(a.len(), 1, "{a:#?}");
    check(
        &one(&a, models::NEW_DEVICE),
        models::NEW_DEVICE,
        50..=50,
        "10.0.0.77",
        &["10.0.0.77", "answering 10.0.0.10 on port 502"],
    );
    // Two new devices on one flow at one instant: two incidents, two ids.
    let a = n.start(AFTER + 2 * MIN, tcp("10.0.0.66", 51_004, "10.0.0.67", 502));
    assert_eq!(of(&a, models::NEW_DEVICE).len(), 2);
    assert_ne!(
        a[0]["spanwatch"]["incident"]["id"],
        a[1]["spanwatch"]["incident"]["id"]
    );
    // Broadcast and multicast are not devices.
    let a = n.start(
        AFTER + 3 * MIN,
        udp("10.0.0.10", 5560, "255.255.255.255", 5560),
    );
    assert!(of(&a, models::NEW_DEVICE).is_empty(), "{a:#?}");
    let a = n.start(AFTER + 3 * MIN, udp("10.0.0.10", 5353, "224.0.0.251", 5353));
    assert!(of(&a, models::NEW_DEVICE).is_empty(), "{a:#?}");
    // External hosts are new external endpoints, not new devices.
    let a = n.start(
        AFTER + 4 * MIN,
        tcp("198.51.100.7", 40_000, "10.0.0.20", 502),
    );
    assert!(of(&a, models::NEW_DEVICE).is_empty(), "{a:#?}");
}

// ---- 2. new_external_endpoint --------------------------------------------

/// Office clients using external web servers while learning.
fn office_web(n: &mut Net) {
    for i in 0..10u64 {
        for (k, c) in ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"]
            .iter()
            .enumerate()
        {
            let t = i * MIN + k as u64 * SEC;
            n.start(
                t,
                tcp(c, 50_000 + (i * 4 + k as u64) as u16, "192.0.2.80", 443),
            );
        }
        n.start(
            i * MIN + 10 * SEC,
            tcp("10.0.0.10", 52_000 + i as u16, "93.184.216.34", 443),
        );
        n.start(
            i * MIN + 20 * SEC,
            tcp("198.51.100.7", 40_000 + i as u16, "10.0.0.25", 25),
        );
    }
}

#[test]
fn new_external_endpoint_outbound_scored_by_how_many_hosts_use_it() {
    let mut n = Net::new(LEARN);
    office_web(&mut n);
    // Learning: a new external server raises nothing.
    assert!(n
        .start(9 * MIN, tcp("10.0.0.12", 53_000, "203.0.113.9", 443))
        .is_empty());
    // Never used by anyone: the top score.
    let a = n.start(AFTER, tcp("10.0.0.10", 53_001, "203.0.113.50", 8443));
    check(
        &one(&a, models::NEW_EXTERNAL),
        models::NEW_EXTERNAL,
        90..=90,
        "10.0.0.10",
        &[
            "10.0.0.10",
            "external 203.0.113.50 port 8443",
            "0 other internal hosts",
        ],
    );
    // Used by the four office clients: a low score (80 / (1 + 4) + 10).
    let a = n.start(AFTER, tcp("10.0.0.14", 53_002, "192.0.2.80", 443));
    check(
        &one(&a, models::NEW_EXTERNAL),
        models::NEW_EXTERNAL,
        26..=26,
        "10.0.0.14",
        &["10.0.0.14", "192.0.2.80", "4 other internal hosts"],
    );
    // Repeats are normal.
    assert!(of(
        &n.start(AFTER + MIN, tcp("10.0.0.10", 53_003, "203.0.113.50", 8443)),
        models::NEW_EXTERNAL
    )
    .is_empty());
    assert!(n
        .start(AFTER + MIN, tcp("10.0.0.10", 53_004, "93.184.216.34", 443))
        .is_empty());
    assert!(n
        .start(AFTER + MIN, tcp("10.0.0.12", 53_005, "203.0.113.9", 443))
        .is_empty());
}

#[test]
fn new_external_endpoint_inbound_to_an_internal_server() {
    let mut n = Net::new(LEARN);
    office_web(&mut n);
    let a = n.start(AFTER, tcp("203.0.113.66", 41_000, "10.0.0.25", 25));
    check(
        &one(&a, models::NEW_EXTERNAL),
        models::NEW_EXTERNAL,
        45..=45,
        "10.0.0.25",
        &["external 203.0.113.66", "reached 10.0.0.25 port 25"],
    );
    assert!(n
        .start(AFTER + MIN, tcp("203.0.113.66", 41_001, "10.0.0.25", 25))
        .is_empty());
    assert!(n
        .start(AFTER + MIN, tcp("198.51.100.7", 41_002, "10.0.0.25", 25))
        .is_empty());
}

// ---- 3. new_server_service -----------------------------------------------

#[test]
fn new_server_service_new_port_and_new_protocol() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    // Learning: the PLC's web page is learned.
    assert!(n
        .start(8 * MIN, tcp("10.0.0.10", 45_000, "10.0.0.20", 80))
        .is_empty());
    let a = n.start(AFTER, tcp("10.0.0.11", 45_001, "10.0.0.20", 23));
    check(
        &one(&a, models::NEW_SERVICE),
        models::NEW_SERVICE,
        40..=40,
        "10.0.0.20",
        &["10.0.0.20", "port 23", "from 10.0.0.11"],
    );
    assert!(n
        .start(AFTER + MIN, tcp("10.0.0.10", 45_002, "10.0.0.20", 23))
        .is_empty());
    assert!(n
        .start(AFTER + MIN, tcp("10.0.0.10", 45_003, "10.0.0.20", 80))
        .is_empty());
    // The PLC begins speaking TLS on its Modbus port.
    let f = tcp("10.0.0.11", 45_004, "10.0.0.20", 502);
    let a = n.feed(
        AFTER + 2 * MIN,
        f,
        ObsKind::AppDetected { app: AppProto::Tls },
    );
    check(
        &one(&a, models::NEW_SERVICE),
        models::NEW_SERVICE,
        45..=45,
        "10.0.0.20",
        &[
            "10.0.0.20 began serving tls to 10.0.0.11",
            "10 min of learning",
        ],
    );
    let a = n.feed(
        AFTER + 3 * MIN,
        f,
        ObsKind::AppDetected { app: AppProto::Tls },
    );
    assert!(a.is_empty());
    // The HMI only ever used Modbus as a client: its first served protocol
    // has nothing to compare with (as for ports).
    let g = tcp("10.0.0.20", 45_005, "10.0.0.10", 443);
    let a = n.feed(
        AFTER + 4 * MIN,
        g,
        ObsKind::AppDetected { app: AppProto::Tls },
    );
    assert!(a.is_empty(), "{a:#?}");
}

#[test]
fn learning_durations_in_words() {
    assert_eq!(hours(45 * NS), "45 s");
    assert_eq!(hours(10 * 60 * NS), "10 min");
    assert_eq!(hours(100 * HOUR), "100 h");
}

// ---- 4. unusual_volume ---------------------------------------------------

/// Day 1 hour 0: five connections; hour 1: one (closes hour 0's count).
fn quiet_day(n: &mut Net) {
    for i in 0..5u64 {
        n.start(
            i * MIN,
            tcp("10.0.0.10", 40_000 + i as u16, "10.0.0.20", 502),
        );
    }
    n.start(
        60 * MIN + 5 * MIN,
        tcp("10.0.0.10", 40_100, "10.0.0.20", 502),
    );
}

/// `count` connections from 10.0.0.10 to the PLC in the hour starting at `at`.
fn burst(n: &mut Net, at: Nanos, count: u64) -> Vec<Value> {
    let mut all = Vec::new();
    for i in 0..count {
        all.extend(n.start(
            at + i * SEC,
            tcp("10.0.0.10", 10_000 + i as u16, "10.0.0.20", 502),
        ));
    }
    all
}

#[test]
fn unusual_volume_for_the_hour_of_day() {
    let mut n = Net::new(2 * 3600);
    quiet_day(&mut n);
    // Next day, same hour of day: 201 connections where 5 are usual.
    let a = burst(&mut n, 24 * 60 * MIN, 201);
    let v = one(&a, models::UNUSUAL_VOLUME);
    check(
        &v,
        models::UNUSUAL_VOLUME,
        60..=60,
        "10.0.0.10",
        &["10.0.0.10 started 201 connections this hour", "5 is usual"],
    );
    assert_eq!(a.len(), 1, "{a:#?}");
    // A day later the busy hour has been learned (mean 5 → 63.8): no alert.
    let a = burst(&mut n, 48 * 60 * MIN, 201);
    assert!(a.is_empty(), "{a:#?}");
}

#[test]
fn unusual_volume_not_raised_while_learning() {
    let mut n = Net::new(3 * 86_400);
    quiet_day(&mut n);
    assert!(burst(&mut n, 24 * 60 * MIN, 201).is_empty());
}

// ---- 5. scan ---------------------------------------------------------------

fn sweep(n: &mut Net, at: Nanos, client: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for h in 1..=50u64 {
        let server = format!("10.0.1.{h}");
        all.extend(n.start(at + h * SEC, tcp(client, 30_000 + h as u16, &server, 445)));
    }
    all
}

#[test]
fn scan_fifty_new_hosts_within_an_hour() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    let a = sweep(&mut n, AFTER, "10.0.0.10");
    check(
        &one(&a, models::SCAN),
        models::SCAN,
        75..=75,
        "10.0.0.10",
        &["10.0.0.10 contacted 50 hosts"],
    );
    // The swept hosts are new devices too (alerted on themselves).
    assert_eq!(of(&a, models::NEW_DEVICE).len(), 50);
    // The same 50 hosts the next hour: none is new.
    let a = sweep(&mut n, AFTER + 60 * MIN, "10.0.0.10");
    assert!(a.is_empty(), "{a:#?}");
}

#[test]
fn scan_while_learning_is_learned() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    // Inside the learning period (2 min..3 min).
    let a = sweep(&mut n, 2 * MIN, "10.0.0.11");
    assert!(a.is_empty());
    assert!(sweep(&mut n, AFTER + 60 * MIN, "10.0.0.11").is_empty());
}

// ---- 6. ot_new_function_code ---------------------------------------------

#[test]
fn ot_new_function_code_for_a_pair() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    // Learning: the historian also reads input registers.
    let f = tcp("10.0.0.11", 46_000, "10.0.0.20", 502);
    assert!(n
        .feed(7 * MIN, f, op(4, "Read Input Registers", OtClass::Read))
        .is_empty());
    let f = tcp("10.0.0.10", 46_001, "10.0.0.20", 502);
    let a = n.feed(AFTER, f, op(8, "Diagnostics", OtClass::Diagnostic));
    check(
        &one(&a, models::OT_NEW_CODE),
        models::OT_NEW_CODE,
        45..=45,
        "10.0.0.10",
        &[
            "10.0.0.10 sent modbus Diagnostics (0x08) to 10.0.0.20",
            "10 min of learning",
        ],
    );
    assert!(n
        .feed(AFTER + MIN, f, op(8, "Diagnostics", OtClass::Diagnostic))
        .is_empty());
    let f = tcp("10.0.0.11", 46_002, "10.0.0.20", 502);
    assert!(n
        .feed(AFTER + MIN, f, op(4, "Read Input Registers", OtClass::Read))
        .is_empty());
    // A file-record read, never used by the pair: new code and new file access.
    let a = n.feed(
        AFTER + 2 * MIN,
        f,
        op(20, "Read File Record", OtClass::File),
    );
    let v = of(&a, models::OT_NEW_CODE);
    assert_eq!(v.len(), 2, "{a:#?}");
    check(
        v[0],
        models::OT_NEW_CODE,
        65..=65,
        "10.0.0.11",
        &["10.0.0.11", "10.0.0.20", "(0x14)"],
    );
    check(
        v[1],
        models::OT_NEW_CODE,
        75..=75,
        "10.0.0.11",
        &["10.0.0.11 sent file operation modbus Read File Record (0x14) to 10.0.0.20"],
    );
    assert!(n
        .feed(
            AFTER + 3 * MIN,
            f,
            op(20, "Read File Record", OtClass::File)
        )
        .is_empty());
}

// ---- 7. ot_first_write ---------------------------------------------------

#[test]
fn ot_first_write_from_a_host_that_only_read() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    let f = tcp("10.0.0.11", 47_000, "10.0.0.20", 502);
    let a = n.feed(AFTER, f, op(16, "Write Multiple Registers", OtClass::Write));
    check(
        &one(&a, models::OT_FIRST_WRITE),
        models::OT_FIRST_WRITE,
        85..=85,
        "10.0.0.11",
        &[
            "10.0.0.11 wrote to 10.0.0.20",
            "Write Multiple Registers (0x10)",
            "after only reading it",
        ],
    );
    check(
        &one(&a, models::OT_NEW_CODE),
        models::OT_NEW_CODE,
        65..=65,
        "10.0.0.11",
        &["10.0.0.20"],
    );
    // It writes now: another write code is a new code, not a first write.
    let a = n.feed(
        AFTER + MIN,
        f,
        op(6, "Write Single Register", OtClass::Write),
    );
    assert!(
        of(&a, models::OT_FIRST_WRITE).is_empty() && of(&a, models::OT_NEW_CODE).len() == 1,
        "{a:#?}"
    );
    assert!(n
        .feed(
            AFTER + 2 * MIN,
            f,
            op(16, "Write Multiple Registers", OtClass::Write)
        )
        .is_empty());
}

#[test]
fn ot_first_write_while_learning_is_normal() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    let f = tcp("10.0.0.10", 47_100, "10.0.0.20", 502);
    assert!(n
        .feed(
            9 * MIN,
            f,
            op(16, "Write Multiple Registers", OtClass::Write)
        )
        .is_empty());
    assert!(n
        .feed(AFTER, f, op(16, "Write Multiple Registers", OtClass::Write))
        .is_empty());
}

#[test]
fn ot_first_write_outside_the_learned_register_ranges() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    let f = tcp("10.0.0.10", 47_200, "10.0.0.20", 502);
    let w = |start| ObsKind::OtWrite {
        app: AppProto::Modbus,
        area: 4,
        start,
        count: 2,
    };
    for i in 0..5u64 {
        assert!(n.feed(i * MIN, f, w(100 + i as u32 * 2)).is_empty());
    }
    // Same block of 256 registers: normal.
    assert!(n.feed(AFTER, f, w(200)).is_empty());
    let a = n.feed(AFTER + MIN, f, w(40_000));
    check(
        &one(&a, models::OT_FIRST_WRITE),
        models::OT_FIRST_WRITE,
        40..=40,
        "10.0.0.10",
        &[
            "10.0.0.10 wrote modbus area 4 at 40000 on 10.0.0.20",
            "outside the ranges",
        ],
    );
    assert!(n.feed(AFTER + 2 * MIN, f, w(40_010)).is_empty());
}

// ---- 8. ot_controller_state_change ----------------------------------------

fn state(s: &'static str) -> ObsKind {
    ObsKind::OtState {
        app: AppProto::GeSrtp,
        device: ip("10.0.0.30"),
        state: s,
    }
}

#[test]
fn ot_controller_state_change_reported_by_the_plc() {
    let mut n = Net::new(LEARN);
    let f = tcp("10.0.0.10", 48_000, "10.0.0.30", 18245);
    n.start(0, f);
    for i in 0..5 {
        assert!(n.feed(i * MIN, f, state("run")).is_empty());
    }
    assert!(n.feed(AFTER, f, state("run")).is_empty());
    let a = n.feed(AFTER + MIN, f, state("stop"));
    check(
        &one(&a, models::OT_STATE_CHANGE),
        models::OT_STATE_CHANGE,
        85..=85,
        "10.0.0.30",
        &["10.0.0.30 reported ge_srtp state run → stop"],
    );
    assert!(n.feed(AFTER + 2 * MIN, f, state("stop")).is_empty());
    let a = n.feed(AFTER + 3 * MIN, f, state("run"));
    check(
        &one(&a, models::OT_STATE_CHANGE),
        models::OT_STATE_CHANGE,
        50..=50,
        "10.0.0.30",
        &["stop → run"],
    );
}

#[test]
fn ot_controller_state_change_command_scored_by_rarity() {
    let mut n = Net::new(LEARN);
    let stop = || op_of(AppProto::Melsoft, 0x1002, "Remote STOP", OtClass::Control);
    let f = tcp("10.0.0.40", 5001, "10.0.0.31", 5007);
    let g = tcp("10.0.0.41", 5002, "10.0.0.31", 5007);
    for i in 0..5 {
        n.start(i * MIN, f);
        n.feed(
            i * MIN + SEC,
            f,
            op_of(AppProto::Melsoft, 0x0401, "Batch read", OtClass::Read),
        );
        n.start(i * MIN, g);
        n.feed(
            i * MIN + SEC,
            g,
            op_of(AppProto::Melsoft, 0x0401, "Batch read", OtClass::Read),
        );
    }
    // A STOP during learning by the engineering station is learned.
    assert!(n.feed(6 * MIN, g, stop()).is_empty());
    // After learning the other station sends STOP: someone did, not this pair.
    let a = n.feed(AFTER, f, stop());
    check(
        &one(&a, models::OT_STATE_CHANGE),
        models::OT_STATE_CHANGE,
        60..=60,
        "10.0.0.40",
        &["10.0.0.40 sent melsoft Remote STOP (0x1002) to 10.0.0.31"],
    );
    // The pair did it now: still reported (controller commands always are), scored low.
    let a = n.feed(AFTER + MIN, f, stop());
    check(
        &one(&a, models::OT_STATE_CHANGE),
        models::OT_STATE_CHANGE,
        30..=30,
        "10.0.0.40",
        &["10.0.0.31"],
    );
    // Nobody ever sent a control command to this PLC: the top score.
    let h = tcp("10.0.0.40", 5003, "10.0.0.32", 5007);
    n.start(AFTER, h);
    let a = n.feed(AFTER + 2 * MIN, h, stop());
    check(
        &one(&a, models::OT_STATE_CHANGE),
        models::OT_STATE_CHANGE,
        92..=92,
        "10.0.0.40",
        &["10.0.0.32", "no host sent such commands to it"],
    );
}

// ---- 9. ot_program_transfer ----------------------------------------------

#[test]
fn ot_program_transfer_first_time_then_scored_low() {
    let mut n = Net::new(LEARN);
    let f = tcp("10.0.0.40", 5001, "10.0.0.31", 5007);
    n.start(0, f);
    n.feed(
        SEC,
        f,
        op_of(AppProto::Melsoft, 0x0401, "Batch read", OtClass::Read),
    );
    let dl = || {
        op_of(
            AppProto::Melsoft,
            0x1827,
            "Program file write",
            OtClass::Program,
        )
    };
    let a = n.feed(AFTER, f, dl());
    check(
        &one(&a, models::OT_PROGRAM),
        models::OT_PROGRAM,
        92..=92,
        "10.0.0.40",
        &[
            "10.0.0.40 sent melsoft Program file write (0x1827) to 10.0.0.31",
            "no host sent such commands",
        ],
    );
    let a = n.feed(AFTER + MIN, f, dl());
    check(
        &one(&a, models::OT_PROGRAM),
        models::OT_PROGRAM,
        30..=30,
        "10.0.0.40",
        &["10.0.0.31"],
    );
}

#[test]
fn ot_program_transfer_learned_while_learning_scores_low() {
    let mut n = Net::new(LEARN);
    let f = tcp("10.0.0.40", 5001, "10.0.0.31", 5007);
    n.start(0, f);
    let dl = || {
        op_of(
            AppProto::Melsoft,
            0x1827,
            "Program file write",
            OtClass::Program,
        )
    };
    assert!(n.feed(MIN, f, dl()).is_empty());
    let a = n.feed(AFTER, f, dl());
    check(
        &one(&a, models::OT_PROGRAM),
        models::OT_PROGRAM,
        30..=30,
        "10.0.0.40",
        &["10.0.0.31"],
    );
}

// ---- 10. ot_memory_clear_or_set_time --------------------------------------

#[test]
fn ot_memory_clear_or_set_time() {
    let mut n = Net::new(LEARN);
    let f = tcp("10.0.0.10", 48_100, "10.0.0.30", 18245);
    n.start(0, f);
    n.feed(
        SEC,
        f,
        op_of(AppProto::GeSrtp, 0x04, "Read System Memory", OtClass::Read),
    );
    let set_time = || {
        op_of(
            AppProto::GeSrtp,
            0x24,
            "Set PLC Time/Date",
            OtClass::Control,
        )
    };
    let a = n.feed(AFTER, f, set_time());
    check(
        &one(&a, models::OT_MEMORY_TIME),
        models::OT_MEMORY_TIME,
        92..=92,
        "10.0.0.10",
        &["10.0.0.10 sent ge_srtp Set PLC Time/Date (0x24) to 10.0.0.30"],
    );
    assert!(of(&a, models::OT_STATE_CHANGE).is_empty());
    let a = n.feed(AFTER + MIN, f, set_time());
    check(
        &one(&a, models::OT_MEMORY_TIME),
        models::OT_MEMORY_TIME,
        30..=30,
        "10.0.0.10",
        &["10.0.0.30"],
    );
    let clear = op_of(
        AppProto::Melsoft,
        0x1005,
        "Remote latch clear",
        OtClass::Control,
    );
    let g = tcp("10.0.0.40", 5001, "10.0.0.31", 5007);
    n.start(AFTER, g);
    let a = n.feed(AFTER + 2 * MIN, g, clear);
    check(
        &one(&a, models::OT_MEMORY_TIME),
        models::OT_MEMORY_TIME,
        92..=92,
        "10.0.0.40",
        &["Remote latch clear", "10.0.0.31"],
    );
}

// ---- 11. ot_auth -----------------------------------------------------------

#[test]
fn ot_auth_password_unlock_in_clear() {
    let mut n = Net::new(LEARN);
    let f = tcp("10.0.0.10", 48_200, "10.0.0.30", 18245);
    n.start(0, f);
    let unlock = || op_of(AppProto::GeSrtp, 0x21, "Password unlock", OtClass::Auth);
    let a = n.feed(AFTER, f, unlock());
    check(
        &one(&a, models::OT_AUTH),
        models::OT_AUTH,
        90..=90,
        "10.0.0.10",
        &[
            "10.0.0.10 sent ge_srtp Password unlock (0x21) to 10.0.0.30",
            "password crosses in clear",
        ],
    );
    let a = n.feed(AFTER + MIN, f, unlock());
    check(
        &one(&a, models::OT_AUTH),
        models::OT_AUTH,
        30..=30,
        "10.0.0.10",
        &["10.0.0.30"],
    );
}

#[test]
fn ot_auth_three_failed_logons_within_an_hour() {
    let mut n = Net::new(LEARN);
    let f = tcp("10.0.0.40", 5001, "10.0.0.31", 5007);
    let fail = || ObsKind::OtAuthFailure {
        app: AppProto::Melsoft,
    };
    n.start(0, f);
    // Three typos while learning (hour 0), and then two in hour 1: normal.
    for i in 0..3 {
        assert!(n.feed(i * MIN, f, fail()).is_empty());
    }
    let h1 = 70 * MIN;
    assert!(n.feed(h1, f, fail()).is_empty());
    assert!(n.feed(h1 + MIN, f, fail()).is_empty());
    // The third within hour 1.
    let a = n.feed(h1 + 2 * MIN, f, fail());
    check(
        &one(&a, models::OT_AUTH),
        models::OT_AUTH,
        80..=80,
        "10.0.0.40",
        &["10.0.0.40 failed 3 melsoft logons on 10.0.0.31 within the hour"],
    );
    let a = n.feed(h1 + 3 * MIN, f, fail());
    check(
        &one(&a, models::OT_AUTH),
        models::OT_AUTH,
        90..=90,
        "10.0.0.40",
        &["failed 4"],
    );
    // Failures spread over hours are not guessing.
    let g = tcp("10.0.0.41", 5002, "10.0.0.31", 5007);
    for h in 2..6 {
        assert!(n.feed(h * 60 * MIN, g, fail()).is_empty());
    }
}

// ---- 12. ot_firmware_change -----------------------------------------------

fn fact(key: &'static str, value: &str) -> ObsKind {
    ObsKind::Asset {
        app: AppProto::Modbus,
        device: ip("10.0.0.20"),
        key,
        value: value.into(),
    }
}

#[test]
fn ot_firmware_change_reported_with_old_and_new_value() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    let f = tcp("10.0.0.10", 46_500, "10.0.0.20", 502);
    assert!(n
        .feed(MIN, f, fact("vendor", "Schneider Electric"))
        .is_empty());
    assert!(n.feed(MIN, f, fact("firmware", "v2.10")).is_empty());
    let assets = n
        .records
        .iter()
        .filter(|r| r["event_type"] == "asset")
        .count();
    assert_eq!(assets, 2);
    assert!(n.feed(AFTER, f, fact("firmware", "v2.10")).is_empty());
    // A new fact is an asset record, not an alert.
    assert!(n.feed(AFTER, f, fact("model", "BMX P34 2020")).is_empty());
    let a = n.feed(AFTER + MIN, f, fact("firmware", "v3.00"));
    check(
        &one(&a, models::OT_FIRMWARE),
        models::OT_FIRMWARE,
        80..=80,
        "10.0.0.20",
        &["10.0.0.20 firmware changed from \"v2.10\" to \"v3.00\" (via modbus)"],
    );
    let last = n.records.last().expect("records");
    assert_eq!(last["event_type"], "alert");
    let asset = &n.records[n.records.len() - 2];
    assert_eq!(asset["event_type"], "asset");
    assert_eq!(asset["asset"]["ip"], "10.0.0.20");
    assert_eq!(asset["asset"]["facts"]["firmware"], "v3.00");
    assert!(n
        .feed(AFTER + 2 * MIN, f, fact("firmware", "v3.00"))
        .is_empty());
    // A role change is not a firmware change.
    assert!(n.feed(AFTER + 2 * MIN, f, fact("role", "plc")).is_empty());
    assert!(n
        .feed(AFTER + 3 * MIN, f, fact("role", "gateway"))
        .is_empty());
}

// ---- 13. ot_new_master_or_producer ----------------------------------------

fn egd(producer: &str, exchange: u32, signature: u32, spoofed: bool) -> ObsKind {
    let p: std::net::Ipv4Addr = producer.parse().expect("producer");
    ObsKind::EgdProduction {
        producer_id: u32::from(p),
        exchange,
        signature,
        spoofed,
    }
}

#[test]
fn ot_new_master_egd_exchange_signature_and_spoofed_producer() {
    let mut n = Net::new(LEARN);
    let f = udp("192.168.8.77", 18246, "192.168.8.169", 18246);
    n.start(0, f);
    assert!(n
        .feed(SEC, f, egd("192.168.8.77", 0x7b, 0x100, false))
        .is_empty());
    // A new exchange while learning is learned.
    assert!(n
        .feed(2 * SEC, f, egd("192.168.8.77", 0x7c, 0x100, false))
        .is_empty());
    let a = n.feed(AFTER, f, egd("192.168.8.77", 0x7d, 0x100, false));
    check(
        &one(&a, models::OT_NEW_MASTER),
        models::OT_NEW_MASTER,
        60..=60,
        "192.168.8.77",
        &["192.168.8.77 started producing EGD exchange 192.168.8.77:125"],
    );
    assert!(n
        .feed(AFTER + SEC, f, egd("192.168.8.77", 0x7d, 0x100, false))
        .is_empty());
    let a = n.feed(AFTER + 2 * SEC, f, egd("192.168.8.77", 0x7b, 0x200, false));
    check(
        &one(&a, models::OT_NEW_MASTER),
        models::OT_NEW_MASTER,
        85..=85,
        "192.168.8.77",
        &["EGD exchange 192.168.8.77:123 configuration signature changed 0x100 → 0x200"],
    );
    // Another host sends the known exchange with the producer's id.
    let g = udp("192.168.8.99", 18246, "192.168.8.169", 18246);
    n.start(AFTER, g);
    let a = n.feed(AFTER + 3 * SEC, g, egd("192.168.8.77", 0x7b, 0x200, true));
    check(
        &one(&a, models::OT_NEW_MASTER),
        models::OT_NEW_MASTER,
        75..=75,
        "192.168.8.99",
        &["192.168.8.99 sent EGD with producer id 192.168.8.77 that is not its address"],
    );
}

#[test]
fn ot_new_master_egd_foreign_producer_learned_is_normal() {
    let mut n = Net::new(LEARN);
    // A controller behind NAT: its producer id is never its address.
    let f = udp("192.168.9.5", 18246, "192.168.8.169", 18246);
    n.start(0, f);
    assert!(n.feed(SEC, f, egd("10.1.1.5", 1, 7, true)).is_empty());
    assert!(n.feed(AFTER, f, egd("10.1.1.5", 1, 7, true)).is_empty());
}

#[test]
fn ot_new_master_cclink_second_master() {
    let mut n = Net::new(LEARN);
    let f = udp("172.16.134.128", 61450, "172.16.134.255", 61450);
    n.start(0, f);
    let m = |second| ObsKind::CclinkMaster {
        second_master: second,
    };
    assert!(n.feed(SEC, f, m(false)).is_empty());
    assert!(n.feed(AFTER, f, m(false)).is_empty());
    let g = udp("172.16.134.200", 61450, "172.16.134.255", 61450);
    n.start(AFTER, g);
    let a = n.feed(AFTER + SEC, g, m(false));
    check(
        &one(&a, models::OT_NEW_MASTER),
        models::OT_NEW_MASTER,
        90..=90,
        "172.16.134.200",
        &["172.16.134.200 acts as a new CC-Link IE Field Basic master"],
    );
    assert!(n.feed(AFTER + 2 * SEC, g, m(false)).is_empty());
    // A slave answers 0xCFE0 (master duplication); the answer travels in
    // the slave → master flow, so the slave is that flow's client.
    let s = udp("172.16.134.129", 61450, "172.16.134.128", 61450);
    let a = n.feed(AFTER + 3 * SEC, s, m(true));
    check(
        &one(&a, models::OT_NEW_MASTER),
        models::OT_NEW_MASTER,
        90..=90,
        "172.16.134.128",
        &["172.16.134.129 answered 172.16.134.128 with end code 0xCFE0"],
    );
}

// ---- 14. ot_polling_shift --------------------------------------------------

#[test]
fn ot_polling_shift_tenfold_slower() {
    let mut n = Net::new(LEARN);
    let f = tcp("10.0.0.10", 40_000, "10.0.0.20", 502);
    n.start(0, f);
    let poll = |ms: u64| ObsKind::PollPeriod {
        app: AppProto::Modbus,
        interval: ms * 1_000_000,
    };
    for (i, ms) in [100, 101, 99, 100, 100].iter().enumerate() {
        assert!(n.feed(i as u64 * MIN, f, poll(*ms)).is_empty());
    }
    // Jitter is normal.
    assert!(n.feed(AFTER, f, poll(110)).is_empty());
    let a = n.feed(AFTER + MIN, f, poll(1000));
    check(
        &one(&a, models::OT_POLL_SHIFT),
        models::OT_POLL_SHIFT,
        35..=35,
        "10.0.0.10",
        &[
            "10.0.0.10 polls 10.0.0.20 over modbus every 1000 ms",
            "every 102 ms before",
        ],
    );
    // The new period becomes normal.
    assert!(n.feed(AFTER + 2 * MIN, f, poll(1000)).is_empty());
}

// ---- 15. rare_tls_destination / 16. new_ja4 --------------------------------

const JA4_BROWSER: &str = "t13d1516h2_8daaf6152771_e5627efa2ab1";
const JA4_TOOL: &str = "t12d180700_4b22cbed5bed_2dae41c691ec";

fn hello(sni: &str, ja4: &str) -> ObsKind {
    ObsKind::TlsHello {
        sni: Some(sni.into()),
        ja4: ja4.into(),
    }
}

fn browsing(n: &mut Net) {
    let sites = [
        ("www.example.com", "93.184.216.34"),
        ("www.wikipedia.org", "185.15.59.224"),
        ("news.example.org", "192.0.2.10"),
        ("mail.example.net", "192.0.2.11"),
    ];
    for i in 0..8u64 {
        for (k, (sni, addr)) in sites.iter().enumerate() {
            let f = tcp("10.0.0.12", 50_000 + (i * 4 + k as u64) as u16, addr, 443);
            n.start(i * MIN, f);
            assert!(n.feed(i * MIN + SEC, f, hello(sni, JA4_BROWSER)).is_empty());
        }
    }
    // Another host visits a site 10.0.0.12 never did.
    let f = tcp("10.0.0.13", 50_900, "198.51.100.20", 443);
    n.start(MIN, f);
    n.feed(MIN + SEC, f, hello("shared.example.com", JA4_BROWSER));
}

#[test]
fn rare_tls_destination_for_a_client() {
    let mut n = Net::new(LEARN);
    browsing(&mut n);
    let f = tcp("10.0.0.12", 51_000, "203.0.113.77", 443);
    n.start(AFTER, f);
    let a = n.feed(AFTER + SEC, f, hello("c2.badexample.io", JA4_BROWSER));
    check(
        &one(&a, models::RARE_TLS),
        models::RARE_TLS,
        60..=60,
        "10.0.0.12",
        &[
            "10.0.0.12 talked TLS to c2.badexample.io (203.0.113.77)",
            "no host in the network used it before",
        ],
    );
    assert!(n
        .feed(AFTER + MIN, f, hello("c2.badexample.io", JA4_BROWSER))
        .is_empty());
    let g = tcp("10.0.0.12", 51_001, "198.51.100.20", 443);
    n.start(AFTER, g);
    let a = n.feed(AFTER + SEC, g, hello("shared.example.com", JA4_BROWSER));
    check(
        &one(&a, models::RARE_TLS),
        models::RARE_TLS,
        30..=30,
        "10.0.0.12",
        &["shared.example.com"],
    );
    // Internal servers are not TLS destinations to rate.
    let h = tcp("10.0.0.12", 51_002, "10.0.0.50", 443);
    n.start(AFTER, h);
    assert!(n
        .feed(AFTER + SEC, h, hello("intranet.corp.example", JA4_BROWSER))
        .is_empty());
}

#[test]
fn new_ja4_for_a_device() {
    let mut n = Net::new(LEARN);
    browsing(&mut n);
    let f = tcp("10.0.0.12", 51_100, "93.184.216.34", 443);
    n.start(AFTER, f);
    let a = n.feed(AFTER + SEC, f, hello("www.example.com", JA4_TOOL));
    check(
        &one(&a, models::NEW_JA4),
        models::NEW_JA4,
        40..=40,
        "10.0.0.12",
        &["10.0.0.12 sent a TLS ClientHello with new fingerprint t12d180700_4b22cbed5bed_2dae41c691ec to 93.184.216.34"],
    );
    assert_eq!(a.len(), 1, "{a:#?}");
    assert!(n
        .feed(AFTER + MIN, f, hello("www.example.com", JA4_TOOL))
        .is_empty());
    // A fingerprint seen while learning is normal.
    let mut n = Net::new(LEARN);
    browsing(&mut n);
    n.feed(5 * MIN, f, hello("www.example.com", JA4_TOOL));
    assert!(n
        .feed(AFTER, f, hello("www.example.com", JA4_TOOL))
        .is_empty());
}

// ---- 17. lookalike_domain ---------------------------------------------------

fn dns(name: &str) -> ObsKind {
    ObsKind::DnsQuery { name: name.into() }
}

#[test]
fn lookalike_domain_homoglyph_and_edit() {
    let mut n = Net::new(LEARN);
    let f = udp("10.0.0.12", 53_000, "10.0.0.2", 53);
    for (i, d) in [
        "www.secureonline.com",
        "login.secureonline.com",
        "www.example.com",
    ]
    .iter()
    .enumerate()
    {
        assert!(n.feed(i as u64 * MIN, f, dns(d)).is_empty());
    }
    let a = n.feed(AFTER, f, dns("www.s3cure0nline.com"));
    check(
        &one(&a, models::LOOKALIKE),
        models::LOOKALIKE,
        90..=90,
        "10.0.0.12",
        &["10.0.0.12 used www.s3cure0nline.com (DNS query), which resembles the known secureonline (homoglyph)"],
    );
    // Queried again: not new.
    assert!(n
        .feed(AFTER + MIN, f, dns("www.s3cure0nline.com"))
        .is_empty());
    let a = n.feed(AFTER + MIN, f, dns("secureonlline.com"));
    check(
        &one(&a, models::LOOKALIKE),
        models::LOOKALIKE,
        75..=75,
        "10.0.0.12",
        &["secureonlline.com", "(edit)"],
    );
    // A new name under the known owner, or an unrelated one: nothing.
    assert!(n
        .feed(AFTER + MIN, f, dns("mail.secureonline.com"))
        .is_empty());
    assert!(n.feed(AFTER + MIN, f, dns("www.unrelated.org")).is_empty());
    // Over TLS SNI too.
    let g = tcp("10.0.0.12", 53_001, "203.0.113.5", 443);
    let a = n.feed(
        AFTER + 2 * MIN,
        g,
        hello("rnicrosoft-secureonline.com", JA4_BROWSER),
    );
    assert!(
        of(&a, models::LOOKALIKE).is_empty(),
        "different owner label"
    );
    let a = n.feed(AFTER + 2 * MIN, g, hello("secure-online.com", JA4_BROWSER));
    check(
        &one(&a, models::LOOKALIKE),
        models::LOOKALIKE,
        90..=90,
        "10.0.0.12",
        &["secure-online.com (TLS SNI)"],
    );
}

#[test]
fn lookalike_domain_while_learning_is_learned() {
    let mut n = Net::new(LEARN);
    let f = udp("10.0.0.12", 53_000, "10.0.0.2", 53);
    n.feed(0, f, dns("www.secureonline.com"));
    assert!(n.feed(MIN, f, dns("www.s3cure0nline.com")).is_empty());
    assert!(n.feed(AFTER, f, dns("www.s3cure0nline.com")).is_empty());
}

// ---- 18-21. SMTP -----------------------------------------------------------

fn mail(from: &str, rcpt: u32, bcc: u32, attachments: &[&str], urls: &[&str]) -> ObsKind {
    ObsKind::SmtpTx {
        from: from.into(),
        header_from: Some(from.into()),
        rcpt,
        bcc,
        attachments: attachments
            .iter()
            .map(|a| {
                (
                    Box::<str>::from(*a),
                    Box::<str>::from("application/octet-stream"),
                )
            })
            .collect(),
        url_domains: urls.iter().map(|u| Box::<str>::from(*u)).collect(),
    }
}

/// The mail server 10.0.0.25 receives from two partners; workstation
/// 10.0.0.30 sends one or two recipient messages with PDF reports.
fn mail_day(n: &mut Net) {
    for i in 0..5u64 {
        let f = tcp("198.51.100.7", 40_000 + i as u16, "10.0.0.25", 25);
        n.feed(
            i * MIN,
            f,
            mail(
                "alice@partner.example",
                1,
                0,
                &[],
                &["partner.example", "docs.partner.example"],
            ),
        );
        n.feed(
            i * MIN + SEC,
            f,
            mail("bob@supplier.example", 2, 0, &[], &[]),
        );
        let g = tcp("10.0.0.30", 41_000 + i as u16, "10.0.0.25", 587);
        n.feed(
            i * MIN + 2 * SEC,
            g,
            mail(
                "carol@corp.example",
                1 + i as u32 % 2,
                0,
                &["report.pdf"],
                &[],
            ),
        );
    }
}

#[test]
fn new_smtp_sender_for_a_mail_server() {
    let mut n = Net::new(LEARN);
    mail_day(&mut n);
    let f = tcp("203.0.113.9", 42_000, "10.0.0.25", 25);
    let a = n.feed(AFTER, f, mail("mallory@evil.example", 1, 0, &[], &[]));
    check(
        &one(&a, models::NEW_SMTP_SENDER),
        models::NEW_SMTP_SENDER,
        30..=30,
        "10.0.0.25",
        &["10.0.0.25 accepted mail from mallory@evil.example (via 203.0.113.9)"],
    );
    assert!(of(
        &n.feed(AFTER + MIN, f, mail("mallory@evil.example", 1, 0, &[], &[])),
        models::NEW_SMTP_SENDER
    )
    .is_empty());
    assert!(n
        .feed(
            AFTER + MIN,
            f,
            mail("Alice@Partner.example", 1, 0, &[], &[])
        )
        .is_empty());
}

#[test]
fn outbound_spam_recipient_spike_with_bcc() {
    let mut n = Net::new(LEARN);
    mail_day(&mut n);
    let g = tcp("10.0.0.30", 41_100, "10.0.0.25", 587);
    // Twenty recipients: unusual but under the floor of 25.
    assert!(n
        .feed(AFTER, g, mail("carol@corp.example", 20, 0, &[], &[]))
        .is_empty());
    let a = n.feed(AFTER + MIN, g, mail("carol@corp.example", 60, 55, &[], &[]));
    check(
        &one(&a, models::SPAM),
        models::SPAM,
        90..=90,
        "10.0.0.30",
        &["10.0.0.30 sent one message to 60 recipients (55 undisclosed)"],
    );
}

#[test]
fn outbound_spam_message_rate() {
    let mut n = Net::new(LEARN);
    mail_day(&mut n);
    let g = tcp("10.0.0.30", 41_200, "10.0.0.25", 587);
    // Five messages in hour 0 while learning; then 30 more this hour are tolerated.
    let mut got = Vec::new();
    for i in 0..25u64 {
        got.extend(n.feed(
            AFTER + i * SEC,
            g,
            mail("carol@corp.example", 1, 0, &[], &[]),
        ));
    }
    assert!(got.is_empty(), "{got:#?}");
    // The 31st message of the hour.
    let a = n.feed(
        AFTER + 30 * SEC,
        g,
        mail("carol@corp.example", 1, 0, &[], &[]),
    );
    check(
        &one(&a, models::SPAM),
        models::SPAM,
        75..=75,
        "10.0.0.30",
        &["10.0.0.30 sent 31 messages this hour"],
    );
    assert!(n
        .feed(
            AFTER + 31 * SEC,
            g,
            mail("carol@corp.example", 1, 0, &[], &[])
        )
        .is_empty());
}

#[test]
fn unusual_attachment_type() {
    let mut n = Net::new(LEARN);
    mail_day(&mut n);
    let g = tcp("10.0.0.30", 41_300, "10.0.0.25", 587);
    assert!(n
        .feed(AFTER, g, mail("carol@corp.example", 1, 0, &["q3.pdf"], &[]))
        .is_empty());
    // A new but harmless type.
    assert!(n
        .feed(
            AFTER,
            g,
            mail("carol@corp.example", 1, 0, &["data.csv"], &[])
        )
        .is_empty());
    let a = n.feed(
        AFTER + MIN,
        g,
        mail("carol@corp.example", 1, 0, &["invoice.HTML"], &[]),
    );
    check(
        &one(&a, models::ATTACHMENT),
        models::ATTACHMENT,
        70..=70,
        "10.0.0.30",
        &[
            "10.0.0.30 sent attachment \"invoice.HTML\" (html)",
            "no .html files in 10 min of learning",
        ],
    );
    assert!(n
        .feed(
            AFTER + 2 * MIN,
            g,
            mail("carol@corp.example", 1, 0, &["other.html"], &[])
        )
        .is_empty());
}

#[test]
fn link_to_new_domain_from_a_known_correspondent() {
    let mut n = Net::new(LEARN);
    mail_day(&mut n);
    let f = tcp("198.51.100.7", 43_000, "10.0.0.25", 25);
    // Links to domains seen before: normal.
    assert!(n
        .feed(
            AFTER,
            f,
            mail(
                "alice@partner.example",
                1,
                0,
                &[],
                &["docs.partner.example"]
            )
        )
        .is_empty());
    let a = n.feed(
        AFTER + MIN,
        f,
        mail(
            "alice@partner.example",
            1,
            0,
            &[],
            &["invoice-portal.example"],
        ),
    );
    check(
        &one(&a, models::LINK_NEW_DOMAIN),
        models::LINK_NEW_DOMAIN,
        70..=70,
        "198.51.100.7",
        &["known correspondent alice@partner.example sent a link to invoice-portal.example"],
    );
    // The domain is known now.
    assert!(n
        .feed(
            AFTER + 2 * MIN,
            f,
            mail(
                "alice@partner.example",
                1,
                0,
                &[],
                &["invoice-portal.example"]
            )
        )
        .is_empty());
    // From a stranger it is a new sender, not a correspondent's link.
    let a = n.feed(
        AFTER + 3 * MIN,
        f,
        mail("eve@unknown.example", 1, 0, &[], &["another-new.example"]),
    );
    assert!(of(&a, models::LINK_NEW_DOMAIN).is_empty(), "{a:#?}");
}

// ---- 22. stream_overlap_different_data -------------------------------------

#[test]
fn stream_overlap_alerts_after_learning_only() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    let f = tcp("10.0.0.10", 49_000, "10.0.0.20", 502);
    assert!(n.feed(MIN, f, ObsKind::StreamOverlap).is_empty());
    let a = n.feed(AFTER, f, ObsKind::StreamOverlap);
    check(
        &one(&a, models::STREAM_OVERLAP),
        models::STREAM_OVERLAP,
        70..=70,
        "10.0.0.10",
        &["TCP 10.0.0.10:49000 ↔ 10.0.0.20:502 carried overlapping segments with different data"],
    );
}

// ---- 23. baseline_table_full + bounds --------------------------------------

/// 200,000 distinct sources (a bijection of the index over IPv4 space,
/// avoiding the learned 10.0.0.0/24) against a table of 1,000 devices.
#[test]
fn table_full_flood_of_random_sources_stays_bounded_and_alerts_once() {
    let cfg = BaselineConfig {
        learn_for: LEARN,
        max_devices: 1000,
        ..BaselineConfig::default()
    };
    let mut n = Net::with(cfg, DetectConfig::default());
    modbus_polling(&mut n); // 3 devices
    assert_eq!(n.a.base.devices.len(), 3);
    let mut out = Vec::new();
    const FLOOD: u32 = 200_000;
    for i in 0..FLOOD {
        let a = 0x6400_0000u32.wrapping_add(i.wrapping_mul(0x9E37_79B1));
        assert_ne!(a >> 8, 0x000a_0000, "collision with the learned hosts");
        let src = DeviceId::new(Addr::v4(a.to_be_bytes()), false);
        let f = FlowRef {
            flow_id: i as u64,
            client: src,
            server: ip("10.0.0.20"),
            client_port: 1024 + (i % 60_000) as u16,
            server_port: 502,
            proto: 6,
            vlan: 0,
        };
        n.seq += 1;
        let o = Obs {
            seq: n.seq,
            ts: T0 + AFTER + i as u64 * 1_000_000,
            flow: f,
            kind: ObsKind::FlowStart { app: None },
        };
        n.a.observe(&o, &mut out);
        let o = Obs {
            kind: ObsKind::ServerAnswered,
            ..o
        };
        n.a.observe(&o, &mut out);
    }
    let base = &n.a.base;
    assert_eq!(base.devices.len(), 1000);
    assert_eq!(base.net.devices_refused, FLOOD as u64 - 997);
    let recs = parse(&out);
    let full: Vec<&Value> = recs
        .iter()
        .filter(|r| r["spanwatch"]["model"] == models::TABLE_FULL.key)
        .collect();
    assert_eq!(full.len(), 1);
    check(
        full[0],
        models::TABLE_FULL,
        60..=60,
        full[0]["src_ip"].as_str().unwrap_or(""),
        &[
            "device table is full (1000 devices, 1 refused so far",
            "10.0.0.20",
        ],
    );
    // Every table of the analyzer stays within its bound.
    assert!(
        n.a.rate.len() <= 1000 + models::ALL.len(),
        "rate slots {}",
        n.a.rate.len()
    );
    assert!(
        n.a.incidents.len() <= 1001,
        "incidents {}",
        n.a.incidents.len()
    );
    assert!(n.a.closed.is_empty());
    let s = &base.devices[&ip("10.0.0.20")];
    assert_eq!(s.clients.len(), base.cfg.max_peers);
    assert!(s.clients.saturated());
    assert_eq!(s.external.len(), base.cfg.max_peers);
    // Inbound new-external alerts on the PLC: rate-limited to 10 an hour.
    let ext = recs
        .iter()
        .filter(|r| r["spanwatch"]["model"] == models::NEW_EXTERNAL.key)
        .count();
    assert!(ext <= 10, "{ext}");
    // Approximate state: bounded by the device table, not by the flood.
    let bytes = base.approx_bytes();
    assert!(bytes < 4 << 20, "{bytes}");
    eprintln!(
        "flood: {} devices, {} refused, state ≈ {} bytes, {} alerts",
        base.devices.len(),
        base.net.devices_refused,
        bytes,
        recs.iter().filter(|r| r["event_type"] == "alert").count()
    );
}

#[test]
fn table_full_during_learning_is_raised_once_learning_ends() {
    let cfg = BaselineConfig {
        learn_for: LEARN,
        max_devices: 4,
        ..BaselineConfig::default()
    };
    let mut n = Net::with(cfg, DetectConfig::default());
    modbus_polling(&mut n);
    for i in 1..=5 {
        assert!(n
            .start(MIN, tcp(&format!("10.0.2.{i}"), 1000, "10.0.0.20", 502))
            .is_empty());
    }
    assert_eq!(n.a.base.net.devices_refused, 4);
    let a = n.start(AFTER, tcp("10.0.2.200", 1000, "10.0.0.20", 502));
    assert_eq!(a.len(), 1, "{a:#?}");
    check(
        &a[0],
        models::TABLE_FULL,
        60..=60,
        "10.0.2.200",
        &["4 devices, 5 refused so far"],
    );
    assert!(n
        .start(AFTER + SEC, tcp("10.0.2.201", 1000, "10.0.0.20", 502))
        .is_empty());
}

#[test]
fn pair_table_full_raises_its_own_alert_once() {
    let cfg = BaselineConfig {
        learn_for: LEARN,
        max_pairs: 2,
        ..BaselineConfig::default()
    };
    let mut n = Net::with(cfg, DetectConfig::default());
    modbus_polling(&mut n); // 2 pairs
    let f = tcp("10.0.0.12", 1000, "10.0.0.20", 502);
    n.start(AFTER, f);
    let a = n.feed(
        AFTER + SEC,
        f,
        op(3, "Read Holding Registers", OtClass::Read),
    );
    check(
        &one(&a, models::TABLE_FULL),
        models::TABLE_FULL,
        50..=50,
        "10.0.0.12",
        &["pair table is full (2 pairs"],
    );
    let g = tcp("10.0.0.13", 1000, "10.0.0.20", 502);
    n.start(AFTER, g);
    assert!(of(
        &n.feed(
            AFTER + 2 * SEC,
            g,
            op(3, "Read Holding Registers", OtClass::Read)
        ),
        models::TABLE_FULL
    )
    .is_empty());
    assert_eq!(n.a.base.net.pairs_refused, 2);
}

// ---- every model is covered --------------------------------------------------

#[test]
fn every_model_has_a_scenario_here() {
    let src = include_str!("tests.rs");
    for m in models::ALL {
        let konst = match m.key {
            "new_device" => "NEW_DEVICE",
            "new_external_endpoint" => "NEW_EXTERNAL",
            "new_server_service" => "NEW_SERVICE",
            "unusual_volume" => "UNUSUAL_VOLUME",
            "scan" => "SCAN",
            "ot_new_function_code" => "OT_NEW_CODE",
            "ot_first_write" => "OT_FIRST_WRITE",
            "ot_controller_state_change" => "OT_STATE_CHANGE",
            "ot_program_transfer" => "OT_PROGRAM",
            "ot_memory_clear_or_set_time" => "OT_MEMORY_TIME",
            "ot_auth" => "OT_AUTH",
            "ot_firmware_change" => "OT_FIRMWARE",
            "ot_new_master_or_producer" => "OT_NEW_MASTER",
            "ot_polling_shift" => "OT_POLL_SHIFT",
            "rare_tls_destination" => "RARE_TLS",
            "new_ja4" => "NEW_JA4",
            "lookalike_domain" => "LOOKALIKE",
            "new_smtp_sender" => "NEW_SMTP_SENDER",
            "outbound_spam" => "SPAM",
            "unusual_attachment_type" => "ATTACHMENT",
            "link_to_new_domain" => "LINK_NEW_DOMAIN",
            "stream_overlap_different_data" => "STREAM_OVERLAP",
            "baseline_table_full" => "TABLE_FULL",
            other => panic!("model {other} has no scenario in detect/tests.rs"),
        };
        // Used in `one(&a, models::X)` and as `check`'s model argument.
        assert!(
            src.matches(&format!("models::{konst})")).count() >= 1
                && src.matches(&format!("models::{konst},")).count() >= 1,
            "model {} ({konst}) has no checked alert",
            m.key
        );
    }
    assert_eq!(models::ALL.len(), 23);
}

// ---- incidents and rate limits -----------------------------------------------

#[test]
fn incident_groups_one_device_within_the_window_and_combines_scores() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    let f = tcp("10.0.0.10", 49_000, "10.0.0.20", 502);
    let a1 = n.feed(AFTER, f, ObsKind::StreamOverlap);
    let a2 = n.start(
        AFTER + 10 * MIN,
        tcp("10.0.0.10", 49_100, "203.0.113.50", 443),
    );
    let (i1, i2) = (
        &a1[0]["spanwatch"]["incident"],
        &a2[0]["spanwatch"]["incident"],
    );
    assert_eq!(i1["id"], i2["id"]);
    assert_eq!(
        (i1["alerts"].as_u64(), i1["score"].as_u64()),
        (Some(1), Some(70))
    );
    // new_external_endpoint scores 90: 1 - (1 - 0.70)(1 - 0.90) = 0.97
    assert_eq!(a2[0]["spanwatch"]["score"], 90);
    assert_eq!(
        (i2["alerts"].as_u64(), i2["score"].as_u64()),
        (Some(2), Some(97))
    );
    // Another device: its own incident.
    let g = tcp("10.0.0.11", 49_001, "10.0.0.20", 502);
    let b = n.feed(AFTER + 11 * MIN, g, ObsKind::StreamOverlap);
    assert_ne!(b[0]["spanwatch"]["incident"]["id"], i1["id"]);
    // More than the window (1 h) after the last alert: a new incident.
    let a3 = n.feed(AFTER + 10 * MIN + 61 * MIN, f, ObsKind::StreamOverlap);
    let i3 = &a3[0]["spanwatch"]["incident"];
    assert_ne!(i3["id"], i1["id"]);
    assert_eq!(i3["alerts"], 1);
    assert_eq!(n.a.stats.incidents, 3);
    let end = n.finish();
    let inc: Vec<&Value> = end
        .iter()
        .filter(|r| r["event_type"] == "incident")
        .collect();
    assert_eq!(inc.len(), 3);
    let first = &inc[0]["incident"];
    assert_eq!(first["id"], i1["id"]);
    assert_eq!(first["device"], "10.0.0.10");
    assert_eq!(first["alerts"], 2);
    assert_eq!(first["score"], 97);
    assert_eq!(first["severity"], 2);
    assert_eq!(
        first["models"],
        serde_json::json!(["stream_overlap_different_data", "new_external_endpoint"])
    );
    assert!(first["start"]
        .as_str()
        .is_some_and(|s| s < first["end"].as_str().unwrap_or("")));
    assert_eq!(inc[1]["incident"]["device"], "10.0.0.11");
    assert_eq!(inc[2]["incident"]["device"], "10.0.0.10");
    assert_eq!(inc[2]["incident"]["score"], 70);
}

#[test]
fn rate_limit_per_model_and_device_counts_what_it_suppressed() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    let f = tcp("10.0.0.10", 49_000, "10.0.0.20", 502);
    let mut written = 0;
    // 15 overlaps within the hour that starts at 0 (AFTER is 15 min in).
    for i in 0..15 {
        written += n.feed(AFTER + i * MIN, f, ObsKind::StreamOverlap).len();
    }
    assert_eq!(written, 10);
    assert_eq!(n.a.stats.suppressed[&models::STREAM_OVERLAP.sid], 5);
    assert_eq!(n.a.stats.alerts[&models::STREAM_OVERLAP.sid], 10);
    // Another device and another model on the same device are not limited.
    let g = tcp("10.0.0.11", 49_001, "10.0.0.20", 502);
    assert_eq!(n.feed(AFTER + 30 * MIN, g, ObsKind::StreamOverlap).len(), 1);
    assert_eq!(
        n.feed(
            AFTER + 31 * MIN,
            f,
            op(8, "Diagnostics", OtClass::Diagnostic)
        )
        .len(),
        1
    );
    // The next hour: written again, saying how many were dropped.
    let a = n.feed(60 * MIN + 5 * MIN, f, ObsKind::StreamOverlap);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["spanwatch"]["suppressed_before"], 5);
    let a = n.feed(60 * MIN + 6 * MIN, f, ObsKind::StreamOverlap);
    assert_eq!(a[0]["spanwatch"]["suppressed_before"], 0);
    // The incident counts written alerts only.
    assert_eq!(a[0]["spanwatch"]["incident"]["alerts"], 13);
}

#[test]
fn rate_limit_is_configurable() {
    let det = DetectConfig {
        max_alerts_per_hour: 2,
        ..DetectConfig::default()
    };
    let mut n = Net::with(
        BaselineConfig {
            learn_for: LEARN,
            ..BaselineConfig::default()
        },
        det,
    );
    modbus_polling(&mut n);
    let f = tcp("10.0.0.10", 49_000, "10.0.0.20", 502);
    let w: usize = (0..5)
        .map(|i| n.feed(AFTER + i * SEC, f, ObsKind::StreamOverlap).len())
        .sum();
    assert_eq!(w, 2);
    assert_eq!(n.a.stats.suppressed[&models::STREAM_OVERLAP.sid], 3);
}

// ---- learning and loaded states ----------------------------------------------

#[test]
fn nothing_alerts_before_learn_for_has_passed() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    // One second before the end of learning: still learning.
    let f = tcp("10.0.0.10", 49_000, "10.0.0.20", 502);
    assert!(n
        .feed(LEARN * SEC - 1, f, ObsKind::StreamOverlap)
        .is_empty());
    assert_eq!(n.feed(LEARN * SEC, f, ObsKind::StreamOverlap).len(), 1);
}

#[test]
fn learn_only_never_alerts_and_a_loaded_state_detects_from_its_first_packet() {
    let mut learn = Net {
        a: Analyzer::new(
            Baseline::new(BaselineConfig::default()),
            DetectConfig::default(),
            true,
        ),
        seq: 0,
        records: Vec::new(),
    };
    modbus_polling(&mut learn);
    let f = tcp("10.0.0.10", 49_000, "10.0.0.20", 502);
    assert!(learn
        .feed(100 * 60 * MIN, f, ObsKind::StreamOverlap)
        .is_empty());
    assert_eq!(learn.a.base.learn_until, None);
    // As `replay --state-dir` after `learn` (runtime::make_analyzer).
    let mut base = learn.a.base.clone();
    base.learn_until = Some(0);
    let mut n = Net {
        a: Analyzer::new(base, DetectConfig::default(), false),
        seq: 0,
        records: Vec::new(),
    };
    assert!(n
        .start(0, tcp("10.0.0.10", 40_000, "10.0.0.20", 502))
        .is_empty());
    let a = n.start(0, tcp("10.0.0.99", 40_000, "10.0.0.20", 502));
    // Learned from the first packet to the last: 100 h.
    check(
        &one(&a, models::NEW_DEVICE),
        models::NEW_DEVICE,
        60..=60,
        "10.0.0.99",
        &["100 h of learning"],
    );
}

#[test]
fn a_state_that_finished_learning_detects_on_an_older_capture() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n);
    n.start(AFTER, tcp("10.0.0.10", 40_000, "10.0.0.20", 502));
    let base = n.a.base.clone();
    assert_eq!(base.learn_until, Some(T0 + LEARN * SEC));
    // Replaying the same capture again (times before learn_until).
    let mut again = Net {
        a: Analyzer::new(base, DetectConfig::default(), false),
        seq: 0,
        records: Vec::new(),
    };
    let a = again.start(0, tcp("10.0.0.99", 40_000, "10.0.0.20", 502));
    assert_eq!(of(&a, models::NEW_DEVICE).len(), 1, "{a:#?}");
}

#[test]
fn a_state_saved_while_learning_keeps_learning_until_its_end() {
    let mut n = Net::new(LEARN);
    modbus_polling(&mut n); // 0..9 min
    let base = n.a.base.clone();
    let mut cont = Net {
        a: Analyzer::new(base, DetectConfig::default(), false),
        seq: 0,
        records: Vec::new(),
    };
    assert!(cont
        .start(9 * MIN + 30 * SEC, tcp("10.0.0.98", 1, "10.0.0.20", 502))
        .is_empty());
    assert_eq!(
        cont.start(AFTER, tcp("10.0.0.99", 1, "10.0.0.20", 502))
            .len(),
        1
    );
}

#[test]
fn alert_records_are_identical_for_identical_input() {
    let run = || {
        let mut n = Net::new(LEARN);
        modbus_polling(&mut n);
        sweep(&mut n, AFTER, "10.0.0.10");
        n.finish();
        n.records.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn unanswered_connection_attempts_invent_no_devices_or_services() {
    let mut n = Net::new(LEARN);
    assert!(n
        .start(0, tcp("10.0.0.10", 51_000, "10.0.0.20", 502))
        .is_empty());
    // A connect scan after learning: SYNs to hosts and ports nobody answers.
    for i in 0..20u16 {
        let a = n.start_unanswered(
            AFTER + i as u64 * SEC,
            tcp("10.0.0.10", 52_000 + i, &format!("10.0.0.{}", 100 + i), 445),
        );
        assert!(of(&a, models::NEW_DEVICE).is_empty(), "{a:#?}");
        assert!(of(&a, models::NEW_SERVICE).is_empty(), "{a:#?}");
    }
    assert!(!n.a.base.devices.contains_key(&ip("10.0.0.100")));
    // The known server's refused port is not a new service either.
    let a = n.start_unanswered(AFTER + MIN, tcp("10.0.0.10", 53_000, "10.0.0.20", 23));
    assert!(of(&a, models::NEW_SERVICE).is_empty());
    // Once a new host answers, it is a new device.
    let a = n.start(AFTER + 2 * MIN, tcp("10.0.0.10", 53_001, "10.0.0.150", 502));
    assert_eq!(of(&a, models::NEW_DEVICE).len(), 1);
}
