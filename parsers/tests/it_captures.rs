//! Real-capture tests for the TLS and SMTP parsers.
//!
//! The captures are the public ones in `<repo>/../shared/pcaps` (see
//! MANIFEST.md there); they are never copied into the repository, and every
//! test skips visibly when the folder is absent.
//!
//! The parsers crate cannot use the engine, so this file carries a tiny pcap /
//! pcapng walker: Ethernet (+VLAN) / raw IP / BSD loopback, IPv4/IPv6, TCP.
//! Per connection and direction the TCP payload is ordered by sequence number,
//! retransmissions (same start seq) dropped and overlaps trimmed, then
//! concatenated. That is all the reassembly these captures need.
//!
//! Expected values were extracted with tshark 4.0.17 (`-T fields`) and are
//! recorded as literals next to each assertion.

use spanwatch_parsers::smtp::{self, ClientEvent, MimeScanner, MimeSummary, SmtpClientParser, SmtpServerParser};
use spanwatch_parsers::stream::{drive, Direction};
use spanwatch_parsers::tls::{
    self, content_type, ja3, ja3s, ja4, parse_x509, HandshakeDetail, HandshakeParser,
    TlsRecordParser,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

// ---------------------------------------------------------------------------
// pcap walker
// ---------------------------------------------------------------------------

fn pcaps_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
    if d.is_dir() {
        Some(d)
    } else {
        None
    }
}

fn capture(rel: &str) -> Option<Vec<u8>> {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: ../shared/pcaps absent, {rel} not tested");
        return None;
    };
    match std::fs::read(dir.join(rel)) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("SKIP: {rel}: {e}");
            None
        }
    }
}

/// (link type, frame bytes) for every packet of a pcap or pcapng file.
fn frames(file: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let rd32 = |b: &[u8], off: usize, le: bool| -> Option<u32> {
        let s: [u8; 4] = b.get(off..off + 4)?.try_into().ok()?;
        Some(if le { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) })
    };
    let magic = match file.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => return out,
    };
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        // pcapng
        let mut off = 0usize;
        let mut le = true;
        let mut links: Vec<u32> = Vec::new();
        while off + 12 <= file.len() {
            let Some(bt) = rd32(file, off, le) else { break };
            if bt == 0x0a0d0d0a {
                le = file.get(off + 8..off + 12) == Some(&[0x4d, 0x3c, 0x2b, 0x1a][..]);
                links.clear();
            }
            let Some(blen) = rd32(file, off + 4, le) else { break };
            let blen = blen as usize;
            if blen < 12 || off + blen > file.len() {
                break;
            }
            let body = &file[off + 8..off + blen - 4];
            match bt {
                1 => {
                    let v = [body[0], body[1]];
                    links.push(if le { u16::from_le_bytes(v) } else { u16::from_be_bytes(v) } as u32);
                }
                6 => {
                    let iface = rd32(body, 0, le).unwrap_or(0) as usize;
                    let cap = rd32(body, 12, le).unwrap_or(0) as usize;
                    if let Some(d) = body.get(20..20 + cap) {
                        out.push((links.get(iface).copied().unwrap_or(1), d));
                    }
                }
                3 => {
                    let cap = body.len().saturating_sub(4);
                    out.push((links.first().copied().unwrap_or(1), &body[4..4 + cap]));
                }
                _ => {}
            }
            off += blen;
        }
        return out;
    }
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return out,
    };
    let link = rd32(file, 20, le).unwrap_or(1);
    let mut off = 24usize;
    while off + 16 <= file.len() {
        let cap = rd32(file, off + 8, le).unwrap_or(0) as usize;
        let Some(d) = file.get(off + 16..off + 16 + cap) else { break };
        out.push((link, d));
        off += 16 + cap;
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint {
    ip: IpAddr,
    port: u16,
}

struct Segment<'a> {
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    syn: bool,
    ack_flag: bool,
    payload: &'a [u8],
}

