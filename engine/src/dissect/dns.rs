//! DNS dissector: one `dns` EVE event per query and one per response.
//!
//! References: RFC 1035 §4 (messages), RFC 7766 (DNS over TCP), RFC 6891
//! (OPT). The parser is `spanwatch_parsers::dns`.
//!
//! Over UDP each datagram is one message ([`DnsUdp`]); over TCP each
//! direction is cut by the two-byte length prefix ([`DnsTcp`], through a
//! [`StreamBuf`]). Every query name goes to the baseline as
//! [`ObsKind::DnsQuery`], also when `dissect.dns_events` is off; events are
//! written only when it is on.
//!
//! The event follows Suricata's version 2 DNS log: `type` is `query` or
//! `answer`, then `id`, `flags` (hex), the header bits, `rrname`/`rrtype`
//! of the first question, `rcode` for answers and the `answers` and
//! `authorities` records (`rrname`, `rrtype`, `ttl`, `rdata`). A message
//! with more than one question lists them all in `queries`.
//!
//! NetBIOS name service messages (same layout, UDP 137) that reach this
//! dissector are logged with `netbios: true`; their encoded names are not
//! observed.
//!
//! A message cut short, with bytes after its records or with a broken name
//! in a record is still logged, with `anomalies`; one whose first question
//! already breaks (or that is shorter than the header) is logged from its
//! header alone, or as an `anomaly` record when not even that is there.

use super::streambuf::StreamBuf;
use super::{idx, AppProto, Ctx, TcpApp, UdpApp};
use crate::baseline::obs::ObsKind;
use crate::output::json::JsonWriter;
use spanwatch_parsers::dns::{
    self as pdns, DnsError, DnsMessage, DnsTcpParser, RData, Record, HEADER_LEN,
};
use spanwatch_parsers::stream::Direction;
use std::fmt::Write as _;

/// Records (answers plus authorities) written per event; the rest are counted.
pub const MAX_LOGGED_RECORDS: usize = 64;
/// Questions written per event.
pub const MAX_LOGGED_QUESTIONS: usize = 16;
/// Raw RDATA bytes written (as hex) for types that are not decoded.
pub const MAX_RDATA_HEX: usize = 128;
/// TXT bytes written per record.
pub const MAX_TXT_BYTES: usize = 1024;
/// Query names sent to the baseline per message.
pub const MAX_OBSERVED_NAMES: usize = 4;

/// DNS over UDP: every datagram is a message.
#[derive(Debug, Default)]
pub struct DnsUdp {
    messages: u64,
}

impl DnsUdp {
    /// A fresh state.
    pub fn new() -> DnsUdp {
        DnsUdp::default()
    }
}

impl UdpApp for DnsUdp {
    fn on_datagram(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        self.messages += 1;
        on_message(data, dir, false, ctx);
    }
}

/// DNS over TCP: length-prefixed messages in each direction.
#[derive(Debug, Default)]
pub struct DnsTcp {
    bufs: [StreamBuf; 2],
}

impl DnsTcp {
    /// A fresh state.
    pub fn new() -> DnsTcp {
        DnsTcp::default()
    }
}

impl TcpApp for DnsTcp {
    fn on_data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        let d = usize::from(dir == Direction::ToClient);
        let max = ctx.cfg.max_pending_bytes;
        let out = self.bufs[d].feed(&mut DnsTcpParser, dir, data, max, |m| {
            on_message(m.raw, dir, true, ctx)
        });
        ctx.stats.invalid[idx(AppProto::Dns)] += out.invalid as u64;
        if out.overflow {
            ctx.stats.pending_overflows += 1;
        }
        if out.stalled {
            ctx.stats.stalled += 1;
        }
        if out.invalid > 0 || out.overflow {
            ctx.anomaly(Some(AppProto::Dns), "applayer", "dns_tcp_framing", |w| {
                w.u64("skipped", out.skipped as u64);
            });
        }
    }

    fn on_gap(&mut self, dir: Direction, _len: u64, _ctx: &mut Ctx<'_>) {
        self.bufs[usize::from(dir == Direction::ToClient)].gap();
    }
}

