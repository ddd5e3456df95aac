//! DNS over UDP/53: one query and its answer (A, AAAA, CNAME chains, NXDOMAIN), with name
//! compression in the answer and EDNS(0) OPT records.
//!
//! References: RFC 1035 (message format, §4.1.4 compression), RFC 3596 (AAAA), RFC 6891 (OPT).
//!
//! ```text
//! header: id u16 | flags u16 | qdcount | ancount | nscount | arcount
//! question: qname | qtype u16 | qclass u16
//! rr: name | type u16 | class u16 | ttl u32 | rdlength u16 | rdata
//! name: labels (len u8, bytes) ending in 0, or ending in a pointer 0b11 + 14-bit offset
//! ```

use crate::gen::bytes::{prefixed, u16be, u32be};
use crate::gen::net::{external_for_name, Envelope, Host, Net};
use crate::gen::rng::{mix64, Rng};
use crate::gen::timeline::{Actor, Ctx, Kind, Script};
use crate::gen::wire::{build_frame, Ip4, Transport};

/// DNS port.
pub const PORT: u16 = 53;
/// Record types.
pub const TYPE_A: u16 = 1;
/// NS.
pub const TYPE_NS: u16 = 2;
/// CNAME.
pub const TYPE_CNAME: u16 = 5;
/// SOA.
pub const TYPE_SOA: u16 = 6;
/// AAAA.
pub const TYPE_AAAA: u16 = 28;
/// OPT pseudo-record.
pub const TYPE_OPT: u16 = 41;
/// Class IN.
pub const CLASS_IN: u16 = 1;
/// Most suffixes one message remembers for compression; later names are written in full.
pub const MAX_COMPRESSION_ENTRIES: usize = 64;

/// A name the simulated resolver knows.
#[derive(Clone, Copy, Debug)]
pub struct ZoneEntry {
    /// Owner name.
    pub name: &'static str,
    /// Alias target, if the name is a CNAME.
    pub cname: Option<&'static str>,
    /// Whether an AAAA record exists at the end of the chain.
    pub aaaa: bool,
}

/// Everything the resolver answers for; other names get NXDOMAIN.
pub const ZONE: &[ZoneEntry] = &[
    ZoneEntry {
        name: "portal.example.com",
        cname: None,
        aaaa: true,
    },
    ZoneEntry {
        name: "www.example.com",
        cname: Some("www.example.com.edge.example.net"),
        aaaa: true,
    },
    ZoneEntry {
        name: "api.example.net",
        cname: None,
        aaaa: true,
    },
    ZoneEntry {
        name: "login.example.org",
        cname: Some("idp.example.org"),
        aaaa: false,
    },
    ZoneEntry {
        name: "cdn.example.net",
        cname: Some("cdn-lb.edge.example.net"),
        aaaa: true,
    },
    ZoneEntry {
        name: "updates.example.com",
        cname: Some("dl.example.com"),
        aaaa: false,
    },
    ZoneEntry {
        name: "telemetry.example.org",
        cname: None,
        aaaa: false,
    },
    ZoneEntry {
        name: "mail.example.org",
        cname: None,
        aaaa: true,
    },
    ZoneEntry {
        name: "storage.example.net",
        cname: Some("s3.eu.storage.example.net"),
        aaaa: true,
    },
    ZoneEntry {
        name: "docs.example.com",
        cname: None,
        aaaa: true,
    },
    ZoneEntry {
        name: "chat.example.net",
        cname: None,
        aaaa: false,
    },
    ZoneEntry {
        name: "vendor-support.example.com",
        cname: Some("support.example.com"),
        aaaa: false,
    },
    ZoneEntry {
        name: "licensing.example.org",
        cname: None,
        aaaa: false,
    },
    ZoneEntry {
        name: "time.example.net",
        cname: None,
        aaaa: false,
    },
    ZoneEntry {
        name: "maps.example.com",
        cname: Some("maps.edge.example.net"),
        aaaa: true,
    },
    ZoneEntry {
        name: "video.example.net",
        cname: Some("v.edge.example.net"),
        aaaa: true,
    },
    ZoneEntry {
        name: "mx.example.net",
        cname: None,
        aaaa: false,
    },
    ZoneEntry {
        name: "historian.plant.corp.example",
        cname: None,
        aaaa: false,
    },
    ZoneEntry {
        name: "scada.plant.corp.example",
        cname: None,
        aaaa: false,
    },
    ZoneEntry {
        name: "fileserver.corp.example",
        cname: None,
        aaaa: false,
    },
];

/// Names that do not exist (typos, stale configuration).
pub const MISSING: &[&str] = &[
    "portal.exmaple.com",
    "wpad.corp.example",
    "old-historian.plant.corp.example",
    "printer-3.corp.example",
];

/// The IPv4 address a name resolves to (internal names land in 10.0.0.0/16).
pub fn address_of(name: &str) -> Ip4 {
    if name.ends_with(".corp.example") {
        let h = name.bytes().fold(0u64, |h, b| mix64(h ^ u64::from(b)));
        return [10, 0, 0, 100 + (h % 100) as u8];
    }
    external_for_name(name)
}