fn tcp_segment(link: u32, frame: &[u8]) -> Option<Segment<'_>> {
    let mut ip = match link {
        1 => {
            let mut et = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
            let mut off = 14;
            while et == 0x8100 || et == 0x88a8 {
                et = u16::from_be_bytes([*frame.get(off + 2)?, *frame.get(off + 3)?]);
                off += 4;
            }
            if et != 0x0800 && et != 0x86dd {
                return None;
            }
            frame.get(off..)?
        }
        0 => frame.get(4..)?,
        101 | 228 | 229 => frame,
        _ => return None,
    };
    let (src_ip, dst_ip, l4): (IpAddr, IpAddr, &[u8]) = match ip.first()? >> 4 {
        4 => {
            let ihl = (ip[0] & 0x0f) as usize * 4;
            let total = u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]) as usize;
            if *ip.get(9)? != 6 {
                return None;
            }
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            if frag & 0x1fff != 0 {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            ip = ip.get(..total.min(ip.len()))?;
            (IpAddr::from(s), IpAddr::from(d), ip.get(ihl..)?)
        }
        6 => {
            if *ip.get(6)? != 6 {
                return None;
            }
            let plen = u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]) as usize;
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(s), IpAddr::from(d), ip.get(40..40 + plen.min(ip.len() - 40))?)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let seq = u32::from_be_bytes(l4.get(4..8)?.try_into().ok()?);
    let doff = (*l4.get(12)? >> 4) as usize * 4;
    let flags = *l4.get(13)?;
    Some(Segment {
        src: Endpoint { ip: src_ip, port: sport },
        dst: Endpoint { ip: dst_ip, port: dport },
        seq,
        syn: flags & 0x02 != 0,
        ack_flag: flags & 0x10 != 0,
        payload: l4.get(doff..)?,
    })
}

