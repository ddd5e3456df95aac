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

use spanwatch_parsers::smtp::{
    self, ClientEvent, MimeScanner, MimeSummary, SmtpClientParser, SmtpServerParser,
};
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
        Some(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
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
            let Some(blen) = rd32(file, off + 4, le) else {
                break;
            };
            let blen = blen as usize;
            if blen < 12 || off + blen > file.len() {
                break;
            }
            let body = &file[off + 8..off + blen - 4];
            match bt {
                1 => {
                    let v = [body[0], body[1]];
                    links.push(if le {
                        u16::from_le_bytes(v)
                    } else {
                        u16::from_be_bytes(v)
                    } as u32);
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
        let Some(d) = file.get(off + 16..off + 16 + cap) else {
            break;
        };
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

/// (source, destination, IP protocol, transport bytes) of one frame.
fn ip_layer(link: u32, frame: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
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
    let (src_ip, dst_ip, proto, l4): (IpAddr, IpAddr, u8, &[u8]) = match ip.first()? >> 4 {
        4 => {
            let ihl = (ip[0] & 0x0f) as usize * 4;
            let total = u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]) as usize;
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            if frag & 0x1fff != 0 {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            ip = ip.get(..total.min(ip.len()))?;
            (IpAddr::from(s), IpAddr::from(d), ip[9], ip.get(ihl..)?)
        }
        6 => {
            let plen = u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]) as usize;
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let proto = *ip.get(6)?;
            (
                IpAddr::from(s),
                IpAddr::from(d),
                proto,
                ip.get(40..40 + plen.min(ip.len() - 40))?,
            )
        }
        _ => return None,
    };
    Some((src_ip, dst_ip, proto, l4))
}

/// (source port, destination port, payload) of every UDP datagram.
fn udp_datagrams(file: &[u8]) -> Vec<(u16, u16, &[u8])> {
    let mut out = Vec::new();
    for (link, f) in frames(file) {
        let Some((_, _, 17, l4)) = ip_layer(link, f) else {
            continue;
        };
        let (Some(h), Some(p)) = (l4.get(..8), l4.get(8..)) else {
            continue;
        };
        let len = (u16::from_be_bytes([h[4], h[5]]) as usize)
            .saturating_sub(8)
            .min(p.len());
        out.push((
            u16::from_be_bytes([h[0], h[1]]),
            u16::from_be_bytes([h[2], h[3]]),
            &p[..len],
        ));
    }
    out
}