fn address6_of(name: &str) -> [u8; 16] {
    let h = name.bytes().fold(7u64, |h, b| mix64(h ^ u64::from(b)));
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]); // 2001:db8::/32
    a[8..16].copy_from_slice(&h.to_be_bytes());
    a
}

/// Writes `name` into `msg`, pointing to an earlier copy of its longest known suffix.
fn write_name(msg: &mut Vec<u8>, name: &str, table: &mut Vec<(String, u16)>) {
    let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
    for i in 0..labels.len() {
        let suffix = labels[i..].join(".");
        if let Some(&(_, off)) = table.iter().find(|(n, _)| n.eq_ignore_ascii_case(&suffix)) {
            u16be(msg, 0xC000 | off);
            return;
        }
        if msg.len() < 0x3FFF && table.len() < MAX_COMPRESSION_ENTRIES {
            table.push((suffix, msg.len() as u16));
        }
        let l = labels[i].as_bytes();
        msg.push(l.len().min(63) as u8);
        msg.extend_from_slice(&l[..l.len().min(63)]);
    }
    msg.push(0);
}

fn header(msg: &mut Vec<u8>, id: u16, flags: u16, counts: [u16; 4]) {
    u16be(msg, id);
    u16be(msg, flags);
    for c in counts {
        u16be(msg, c);
    }
}

fn opt_record(msg: &mut Vec<u8>) {
    msg.push(0); // root
    u16be(msg, TYPE_OPT);
    u16be(msg, 1232); // UDP payload size
    u32be(msg, 0); // extended rcode, version, flags
    u16be(msg, 0);
}

/// A recursive query with EDNS(0).
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64);
    header(&mut msg, id, 0x0100, [1, 0, 0, 1]); // RD
    write_name(&mut msg, name, &mut Vec::new());
    u16be(&mut msg, qtype);
    u16be(&mut msg, CLASS_IN);
    opt_record(&mut msg);
    msg
}

/// The resolver's answer to `query(id, name, qtype)`.
pub fn response(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let entry = ZONE.iter().find(|e| e.name.eq_ignore_ascii_case(name));
    let mut table = Vec::new();
    let mut body = Vec::with_capacity(256);
    // Header goes first; counts are patched below.
    header(&mut body, id, 0, [1, 0, 0, 1]);
    write_name(&mut body, name, &mut table);
    u16be(&mut body, qtype);
    u16be(&mut body, CLASS_IN);
    let mut answers = 0u16;
    let mut authority = 0u16;
    let rcode;
    match entry {
        Some(e) => {
            rcode = 0;
            let mut owner = name;
            if let Some(target) = e.cname {
                write_name(&mut body, owner, &mut table);
                u16be(&mut body, TYPE_CNAME);
                u16be(&mut body, CLASS_IN);
                u32be(&mut body, 300);
                prefixed(&mut body, 2, |o| write_name(o, target, &mut table));
                answers += 1;
                owner = target;
            }
            let final_type_exists = qtype == TYPE_A || (qtype == TYPE_AAAA && e.aaaa);
            if final_type_exists {
                write_name(&mut body, owner, &mut table);
                u16be(&mut body, qtype);
                u16be(&mut body, CLASS_IN);
                u32be(&mut body, if e.cname.is_some() { 60 } else { 3600 });
                if qtype == TYPE_A {
                    prefixed(&mut body, 2, |o| o.extend_from_slice(&address_of(owner)));
                } else {
                    prefixed(&mut body, 2, |o| o.extend_from_slice(&address6_of(owner)));
                }
                answers += 1;
            } else {
                soa(&mut body, owner, &mut table);
                authority += 1;
            }
        }
        None => {
            rcode = 3; // NXDOMAIN
            soa(&mut body, name, &mut table);
            authority += 1;
        }
    }
    opt_record(&mut body);
    // QR, opcode 0, RD, RA, rcode
    body[2..4].copy_from_slice(&(0x8180u16 | rcode).to_be_bytes());
    body[6..8].copy_from_slice(&answers.to_be_bytes());
    body[8..10].copy_from_slice(&authority.to_be_bytes());
    body
}

/// SOA of the zone enclosing `name` (its last two labels), for negative answers.
fn soa(msg: &mut Vec<u8>, name: &str, table: &mut Vec<(String, u16)>) {
    let labels: Vec<&str> = name.split('.').collect();
    let zone = labels[labels.len().saturating_sub(2)..].join(".");
    write_name(msg, &zone, table);
    u16be(msg, TYPE_SOA);
    u16be(msg, CLASS_IN);
    u32be(msg, 900);
    let mname = format!("ns1.{zone}");
    let rname = format!("hostmaster.{zone}");
    prefixed(msg, 2, |o| {
        write_name(o, &mname, table);
        write_name(o, &rname, table);
        for v in [2026010501u32, 7200, 900, 1_209_600, 300] {
            u32be(o, v);
        }
    });
}