/// Handles one message (a UDP payload or a TCP message without its prefix).
fn on_message(raw: &[u8], dir: Direction, tcp: bool, ctx: &mut Ctx<'_>) {
    ctx.stats.messages[idx(AppProto::Dns)] += 1;
    match pdns::parse_message(raw) {
        Ok(m) => {
            if !m.header.qr() && !netbios_encoded(&m) {
                for q in m.questions().take(MAX_OBSERVED_NAMES) {
                    let name = q.name.to_dotted();
                    if !name.is_empty() {
                        ctx.observe(ObsKind::DnsQuery { name: name.into() });
                    }
                }
            }
            if ctx.cfg.dns_events {
                ctx.event(AppProto::Dns, "dns", |w| write_message(&m, dir, tcp, w));
            }
        }
        Err(e) => {
            ctx.stats.invalid[idx(AppProto::Dns)] += 1;
            let (Some(id), Some(flags)) = (be16(raw, 0), be16(raw, 2)) else {
                ctx.anomaly(Some(AppProto::Dns), "applayer", "dns_short_message", |w| {
                    w.u64("length", raw.len() as u64);
                });
                return;
            };
            if ctx.cfg.dns_events {
                ctx.event(AppProto::Dns, "dns", |w| {
                    w.begin_object("dns");
                    w.u64("version", 2)
                        .str(
                            "type",
                            if flags & 0x8000 != 0 {
                                "answer"
                            } else {
                                "query"
                            },
                        )
                        .u64("id", u64::from(id))
                        .fmt("flags", format_args!("{flags:04x}"));
                    if tcp {
                        w.bool("tcp", true);
                    }
                    w.begin_array("anomalies")
                        .element_str(match e {
                            DnsError::ShortHeader => "short_header",
                            DnsError::NameLoop => "name_loop",
                            DnsError::BadLabel => "bad_label",
                        })
                        .end_array();
                    w.end_object();
                });
            }
        }
    }
}

/// NetBIOS Name Service (RFC 1002 §4.2) shares the DNS layout; its names
/// are one 32-byte label of `A`..`P` (RFC 1001 §14.1 first-level encoding).
/// Such names are not domain names and are not sent to the baseline.
fn netbios_encoded(m: &DnsMessage<'_>) -> bool {
    m.questions().next().is_some_and(|q| {
        q.name
            .labels()
            .next()
            .is_some_and(|l| l.len() == 32 && l.iter().all(|b| (b'A'..=b'P').contains(b)))
    })
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn rrtype_into(w: &mut JsonWriter<'_>, key: &str, t: u16) {
    match pdns::rrtype_name(t) {
        Some(n) => w.str(key, n),
        None => w.fmt(key, format_args!("TYPE{t}")),
    };
}

fn write_message(m: &DnsMessage<'_>, dir: Direction, tcp: bool, w: &mut JsonWriter<'_>) {
    let h = &m.header;
    w.begin_object("dns");
    w.u64("version", 2)
        .str("type", if h.qr() { "answer" } else { "query" })
        .u64("id", u64::from(h.id))
        .fmt("flags", format_args!("{:04x}", h.flags));
    if h.qr() {
        w.bool("qr", true);
    }
    for (on, k) in [
        (h.aa(), "aa"),
        (h.tc(), "tc"),
        (h.rd(), "rd"),
        (h.ra(), "ra"),
        (h.z(), "z"),
        (h.ad(), "ad"),
        (h.cd(), "cd"),
    ] {
        if on {
            w.bool(k, true);
        }
    }
    if h.opcode() != 0 {
        w.u64("opcode", u64::from(h.opcode()));
        if let Some(n) = pdns::opcode_name(h.opcode()) {
            w.str("opcode_name", n);
        }
    }
    if tcp {
        w.bool("tcp", true);
    }
    if netbios_encoded(m) {
        w.bool("netbios", true);
    }
    let mut questions = m.questions();
    if let Some(q) = questions.next() {
        w.str("rrname", &q.name.to_dotted());
        rrtype_into(w, "rrtype", q.qtype);
        if q.qclass != 1 {
            w.u64("rrclass", u64::from(q.qclass));
        }
    }
    if m.qd > 1 {
        w.begin_array("queries");
        for q in m.questions().take(MAX_LOGGED_QUESTIONS) {
            w.begin_element_object().str("rrname", &q.name.to_dotted());
            rrtype_into(w, "rrtype", q.qtype);
            w.end_object();
        }
        w.end_array();
    }
    if h.qr() {
        match pdns::rcode_name(h.rcode()) {
            Some(n) => w.str("rcode", n),
            None => w.fmt("rcode", format_args!("{}", h.rcode())),
        };
    }
    let mut logged = 0usize;
    for (key, n, section) in [
        ("answers", m.an, pdns::Section::Answer),
        ("authorities", m.ns, pdns::Section::Authority),
    ] {
        if n == 0 {
            continue;
        }
        w.begin_array(key);
        for (_, r) in m.records().filter(|(s, _)| *s == section) {
            if logged == MAX_LOGGED_RECORDS {
                break;
            }
            logged += 1;
            write_record(&r, w);
        }
        w.end_array();
    }
    if m.an + m.ns > logged {
        w.u64("records_not_logged", (m.an + m.ns - logged) as u64);
    }
    if m.ar > 0 {
        w.u64("additionals", m.ar as u64);
    }
    // Over UDP the flow's initiator is whoever spoke first (a response
    // whose query was not captured, mDNS announcements): only TCP says who
    // the client is.
    let direction_odd = tcp && (dir == Direction::ToServer) == h.qr();
    let anomalies = [
        (m.truncated, "truncated"),
        (m.trailing_bytes > 0, "trailing_bytes"),
        (
            m.name_error == Some(DnsError::NameLoop),
            "name_loop_in_record",
        ),
        (
            m.name_error == Some(DnsError::BadLabel),
            "bad_label_in_record",
        ),
        (m.raw.len() < HEADER_LEN, "short"),
        (direction_odd, "unexpected_direction"),
    ];
    if anomalies.iter().any(|(on, _)| *on) {
        w.begin_array("anomalies");
        for (on, name) in anomalies {
            if on {
                w.element_str(name);
            }
        }
        w.end_array();
    }
    w.end_object();
}

fn write_record(r: &Record<'_>, w: &mut JsonWriter<'_>) {
    w.begin_element_object().str("rrname", &r.name.to_dotted());
    rrtype_into(w, "rrtype", r.rtype);
    w.u64("ttl", u64::from(r.ttl));
    match r.rdata {
        RData::A(a) => {
            w.fmt("rdata", format_args!("{a}"));
        }
        RData::Aaaa(a) => {
            w.fmt("rdata", format_args!("{a}"));
        }
        RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => {
            w.str("rdata", &n.to_dotted());
        }
        RData::Mx {
            preference,
            exchange,
        } => {
            w.str("rdata", &exchange.to_dotted())
                .u64("preference", u64::from(preference));
        }
        RData::Txt(_) => {
            let mut s: Vec<u8> = Vec::new();
            for (i, t) in r.rdata.txt_strings().enumerate() {
                if s.len() >= MAX_TXT_BYTES {
                    break;
                }
                if i > 0 {
                    s.push(b' ');
                }
                s.extend_from_slice(&t[..t.len().min(MAX_TXT_BYTES - s.len().min(MAX_TXT_BYTES))]);
            }
            w.bytes_str("rdata", &s);
        }
        RData::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            w.fmt(
                "rdata",
                format_args!(
                    "{} {} {serial} {refresh} {retry} {expire} {minimum}",
                    mname.to_dotted(),
                    rname.to_dotted()
                ),
            );
        }
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            w.fmt(
                "rdata",
                format_args!("{priority} {weight} {port} {}", target.to_dotted()),
            );
        }
        RData::Raw(b) => {
            let mut hex = String::with_capacity(b.len().min(MAX_RDATA_HEX) * 2);
            for x in &b[..b.len().min(MAX_RDATA_HEX)] {
                let _ = write!(hex, "{x:02x}");
            }
            w.str("rdata_hex", &hex)
                .u64("rdata_len", r.rdata_raw.len() as u64);
        }
    }
    w.end_object();
}

