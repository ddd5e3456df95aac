//! EVE records: the common header every record carries, timestamps and the
//! Community ID flow hash.
//!
//! Field names follow Suricata's EVE JSON so that existing pipelines (Elastic's
//! Suricata module, EveBox, Splunk, Wazuh) read spanwatch without changes.
//! The full schema is in `docs/eve-schema.md`.

use super::json::JsonWriter;
use crate::capture::Nanos;
use crate::decode::{ipproto, Addr};
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The 5-tuple and identity of the flow an EVE record belongs to, oriented
/// client → server.
#[derive(Debug, Clone, Copy)]
pub struct FlowHeader {
    /// Stable flow id (same for every record of the flow).
    pub flow_id: u64,
    /// Client (initiator) address.
    pub src: Addr,
    /// Server (responder) address.
    pub dst: Addr,
    /// Client port (ICMP type).
    pub sport: u16,
    /// Server port (ICMP code).
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// IPv6 flow.
    pub is_v6: bool,
    /// VLAN id, 0 when none.
    pub vlan: u16,
    /// Tunnel kind name, when tunnelled.
    pub tunnel: Option<(&'static str, u32)>,
}

/// The name of an IP protocol as Suricata writes it in `proto`.
pub fn proto_name(proto: u8) -> &'static str {
    match proto {
        ipproto::TCP => "TCP",
        ipproto::UDP => "UDP",
        ipproto::ICMP => "ICMP",
        ipproto::ICMPV6 => "IPv6-ICMP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        132 => "SCTP",
        _ => "",
    }
}

/// Writes the fields every EVE record starts with: `timestamp`, `flow_id`,
/// `event_type`, addresses, ports, `proto`, `community_id`, `vlan`, `tunnel`,
/// and `app_proto` when known.
pub fn write_header(
    w: &mut JsonWriter<'_>,
    ts: Nanos,
    event_type: &str,
    f: &FlowHeader,
    app_proto: Option<&str>,
) {
    w.raw("timestamp", &rfc3339_quoted(ts));
    w.u64("flow_id", f.flow_id);
    w.str("event_type", event_type);
    if f.vlan != 0 {
        w.begin_array("vlan").element_u64(f.vlan as u64).end_array();
    }
    write_ip(w, "src_ip", f.src, f.is_v6);
    if has_ports(f.proto) {
        w.u64("src_port", f.sport as u64);
    }
    write_ip(w, "dest_ip", f.dst, f.is_v6);
    if has_ports(f.proto) {
        w.u64("dest_port", f.dport as u64);
    }
    let pn = proto_name(f.proto);
    if pn.is_empty() {
        w.fmt("proto", format_args!("{}", f.proto));
    } else {
        w.str("proto", pn);
    }
    if matches!(f.proto, ipproto::ICMP | ipproto::ICMPV6) {
        w.u64("icmp_type", f.sport as u64)
            .u64("icmp_code", f.dport as u64);
    }
    if let Some((kind, id)) = f.tunnel {
        w.begin_object("tunnel")
            .str("type", kind)
            .u64("id", id as u64)
            .end_object();
    }
    if let Some(a) = app_proto {
        w.str("app_proto", a);
    }
    w.raw("community_id", &community_id_quoted(f));
}

/// Writes an address; IPv4 without going through `Display` (this runs for
/// every record).
#[inline]
pub fn write_ip(w: &mut JsonWriter<'_>, key: &str, a: Addr, is_v6: bool) {
    if is_v6 {
        w.fmt(key, format_args!("{}", a.to_ip(true)));
        return;
    }
    let o = (a.0 as u32).to_be_bytes();
    let mut b = [0u8; 17];
    let mut n = 0;
    b[n] = b'"';
    n += 1;
    for (i, x) in o.iter().enumerate() {
        if i > 0 {
            b[n] = b'.';
            n += 1;
        }
        if *x >= 100 {
            b[n] = b'0' + x / 100;
            n += 1;
        }
        if *x >= 10 {
            b[n] = b'0' + (x / 10) % 10;
            n += 1;
        }
        b[n] = b'0' + x % 10;
        n += 1;
    }
    b[n] = b'"';
    n += 1;
    w.raw(key, &b[..n]);
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, ipproto::TCP | ipproto::UDP | 132)
}

/// Formats packet time as RFC 3339 with microseconds and a UTC offset,
/// e.g. `2026-01-05T08:00:00.000123+00:00`, surrounded by quotes.
pub fn rfc3339_quoted(ts: Nanos) -> Vec<u8> {
    let mut out = Vec::with_capacity(34);
    out.push(b'"');
    out.extend_from_slice(rfc3339(ts).as_bytes());
    out.push(b'"');
    out
}

