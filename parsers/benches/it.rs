//! Criterion benchmarks for the TLS, SMTP and DNS parsers on real bytes: the
//! fuzz seeds in `fuzz/corpus`, which are reassembled streams cut from the
//! public captures (see `tests/it_captures.rs::write_fuzz_seeds`). Each
//! benchmark asserts a count inside the measured code so that nothing is
//! optimised away or silently broken.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanwatch_parsers::dns;
use spanwatch_parsers::smtp::{
    ClientEvent, MimeScanner, ServerEvent, SmtpClientParser, SmtpServerParser,
};
use spanwatch_parsers::stream::{drive, Direction, Probe};
use spanwatch_parsers::tls::{
    self, content_type, HandshakeDetail, HandshakeParser, TlsRecordParser,
};
use std::hint::black_box;

const CHROME_CLIENT: &[u8] = include_bytes!("../fuzz/corpus/tls/chrome_kyber_client");
const TLS12_SERVER: &[u8] = include_bytes!("../fuzz/corpus/tls/tls12_server");
const BDAT_CLIENT: &[u8] = include_bytes!("../fuzz/corpus/smtp/bdat_client");
const RCPT_CLIENT: &[u8] = include_bytes!("../fuzz/corpus/smtp/multi_rcpt_client");
const BDAT_SERVER: &[u8] = include_bytes!("../fuzz/corpus/smtp/bdat_server");
const DNS_UDP: [&[u8]; 8] = [
    include_bytes!("../fuzz/corpus/dns/udp_0"),
    include_bytes!("../fuzz/corpus/dns/udp_1"),
    include_bytes!("../fuzz/corpus/dns/udp_2"),
    include_bytes!("../fuzz/corpus/dns/udp_3"),
    include_bytes!("../fuzz/corpus/dns/udp_4"),
    include_bytes!("../fuzz/corpus/dns/udp_5"),
    include_bytes!("../fuzz/corpus/dns/udp_6"),
    include_bytes!("../fuzz/corpus/dns/udp_7"),
];

/// Records → handshake messages → (hello fingerprints | certificate fields).
/// Returns hellos with SNI + ServerHellos + leaf DNS SANs.
fn tls_stream(stream: &[u8], fingerprints: bool) -> usize {
    let mut hs = Vec::with_capacity(8192);
    let mut n = 0usize;
    let mut encrypted = false;
    drive(&mut TlsRecordParser, stream, Direction::ToServer, |r| {
        if r.content_type == content_type::CHANGE_CIPHER_SPEC {
            encrypted = true;
        }
        if r.content_type != content_type::HANDSHAKE || encrypted {
            return;
        }
        hs.extend_from_slice(r.fragment);
        let out = drive(
            &mut HandshakeParser,
            &hs,
            Direction::ToServer,
            |h| match h.detail {
                HandshakeDetail::ClientHello(ch) => {
                    if fingerprints {
                        black_box(tls::ja3(&ch));
                        black_box(tls::ja4(&ch));
                    }
                    n += ch.sni().is_some() as usize;
                }
                HandshakeDetail::ServerHello(sh) => {
                    if fingerprints {
                        black_box(tls::ja3s(&sh));
                    }
                    n += 1;
                    encrypted |= sh.selected_version() == Some(0x0304);
                }
                HandshakeDetail::Certificate(c) => {
                    if let Some(x) = c.first().and_then(|d| tls::parse_x509(d).ok()) {
                        black_box((
                            x.subject_string(),
                            x.issuer_string(),
                            x.serial_string(),
                            x.fingerprint_sha1(),
                        ));
                        n += x.dns_names().count();
                    }
                }
                _ => {}
            },
        );
        hs.drain(..out.consumed);
    });
    n
}