fn tcp_segment(link: u32, frame: &[u8]) -> Option<Segment<'_>> {
    let (src_ip, dst_ip, proto, l4) = ip_layer(link, frame)?;
    if proto != 6 {
        return None;
    }
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let seq = u32::from_be_bytes(l4.get(4..8)?.try_into().ok()?);
    let doff = (*l4.get(12)? >> 4) as usize * 4;
    let flags = *l4.get(13)?;
    Some(Segment {
        src: Endpoint {
            ip: src_ip,
            port: sport,
        },
        dst: Endpoint {
            ip: dst_ip,
            port: dport,
        },
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
        let Some(s) = tcp_segment(link, f) else {
            continue;
        };
        let key = if s.src < s.dst {
            (s.src, s.dst)
        } else {
            (s.dst, s.src)
        };
        if !order.contains(&key) {
            order.push(key);
        }
        if s.syn && !s.ack_flag {
            client_of.insert(key, s.src);
        } else if s.syn {
            client_of.entry(key).or_insert(s.dst);
        }
        let d = dirs.entry((s.src, s.dst)).or_insert(Dir {
            isn: None,
            segs: BTreeMap::new(),
        });
        let base = if s.syn { s.seq.wrapping_add(1) } else { s.seq };
        if d.isn.is_none() || s.syn {
            d.isn = Some(base);
        }
        if s.payload.is_empty() {
            continue;
        }
        let rel = s.seq.wrapping_sub(d.isn.unwrap_or(base)) as i32 as i64 + (1 << 32);
        d.segs
            .entry(rel as u64)
            .or_insert_with(|| s.payload.to_vec());
    }
    let mut out = Vec::new();
    for key in order {
        // No handshake seen: the higher port is the client.
        let guess = if key.0.port > key.1.port {
            key.0
        } else {
            key.1
        };
        let client = client_of.get(&key).copied().unwrap_or(guess);
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
    sslv2_hellos: Vec<u16>,
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
/// fragments are appended to one buffer per direction until the direction is
/// encrypted: after ChangeCipherSpec in TLS <= 1.2, after ServerHello in TLS
/// 1.3 (where a client's CCS is only middlebox compatibility and a second
/// ClientHello may follow it after a HelloRetryRequest).
fn tls_side(stream: &[u8], tls13: bool) -> TlsSide {
    let mut side = TlsSide::default();
    let mut hs = Vec::new();
    let mut encrypted = false;
    let mut record_version = 0u16;
    let mut hs_record_versions = Vec::new();
    drive(&mut TlsRecordParser, stream, Direction::ToServer, |r| {
        if r.content_type == content_type::SSLV2_CLIENT_HELLO {
            if let Ok(h) = tls::Sslv2ClientHello::parse(r.fragment) {
                side.sslv2_hellos.push(h.version);
            }
        }
        if r.content_type == content_type::CHANGE_CIPHER_SPEC && !tls13 {
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
                            alpn: ch
                                .alpn()
                                .map(|a| String::from_utf8_lossy(a).into_owned())
                                .collect(),
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
                                sans: x
                                    .dns_names()
                                    .map(|n| String::from_utf8_lossy(n).into_owned())
                                    .collect(),
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
        let ss = tls_side(&conn.to_client, false);
        let tls13 = ss.server_hellos.iter().any(|h| h.selected == Some(0x0304));
        let cs = tls_side(&conn.to_server, tls13);
        let _ = conn.client;
        v.push((c, s, cs, ss));
    }
    Some(v)
}

fn hellos(conns: &[(Endpoint, Endpoint, TlsSide, TlsSide)]) -> Vec<&ChInfo> {
    conns
        .iter()
        .flat_map(|c| c.2.client_hellos.iter())
        .collect()
}

fn server_hellos(conns: &[(Endpoint, Endpoint, TlsSide, TlsSide)]) -> Vec<&ShInfo> {
    conns
        .iter()
        .flat_map(|c| c.3.server_hellos.iter())
        .collect()
}

fn md5_of_sorted_lines(mut v: Vec<String>) -> String {
    // Same as `... | sort | md5sum` in a shell.
    use md5::{Digest, Md5};
    v.sort();
    let mut h = Md5::new();
    for l in v {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// ClientHello spread over several TCP segments (captured at MTU 300):
/// the record parser waits (Incomplete) until the whole record is there.
#[test]
fn tls_client_hello_fragmented_by_mtu300_gives_sni_and_certificate() {
    let Some(conns) = tls_conns("tls/suricata-verify_tls-client-hello-frag-01_dump_mtu300.pcap")
    else {
        return;
    };
    let chs = hellos(&conns);
    assert_eq!(chs.len(), 1);
    let ch = chs[0];
    // tshark: tls.record.version 0x0301, tls.handshake.version 0x0303, SNI www.google.com
    assert_eq!((ch.record_version, ch.version), (0x0301, 0x0303));
    assert_eq!(ch.sni.as_deref(), Some("www.google.com"));
    assert_eq!(ch.alpn, ["h2", "http/1.1"]);
    // tshark tls.handshake.ja3 / ja3_full
    assert_eq!(ch.ja3_hash, "a64c29923906f2a1be278be1da0714fa");
    assert_eq!(
        ch.ja3,
        "771,49200-49196-49192-49188-49172-49162-165-163-161-159-107-106-105-104-57-56-55-54-136-135-134-133-\
         49202-49198-49194-49190-49167-49157-157-61-53-132-49199-49195-49191-49187-49171-49161-164-162-160-158-\
         103-64-63-62-51-50-49-48-154-153-152-151-69-68-67-66-49201-49197-49193-49189-49166-49156-156-60-47-150-\
         65-49170-49160-22-19-16-13-49165-49155-10-7-255,0-11-10-13-15-13172-16-21,23-25-24-22,0-1-2"
    );
    let sh = server_hellos(&conns);
    // tshark: tls.handshake.ciphersuite 0xc02b, ja3s
    assert_eq!(sh[0].cipher, 0xc02b);
    assert_eq!(sh[0].ja3s, "771,49195,65281-11-16");
    assert_eq!(sh[0].ja3s_hash, "a27e76e64afe9199440ad714848966f8");
    // Leaf certificate: openssl x509 -fingerprint -sha1 -serial -dates on the
    // bytes tshark extracts (tls.handshake.certificate).
    let cert = &conns[0].3.certs[0];
    assert_eq!(cert.subject, "CN=www.google.com");
    assert_eq!(
        cert.issuer,
        "C=US, O=Google Trust Services LLC, CN=GTS CA 1C3"
    );
    assert_eq!(
        cert.serial,
        "00:BB:2A:80:CC:14:FC:DD:BC:12:02:B2:A0:86:BD:1D:17"
    );
    assert_eq!(
        cert.fingerprint,
        "27:2e:56:1b:56:00:b7:8d:84:07:c7:62:41:02:94:f3:9a:a0:c3:5e"
    );
    assert_eq!(
        (cert.not_before.as_str(), cert.not_after.as_str()),
        ("2022-07-18T08:25:34", "2022-10-10T08:25:33")
    );
    assert_eq!(cert.sans, ["www.google.com"]);
}

#[test]
fn tls_browsing_session_forty_hellos_twenty_snis() {
    let Some(conns) = tls_conns("tls/suricata-verify_tls-subjectaltname.pcap") else {
        return;
    };
    let chs = hellos(&conns);
    assert_eq!(chs.len(), 40);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for ch in &chs {
        *counts.entry(ch.sni.as_deref().unwrap_or("")).or_default() += 1;
        assert_eq!(ch.ja3_hash, "5182f54f9c6e99d117d9dde3fa2b4cff");
    }
    // tshark -e tls.handshake.extensions_server_name | sort | uniq -c
    let expected: BTreeMap<&str, usize> = [
        ("adservice.google.com", 1),
        ("adservice.google.fr", 1),
        ("bedreboligliv.dk", 1),
        ("go.microsoft.com", 2),
        ("googleads.g.doubleclick.net", 1),
        ("iecvlist.microsoft.com", 1),
        ("ieonline.microsoft.com", 2),
        ("madmaskiner.dk", 1),
        ("mamzon.ru", 11),
        ("mc.yandex.ru", 3),
        ("pagead2.googlesyndication.com", 2),
        ("partner.googleadservices.com", 1),
        ("query.prod.cms.msn.com", 2),
        ("r20swj13mr.microsoft.com", 2),
        ("tpc.googlesyndication.com", 1),
        ("www.bing.com", 2),
        ("www.coffeecircle.com", 2),
        ("www.google.com", 1),
        ("www.havenyt.dk", 1),
        ("www.msn.com", 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
    // The www.bing.com leaf certificate: subject CN and SAN list.
    let bing = conns
        .iter()
        .find(|c| c.2.client_hellos.first().and_then(|h| h.sni.as_deref()) == Some("www.bing.com"))
        .and_then(|c| c.3.certs.first())
        .expect("bing certificate");
    assert_eq!(bing.subject, "CN=www.bing.com");
    assert_eq!(
        bing.issuer,
        "C=US, O=Microsoft Corporation, CN=Microsoft RSA TLS CA 01"
    );
    assert_eq!(
        &bing.sans[..3],
        ["www.bing.com", "dict.bing.com.cn", "*.platform.bing.com"]
    );
}

#[test]
fn tls13_chrome_kyber_hello_ja3_ja4_grease_ech_key_shares() {
    let Some(conns) = tls_conns("tls/zeek_chrome-1250-tls-x25519-kyber.pcap") else {
        return;
    };
    let chs = hellos(&conns);
    assert_eq!(chs.len(), 1);
    let ch = chs[0];
    // tshark: tls.record.length 1751, tls.handshake.length 1747
    assert_eq!(ch.len, 1747);
    assert_eq!(ch.sni.as_deref(), Some("lh3.google.com"));
    assert_eq!(ch.ja3_hash, "9d33d8206d4fec4c8b1423c728f4cd3c");
    // JA4 of Chrome 12x: listed as "Chromium Browser" in FoxIO's
    // ja4plus-mapping.csv (t13d1516h2_8daaf6152771_02713d6af862).
    assert_eq!(ch.ja4, "t13d1516h2_8daaf6152771_02713d6af862");
    assert!(ch.ech && ch.grease);
    // tshark: key_share groups 51914 (GREASE), 25497 (X25519Kyber768Draft00), 29;
    // supported_versions 0x8a8a (GREASE), 0x0304, 0x0303
    assert_eq!(ch.key_share_groups, [51914, 25497, 29]);
    assert_eq!(ch.supported_versions, [0x8a8a, 0x0304, 0x0303]);
    let sh = server_hellos(&conns);
    assert_eq!((sh[0].cipher, sh[0].selected), (0x1301, Some(0x0304)));
    assert_eq!(sh[0].ja3s_hash, "eb1d94daa7e0344597e756a1fb6e7054");
}

#[test]
fn tls13_hello_retry_request_then_second_client_hello() {
    let Some(conns) = tls_conns("tls/zeek_hrr.pcap") else {
        return;
    };
    let chs = hellos(&conns);
    assert_eq!(
        chs.len(),
        2,
        "both ClientHellos, the second after the client's compatibility CCS"
    );
    for ch in &chs {
        assert_eq!(ch.ja3_hash, "0f14b679807628ec7f9c02cada3ee941");
        assert_eq!(ch.sni, None);
    }
    // tshark: record versions 0x0301 then 0x0303
    assert_eq!(
        (chs[0].record_version, chs[1].record_version),
        (0x0301, 0x0303)
    );
    // the retry asked for another group
    assert_ne!(chs[0].key_share_groups, chs[1].key_share_groups);
    let sh = server_hellos(&conns);
    assert_eq!(sh.len(), 1);
    assert!(sh[0].hrr);
    assert_eq!((sh[0].cipher, sh[0].selected), (0x1302, Some(0x0304)));
    assert_eq!(sh[0].ja3s_hash, "15af977ce25de452b96affa2addb1036");
}

#[test]
fn tls13_encrypted_client_hello_reports_outer_sni() {
    let Some(conns) = tls_conns("tls/zeek_tls13-ech.pcap") else {
        return;
    };
    let chs = hellos(&conns);
    assert_eq!(chs.len(), 2);
    for ch in &chs {
        assert_eq!(ch.sni.as_deref(), Some("cloudflare-ech.com"));
        assert!(ch.ech);
        assert_eq!(ch.alpn, ["h2", "http/1.1"]);
        // Chrome with ECH; the JA4 is the same for both (extension order is randomised).
        assert_eq!(ch.ja4, "t13d1517h2_8daaf6152771_b1ff8ab2d16f");
    }
    // tshark ja3 differs because Chrome shuffles extension order.
    assert_eq!(chs[0].ja3_hash, "2fcbf8655473005933c5869b2b5d8044");
    assert_eq!(chs[1].ja3_hash, "fa58f5ffd45a2d590a1677134966dc64");
    assert_eq!(chs[0].key_share_groups, [6682, 29]);
    for sh in server_hellos(&conns) {
        assert_eq!((sh.cipher, sh.selected), (0x1301, Some(0x0304)));
        assert_eq!(sh.ja3s_hash, "f4febc55ea12b31ae17cfb7e614afda8");
    }
}

#[test]
fn tls10_hello_with_many_extensions_and_certificate() {
    let Some(conns) = tls_conns("tls/zeek_tls-conn-with-extensions.pcap") else {
        return;
    };
    let ch = hellos(&conns)[0].clone();
    assert_eq!((ch.record_version, ch.version), (0x0301, 0x0301));
    assert_eq!(ch.sni.as_deref(), Some("ssl.gstatic.com"));
    assert_eq!(ch.ja3_hash, "62351d5ea3cd4f21f697965b10a9bbbe");
    let sh = server_hellos(&conns)[0].clone();
    assert_eq!((sh.version, sh.cipher), (0x0301, 0xc011));
    assert_eq!(sh.ja3s_hash, "e07f21892995126f4b539c02215c8456");
    let cert = &conns[0].3.certs[0];
    assert_eq!(
        cert.subject,
        "C=US, ST=California, L=Mountain View, O=Google Inc, CN=*.gstatic.com"
    );
    assert_eq!(
        cert.sans,
        ["*.gstatic.com", "gstatic.com", "*.metric.gstatic.com"]
    );
}

#[test]
fn tls12_no_sni_certificate_fields_match_openssl() {
    let Some(conns) = tls_conns("tls/zeek_tls1.2.pcap") else {
        return;
    };
    let ch = hellos(&conns)[0].clone();
    assert_eq!(ch.sni, None);
    assert_eq!(ch.ja3_hash, "bd9c99b3a0f752c3ab8b052a79e9de3e");
    let sh = server_hellos(&conns)[0].clone();
    assert_eq!(sh.cipher, 0x0004);
    assert_eq!(sh.ja3s_hash, "c253ec3ad88e42f8da4032682892f9a0");
    // openssl x509 -noout -fingerprint -sha1 -serial -subject -dates -ext subjectAltName
    let cert = &conns[0].3.certs[0];
    assert_eq!(
        cert.fingerprint,
        "33:67:a1:82:4a:60:13:c0:2a:3e:25:bb:e4:da:86:33:87:fa:f1:34"
    );
    assert_eq!(
        cert.serial,
        "00:99:FA:A8:03:7A:4E:B2:FA:EF:84:EB:5E:55:D5:B8:C8"
    );
    assert_eq!(
        cert.subject,
        "C=US, postalCode=94568, ST=CA, L=Dublin, street=Suite 400, street=4140 Dublin Boulevard, \
         O=Taleo Inc., OU=Web, OU=Comodo PremiumSSL Wildcard, CN=*.taleo.net"
    );
    assert_eq!(
        (cert.not_before.as_str(), cert.not_after.as_str()),
        ("2011-05-04T00:00:00", "2016-07-04T23:59:59")
    );
    assert_eq!(cert.sans, ["*.taleo.net", "taleo.net"]);
}

#[test]
fn tls13_wolfssl_on_port_9090_is_probed_and_parsed() {
    let Some(file) = capture("tls/zeek_tls13_wolfssl.pcap") else {
        return;
    };
    let streams = tcp_streams(&file);
    let (_, srv, conn) = &streams[0];
    assert_eq!(srv.port, 9090);
    assert_eq!(
        tls::probe(&conn.to_server),
        spanwatch_parsers::stream::Probe::Match
    );
    assert_eq!(
        tls::probe(&conn.to_client),
        spanwatch_parsers::stream::Probe::Match
    );
    let conns = tls_conns("tls/zeek_tls13_wolfssl.pcap").unwrap_or_default();
    let ch = hellos(&conns)[0].clone();
    assert_eq!(ch.ja3, "771,4866,51-43-13-11-10-23,25-24-23-21-19-16-256,0");
    assert_eq!(ch.ja3_hash, "39cef737bf0cabc32c28f95d09b97702");
    let sh = server_hellos(&conns)[0].clone();
    assert_eq!((sh.cipher, sh.selected), (0x1302, Some(0x0304)));
    assert_eq!(sh.ja3s_hash, "907bf3ecef1c987c889946b737b43de8");
}

#[test]
fn tls12_cipher_sweep_on_ports_4430_to_4433_matches_tshark_ja3_and_ja3s() {
    let Some(conns) = tls_conns("tls/retina_tls_ciphers.pcap") else {
        return;
    };
    let chs = hellos(&conns);
    // tshark counts 73 ClientHellos: 70 TLS records and 3 SSLv2-format
    // hellos (version 0x0303), for which tshark gives an empty ja3.
    assert_eq!(chs.len(), 70);
    let v2: Vec<u16> = conns
        .iter()
        .flat_map(|c| c.2.sslv2_hellos.iter().copied())
        .collect();
    assert_eq!(v2, [0x0303; 3]);
    for (c, s, cs, _) in &conns {
        assert!((4430..=4433).contains(&s.port), "{c:?}");
        assert_eq!(cs.client_hellos.len() + cs.sslv2_hellos.len(), 1);
    }
    // tshark -Y tls.handshake.type==1 -e tls.handshake.ja3 | sort | md5sum
    let mut ja3: Vec<String> = chs.iter().map(|c| c.ja3_hash.clone()).collect();
    ja3.extend(v2.iter().map(|_| String::new()));
    assert_eq!(md5_of_sorted_lines(ja3), "f206bbf7cf9a84f282521616c9a1d6a7");
    // tshark -Y tls.handshake.type==2 -e tls.handshake.ja3s | sort | md5sum
    let ja3s: Vec<String> = server_hellos(&conns)
        .iter()
        .map(|s| s.ja3s_hash.clone())
        .collect();
    assert_eq!(
        md5_of_sorted_lines(ja3s),
        "52a0f124dbef6beb448b510211724ddc"
    );
    let file = capture("tls/retina_tls_ciphers.pcap").unwrap_or_default();
    for (_, _, conn) in tcp_streams(&file) {
        assert_eq!(
            tls::probe(&conn.to_server),
            spanwatch_parsers::stream::Probe::Match
        );
    }
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
            scanner
                .get_or_insert_with(|| MimeScanner::new(true))
                .feed(data);
            if end {
                s.messages
                    .push(scanner.take().map(MimeScanner::finish).unwrap_or_default());
            }
        }
        ClientEvent::BdatChunk {
            data, message_end, ..
        } => {
            scanner
                .get_or_insert_with(|| MimeScanner::new(false))
                .feed(data);
            if message_end {
                s.messages
                    .push(scanner.take().map(MimeScanner::finish).unwrap_or_default());
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
                s.ehlo_caps = r
                    .ehlo_capabilities()
                    .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                    .collect();
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

fn attachments(m: &MimeSummary) -> Vec<(String, String)> {
    m.attachments()
        .map(|p| (p.filename.clone().unwrap_or_default(), p.md5.clone()))
        .collect()
}

// Expected message values: tshark IMF fields (imf.from, imf.subject,
// mime_multipart.header.content-disposition), and for MD5s the decoded
// payloads as Python's `email` package returns them
// (`part.get_payload(decode=True)`) on the message bytes tshark's
// `follow,tcp,raw` gives.

#[test]
fn smtp_eicar_attachment_name_and_md5() {
    let Some(sessions) = smtp_sessions("smtp/suricata-verify_smtp-attachment-md5.pcap") else {
        return;
    };
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s.commands, ["HELO", "MAIL", "RCPT", "DATA", "QUIT"]);
    assert_eq!(s.mail_from, ["gavin.shrubbery@gmail.com"]);
    assert_eq!(s.rcpt_to, ["172.16.92.2@linuxbox"]);
    assert_eq!(s.reply_codes, [220, 250, 250, 250, 354, 250, 221]);
    let m = &s.messages[0];
    assert_eq!(m.headers.subject.as_deref(), Some("This is a test email"));
    assert_eq!(
        m.headers.message_id.as_deref(),
        Some("<ZEIazHR6Rlh4UY5I@linuxbox>")
    );
    // The EICAR test file's well-known MD5.
    assert_eq!(
        attachments(m),
        [(
            "EICAR-Test-File".to_string(),
            "44d88612fea8a8f36de82e1278abb02f".to_string()
        )]
    );
}

#[test]
fn smtp_auth_login_secrets_withheld_and_tnef_attachment() {
    let Some(sessions) = smtp_sessions("smtp/suricata-verify_smtp-bug-5981.pcap") else {
        return;
    };
    let s = &sessions[0];
    assert_eq!(s.commands, ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]);
    assert_eq!(
        s.auth_responses, 2,
        "user name and password lines, content not exposed"
    );
    // tshark: smtp.req.parameter "FROM: <xxxxxx@xxxxx.co.uk>" (space after the colon)
    assert_eq!(s.mail_from, ["xxxxxx@xxxxx.co.uk"]);
    assert_eq!(s.rcpt_to, ["xxxxxx@xxxxx.co.uk"]);
    assert_eq!(s.ehlo_caps, ["AUTH", "PIPELINING", "8BITMIME"]);
    let m = &s.messages[0];
    assert_eq!(
        m.headers.subject.as_deref(),
        Some("Testing testing 1 2 3 (Multiple attachments)")
    );
    assert_eq!(
        m.headers.x_mailer.as_deref(),
        Some("Microsoft Office Outlook, Build 11.0.5510")
    );
    assert_eq!(
        attachments(m),
        [(
            "winmail.dat".to_string(),
            "68ff54e56d4320a83944bd0337fdaf3a".to_string()
        )]
    );
    assert_eq!(m.parts[1].decoded_size, 10451);
}

#[test]
fn smtp_bdat_27_chunks_reassemble_one_message() {
    let Some(sessions) = smtp_sessions("smtp/zeek_rfc3030-bdat-multipart-chunked.pcap") else {
        return;
    };
    let s = &sessions[0];
    assert_eq!(s.commands.iter().filter(|c| *c == "BDAT").count(), 27);
    assert_eq!(s.mail_from, ["zeek@localhost"]);
    assert_eq!(s.rcpt_to, ["root@localhost"]);
    assert!(s.ehlo_caps.contains(&"CHUNKING".to_string()));
    assert_eq!(s.messages.len(), 1);
    let m = &s.messages[0];
    assert_eq!(m.headers.subject.as_deref(), Some("Zeek Logo"));
    assert_eq!(
        attachments(m),
        [(
            "zeek-logo.png".to_string(),
            "5ed67e19719c2602059ec64a815c2a1d".to_string()
        )]
    );
    assert_eq!(m.parts[1].decoded_size, 2011);
    assert_eq!(m.parts[0].md5, "60d124fc2056330bcfea1088e70c1ef2");
}

#[test]
fn smtp_one_sided_capture_still_reads_the_body() {
    // Only client->server packets: no 354 to switch to DATA; the first body
    // line is not a command, so it is the body.
    let Some(sessions) = smtp_sessions("smtp/zeek_smtp-attachment-msg.pcap") else {
        return;
    };
    let s = &sessions[0];
    assert!(s.reply_codes.is_empty());
    assert_eq!(s.commands, ["EHLO", "MAIL", "RCPT", "DATA"]);
    assert_eq!(s.mail_from, ["sender@example.com"]);
    assert_eq!(s.rcpt_to, ["recipient@example.com"]);
    let m = &s.messages[0];
    assert_eq!(m.headers.subject.as_deref(), Some("subject"));
    let a = m.attachments().next().expect("test.msg");
    assert_eq!(a.filename.as_deref(), Some("test.msg"));
    assert_eq!(a.content_type, "message/rfc822");
}

#[test]
fn smtp_starttls_hands_tls_bytes_to_the_tls_parser() {
    let Some(file) = capture("smtp/zeek_smtp-starttls.pcap") else {
        return;
    };
    let streams = tcp_streams(&file);
    let (_, _, conn) = &streams[0];
    let s = smtp_session(conn);
    assert_eq!(s.commands, ["EHLO", "STARTTLS"]);
    assert_eq!(s.reply_codes, [220, 250, 220]);
    assert!(s.ehlo_caps.contains(&"STARTTLS".to_string()));
    // The bytes after STARTTLS are TLS: run them through the TLS parsers.
    let start = conn
        .to_server
        .windows(10)
        .position(|w| w.eq_ignore_ascii_case(b"STARTTLS\r\n"))
        .unwrap()
        + 10;
    let side = tls_side(&conn.to_server[start..], false);
    // tshark: ja3 13020a4ccb11b2d3c9c0e6c285c3c415, no SNI
    assert_eq!(
        side.client_hellos[0].ja3_hash,
        "13020a4ccb11b2d3c9c0e6c285c3c415"
    );
    assert_eq!(s.tls_bytes_client, conn.to_server.len() - start);
    let sstart = conn
        .to_client
        .windows(5)
        .rposition(|w| w == b"220 2")
        .unwrap();
    let sstart = sstart
        + conn.to_client[sstart..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap()
        + 1;
    let sside = tls_side(&conn.to_client[sstart..], false);
    // tshark: ciphersuite 0xc02f, ja3s ccc514751b175866924439bdbb5bba34
    assert_eq!(sside.server_hellos[0].cipher, 0xc02f);
    assert_eq!(
        sside.server_hellos[0].ja3s_hash,
        "ccc514751b175866924439bdbb5bba34"
    );
}

#[test]
fn smtp_two_sessions_auth_multiple_rcpt_qp_html_urls() {
    let Some(sessions) = smtp_sessions("smtp/zeek_smtp.pcap") else {
        return;
    };
    assert_eq!(sessions.len(), 2);
    let a = &sessions[0];
    assert_eq!(a.mail_from, ["gurpartap@patriots.in"]);
    assert_eq!(a.rcpt_to, ["raj_deol2002in@yahoo.co.in"]);
    assert_eq!(a.auth_responses, 2);
    let m = &a.messages[0];
    assert_eq!(m.headers.subject.as_deref(), Some("SMTP"));
    assert_eq!(
        m.headers.message_id.as_deref(),
        Some("<000301ca4581$ef9e57f0$cedb07d0$@in>")
    );
    let types: Vec<&str> = m.parts.iter().map(|p| p.content_type.as_str()).collect();
    assert_eq!(types, ["text/plain", "text/html", "text/plain"]);
    // quoted-printable HTML decoded: same bytes as Python's email package
    assert_eq!(m.parts[1].md5, "400bc5dee3dfd1c4a028b5bd89c953d9");
    assert_eq!(
        attachments(m),
        [(
            "NEWS.txt".to_string(),
            "98b40d2ca6fe05f78229984a923909bf".to_string()
        )]
    );
    let urls: Vec<(&str, &str)> = m
        .urls
        .iter()
        .map(|u| (u.url.as_str(), u.host.as_str()))
        .collect();
    assert_eq!(
        urls,
        [
            (
                "http://schemas.microsoft.com/office/2004/12/omml",
                "schemas.microsoft.com"
            ),
            ("http://www.w3.org/TR/REC-html40", "www.w3.org")
        ]
    );
    let b = &sessions[1];
    assert_eq!(b.mail_from, ["albert@example.com"]);
    assert_eq!(
        b.rcpt_to,
        [
            "ericlim220@yahoo.com",
            "felica4uu@hotmail.com",
            "davis_mark1@outlook.com"
        ]
    );
    let m = &b.messages[0];
    // tshark imf.cc "felica4uu@hotmail.com,\r\n davis_mark1@outlook.com" (folded; we unfold)
    assert_eq!(
        m.headers.cc.as_deref(),
        Some("felica4uu@hotmail.com, davis_mark1@outlook.com")
    );
    assert_eq!(m.headers.subject.as_deref(), Some("Re: Bro SMTP CC Header"));
    assert_eq!(m.parts[0].md5, "f6bf92b103a9d008e070c53bdf9a640c");
}

// ---------------------------------------------------------------------------
// DNS over UDP
// ---------------------------------------------------------------------------

#[test]
fn dns_over_udp_in_a_browsing_capture_matches_tshark() {
    use spanwatch_parsers::dns::{self, RData};
    let Some(file) = capture("tls/suricata-verify_tls-subjectaltname.pcap") else {
        return;
    };
    // One line per message, formatted like
    // tshark -Y 'dns && udp.port==53' -T fields -E separator='|' -e dns.id
    //   -e dns.flags.response -e dns.flags.rcode -e dns.qry.name -e dns.qry.type -e dns.a -e dns.cname
    let mut lines = Vec::new();
    for (sp, dp, payload) in udp_datagrams(&file) {
        if sp != 53 && dp != 53 {
            continue;
        }
        assert_eq!(dns::probe(payload), spanwatch_parsers::stream::Probe::Match);
        let m = dns::parse_message(payload).expect("dns");
        let q = m.questions().next().expect("question");
        let a: Vec<String> = m
            .answers()
            .filter_map(|r| {
                if let RData::A(a) = r.rdata {
                    Some(a.to_string())
                } else {
                    None
                }
            })
            .collect();
        let cname: Vec<String> = m
            .answers()
            .filter_map(|r| {
                if let RData::Cname(n) = r.rdata {
                    Some(n.to_dotted())
                } else {
                    None
                }
            })
            .collect();
        lines.push(format!(
            "0x{:04x}|{}|{}|{}|{}|{}|{}",
            m.header.id,
            m.header.qr() as u8,
            if m.header.qr() {
                m.header.rcode().to_string()
            } else {
                String::new()
            },
            q.name.to_dotted(),
            q.qtype,
            a.join(","),
            cname.join(",")
        ));
    }
    assert_eq!(lines.len(), 74);
    assert_eq!(lines[1], "0x17c1|1|0|mamzon.ru|1|138.201.208.22|");
    assert_eq!(
        md5_of_sorted_lines(lines),
        "6f11bf33dd07d742e36de30cd6ed7fdb"
    );
}

// ---------------------------------------------------------------------------
// Fuzz seeds
// ---------------------------------------------------------------------------

/// Regenerates `parsers/fuzz/corpus/{tls,smtp,dns}` from the captures:
/// `cargo test -p spanwatch-parsers --test it_captures write_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: ../shared/pcaps absent");
        return;
    };
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = |proto: &str, name: &str, bytes: &[u8]| {
        let d = out.join(proto);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), &bytes[..bytes.len().min(16 * 1024)]).unwrap();
    };
    let tcp = |rel: &str| tcp_streams(&std::fs::read(dir.join(rel)).unwrap());
    for (rel, name) in [
        ("tls/zeek_tls13_wolfssl.pcap", "wolfssl"),
        ("tls/zeek_tls1.2.pcap", "tls12"),
        ("tls/zeek_chrome-1250-tls-x25519-kyber.pcap", "chrome_kyber"),
        ("tls/zeek_hrr.pcap", "hrr"),
        ("tls/zeek_tls13-ech.pcap", "ech"),
    ] {
        let s = tcp(rel);
        let c = &s
            .iter()
            .max_by_key(|c| c.2.to_server.len().min(4096))
            .unwrap()
            .2;
        write("tls", &format!("{name}_client"), &c.to_server);
        write("tls", &format!("{name}_server"), &c.to_client);
    }
    let retina = tcp("tls/retina_tls_ciphers.pcap");
    let v2 = retina
        .iter()
        .find(|c| c.2.to_server.first().is_some_and(|b| b & 0x80 != 0))
        .unwrap();
    write("tls", "sslv2_hello_client", &v2.2.to_server);
    for (rel, name) in [
        ("smtp/zeek_rfc3030-bdat-multipart-chunked.pcap", "bdat"),
        ("smtp/zeek_smtp-starttls.pcap", "starttls"),
        ("smtp/zeek_smtp-attachment-msg.pcap", "one_sided"),
    ] {
        let s = tcp(rel);
        let c = &s.iter().find(|c| c.1.port == 25).unwrap().2;
        write("smtp", &format!("{name}_client"), &c.to_server);
        if !c.to_client.is_empty() {
            write("smtp", &format!("{name}_server"), &c.to_client);
        }
    }
    // zeek_smtp.pcap's second session: three RCPTs, folded Cc (no AUTH
    // secrets in the corpus).
    let s = tcp("smtp/zeek_smtp.pcap");
    let albert = s.iter().filter(|c| c.1.port == 25).nth(1).unwrap();
    write("smtp", "multi_rcpt_client", &albert.2.to_server);
    write("smtp", "multi_rcpt_server", &albert.2.to_client);
    let file = std::fs::read(dir.join("tls/suricata-verify_tls-subjectaltname.pcap")).unwrap();
    for (i, (_, _, p)) in udp_datagrams(&file)
        .into_iter()
        .filter(|d| d.0 == 53 || d.1 == 53)
        .take(8)
        .enumerate()
    {
        write("dns", &format!("udp_{i}"), p);
        // The same message with a TCP length prefix.
        let mut t = (p.len() as u16).to_be_bytes().to_vec();
        t.extend_from_slice(p);
        write("dns", &format!("tcp_{i}"), &t);
    }
}