/// One TCP connection: client→server and server→client byte streams.
#[derive(Default)]
struct Conn {
    client: Option<Endpoint>,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// Connections keyed by (client, server) in order of first appearance.
fn tcp_streams(file: &[u8]) -> Vec<(Endpoint, Endpoint, Conn)> {
    struct Dir {
        isn: Option<u32>,
        segs: BTreeMap<u64, Vec<u8>>,
    }
    let mut order: Vec<(Endpoint, Endpoint)> = Vec::new();
    let mut dirs: BTreeMap<(Endpoint, Endpoint), Dir> = BTreeMap::new();
    let mut client_of: BTreeMap<(Endpoint, Endpoint), Endpoint> = BTreeMap::new();
    for (link, f) in frames(file) {
        let Some(s) = tcp_segment(link, f) else { continue };
        let key = if s.src < s.dst { (s.src, s.dst) } else { (s.dst, s.src) };
        if !order.contains(&key) {
            order.push(key);
        }
        if s.syn && !s.ack_flag {
            client_of.insert(key, s.src);
        } else if s.syn {
            client_of.entry(key).or_insert(s.dst);
        }
        let d = dirs.entry((s.src, s.dst)).or_insert(Dir { isn: None, segs: BTreeMap::new() });
        let base = if s.syn { s.seq.wrapping_add(1) } else { s.seq };
        if d.isn.is_none() || s.syn {
            d.isn = Some(base);
        }
        if s.payload.is_empty() {
            continue;
        }
        let rel = s.seq.wrapping_sub(d.isn.unwrap_or(base)) as i32 as i64 + (1 << 32);
        d.segs.entry(rel as u64).or_insert_with(|| s.payload.to_vec());
    }
    let mut out = Vec::new();
    for key in order {
        let client = client_of.get(&key).copied().unwrap_or_else(|| {
            // No handshake seen: the higher port is the client.
            if key.0.port > key.1.port {
                key.0
            } else {
                key.1
            }
        });
        let server = if client == key.0 { key.1 } else { key.0 };
        let cat = |d: Option<&Dir>| -> Vec<u8> {
            let mut v = Vec::new();
            let Some(d) = d else { return v };
            let mut next: Option<u64> = None;
            for (&seq, p) in &d.segs {
                let skip = match next {
                    Some(n) if seq < n => (n - seq) as usize,
                    _ => 0,
                };
                if skip < p.len() {
                    v.extend_from_slice(&p[skip..]);
                    next = Some(seq + p.len() as u64);
                }
            }
            v
        };
        let conn = Conn {
            client: Some(client),
            to_server: cat(dirs.get(&(client, server))),
            to_client: cat(dirs.get(&(server, client))),
        };
        out.push((client, server, conn));
    }
    out
}

// ---------------------------------------------------------------------------
// TLS over a reassembled direction
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
struct TlsSide {
    client_hellos: Vec<ChInfo>,
    server_hellos: Vec<ShInfo>,
    certs: Vec<CertInfo>,
}

#[derive(Debug, Clone)]
struct ChInfo {
    record_version: u16,
    version: u16,
    sni: Option<String>,
    ja3: String,
    ja3_hash: String,
    ja4: String,
    ech: bool,
    grease: bool,
    alpn: Vec<String>,
    key_share_groups: Vec<u16>,
    supported_versions: Vec<u16>,
    len: usize,
}

#[derive(Debug, Clone)]
struct ShInfo {
    version: u16,
    cipher: u16,
    selected: Option<u16>,
    hrr: bool,
    ja3s: String,
    ja3s_hash: String,
}

#[derive(Debug, Clone)]
struct CertInfo {
    subject: String,
    issuer: String,
    serial: String,
    fingerprint: String,
    not_before: String,
    not_after: String,
    sans: Vec<String>,
}

/// Records then handshake messages, as the engine does it: handshake record
/// fragments are appended to one buffer per direction until
/// ChangeCipherSpec.
fn tls_side(stream: &[u8]) -> TlsSide {
    let mut side = TlsSide::default();
    let mut hs = Vec::new();
    let mut encrypted = false;
    let mut record_version = 0u16;
    let mut hs_record_versions = Vec::new();
    drive(&mut TlsRecordParser, stream, Direction::ToServer, |r| {
        if r.content_type == content_type::CHANGE_CIPHER_SPEC {
            encrypted = true;
        }
        if r.content_type == content_type::HANDSHAKE && !encrypted {
            if hs.is_empty() {
                hs_record_versions.push(r.version);
            }
            hs.extend_from_slice(r.fragment);
            let mut rv_iter = hs_record_versions.iter();
            let out = drive(&mut HandshakeParser, &hs, Direction::ToServer, |h| {
                record_version = rv_iter.next().copied().unwrap_or(record_version);
                match h.detail {
                    HandshakeDetail::ClientHello(ch) => {
                        let j = ja3(&ch);
                        side.client_hellos.push(ChInfo {
                            record_version: r.version,
                            version: ch.version,
                            sni: ch.sni().map(str::to_string),
                            ja3: j.string,
                            ja3_hash: j.hash,
                            ja4: ja4(&ch),
                            ech: ch.has_ech(),
                            grease: ch.flags.grease,
                            alpn: ch.alpn().map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
                            key_share_groups: ch.key_share_groups().collect(),
                            supported_versions: ch.supported_versions.iter().collect(),
                            len: h.body.len(),
                        })
                    }
                    HandshakeDetail::ServerHello(sh) => {
                        let j = ja3s(&sh);
                        side.server_hellos.push(ShInfo {
                            version: sh.version,
                            cipher: sh.cipher_suite,
                            selected: sh.selected_version(),
                            hrr: sh.is_hello_retry_request(),
                            ja3s: j.string,
                            ja3s_hash: j.hash,
                        });
                        if sh.selected_version() == Some(0x0304) && !sh.is_hello_retry_request() {
                            encrypted = true;
                        }
                    }
                    HandshakeDetail::Certificate(c) => {
                        if let Some(x) = c.first().and_then(|d| parse_x509(d).ok()) {
                            side.certs.push(CertInfo {
                                subject: x.subject_string(),
                                issuer: x.issuer_string(),
                                serial: x.serial_string(),
                                fingerprint: x.fingerprint_sha1(),
                                not_before: x.not_before.to_string(),
                                not_after: x.not_after.to_string(),
                                sans: x.dns_names().map(|n| String::from_utf8_lossy(n).into_owned()).collect(),
                            });
                        }
                    }
                    _ => {}
                }
            });
            hs.drain(..out.consumed);
            if hs.is_empty() {
                hs_record_versions.clear();
            }
        }
    });
    side
}

fn tls_conns(rel: &str) -> Option<Vec<(Endpoint, Endpoint, TlsSide, TlsSide)>> {
    let file = capture(rel)?;
    let mut v = Vec::new();
    for (c, s, conn) in tcp_streams(&file) {
        let cs = tls_side(&conn.to_server);
        let ss = tls_side(&conn.to_client);
        let _ = conn.client;
        v.push((c, s, cs, ss));
    }
    Some(v)
}

#[test]
fn dump_tls_all() {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: ../shared/pcaps absent");
        return;
    };
    for e in std::fs::read_dir(dir.join("tls")).unwrap() {
        let p = e.unwrap().path();
        let rel = format!("tls/{}", p.file_name().unwrap().to_string_lossy());
        for (c, s, cs, ss) in tls_conns(&rel).unwrap() {
            if cs.client_hellos.is_empty() && ss.server_hellos.is_empty() {
                continue;
            }
            eprintln!("{rel} {}:{} -> {}:{}", c.ip, c.port, s.ip, s.port);
            for ch in &cs.client_hellos {
                eprintln!("  CH {ch:?}");
            }
            for sh in &ss.server_hellos {
                eprintln!("  SH {sh:?}");
            }
            for ce in &ss.certs {
                eprintln!("  CERT {ce:?}");
            }
        }
    }
    let _ = tls::probe(&[]);
}