fn bench_tls(c: &mut Criterion) {
    let mut g = c.benchmark_group("tls");
    g.throughput(Throughput::Bytes(CHROME_CLIENT.len() as u64));
    g.bench_function("chrome_client_hello_parse", |b| {
        b.iter(|| assert_eq!(tls_stream(black_box(CHROME_CLIENT), false), 1))
    });
    g.bench_function("chrome_client_hello_ja3_ja4", |b| {
        b.iter(|| assert_eq!(tls_stream(black_box(CHROME_CLIENT), true), 1))
    });
    g.throughput(Throughput::Bytes(TLS12_SERVER.len() as u64));
    // ServerHello (1) + the leaf's two DNS SANs.
    g.bench_function("tls12_server_hello_certificate_x509", |b| {
        b.iter(|| assert_eq!(tls_stream(black_box(TLS12_SERVER), true), 3))
    });
    g.finish();
}

/// (commands, attachments) of a client stream, MIME scanning included.
fn smtp_client(stream: &[u8]) -> (usize, usize) {
    let mut p = SmtpClientParser::new();
    let mut commands = 0usize;
    let mut scanner: Option<MimeScanner> = None;
    let mut attachments = 0usize;
    drive(&mut p, stream, Direction::ToServer, |e| match e {
        ClientEvent::Command(_) => commands += 1,
        ClientEvent::DataChunk { data, end } => {
            scanner
                .get_or_insert_with(|| MimeScanner::new(true))
                .feed(data);
            if end {
                attachments += scanner
                    .take()
                    .map(|s| s.finish().attachments().count())
                    .unwrap_or(0);
            }
        }
        ClientEvent::BdatChunk {
            data, message_end, ..
        } => {
            scanner
                .get_or_insert_with(|| MimeScanner::new(false))
                .feed(data);
            if message_end {
                attachments += scanner
                    .take()
                    .map(|s| s.finish().attachments().count())
                    .unwrap_or(0);
            }
        }
        _ => {}
    });
    (commands, attachments)
}

fn bench_smtp(c: &mut Criterion) {
    let mut g = c.benchmark_group("smtp");
    g.throughput(Throughput::Bytes(BDAT_CLIENT.len() as u64));
    // EHLO, MAIL, RCPT, 27 x BDAT, QUIT; one attachment (zeek-logo.png).
    g.bench_function("bdat_session_client_with_mime", |b| {
        b.iter(|| assert_eq!(smtp_client(black_box(BDAT_CLIENT)), (31, 1)))
    });
    g.throughput(Throughput::Bytes(RCPT_CLIENT.len() as u64));
    // EHLO, MAIL, 3 x RCPT, DATA (the capture ends before QUIT); no attachment.
    g.bench_function("data_session_client_with_mime", |b| {
        b.iter(|| assert_eq!(smtp_client(black_box(RCPT_CLIENT)), (6, 0)))
    });
    g.throughput(Throughput::Bytes(BDAT_SERVER.len() as u64));
    g.bench_function("server_replies", |b| {
        b.iter(|| {
            let mut s = SmtpServerParser::default();
            let mut n = 0usize;
            drive(&mut s, black_box(BDAT_SERVER), Direction::ToClient, |e| {
                n += matches!(e, ServerEvent::Reply(_)) as usize
            });
            assert_eq!(n, 32);
        })
    });
    g.finish();
}

fn bench_dns(c: &mut Criterion) {
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(DNS_UDP.len() as u64));
    g.bench_function("parse_8_udp_messages_walk_records", |b| {
        b.iter(|| {
            let mut records = 0usize;
            for m in DNS_UDP {
                let Ok(msg) = dns::parse_message(black_box(m)) else {
                    panic!("dns seed")
                };
                records += msg.qd;
                for (_, r) in msg.records() {
                    black_box(r.rdata);
                    records += 1;
                }
            }
            assert!(records >= DNS_UDP.len());
            records
        })
    });
    g.bench_function("probe_8_udp_messages", |b| {
        b.iter(|| {
            let n = DNS_UDP
                .iter()
                .filter(|m| dns::probe(black_box(m)) == Probe::Match)
                .count();
            assert_eq!(n, 8);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_tls, bench_smtp, bench_dns);
criterion_main!(benches);