/// One lookup.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// The stub resolver's host.
    pub client: Host,
    /// The resolver.
    pub resolver: Host,
    /// Name asked for.
    pub name: String,
    /// Type asked for.
    pub qtype: u16,
    /// Wrapping on the capture link.
    pub envelope: Envelope,
    /// Resolver's answer delay (cache hit ~0.2 ms, miss tens of ms).
    pub latency: u64,
}

/// The actor: sends the query, emits the answer, finishes.
pub struct DnsLookup {
    cfg: DnsConfig,
    rng: Rng,
}

impl DnsLookup {
    /// A lookup.
    pub fn new(cfg: DnsConfig, rng: Rng) -> Self {
        DnsLookup { cfg, rng }
    }
}

/// Emits the query at `t` and the response `latency` later; returns the response time.
pub fn lookup(net: &Net, rng: &mut Rng, cfg: &DnsConfig, s: &mut Script, t: u64) -> u64 {
    let (fwd, rev) = net.paths(&cfg.client, &cfg.resolver, cfg.envelope, rng);
    let id = rng.next_u16();
    let port = 49152 + rng.below(16384) as u16;
    let q = query(id, &cfg.name, cfg.qtype);
    let r = response(id, &cfg.name, cfg.qtype);
    let mut f = Vec::with_capacity(q.len() + 64);
    let ip_id = rng.next_u16();
    build_frame(
        &mut f,
        &fwd,
        ip_id,
        &Transport::Udp {
            src_port: port,
            dst_port: PORT,
        },
        &q,
    );
    let t = s.push(t, Kind::Dns, f);
    let mut f = Vec::with_capacity(r.len() + 64);
    let ip_id = rng.next_u16();
    build_frame(
        &mut f,
        &rev,
        ip_id,
        &Transport::Udp {
            src_port: PORT,
            dst_port: port,
        },
        &r,
    );
    s.push(t + cfg.latency, Kind::Dns, f)
}

impl Actor for DnsLookup {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        lookup(&ctx.net, &mut self.rng, &self.cfg, s, ctx.now);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_for_portal_has_rd_flag_question_and_opt() {
        let q = query(0xBEEF, "portal.example.com", TYPE_A);
        assert_eq!(&q[..12], &[0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&q[12..32], b"\x06portal\x07example\x03com\x00");
        assert_eq!(&q[32..36], &[0, 1, 0, 1]);
        assert_eq!(&q[36..], &[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn cname_answer_points_back_into_the_question_and_into_its_own_target() {
        // www.example.com -> CNAME www.example.com.edge.example.net -> A
        let r = response(1, "www.example.com", TYPE_A);
        assert_eq!(&r[2..4], &[0x81, 0x80]);
        assert_eq!(&r[6..8], &[0, 2], "two answers");
        // question name at 12 (17 bytes) + type/class = 33
        assert_eq!(
            &r[33..35],
            &[0xC0, 0x0C],
            "CNAME owner is a pointer to the question"
        );
        assert_eq!(&r[35..37], &TYPE_CNAME.to_be_bytes());
        // rdata starts at 33 + 2 (type) + 2 (class) + 4 (ttl) + 2 (rdlength) = 43 + 2.
        // No suffix of the target ("...example.net") was written before: it goes out in full.
        let rdlen = usize::from(u16::from_be_bytes([r[43], r[44]]));
        let target = &r[45..45 + rdlen];
        assert_eq!(
            target,
            b"\x03www\x07example\x03com\x04edge\x07example\x03net\x00"
        );
        // The A record's owner points at the CNAME target.
        let a_owner = 45 + rdlen;
        assert_eq!(&r[a_owner..a_owner + 2], &[0xC0, 45]);
        assert_eq!(&r[a_owner + 2..a_owner + 4], &TYPE_A.to_be_bytes());
    }

    #[test]
    fn cname_target_in_the_same_domain_reuses_the_question_suffix() {
        // login.example.org -> CNAME idp.example.org: rdata = "idp" + pointer to "example.org",
        // which sits at 12 + 6 (after the "login" label). The question name is 19 bytes, so the
        // answer starts at 12 + 19 + 4 = 35 and its rdlength at 35 + 10 = 45.
        let r = response(2, "login.example.org", TYPE_A);
        assert_eq!(&r[35..37], &[0xC0, 0x0C]);
        assert_eq!(
            &r[45..47],
            &[0, 6],
            "rdlength: 4 label bytes + 2 pointer bytes"
        );
        assert_eq!(&r[47..53], b"\x03idp\xC0\x12");
        assert_eq!(&r[53..55], &[0xC0, 47], "A owner points at the target");
    }

    #[test]
    fn unknown_name_gets_nxdomain_with_soa_in_authority() {
        let r = response(9, "printer-3.corp.example", TYPE_A);
        assert_eq!(&r[2..4], &[0x81, 0x83]);
        assert_eq!(&r[6..10], &[0, 0, 0, 1]);
    }
}