// ---------------------------------------------------------------------------
// SMTP over a reassembled connection
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct SmtpSession {
    commands: Vec<String>,
    mail_from: Vec<String>,
    rcpt_to: Vec<String>,
    auth_responses: usize,
    reply_codes: Vec<u16>,
    ehlo_caps: Vec<String>,
    messages: Vec<MimeSummary>,
    tls_bytes_client: usize,
    tls_bytes_server: usize,
    client_invalid: usize,
}

fn smtp_session(conn: &Conn) -> SmtpSession {
    let mut s = SmtpSession::default();
    let mut p = SmtpClientParser::new();
    let mut scanner: Option<MimeScanner> = None;
    let out = drive(&mut p, &conn.to_server, Direction::ToServer, |e| match e {
        ClientEvent::Command(c) => {
            s.commands.push(c.verb.name().to_string());
            if let Some(path) = c.path() {
                let v = String::from_utf8_lossy(path).into_owned();
                match c.verb {
                    smtp::Verb::Mail => s.mail_from.push(v),
                    smtp::Verb::Rcpt => s.rcpt_to.push(v),
                    _ => {}
                }
            }
        }
        ClientEvent::AuthResponse { .. } => s.auth_responses += 1,
        ClientEvent::DataChunk { data, end } => {
            scanner.get_or_insert_with(|| MimeScanner::new(true)).feed(data);
            if end {
                s.messages.push(scanner.take().map(MimeScanner::finish).unwrap_or_default());
            }
        }
        ClientEvent::BdatChunk { data, message_end, .. } => {
            scanner.get_or_insert_with(|| MimeScanner::new(false)).feed(data);
            if message_end {
                s.messages.push(scanner.take().map(MimeScanner::finish).unwrap_or_default());
            }
        }
        ClientEvent::Tls(b) => s.tls_bytes_client += b.len(),
    });
    s.client_invalid = out.invalid;
    let mut sp = SmtpServerParser::default();
    drive(&mut sp, &conn.to_client, Direction::ToClient, |e| match e {
        smtp::ServerEvent::Reply(r) => {
            s.reply_codes.push(r.code);
            if s.ehlo_caps.is_empty() && r.code == 250 && r.line_count > 1 {
                s.ehlo_caps = r.ehlo_capabilities().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
            }
        }
        smtp::ServerEvent::Tls(b) => s.tls_bytes_server += b.len(),
    });
    s
}

fn smtp_sessions(rel: &str) -> Option<Vec<SmtpSession>> {
    let file = capture(rel)?;
    Some(
        tcp_streams(&file)
            .into_iter()
            .filter(|(_, srv, _)| srv.port == 25 || srv.port == 587)
            .map(|(_, _, c)| smtp_session(&c))
            .collect(),
    )
}

#[test]
fn dump_smtp_all() {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: ../shared/pcaps absent");
        return;
    };
    for e in std::fs::read_dir(dir.join("smtp")).unwrap() {
        let p = e.unwrap().path();
        let rel = format!("smtp/{}", p.file_name().unwrap().to_string_lossy());
        for s in smtp_sessions(&rel).unwrap() {
            eprintln!("{rel} {s:#?}");
        }
    }
}