#[cfg(test)]
mod tests {
    use super::super::tls::harness::Harness;
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

        /// Fuzzing: mutated real sessions in random pieces, with gaps, never
        /// panic and always write valid JSON.
        #[test]
        fn mutated_sessions_in_any_split_never_panic(
            seed in 0usize..64,
            flips in proptest::collection::vec((proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>()), 0..8),
            cuts in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..32),
        ) {
            let seeds = super::super::tls::harness::seeds("dns");
            if seeds.is_empty() {
                return Ok(());
            }
            let (mut c, mut s) = seeds[seed % seeds.len()].clone();
            for (at, v) in &flips {
                let buf = if at & 1 == 0 { &mut c } else { &mut s };
                if !buf.is_empty() {
                    let i = *at as usize % buf.len();
                    buf[i] = *v;
                }
            }
            let mut h = Harness::new(40000, 53, 6);
            super::super::tls::harness::interleave(&mut DnsTcp::new(), &mut h, &c, &s, &cuts);
        }
    }

    /// Query for www.example.com A, id 0x1234, RD.
    const QUERY: &[u8] = &[
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header: RD, 1 question
        3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        0, 1, 0, 1, // A, IN
    ];

    fn answer() -> Vec<u8> {
        let mut r = QUERY.to_vec();
        r[2] = 0x81; // QR, RD
        r[3] = 0x80; // RA
        r[7] = 2; // 2 answers
                  // CNAME web.example.com (pointer to "example.com" at offset 16), TTL 300
        r.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 44, 0, 6]);
        r.extend_from_slice(&[3, b'w', b'e', b'b', 0xc0, 16]);
        // A 192.0.2.7 for web.example.com (pointer to offset 45), TTL 60
        r.extend_from_slice(&[0xc0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
        r
    }

    #[test]
    fn udp_query_and_answer_become_two_events_and_one_observation() {
        let mut h = Harness::new(53000, 53, 17);
        let mut st = DnsUdp::new();
        st.on_datagram(Direction::ToServer, QUERY, &mut h.ctx());
        st.on_datagram(Direction::ToClient, &answer(), &mut h.ctx());
        let ev = h.events("dns");
        assert_eq!(ev.len(), 2);
        let q = &ev[0]["dns"];
        assert_eq!(
            (&q["type"], &q["id"], &q["rrname"], &q["rrtype"], &q["rd"]),
            (
                &"query".into(),
                &0x1234.into(),
                &"www.example.com".into(),
                &"A".into(),
                &true.into()
            )
        );
        let a = &ev[1]["dns"];
        assert_eq!(a["type"], "answer");
        assert_eq!(a["rcode"], "NOERROR");
        assert_eq!(a["flags"], "8180");
        assert_eq!(
            a["answers"],
            serde_json::json!([
                {"rrname": "www.example.com", "rrtype": "CNAME", "ttl": 300, "rdata": "web.example.com"},
                {"rrname": "web.example.com", "rrtype": "A", "ttl": 60, "rdata": "192.0.2.7"}
            ])
        );
        assert!(matches!(
            h.obs_kinds()[..],
            [ObsKind::DnsQuery { name }] if &**name == "www.example.com"
        ));
    }

    #[test]
    fn tcp_messages_split_across_segments_and_two_in_one() {
        let mut h = Harness::new(53000, 53, 6);
        let mut st = DnsTcp::new();
        let mut wire = (QUERY.len() as u16).to_be_bytes().to_vec();
        wire.extend_from_slice(QUERY);
        let mut two = wire.clone();
        two.extend_from_slice(&wire);
        for c in two.chunks(5) {
            st.on_data(Direction::ToServer, c, &mut h.ctx());
        }
        let a = answer();
        let mut resp = (a.len() as u16).to_be_bytes().to_vec();
        resp.extend_from_slice(&a);
        st.on_data(Direction::ToClient, &resp, &mut h.ctx());
        let ev = h.events("dns");
        assert_eq!(ev.len(), 3);
        assert!(ev.iter().all(|e| e["dns"]["tcp"] == true));
        assert_eq!(ev[2]["dns"]["answers"][1]["rdata"], "192.0.2.7");
    }

    #[test]
    fn netbios_name_query_is_marked_and_not_observed() {
        // NBNS name query for "WORKGROUP<00>" (first-level encoded, 32 bytes).
        let mut m = vec![0x80, 0x01, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 32];
        m.extend_from_slice(b"FHEPFCELEHFCEPFFFACACACACACACAAA");
        m.extend_from_slice(&[0, 0, 32, 0, 1]);
        let mut h = Harness::new(137, 137, 17);
        DnsUdp::new().on_datagram(Direction::ToServer, &m, &mut h.ctx());
        let ev = h.events("dns");
        assert_eq!(ev[0]["dns"]["netbios"], true);
        assert_eq!(ev[0]["dns"]["rrtype"], "TYPE32");
        assert!(h.obs_kinds().is_empty());
    }

    #[test]
    fn truncated_answer_is_flagged_and_events_can_be_turned_off() {
        let mut h = Harness::new(53000, 53, 17);
        let a = answer();
        let mut st = DnsUdp::new();
        st.on_datagram(Direction::ToClient, &a[..a.len() - 8], &mut h.ctx());
        let ev = h.events("dns");
        assert_eq!(ev[0]["dns"]["anomalies"], serde_json::json!(["truncated"]));
        assert_eq!(ev[0]["dns"]["answers"].as_array().unwrap().len(), 1);
        // A compression loop in the question: header-only event.
        let mut bad = QUERY.to_vec();
        bad.truncate(12);
        bad.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        st.on_datagram(Direction::ToServer, &bad, &mut h.ctx());
        let ev = h.events("dns");
        assert_eq!(ev[1]["dns"]["anomalies"], serde_json::json!(["name_loop"]));
        h.cfg.dns_events = false;
        st.on_datagram(Direction::ToServer, QUERY, &mut h.ctx());
        assert_eq!(h.events("dns").len(), 2);
        assert_eq!(h.obs_kinds().len(), 1, "the query is still observed");
    }
}