/// Formats packet time as RFC 3339 with microseconds and `+00:00`.
pub fn rfc3339(ts: Nanos) -> String {
    let secs = ts / 1_000_000_000;
    let micros = (ts % 1_000_000_000) / 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (the algorithm from Howard Hinnant's "chrono-compatible low-level date algorithms").
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// ICMP types that have a reply counterpart, per the Community ID spec.
fn icmp_counterpart(is_v6: bool, t: u16) -> Option<u16> {
    let pairs: &[(u16, u16)] = if is_v6 {
        &[
            (128, 129),
            (129, 128),
            (133, 134),
            (134, 133),
            (135, 136),
            (136, 135),
            (130, 131),
            (131, 130),
            (144, 145),
            (145, 144),
        ]
    } else {
        &[
            (8, 0),
            (0, 8),
            (13, 14),
            (14, 13),
            (15, 16),
            (16, 15),
            (10, 9),
            (9, 10),
            (17, 18),
            (18, 17),
        ]
    };
    pairs.iter().find(|p| p.0 == t).map(|p| p.1)
}

/// Slots of the per-thread Community ID cache (direct-mapped by flow id).
const CID_CACHE_SLOTS: usize = 4096;

thread_local! {
    /// Recently computed Community IDs, keyed by flow id: a flow's records
    /// (transactions, then the flow record) come close together, and the
    /// SHA-1 behind each id is the most expensive part of a record header.
    static CID_CACHE: std::cell::RefCell<Vec<(u64, [u8; 32])>> =
        std::cell::RefCell::new(vec![(0, [0u8; 32]); CID_CACHE_SLOTS]);
}

/// Community ID v1 (seed 0) of a flow, as `"1:<base64>"` with quotes.
pub fn community_id_quoted(f: &FlowHeader) -> Vec<u8> {
    if f.flow_id != 0 {
        let slot = (f.flow_id as usize) % CID_CACHE_SLOTS;
        let hit = CID_CACHE.with(|c| {
            let c = c.borrow();
            let (id, v) = &c[slot];
            (*id == f.flow_id).then(|| v.to_vec())
        });
        if let Some(v) = hit {
            return v;
        }
    }
    let mut out = Vec::with_capacity(34);
    out.push(b'"');
    out.extend_from_slice(community_id(f).as_bytes());
    out.push(b'"');
    if f.flow_id != 0 && out.len() == 32 {
        let slot = (f.flow_id as usize) % CID_CACHE_SLOTS;
        CID_CACHE.with(|c| {
            let mut v = [0u8; 32];
            v.copy_from_slice(&out);
            c.borrow_mut()[slot] = (f.flow_id, v);
        });
    }
    out
}

/// Community ID v1 (seed 0): `1:` + base64(SHA-1(seed, ordered addresses,
/// proto, padding, ordered ports)). See <https://github.com/corelight/community-id-spec>.
pub fn community_id(f: &FlowHeader) -> String {
    let (sa, n) = f.src.octets(f.is_v6);
    let (da, _) = f.dst.octets(f.is_v6);
    let (mut sp, mut dp) = (f.sport, f.dport);
    let mut one_way = false;
    if matches!(f.proto, ipproto::ICMP | ipproto::ICMPV6) {
        match icmp_counterpart(f.is_v6, f.sport) {
            Some(c) => dp = c,
            None => one_way = true,
        }
        sp = f.sport;
    }
    let ordered = one_way || (&sa[..n], sp) <= (&da[..n], dp);
    let (a1, a2, p1, p2) = if ordered {
        (sa, da, sp, dp)
    } else {
        (da, sa, dp, sp)
    };
    let mut h = Sha1::new();
    h.update(0u16.to_be_bytes());
    h.update(&a1[..n]);
    h.update(&a2[..n]);
    h.update([f.proto, 0]);
    if has_ports(f.proto) || matches!(f.proto, ipproto::ICMP | ipproto::ICMPV6) {
        h.update(p1.to_be_bytes());
        h.update(p2.to_be_bytes());
    }
    let digest = h.finalize();
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, proto: u8) -> FlowHeader {
        FlowHeader {
            flow_id: 1,
            src: Addr::v4(src),
            dst: Addr::v4(dst),
            sport: sp,
            dport: dp,
            proto,
            is_v6: false,
            vlan: 0,
            tunnel: None,
        }
    }

    #[test]
    fn community_id_matches_spec_vectors() {
        // Baseline values from the Community ID specification's test data
        // (tcp 128.232.110.120:34855 -> 66.35.250.204:80, seed 0).
        let f = hdr(
            [128, 232, 110, 120],
            34855,
            [66, 35, 250, 204],
            80,
            ipproto::TCP,
        );
        assert_eq!(community_id(&f), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        // Reversed direction gives the same id.
        let r = hdr(
            [66, 35, 250, 204],
            80,
            [128, 232, 110, 120],
            34855,
            ipproto::TCP,
        );
        assert_eq!(community_id(&r), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }

    #[test]
    fn rfc3339_formats_microseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000+00:00");
        // 2026-01-05T08:00:00.123456Z
        assert_eq!(
            rfc3339(1_767_600_000_123_456_789),
            "2026-01-05T08:00:00.123456+00:00"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000+00:00"
        );
    }
}
